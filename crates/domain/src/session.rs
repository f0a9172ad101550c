//! Console sessions: a signed, expiring token that names an API key (or, for a person who
//! signed in with the workspace's OIDC single sign-on, carries the person), kept by the browser
//! in an HttpOnly cookie in place of the key itself, and the CSRF token derived from it.
//!
//! Token: `<base64url(claims)>.<base64url(hmac-sha256(key, base64url(claims)))>`, the claims
//! being JSON `{kid, ws, kfp, n, exp, idle}`, plus `person` for a single sign-on session (whose
//! `kid` is empty and whose `kfp` fingerprints the SSO setting instead of a key).
//!
//! A session ends `LIFETIME_SECS` after sign-in, or earlier after `IDLE_TIMEOUT_SECS` without
//! activity: the console re-issues the token (same key, nonce and lifetime, a later `idle`)
//! while the person uses it. The CSRF token is derived from the sign-in (key id and nonce), not
//! from the token, so it stays the same when the token is re-issued.
//!
//! Invariants: a token never holds the API key (only its id, and a keyed fingerprint of its
//! current hash so that rotating the key ends its sessions) nor an ID token; every check is
//! constant-time over the signing key (`ring::hmac::verify`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::{Invalid, Timestamp};

/// The cookie that carries the session token.
pub const COOKIE: &str = "ra_session";
/// The header a cookie-authenticated mutation carries its CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// How long a session lasts after sign-in, at most.
pub const LIFETIME_SECS: i64 = 12 * 3600;
/// How long a session lasts without activity (what `/settings/auth` advertises).
pub const IDLE_TIMEOUT_SECS: i64 = 60 * 60;

/// What a session token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    #[serde(rename = "kid")]
    pub key_id: String,
    #[serde(rename = "ws")]
    pub workspace: String,
    /// `key_fingerprint` of the key's hash at sign-in; for a person, `sso::fingerprint` of
    /// the setting they signed in with.
    #[serde(rename = "kfp")]
    pub key_fingerprint: String,
    /// Random, so that no two sign-ins share a token or a CSRF token.
    #[serde(rename = "n")]
    pub nonce: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Idle expiry, Unix seconds: the session ends here unless re-issued before.
    pub idle: i64,
    /// The person of a single sign-on session; `None` for an API key's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<crate::sso::Person>,
}

fn tag(key: &[u8], message: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message)
}

fn verify_tag(key: &[u8], message: &[u8], tag_b64: &str) -> bool {
    URL_SAFE_NO_PAD.decode(tag_b64).is_ok_and(|tag| {
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), message, &tag).is_ok()
    })
}

impl SessionClaims {
    pub fn sign(&self, key: &[u8]) -> String {
        let claims = serde_json::to_vec(self).unwrap_or_default();
        let encoded = URL_SAFE_NO_PAD.encode(claims);
        let signature = URL_SAFE_NO_PAD.encode(tag(key, encoded.as_bytes()));
        format!("{encoded}.{signature}")
    }

    /// The claims of a token signed with `key` that has not expired at `now`.
    pub fn verify(key: &[u8], token: &str, now: Timestamp) -> Result<SessionClaims, Invalid> {
        let refused = || Invalid::new("session is not valid; sign in again");
        let (encoded, signature) = token.split_once('.').ok_or_else(refused)?;
        if !verify_tag(key, encoded.as_bytes(), signature) {
            return Err(refused());
        }
        let claims = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| refused())?;
        let claims: SessionClaims = serde_json::from_slice(&claims).map_err(|_| refused())?;
        let now = now.millis() / 1000;
        if now >= claims.exp {
            return Err(Invalid::new("session has expired; sign in again"));
        }
        if now >= claims.idle {
            return Err(Invalid(format!(
                "session ended after {} minutes without activity; sign in again",
                IDLE_TIMEOUT_SECS / 60
            )));
        }
        Ok(claims)
    }

    /// The same session, active at `now`: its idle expiry moves on, never past `exp`.
    pub fn active_at(&self, now: Timestamp) -> SessionClaims {
        SessionClaims {
            idle: (now.millis() / 1000 + IDLE_TIMEOUT_SECS).min(self.exp),
            ..self.clone()
        }
    }

    pub fn expires_at(&self) -> Timestamp {
        Timestamp(self.exp.saturating_mul(1000))
    }

    pub fn idle_expires_at(&self) -> Timestamp {
        Timestamp(self.idle.saturating_mul(1000))
    }
}

/// A keyed fingerprint of an API key's stored hash: changes when the key is rotated, and says
/// nothing about the hash without the signing key.
pub fn key_fingerprint(key: &[u8], key_hash: &str) -> String {
    let tag = tag(key, format!("key:{key_hash}").as_bytes());
    URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
}

/// What a session's CSRF token is an HMAC of: its sign-in (key id and nonce), read from the
/// token's claims (checked by whoever authenticates the request), else the token itself.
fn csrf_message(session_token: &str) -> String {
    let claims = session_token
        .split_once('.')
        .and_then(|(encoded, _)| URL_SAFE_NO_PAD.decode(encoded).ok())
        .and_then(|json| serde_json::from_slice::<SessionClaims>(&json).ok());
    match claims {
        Some(claims) => format!("csrf:{}:{}", claims.key_id, claims.nonce),
        None => format!("csrf:{session_token}"),
    }
}

/// The CSRF token of a session: an HMAC of its sign-in, so it needs no storage, survives the
/// token being re-issued, and a page can read it (the session answer) while the cookie stays
/// out of reach of scripts.
pub fn csrf_token(key: &[u8], session_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(tag(key, csrf_message(session_token).as_bytes()))
}

pub fn csrf_matches(key: &[u8], session_token: &str, presented: &str) -> bool {
    verify_tag(
        key,
        csrf_message(session_token).as_bytes(),
        presented.trim(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims(exp: i64) -> SessionClaims {
        SessionClaims {
            key_id: "key_1".into(),
            workspace: "default".into(),
            key_fingerprint: key_fingerprint(KEY, "abc"),
            nonce: "n1".into(),
            exp,
            idle: exp,
            person: None,
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp(secs * 1000)
    }

    #[test]
    fn round_trip_until_expiry() {
        let token = claims(1_000).sign(KEY);
        assert_eq!(
            SessionClaims::verify(KEY, &token, at(999)).unwrap(),
            claims(1_000)
        );
        assert_eq!(claims(1_000).expires_at(), at(1_000));
        let expired = SessionClaims::verify(KEY, &token, at(1_000)).unwrap_err();
        assert!(expired.0.contains("expired"), "{expired}");
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let token = claims(1_000).sign(KEY);
        let (encoded, signature) = token.split_once('.').unwrap();
        // Claims changed (a later expiry, another workspace) under the old signature.
        let mut longer = claims(9_999);
        let forged = format!(
            "{}.{signature}",
            longer.sign(KEY).split_once('.').unwrap().0
        );
        assert!(SessionClaims::verify(KEY, &forged, at(1)).is_err());
        longer.workspace = "other".into();
        let forged = format!(
            "{}.{signature}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&longer).unwrap())
        );
        assert!(SessionClaims::verify(KEY, &forged, at(1)).is_err());
        // Signature changed, missing, or made with another key.
        let first = if signature.starts_with('A') { "B" } else { "A" };
        let flipped = format!("{encoded}.{first}{}", &signature[1..]);
        assert!(SessionClaims::verify(KEY, &flipped, at(1)).is_err());
        assert!(SessionClaims::verify(KEY, &format!("{encoded}.x"), at(1)).is_err());
        assert!(SessionClaims::verify(KEY, encoded, at(1)).is_err());
        assert!(SessionClaims::verify(b"another key", &token, at(1)).is_err());
        for garbage in ["", ".", "a.b", "ra_ws_abc", "%%%.%%%"] {
            assert!(
                SessionClaims::verify(KEY, garbage, at(1)).is_err(),
                "{garbage}"
            );
        }
    }

    #[test]
    fn the_token_holds_no_key_material() {
        let token = claims(1_000).sign(KEY);
        let json = URL_SAFE_NO_PAD
            .decode(token.split_once('.').unwrap().0)
            .unwrap();
        let text = String::from_utf8(json).unwrap();
        assert!(!text.contains("abc") && !text.contains("ra_ws_"), "{text}");
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let one = claims(1_000).sign(KEY);
        let mut other = claims(1_000);
        other.nonce = "n2".into();
        let other = other.sign(KEY);
        let csrf = csrf_token(KEY, &one);
        assert!(csrf_matches(KEY, &one, &csrf));
        assert_ne!(csrf, csrf_token(KEY, &other));
        assert!(!csrf_matches(KEY, &other, &csrf));
        assert!(!csrf_matches(b"another key", &one, &csrf));
        assert!(!csrf_matches(KEY, &one, ""));
        assert!(!csrf_matches(KEY, &one, "not base64!"));
    }

    #[test]
    fn a_person_rides_in_the_signed_claims_and_key_sessions_read_as_before() {
        let mut signed_in = claims(1_000);
        signed_in.key_id = String::new();
        signed_in.person = Some(crate::sso::Person {
            subject: "alice@example.com".into(),
            name: "Alice".into(),
            email: "alice@example.com".into(),
            groups: vec!["ops".into()],
        });
        let token = signed_in.sign(KEY);
        assert_eq!(
            SessionClaims::verify(KEY, &token, at(1)).unwrap(),
            signed_in
        );
        // Claiming more groups under the old signature is refused.
        let mut forged = signed_in;
        if let Some(person) = forged.person.as_mut() {
            person.groups.push("admins".into());
        }
        let signature = token.split_once('.').unwrap().1;
        let forged = format!(
            "{}.{signature}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap())
        );
        assert!(SessionClaims::verify(KEY, &forged, at(1)).is_err());
        // A key session's token has no person and reads back without one.
        let key_token = claims(1_000).sign(KEY);
        let json = URL_SAFE_NO_PAD
            .decode(key_token.split_once('.').unwrap().0)
            .unwrap();
        assert!(!String::from_utf8(json).unwrap().contains("person"));
        let legacy = URL_SAFE_NO_PAD
            .encode(br#"{"kid":"key_1","ws":"default","kfp":"x","n":"n1","exp":1000,"idle":1000}"#);
        let legacy = format!(
            "{legacy}.{}",
            URL_SAFE_NO_PAD.encode(tag(KEY, legacy.as_bytes()))
        );
        assert_eq!(
            SessionClaims::verify(KEY, &legacy, at(1)).unwrap().person,
            None
        );
    }

    #[test]
    fn fingerprints_follow_the_key_hash() {
        assert_eq!(key_fingerprint(KEY, "abc"), key_fingerprint(KEY, "abc"));
        assert_ne!(key_fingerprint(KEY, "abc"), key_fingerprint(KEY, "abd"));
        assert_ne!(key_fingerprint(KEY, "abc"), key_fingerprint(b"k2", "abc"));
    }

    #[test]
    fn idle_sessions_end_and_activity_keeps_them_until_the_lifetime() {
        let signed_in = claims(10_000).active_at(at(1_000));
        assert_eq!(signed_in.idle, 1_000 + IDLE_TIMEOUT_SECS);
        let token = signed_in.sign(KEY);
        let idle_end = 1_000 + IDLE_TIMEOUT_SECS;
        assert!(SessionClaims::verify(KEY, &token, at(idle_end - 1)).is_ok());
        let idle = SessionClaims::verify(KEY, &token, at(idle_end)).unwrap_err();
        assert!(idle.0.contains("60 minutes without activity"), "{idle}");
        // Activity before the idle end re-issues the session further on, never past exp.
        let later = signed_in.active_at(at(idle_end - 1)).sign(KEY);
        assert!(SessionClaims::verify(KEY, &later, at(idle_end + 60)).is_ok());
        let capped = signed_in.active_at(at(9_999));
        assert_eq!(capped.idle, 10_000);
        let ended = SessionClaims::verify(KEY, &capped.sign(KEY), at(10_000)).unwrap_err();
        assert!(ended.0.contains("expired"), "{ended}");
        // A re-issued token keeps the session's CSRF token; another sign-in has its own.
        assert_eq!(csrf_token(KEY, &token), csrf_token(KEY, &later));
        assert!(csrf_matches(KEY, &later, &csrf_token(KEY, &token)));
        assert_eq!(signed_in.idle_expires_at(), at(idle_end));
    }
}
