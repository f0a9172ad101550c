//! The console's single sign-on: the workspace setting (`/settings/console-sso`, its client
//! secret sealed beside it), discovery of the issuer's endpoints, and the sign-in itself: the
//! authorization-code flow with PKCE, the ID token verified against the identity provider's key
//! set (`end_users`) and checked by `domain::sso`, and a session for the person.
//!
//! A person's session names no API key; every request checks it against the workspace's
//! setting instead (read at most every few seconds, forgotten at once by a change on this
//! replica): disabling or removing single sign-on, or pointing it at another provider or
//! client, ends those sessions, and the person's role follows the current `admin_groups`.
//!
//! Invariants: the client secret is a `Secret`, sealed by the store and sent only to the token
//! endpoint; the ID token is read, checked and dropped, never stored or logged; a refused
//! sign-in creates nothing.

use std::sync::Arc;
use std::time::Duration;

use ring::hmac;
use runagents_domain::approver::Channel;
use runagents_domain::session::{self, SessionClaims};
use runagents_domain::sso::{
    self, ConsoleSso, ConsoleSsoInput, Person, SETTING, SignInState, TokenAuth,
};
use runagents_domain::{ResourceName, Secret, Timestamp, from_json, oauth};
use runagents_store::{Document, Kind, Write};
use serde_json::{Value, json};

use crate::sessions::Session;
use crate::{Caller, Engine, Error, Result, Role};

const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Browsers keep cookies up to 4 KiB; a session token longer than this is refused.
const MAX_SESSION_TOKEN: usize = 3800;
const SECRET_FIELD: &str = "client_secret";

/// The setting as the API shows it: never the secret, only whether there is one.
#[derive(Clone, Debug)]
pub struct SsoSetting {
    pub sso: ConsoleSso,
    pub client_secret_set: bool,
    /// Where the provider must send people back (register it with the provider).
    pub redirect_uri: String,
    pub updated_at: Timestamp,
}

/// Where to send a browser to sign in, and the value of the cookie that binds the sign-in to
/// it.
#[derive(Debug)]
pub struct SignInStart {
    pub authorization_url: String,
    pub browser_binding: String,
}

fn not_set_up(workspace: &str) -> Error {
    Error::NotFound(format!(
        "single sign-on is not set up for workspace {workspace:?}"
    ))
}

fn require_admin(caller: &Caller) -> Result<()> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only an admin can change the console's single sign-on".into(),
        ))
    }
}

impl Engine {
    /// Signs sign-in states and derives their PKCE verifiers, nonces and browser bindings;
    /// separate from the session key it is derived from.
    fn sso_key(&self) -> Vec<u8> {
        let key = hmac::Key::new(
            hmac::HMAC_SHA256,
            self.settings.session_key.expose().as_bytes(),
        );
        hmac::sign(&key, b"runagents console sso v1")
            .as_ref()
            .to_vec()
    }

    async fn stored_sso(&self, workspace: &str) -> Result<Option<(ConsoleSso, Timestamp)>> {
        match self
            .store
            .get_document(workspace, Kind::Setting, SETTING)
            .await?
        {
            None => Ok(None),
            Some(document) => Ok(Some((
                from_json("stored console single sign-on", document.body)?,
                document.updated_at,
            ))),
        }
    }

    fn setting_view(&self, sso: ConsoleSso, secrets: &[String], at: Timestamp) -> SsoSetting {
        SsoSetting {
            redirect_uri: sso.redirect_uri(&self.settings.operator_url),
            client_secret_set: secrets.iter().any(|field| field == SECRET_FIELD),
            updated_at: at,
            sso,
        }
    }

    /// The workspace's setting, if there is one.
    pub async fn console_sso(&self, workspace: &str) -> Result<Option<SsoSetting>> {
        let Some((sso, at)) = self.stored_sso(workspace).await? else {
            return Ok(None);
        };
        let secrets = self
            .store
            .secret_fields(workspace, Kind::Setting, SETTING)
            .await?;
        Ok(Some(self.setting_view(sso, &secrets, at)))
    }

    /// Where this server's callback is, for a workspace without a setting yet.
    pub fn default_sso_redirect_uri(&self) -> String {
        format!(
            "{}{}",
            self.settings.operator_url.trim_end_matches('/'),
            sso::CALLBACK_PATH
        )
    }

    /// Creates or replaces the setting (admins only). The identity provider must exist;
    /// endpoints not given are read from its issuer's discovery document. A client secret not
    /// given keeps the stored one.
    pub async fn put_console_sso(&self, caller: &Caller, body: Value) -> Result<SsoSetting> {
        require_admin(caller)?;
        let ws = caller.workspace.as_str();
        let ConsoleSsoInput {
            mut sso,
            client_secret,
        } = ConsoleSsoInput::parse(body)?;
        let provider = match self.get_identity_provider(ws, &sso.identity_provider).await {
            Ok(provider) => provider,
            Err(Error::NotFound(_)) => {
                return Err(Error::Invalid(format!(
                    "identity provider {:?} does not exist: create it first (issuer, jwksUri)",
                    sso.identity_provider
                )));
            }
            Err(error) => return Err(error),
        };
        if sso.discovered {
            let found = self
                .discover(&provider.spec.identity_provider.issuer)
                .await?;
            sso.authorization_endpoint = found.authorization_endpoint;
            sso.token_endpoint = found.token_endpoint;
            sso.token_endpoint_auth = found.token_endpoint_auth;
        }
        let previous = self.stored_sso(ws).await?.map(|(sso, _)| sso);
        sso.continue_epoch(previous.as_ref(), crate::sessions::nonce()?);
        let now = Timestamp::now();
        let secrets: Vec<(String, Secret)> = client_secret
            .into_iter()
            .map(|secret| (SECRET_FIELD.to_owned(), secret))
            .collect();
        let stored = self
            .store
            .put_document(
                ws,
                Kind::Setting,
                &Document {
                    key: SETTING.to_owned(),
                    body: json!(sso),
                    version: 0,
                    created_at: now,
                    updated_at: now,
                },
                &secrets,
                Write::Upsert,
            )
            .await?;
        self.sso.forget(ws);
        let fields = self.store.secret_fields(ws, Kind::Setting, SETTING).await?;
        Ok(self.setting_view(sso, &fields, stored.updated_at))
    }

    /// Removes the setting and its secret (admins only): the sign-in button goes, and so do
    /// the sessions of everyone who signed in with it.
    pub async fn delete_console_sso(&self, caller: &Caller) -> Result<()> {
        require_admin(caller)?;
        let ws = caller.workspace.as_str();
        let deleted = self
            .store
            .delete_document(ws, Kind::Setting, SETTING)
            .await?;
        self.sso.forget(ws);
        if deleted {
            Ok(())
        } else {
            Err(Error::NotFound(format!(
                "single sign-on is not set up for workspace {ws:?}"
            )))
        }
    }

    /// The issuer's endpoints from its discovery document.
    async fn discover(&self, issuer: &str) -> Result<sso::Discovered> {
        let url = sso::discovery_url(issuer);
        let failed = |reason: String| {
            Error::Invalid(format!(
                "could not discover the endpoints at {url}: {reason}; give authorization_endpoint and token_endpoint instead"
            ))
        };
        let mut response = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(DISCOVERY_TIMEOUT)
            .send()
            .await
            .map_err(|error| failed(error.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status().as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| failed(error.to_string()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(failed(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        sso::read_discovery(&body, issuer).map_err(|invalid| failed(invalid.0))
    }

    /// The setting every person's session is checked against, read at most every few seconds.
    async fn live_sso(&self, workspace: &str) -> Result<Arc<Option<ConsoleSso>>> {
        if let Some(cached) = self.sso.get(workspace) {
            return Ok(cached);
        }
        let fresh = Arc::new(self.stored_sso(workspace).await?.map(|(sso, _)| sso));
        self.sso.put(workspace.to_owned(), fresh.clone());
        Ok(fresh)
    }

    /// The enabled setting of `workspace`, read now, or `NotFound`.
    async fn enabled_sso(&self, workspace: &str) -> Result<ConsoleSso> {
        if ResourceName::parse(workspace).is_err() {
            return Err(not_set_up(workspace));
        }
        match self.stored_sso(workspace).await? {
            Some((sso, _)) if sso.enabled => Ok(sso),
            _ => Err(not_set_up(workspace)),
        }
    }

    /// What the sign-in page's button says for `workspace`, if single sign-on is on there.
    pub async fn sso_button(&self, workspace: &str) -> Result<Option<String>> {
        if ResourceName::parse(workspace).is_err() {
            return Ok(None);
        }
        Ok(self
            .live_sso(workspace)
            .await?
            .as_ref()
            .as_ref()
            .filter(|sso| sso.enabled)
            .map(|sso| sso.label().to_owned()))
    }

    /// Starts a sign-in: the provider's authorization URL (code flow, PKCE, nonce, a signed
    /// state) and the browser binding to set as a cookie.
    pub async fn start_sso(&self, workspace: &str) -> Result<SignInStart> {
        let sso = self.enabled_sso(workspace).await?;
        let key = self.sso_key();
        let state = SignInState::new(workspace, crate::sessions::nonce()?, Timestamp::now());
        let redirect_uri = sso.redirect_uri(&self.settings.operator_url);
        Ok(SignInStart {
            authorization_url: state.authorization_url(&sso, &redirect_uri, &key)?,
            browser_binding: state.browser_binding(&key),
        })
    }

    /// The provider sent the browser back: check the state and its binding to this browser,
    /// exchange the code, verify the ID token, and start the person's session.
    pub async fn finish_sso(
        &self,
        code: &str,
        state: &str,
        browser_binding: Option<&str>,
    ) -> Result<Session> {
        let key = self.sso_key();
        let state = SignInState::verify(state, &key, Timestamp::now())?;
        if !browser_binding.is_some_and(|binding| state.bound_to(&key, binding)) {
            return Err(Error::Invalid(
                "this sign-in was started in another browser, or took too long: sign in again"
                    .into(),
            ));
        }
        let ws = state.workspace.as_str();
        let sso = self.enabled_sso(ws).await?;
        if code.trim().is_empty() {
            return Err(Error::Invalid("the identity provider sent no code".into()));
        }
        let provider = self
            .get_identity_provider(ws, &sso.identity_provider)
            .await?;
        let client_secret = self
            .store
            .secrets(ws, Kind::Setting, SETTING)
            .await?
            .into_iter()
            .find(|(field, _)| field == SECRET_FIELD)
            .map(|(_, secret)| secret);
        let redirect_uri = sso.redirect_uri(&self.settings.operator_url);
        let id_token = self
            .exchange_code(
                &sso,
                client_secret,
                code.trim(),
                &state.pkce_verifier(&key),
                &redirect_uri,
            )
            .await?;
        let claims = self
            .verified_claims(ws, &provider, id_token.expose())
            .await
            .map_err(|rejection| {
                Error::Unauthenticated(format!("ID token refused: {rejection}"))
            })?;
        drop(id_token);
        let now = Timestamp::now();
        let person = sso::person_from_id_token(
            &claims,
            &provider.name,
            &provider.spec,
            &sso,
            &state.id_token_nonce(&key),
            now.millis().div_euclid(1000),
        )
        .map_err(|refusal| Error::Unauthenticated(refusal.to_string()))?;
        let claims = SessionClaims {
            key_id: String::new(),
            workspace: ws.to_owned(),
            key_fingerprint: sso::fingerprint(self.session_key(), &sso),
            nonce: crate::sessions::nonce()?,
            exp: now.millis() / 1000 + session::LIFETIME_SECS,
            idle: 0,
            person: Some(person.clone()),
        }
        .active_at(now);
        let caller = person_as_caller(ws, &sso, &person);
        let started = self.issue(&claims, caller);
        if started.token.len() > MAX_SESSION_TOKEN {
            return Err(Error::Unauthenticated(format!(
                "the ID token's groups do not fit in a console session ({} groups): narrow groups_claim or the provider's group filter",
                person.groups.len()
            )));
        }
        tracing::info!(workspace = ws, subject = %person.subject, "console sign-in with single sign-on");
        Ok(started)
    }

    /// POSTs the code to the token endpoint and gives the ID token (kept as a `Secret`, so it
    /// cannot be logged).
    async fn exchange_code(
        &self,
        sso: &ConsoleSso,
        client_secret: Option<Secret>,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<Secret> {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ];
        let mut request = self
            .http
            .post(&sso.token_endpoint)
            .timeout(TOKEN_TIMEOUT)
            .header(reqwest::header::ACCEPT, "application/json");
        match (sso.token_endpoint_auth, client_secret) {
            // RFC 6749 §2.3.1: both form-encoded before they go into the Basic credentials.
            (TokenAuth::ClientSecretBasic, Some(secret)) => {
                let encode = |text: &str| {
                    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
                };
                request = request.basic_auth(encode(&sso.client_id), Some(encode(secret.expose())));
            }
            (_, secret) => {
                form.push(("client_id", sso.client_id.clone()));
                if let Some(secret) = secret {
                    form.push(("client_secret", secret.expose().to_owned()));
                }
            }
        }
        let response = request.form(&form).send().await.map_err(|error| {
            Error::Upstream(format!(
                "the identity provider's token endpoint could not be reached: {}",
                error.without_url()
            ))
        })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_client_error() {
            return Err(Error::Unauthenticated(format!(
                "the identity provider refused the sign-in: {}",
                oauth::error_text(&body)
            )));
        }
        if !status.is_success() {
            return Err(Error::Upstream(format!(
                "the identity provider's token endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        match body.get("id_token").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => Ok(Secret::new(token)),
            _ => Err(Error::Upstream(
                "the identity provider's token endpoint returned no id_token (is `openid` among the scopes?)"
                    .into(),
            )),
        }
    }

    /// The caller of a person's session, if the workspace's single sign-on still has them:
    /// enabled, same provider and client. The role follows the current `admin_groups`.
    pub(crate) async fn person_caller(
        &self,
        claims: &SessionClaims,
        person: &Person,
        requested: Option<&str>,
    ) -> Result<Caller> {
        if let Some(workspace) = requested
            && workspace != claims.workspace
        {
            return Err(Error::NotFound(format!(
                "workspace {workspace:?} not found"
            )));
        }
        let live = self.live_sso(&claims.workspace).await?;
        let sso = live
            .as_ref()
            .as_ref()
            .filter(|sso| sso.enabled)
            .ok_or_else(|| {
                Error::Unauthenticated(
                    "single sign-on was turned off for this workspace; sign in again".into(),
                )
            })?;
        if sso::fingerprint(self.session_key(), sso) != claims.key_fingerprint {
            return Err(Error::Unauthenticated(
                "single sign-on now uses another identity provider or client; sign in again".into(),
            ));
        }
        Ok(person_as_caller(&claims.workspace, sso, person))
    }
}

fn person_as_caller(workspace: &str, sso: &ConsoleSso, person: &Person) -> Caller {
    Caller {
        workspace: workspace.to_owned(),
        role: if sso.is_admin(&person.groups) {
            Role::Admin
        } else {
            Role::Member
        },
        key_id: String::new(),
        key_name: person.subject.clone(),
        subject: person.subject.clone(),
        groups: person.groups.clone(),
        channel: Channel::Console,
    }
}
