//! Delegated-user OAuth2: the consent `state` (signed, expiring, bound to workspace, tool,
//! user, run and the paused call), PKCE derived from it, the authorization URL, and the token
//! endpoint's answer.
//!
//! The state carries everything the callback needs, so a pending consent keeps nothing in the
//! store and survives a restart: `base64url(json) "." base64url(HMAC-SHA256(key, json))`. The
//! PKCE verifier is an HMAC of the state's nonce, so it is never stored either. The console's
//! OIDC sign-in (`sso.rs`) signs its own state and derives its PKCE the same way
//! ([`sign_state`], [`verify_state`], [`pkce_verifier`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{digest, hmac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tool::OAuth2Config;
use crate::{Invalid, Timestamp};

/// How long a consent link stays valid.
pub const STATE_TTL_SECONDS: i64 = 30 * 60;
/// A token this close to its expiry is refreshed before use.
pub const REFRESH_MARGIN_MS: i64 = 60_000;

/// What a consent link is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    pub workspace: String,
    pub tool: String,
    pub user_id: String,
    pub run_id: String,
    /// The paused call (the runtime's resume id).
    pub action_id: String,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// Random; the PKCE verifier is derived from it.
    pub nonce: String,
}

impl ConsentState {
    pub fn sign(&self, key: &[u8]) -> String {
        sign_state(self, key)
    }

    /// The state a callback brought back, if it is ours, intact and not expired.
    pub fn verify(token: &str, key: &[u8], now: Timestamp) -> Result<ConsentState, Invalid> {
        let state: ConsentState = verify_state(token, key).ok_or_else(|| {
            Invalid::new("the consent link is not valid: start the connection again")
        })?;
        if state.expires_at <= now.millis() {
            return Err(Invalid::new(
                "the consent link has expired: ask the agent again for a new one",
            ));
        }
        Ok(state)
    }

    /// The PKCE code verifier of this consent (43 characters, RFC 7636).
    pub fn pkce_verifier(&self, key: &[u8]) -> String {
        pkce_verifier(key, &self.nonce)
    }
}

/// An OAuth2 `state`: `value` as `base64url(json) "." base64url(HMAC-SHA256(key, json))`, so
/// whatever a callback needs travels in it and nothing is stored. Each kind of state is signed
/// with its own key, so one kind cannot be passed off as another.
pub fn sign_state<T: Serialize>(value: &T, key: &[u8]) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), &json);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    )
}

/// The value of a state signed by [`sign_state`] with `key`, if it is intact (expiry is the
/// caller's to check: it is a field of the value).
pub fn verify_state<T: DeserializeOwned>(token: &str, key: &[u8]) -> Option<T> {
    let (payload, tag) = token.split_once('.')?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), &json, &tag).ok()?;
    serde_json::from_slice(&json).ok()
}

/// The PKCE code verifier of a state with this `nonce` (43 characters, RFC 7636): an HMAC, so
/// it is never stored and only the holder of `key` can compute it.
pub fn pkce_verifier(key: &[u8], nonce: &str) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        format!("pkce\0{nonce}").as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

/// The S256 challenge of a PKCE verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

/// Where the user is sent to grant access: the provider's authorization endpoint with the
/// tool's scopes and extra parameters, our callback, the signed state and (unless the tool
/// turns it off) a PKCE challenge.
pub fn authorization_url(
    config: &OAuth2Config,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    pkce_challenge: Option<&str>,
) -> Result<String, Invalid> {
    let mut url = url::Url::parse(&config.auth_url)
        .map_err(|e| Invalid(format!("oauth2Config.authUrl is not a URL: {e}")))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state);
        if !config.scopes.is_empty() {
            query.append_pair("scope", &config.scopes.join(" "));
        }
        if let Some(challenge) = pkce_challenge {
            query
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        for (name, value) in &config.auth_params {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            query.append_pair(name, &value);
        }
    }
    Ok(url.into())
}

/// A token endpoint's successful answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Unix milliseconds; 0 when the provider gave no `expires_in`.
    pub expires_at: i64,
    pub scope: String,
}

impl Tokens {
    /// Reads an RFC 6749 §5.1 answer received at `now`.
    pub fn parse(body: &Value, now: Timestamp) -> Result<Tokens, Invalid> {
        let access_token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Invalid::new("the token endpoint returned no access_token"))?
            .to_owned();
        let expires_in = match body.get("expires_in") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(text)) => text.trim().parse().ok(),
            _ => None,
        };
        Ok(Tokens {
            access_token,
            refresh_token: body
                .get("refresh_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            expires_at: expires_in.map_or(0, |seconds| now.millis() + seconds.max(0) * 1000),
            scope: body
                .get("scope")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

/// True when a token expiring at `expires_at` (0 = unknown) should be refreshed before use.
pub fn needs_refresh(expires_at: i64, now: Timestamp) -> bool {
    expires_at != 0 && expires_at - REFRESH_MARGIN_MS <= now.millis()
}

/// An RFC 6749 §5.2 error answer, as one line: `invalid_grant: the code expired`.
pub fn error_text(body: &Value) -> String {
    let code = body.get("error").and_then(Value::as_str).unwrap_or("error");
    match body.get("error_description").and_then(Value::as_str) {
        Some(description) => format!("{code}: {description}"),
        None => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn state() -> ConsentState {
        ConsentState {
            workspace: "default".into(),
            tool: "gmail".into(),
            user_id: "alice@example.com".into(),
            run_id: "run-1".into(),
            action_id: "act-1".into(),
            expires_at: 10_000,
            nonce: "n1".into(),
        }
    }

    #[test]
    fn state_round_trips_and_refuses_tampering_other_keys_and_expiry() {
        let key = b"k1";
        let signed = state().sign(key);
        assert_eq!(
            ConsentState::verify(&signed, key, Timestamp(5_000)).unwrap(),
            state()
        );
        assert!(ConsentState::verify(&signed, b"k2", Timestamp(5_000)).is_err());
        assert!(
            ConsentState::verify(&signed, key, Timestamp(10_000))
                .unwrap_err()
                .0
                .contains("expired")
        );
        let mut other = state();
        other.user_id = "mallory@example.com".into();
        let forged = format!(
            "{}.{}",
            other.sign(key).split('.').next().unwrap(),
            signed.split('.').nth(1).unwrap()
        );
        assert!(ConsentState::verify(&forged, key, Timestamp(5_000)).is_err());
        assert!(ConsentState::verify("garbage", key, Timestamp(5_000)).is_err());
    }

    #[test]
    fn pkce_is_derived_from_the_nonce_and_challenged_with_s256() {
        let verifier = state().pkce_verifier(b"k");
        assert_eq!(verifier.len(), 43);
        assert_eq!(verifier, state().pkce_verifier(b"k"));
        assert_ne!(verifier, state().pkce_verifier(b"other"));
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn authorization_url_carries_scopes_params_state_and_challenge() {
        let config: OAuth2Config = serde_json::from_value(json!({
            "authUrl": "https://accounts.example.com/o/oauth2/auth?prompt=consent",
            "tokenUrl": "https://accounts.example.com/token",
            "scopes": ["mail.send", "mail.read"],
            "authParams": {"access_type": "offline"},
        }))
        .unwrap();
        assert!(config.pkce);
        let url = authorization_url(
            &config,
            "client 1",
            "http://127.0.0.1:8092/oauth/callback",
            "s.t",
            Some("ch"),
        )
        .unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let query: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(query["prompt"], "consent");
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], "client 1");
        assert_eq!(
            query["redirect_uri"],
            "http://127.0.0.1:8092/oauth/callback"
        );
        assert_eq!(query["scope"], "mail.send mail.read");
        assert_eq!(query["state"], "s.t");
        assert_eq!(
            (
                query["code_challenge"].as_str(),
                query["code_challenge_method"].as_str()
            ),
            ("ch", "S256")
        );
        assert_eq!(query["access_type"], "offline");
    }

    #[test]
    fn token_answers_are_read_with_their_expiry() {
        let tokens = Tokens::parse(
            &json!({"access_token": "at", "refresh_token": "rt", "expires_in": 3600, "scope": "a b", "token_type": "Bearer"}),
            Timestamp(1_000),
        )
        .unwrap();
        assert_eq!(tokens.expires_at, 3_601_000);
        assert_eq!(tokens.refresh_token.as_deref(), Some("rt"));
        let bare = Tokens::parse(
            &json!({"access_token": "at", "expires_in": "60"}),
            Timestamp(0),
        )
        .unwrap();
        assert_eq!((bare.expires_at, bare.refresh_token), (60_000, None));
        assert!(Tokens::parse(&json!({"error": "invalid_grant"}), Timestamp(0)).is_err());
        assert_eq!(
            error_text(&json!({"error": "invalid_grant", "error_description": "revoked"})),
            "invalid_grant: revoked"
        );
        assert!(needs_refresh(100_000, Timestamp(50_000)));
        assert!(!needs_refresh(200_000, Timestamp(50_000)));
        assert!(!needs_refresh(0, Timestamp(50_000)));
    }
}
