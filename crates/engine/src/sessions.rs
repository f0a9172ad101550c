//! Console sessions: sign in with an API key, then authenticate by a signed session token that
//! names the key (see `runagents_domain::session`). A person who signed in with the workspace's
//! single sign-on has a session that names no key; `console_sso.rs` starts and checks those.
//!
//! A session ends after `session::IDLE_TIMEOUT_SECS` without activity (the console refreshes
//! it while the person uses it) and after `session::LIFETIME_SECS` in any case.
//!
//! Invariants: the API key itself is never in a session; a session lasts only as long as its
//! key is live and unrotated (each request re-reads the key, cached for at most `TTL`, evicted
//! at once by revoke and rotate on this replica), so revoking a key signs its browsers out.

use std::time::Instant;

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use runagents_domain::approver::Channel;
use runagents_domain::session::{self, SessionClaims};
use runagents_domain::sso::Person;
use runagents_domain::{Timestamp, api_key};
use runagents_store::ApiKeyRecord;

use crate::api_keys::{Cached, TOUCH_EVERY, TTL, caller_of, check_live};
use crate::{Caller, Engine, Error, Result};

/// A signed-in console session.
#[derive(Debug)]
pub struct Session {
    /// The cookie value. Not the API key.
    pub token: String,
    pub caller: Caller,
    /// What mutations authenticated by this session must send in `X-CSRF-Token`.
    pub csrf_token: String,
    pub expires_at: Timestamp,
    /// When the session ends unless it is refreshed (`refresh_session`) before.
    pub idle_expires_at: Timestamp,
    /// The person who signed in with single sign-on; `None` for an API key's session.
    pub person: Option<Person>,
}

const ENDED: &str = "the API key of this session was revoked; sign in again";

pub(crate) fn nonce() -> Result<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Upstream("no system randomness".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl Engine {
    pub(crate) fn session_key(&self) -> &[u8] {
        self.settings.session_key.expose().as_bytes()
    }

    /// Checks the key as an API request would and starts a session on it.
    pub async fn sign_in(&self, api_key: &str) -> Result<Session> {
        let (caller, fingerprint) = if self.settings.dev {
            (self.dev_caller(None)?, String::new())
        } else {
            let token = api_key.trim();
            if !api_key::looks_like_token(token) {
                return Err(Error::Unauthenticated("Missing or invalid API key".into()));
            }
            let key = self.verified_key(token).await?;
            let fingerprint = session::key_fingerprint(self.session_key(), &key.hash);
            (caller_of(key, None)?, fingerprint)
        };
        let now = Timestamp::now();
        let caller = Caller {
            channel: Channel::Console,
            ..caller
        };
        let claims = SessionClaims {
            key_id: caller.key_id.clone(),
            workspace: caller.workspace.clone(),
            key_fingerprint: fingerprint,
            nonce: nonce()?,
            exp: now.millis() / 1000 + session::LIFETIME_SECS,
            idle: 0,
            person: None,
        }
        .active_at(now);
        Ok(self.issue(&claims, caller))
    }

    pub(crate) fn issue(&self, claims: &SessionClaims, caller: Caller) -> Session {
        let token = claims.sign(self.session_key());
        Session {
            csrf_token: session::csrf_token(self.session_key(), &token),
            expires_at: claims.expires_at(),
            idle_expires_at: claims.idle_expires_at(),
            person: claims.person.clone(),
            token,
            caller,
        }
    }

    /// The live session of `token` re-issued as active now: a new token with a later idle
    /// expiry (never past the session's lifetime) and the same CSRF token.
    pub async fn refresh_session(&self, token: &str) -> Result<Session> {
        let current = self.session(token, None).await?;
        let claims = SessionClaims::verify(self.session_key(), token, Timestamp::now())
            .map_err(|invalid| Error::Unauthenticated(invalid.0))?;
        Ok(self.issue(&claims.active_at(Timestamp::now()), current.caller))
    }

    /// The caller of a session token, if the token is ours and unexpired and its key is still
    /// live and unrotated. `requested` is the workspace named in the URL, if any.
    pub async fn session_caller(&self, token: &str, requested: Option<&str>) -> Result<Caller> {
        Ok(self.session(token, requested).await?.caller)
    }

    /// The whole session of a token (for the console's "who am I").
    pub async fn session(&self, token: &str, requested: Option<&str>) -> Result<Session> {
        let claims = SessionClaims::verify(self.session_key(), token, Timestamp::now())
            .map_err(|invalid| Error::Unauthenticated(invalid.0))?;
        let caller = if let Some(person) = &claims.person {
            self.person_caller(&claims, person, requested).await?
        } else if self.settings.dev {
            self.dev_caller(requested)?
        } else {
            let key = self.session_key_record(&claims).await?;
            check_live(&key)?;
            if session::key_fingerprint(self.session_key(), &key.hash) != claims.key_fingerprint {
                return Err(Error::Unauthenticated(
                    "the API key of this session was rotated; sign in again".into(),
                ));
            }
            caller_of(key, requested)?
        };
        // A session acts as its key, through the console.
        let caller = Caller {
            channel: Channel::Console,
            ..caller
        };
        Ok(Session {
            token: token.to_owned(),
            csrf_token: session::csrf_token(self.session_key(), token),
            expires_at: claims.expires_at(),
            idle_expires_at: claims.idle_expires_at(),
            person: claims.person,
            caller,
        })
    }

    /// Whether `presented` is the CSRF token of the session `token` (constant-time).
    pub fn csrf_matches(&self, token: &str, presented: &str) -> bool {
        session::csrf_matches(self.session_key(), token, presented)
    }

    /// The session's key as stored, read at most every `TTL`; `last_used_at` is touched as for
    /// API-key requests.
    async fn session_key_record(&self, claims: &SessionClaims) -> Result<ApiKeyRecord> {
        let now = Instant::now();
        let cached = {
            let mut entries = self
                .keys
                .by_id
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            match entries.get_mut(&claims.key_id) {
                Some(entry) if now.duration_since(entry.checked) < TTL => {
                    let touch = now.duration_since(entry.touched) >= TOUCH_EVERY;
                    if touch {
                        entry.touched = now;
                    }
                    Some((entry.key.clone(), touch))
                }
                _ => None,
            }
        };
        let (key, touch) = match cached {
            Some(found) => found,
            None => {
                let key = self
                    .store
                    .list_api_keys(&claims.workspace)
                    .await?
                    .into_iter()
                    .find(|key| key.id == claims.key_id)
                    .ok_or_else(|| Error::Unauthenticated(ENDED.into()))?;
                let mut entries = self
                    .keys
                    .by_id
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                let touched = entries.get(&claims.key_id).map(|entry| entry.touched);
                let touch = touched.is_none_or(|at| now.duration_since(at) >= TOUCH_EVERY);
                entries.insert(
                    claims.key_id.clone(),
                    Cached {
                        key: key.clone(),
                        checked: now,
                        touched: if touch { now } else { touched.unwrap_or(now) },
                    },
                );
                (key, touch)
            }
        };
        if touch && key.revoked_at.is_none() {
            self.store.touch_api_key(&key.id, Timestamp::now()).await?;
        }
        Ok(key)
    }
}
