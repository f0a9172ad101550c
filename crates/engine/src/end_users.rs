//! End users at ingress. An agent whose spec names an identity provider is in authenticated
//! mode: its invokes carry an end-user JWT from that provider, and the identity in the token is
//! who the run is for. Every other agent is in open mode (the operator's API key, the user
//! taken from the request).
//!
//! This module decides an invoke's mode, keeps each provider's key set (JWKS) and verifies
//! tokens with `domain::jwt`. Key sets are fetched on first use, again when older than
//! [`MAX_AGE`], and again when a token names a `kid` the set lacks (key rotation); whatever the
//! reason, a provider's set is fetched at most once per `Settings::jwks_min_refresh`, so a
//! flood of tokens with made-up `kid`s, or a provider that is down, costs it one request per
//! interval. A fetch that fails keeps the last good set (for at most [`STALE_LIMIT`]); with no
//! set at all, every token is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runagents_domain::jwt::{self, EndUser, KeySet, Rejection, UnverifiedToken};
use runagents_domain::{ResourceName, Timestamp};
use serde_json::{Map, Value};

use crate::identity_providers::IdentityProvider;
use crate::{Engine, Error, Result};

/// A key set older than this is fetched again on the next token.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// A key set that could not be refreshed for this long is no longer trusted.
pub const STALE_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// Time allowed for fetching a key set.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest key set accepted, in bytes.
const MAX_KEY_SET_BYTES: usize = 1024 * 1024;

/// How an agent takes invokes.
#[derive(Clone, Debug)]
pub enum InvokeMode {
    /// The operator API key; the user comes from the request.
    Open,
    /// Only end-user tokens from this provider.
    Authenticated(IdentityProvider),
}

/// Every provider's key set, by (workspace, provider name).
#[derive(Default)]
pub(crate) struct KeySets {
    providers: Mutex<HashMap<(String, String), Provider>>,
}

type Provider = Arc<tokio::sync::Mutex<Cached>>;

/// One provider's key set. Its lock is held while fetching, so concurrent tokens wait for one
/// fetch instead of starting their own.
#[derive(Default)]
struct Cached {
    /// The `jwksUri` the set came from; a provider whose URI changed starts over.
    uri: String,
    keys: Option<Arc<KeySet>>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

impl Cached {
    fn usable(&self, now: Instant) -> Option<Arc<KeySet>> {
        let fresh_enough = self
            .fetched
            .is_some_and(|at| now.duration_since(at) < STALE_LIMIT);
        self.keys.clone().filter(|_| fresh_enough)
    }
}

impl KeySets {
    fn entry(&self, workspace: &str, provider: &str) -> Provider {
        let mut providers = self
            .providers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        providers
            .entry((workspace.to_owned(), provider.to_owned()))
            .or_default()
            .clone()
    }
}

impl Engine {
    /// How `agent` in `workspace` takes invokes. An agent that does not exist is open: the
    /// caller's API key is checked, then the invoke answers not found, as before.
    pub async fn invoke_mode(&self, workspace: &str, agent: &str) -> Result<InvokeMode> {
        if ResourceName::parse(workspace).is_err() || ResourceName::parse(agent).is_err() {
            return Ok(InvokeMode::Open);
        }
        let agent = match self.get_agent(workspace, agent).await {
            Ok(agent) => agent,
            Err(Error::NotFound(_)) => return Ok(InvokeMode::Open),
            Err(error) => return Err(error),
        };
        let name = &agent.spec.identity_provider;
        if name.is_empty() {
            return Ok(InvokeMode::Open);
        }
        match self.get_identity_provider(workspace, name).await {
            Ok(provider) => Ok(InvokeMode::Authenticated(provider)),
            // Fail closed: an authenticated agent whose provider vanished takes no one.
            Err(Error::NotFound(_)) => Err(Error::Unauthenticated(format!(
                "agent {:?} requires end-user tokens from identity provider {name:?}, which does not exist",
                agent.name
            ))),
            Err(error) => Err(error),
        }
    }

    /// The end user of a bearer token from any of the workspace's identity providers (the one
    /// whose issuer the token names), for a person's own requests (their connections).
    pub async fn verify_end_user_of_workspace(
        &self,
        workspace: &str,
        token: Option<&str>,
    ) -> Result<EndUser> {
        let Some(raw) = token else {
            return Err(Error::Unauthenticated(Rejection::Missing.to_string()));
        };
        let issuer = UnverifiedToken::parse(raw)
            .map_err(|rejection| Error::Unauthenticated(rejection.to_string()))?
            .claimed_issuer()
            .unwrap_or_default();
        let provider = self
            .list_identity_providers(workspace)
            .await?
            .into_iter()
            .find(|provider| provider.spec.identity_provider.issuer == issuer)
            .ok_or_else(|| {
                Error::Unauthenticated(format!(
                    "no identity provider of this workspace issues tokens as {issuer:?}"
                ))
            })?;
        self.verify_end_user(workspace, &provider, Some(raw)).await
    }

    /// The end user of an invoke of an authenticated-mode agent, from its bearer token.
    /// Refusals are `Unauthenticated` with the reason.
    pub async fn verify_end_user(
        &self,
        workspace: &str,
        provider: &IdentityProvider,
        token: Option<&str>,
    ) -> Result<EndUser> {
        let verified = match token {
            None => Err(Rejection::Missing),
            Some(token) => self.check_token(workspace, provider, token).await,
        };
        verified.map_err(|rejection| {
            tracing::debug!(workspace, provider = %provider.name, %rejection, "end-user token refused");
            Error::Unauthenticated(rejection.to_string())
        })
    }

    async fn check_token(
        &self,
        workspace: &str,
        provider: &IdentityProvider,
        raw: &str,
    ) -> Result<EndUser, Rejection> {
        let claims = self.verified_claims(workspace, provider, raw).await?;
        jwt::check_claims(
            &claims,
            &provider.spec,
            Timestamp::now().millis().div_euclid(1000),
        )
    }

    /// The claims of a token signed with one of the provider's keys (its cached key set, as
    /// for invokes); what the claims say is the caller's to check (`jwt::check_claims`).
    pub(crate) async fn verified_claims(
        &self,
        workspace: &str,
        provider: &IdentityProvider,
        raw: &str,
    ) -> Result<Map<String, Value>, Rejection> {
        let token = UnverifiedToken::parse(raw)?;
        let keys = self.signing_keys(workspace, provider, &token).await?;
        token.verified_claims(keys.find(&token)?)
    }

    /// The provider's key set, fetched when missing, old, or lacking the token's key, at most
    /// once per refresh interval.
    async fn signing_keys(
        &self,
        workspace: &str,
        provider: &IdentityProvider,
        token: &UnverifiedToken<'_>,
    ) -> Result<Arc<KeySet>, Rejection> {
        let uri = provider.spec.identity_provider.jwks_uri.as_str();
        let entry = self.key_sets.entry(workspace, &provider.name);
        let mut cached = entry.lock().await;
        if cached.uri != uri {
            *cached = Cached {
                uri: uri.to_owned(),
                ..Cached::default()
            };
        }
        let now = Instant::now();
        let wanted = match cached.usable(now) {
            None => true,
            Some(keys) => {
                keys.lacks(token)
                    || cached
                        .fetched
                        .is_some_and(|at| now.duration_since(at) >= MAX_AGE)
            }
        };
        let allowed = cached
            .attempted
            .is_none_or(|at| now.duration_since(at) >= self.settings.jwks_min_refresh);
        if wanted && allowed {
            cached.attempted = Some(now);
            match self.fetch_key_set(uri).await {
                Ok(keys) => {
                    if keys.is_empty() {
                        tracing::warn!(workspace, provider = %provider.name, uri, "identity provider's key set has no RS256 or ES256 signing keys");
                    }
                    cached.keys = Some(Arc::new(keys));
                    cached.fetched = Some(Instant::now());
                }
                Err(error) => {
                    tracing::warn!(workspace, provider = %provider.name, uri, %error, "could not fetch the identity provider's key set");
                }
            }
        }
        cached
            .usable(Instant::now())
            .ok_or(Rejection::KeysUnavailable)
    }

    async fn fetch_key_set(&self, uri: &str) -> std::result::Result<KeySet, String> {
        let mut response = self
            .http
            .get(uri)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
            if body.len() + chunk.len() > MAX_KEY_SET_BYTES {
                return Err(format!("larger than {MAX_KEY_SET_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        KeySet::parse(&body).map_err(|invalid| invalid.0)
    }
}
