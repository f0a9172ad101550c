//! Delegated-user OAuth2 for tools: the platform holds each user's tokens (sealed in the store),
//! injects a fresh access token at egress, and when a user has none it pauses the run for
//! consent. The consent callback stores the tokens and resumes the run through the same
//! continuation as an approval.
//!
//! Refreshes are single-flight per tool and user: within a process by a lock, across replicas
//! by a lease on the connection row, and every write is compare-and-set on its version, so
//! concurrent calls on an expired token refresh it once (a rotating refresh token is spent
//! once). A refresh the provider refuses, or a token it revoked, brings back consent — also
//! for an approved call whose replay finds the token gone: its approval stands, and the
//! consent callback queues the replay again instead of continuing the turn itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use runagents_domain::oauth::{self, ConsentState, Tokens};
use runagents_domain::run::RunStatus;
use runagents_domain::tool::{AuthType, GrantType, OAuth2Config, ToolSpec};
use runagents_domain::{Secret, Timestamp};
use runagents_store::{
    ActionRecord, Kind, NewEvent, OAuthConnection, ResumeJob, RunChange, RunRecord, RunUpdate,
};
use serde_json::{Map, Value, json};

use crate::egress::{Outcome, Refusal};
use crate::runs::event;
use crate::{Engine, Error, Result, not_found};

/// How long a replica may hold the refresh lease of one connection.
const REFRESH_LEASE_MS: i64 = 10_000;
/// How long a call waits for another replica's refresh before giving up.
const REFRESH_WAIT: Duration = Duration::from_secs(15);
const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);

/// What the platform holds for a user and a tool.
pub(crate) enum Token {
    Bearer(Secret),
    /// No usable token: the user must consent (again).
    Missing,
}

/// In-process locks, one per connection being refreshed.
#[derive(Default)]
pub(crate) struct RefreshLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl RefreshLocks {
    fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.0.lock() {
            Ok(mut locks) => locks.entry(key.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }
}

/// A connection as the API shows it: never its tokens.
#[derive(Clone, Debug)]
pub struct Connection {
    pub tool: String,
    pub user_id: String,
    pub scope: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a completed consent did.
#[derive(Clone, Debug)]
pub struct Connected {
    pub tool: String,
    pub user_id: String,
    pub run_id: String,
    /// True when the paused run was resumed.
    pub resumed: bool,
}

/// Does this tool need a token of the run's user (rather than one of its own)?
pub(crate) fn needs_user_token(tool: &ToolSpec) -> bool {
    tool.connection.authentication.kind == AuthType::OAuth2
        && oauth_config(tool).grant_type == GrantType::AuthorizationCode
}

fn oauth_config(tool: &ToolSpec) -> OAuth2Config {
    tool.connection
        .authentication
        .oauth2_config
        .clone()
        .unwrap_or_default()
}

/// CONSENT_REQUIRED on a run: where its user consents, and the call that waits for it.
fn consent_event(
    tool_name: &str,
    run: &RunRecord,
    action_id: &str,
    url: &str,
    message: &str,
) -> NewEvent {
    event(
        "CONSENT_REQUIRED",
        "platform",
        json!({"tool": tool_name, "user_id": run.user_id, "action_id": action_id,
               "authorization_url": url, "message": message}),
    )
}

/// A token endpoint's answer: tokens, or refused (the grant is no good: consent again).
enum Exchange {
    Tokens(Tokens),
    Refused(String),
}

impl Engine {
    /// The key that signs consent states and derives PKCE verifiers.
    fn oauth_key(&self) -> Vec<u8> {
        let key = hmac::Key::new(
            hmac::HMAC_SHA256,
            self.settings.link_key.expose().as_bytes(),
        );
        hmac::sign(&key, b"runagents oauth consent v1")
            .as_ref()
            .to_vec()
    }

    /// Where providers send users back.
    pub fn oauth_redirect_uri(&self) -> String {
        format!("{}/oauth/callback", self.settings.operator_url)
    }

    async fn client_credentials(
        &self,
        workspace: &str,
        tool_name: &str,
    ) -> Result<(String, Option<Secret>)> {
        let secrets = self.store.secrets(workspace, Kind::Tool, tool_name).await?;
        let field = |name: &str| {
            secrets
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, secret)| secret.clone())
        };
        let client_id = field("client_id").ok_or_else(|| {
            Error::Invalid(format!(
                "tool {tool_name:?} has no OAuth client: set credentials.client_id (and client_secret)"
            ))
        })?;
        Ok((client_id.expose().to_owned(), field("client_secret")))
    }

    /// Adds the tool's client credentials to a token or revocation request
    /// (`client_secret_post`).
    async fn authenticate_client(
        &self,
        workspace: &str,
        tool_name: &str,
        form: &mut Vec<(&'static str, String)>,
    ) -> Result<()> {
        let (client_id, client_secret) = self.client_credentials(workspace, tool_name).await?;
        form.push(("client_id", client_id));
        if let Some(secret) = client_secret {
            form.push(("client_secret", secret.expose().to_owned()));
        }
        Ok(())
    }

    /// POSTs a grant to the tool's token endpoint.
    async fn token_request(
        &self,
        workspace: &str,
        tool_name: &str,
        config: &OAuth2Config,
        mut form: Vec<(&'static str, String)>,
    ) -> Result<Exchange> {
        self.authenticate_client(workspace, tool_name, &mut form)
            .await?;
        let response = self
            .http
            .post(&config.token_url)
            .timeout(TOKEN_TIMEOUT)
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                Error::Upstream(format!(
                    "tool {tool_name:?} token endpoint unreachable: {e}"
                ))
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Tokens::parse(&body, Timestamp::now())
                .map(Exchange::Tokens)
                .map_err(|invalid| Error::Upstream(invalid.0));
        }
        if status.is_client_error() {
            return Ok(Exchange::Refused(oauth::error_text(&body)));
        }
        Err(Error::Upstream(format!(
            "tool {tool_name:?} token endpoint answered HTTP {status}"
        )))
    }

    /// A usable access token for `user` (empty for a client-credentials tool), refreshed or
    /// fetched as needed.
    pub(crate) async fn oauth_token(
        &self,
        workspace: &str,
        tool_name: &str,
        tool: &ToolSpec,
        user: &str,
    ) -> Result<Token> {
        let config = oauth_config(tool);
        let own = config.grant_type == GrantType::ClientCredentials;
        let user = if own { "" } else { user };
        if let Some(connection) = self
            .store
            .get_oauth_connection(workspace, tool_name, user)
            .await?
            && !oauth::needs_refresh(connection.expires_at.millis(), Timestamp::now())
        {
            return Ok(Token::Bearer(connection.access_token));
        }
        let lock = self
            .oauth_refresh_locks
            .get(&format!("{workspace}\0{tool_name}\0{user}"));
        let _single_flight = lock.lock().await;
        let deadline = tokio::time::Instant::now() + REFRESH_WAIT;
        loop {
            let now = Timestamp::now();
            let current = self
                .store
                .get_oauth_connection(workspace, tool_name, user)
                .await?;
            let Some(connection) = current else {
                if own {
                    return self.fetch_own_token(workspace, tool_name, &config).await;
                }
                return Ok(Token::Missing);
            };
            if !oauth::needs_refresh(connection.expires_at.millis(), now) {
                return Ok(Token::Bearer(connection.access_token));
            }
            if self
                .store
                .claim_oauth_refresh(
                    workspace,
                    tool_name,
                    user,
                    connection.version,
                    now,
                    now.plus_millis(REFRESH_LEASE_MS),
                )
                .await?
            {
                if let Some(token) = self
                    .refresh(workspace, tool_name, &config, &connection)
                    .await?
                {
                    return Ok(token);
                }
                // Lost a race or was refused after someone else refreshed: look again.
                continue;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Upstream(format!(
                    "tool {tool_name:?}: another replica's token refresh did not finish"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Refreshes under the lease. `None`: look again (the connection moved meanwhile).
    async fn refresh(
        &self,
        workspace: &str,
        tool_name: &str,
        config: &OAuth2Config,
        connection: &OAuthConnection,
    ) -> Result<Option<Token>> {
        let form = match (&connection.refresh_token, config.grant_type) {
            (_, GrantType::ClientCredentials) => {
                vec![("grant_type", "client_credentials".to_owned())]
                    .into_iter()
                    .chain((!config.scopes.is_empty()).then(|| ("scope", config.scopes.join(" "))))
                    .collect()
            }
            (Some(refresh), GrantType::AuthorizationCode) => vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", refresh.expose().to_owned()),
            ],
            (None, GrantType::AuthorizationCode) => {
                self.forget_connection(workspace, tool_name, connection)
                    .await?;
                return Ok(Some(Token::Missing));
            }
        };
        match self
            .token_request(workspace, tool_name, config, form)
            .await?
        {
            Exchange::Tokens(tokens) => {
                let updated = OAuthConnection {
                    access_token: Secret::new(tokens.access_token),
                    // A provider that does not rotate refresh tokens keeps the old one valid.
                    refresh_token: tokens
                        .refresh_token
                        .map(Secret::new)
                        .or_else(|| connection.refresh_token.clone()),
                    expires_at: Timestamp(tokens.expires_at),
                    scope: if tokens.scope.is_empty() {
                        connection.scope.clone()
                    } else {
                        tokens.scope
                    },
                    updated_at: Timestamp::now(),
                    ..connection.clone()
                };
                if self
                    .store
                    .put_oauth_connection(&updated, Some(connection.version))
                    .await?
                {
                    tracing::info!(tool = %tool_name, "refreshed an OAuth access token");
                    return Ok(Some(Token::Bearer(updated.access_token)));
                }
                Ok(None)
            }
            Exchange::Refused(reason) => {
                tracing::warn!(tool = %tool_name, %reason, "the provider refused a token refresh; consent is needed again");
                // Only if nobody refreshed meanwhile (a rotated token makes ours stale).
                let now = self
                    .store
                    .get_oauth_connection(workspace, tool_name, &connection.user_id)
                    .await?;
                if now
                    .as_ref()
                    .is_some_and(|c| c.version != connection.version)
                {
                    return Ok(None);
                }
                self.forget_connection(workspace, tool_name, connection)
                    .await?;
                Ok(Some(Token::Missing))
            }
        }
    }

    async fn forget_connection(
        &self,
        workspace: &str,
        tool_name: &str,
        connection: &OAuthConnection,
    ) -> Result<()> {
        self.store
            .delete_oauth_connection(workspace, tool_name, &connection.user_id)
            .await?;
        Ok(())
    }

    /// A client-credentials tool's first token.
    async fn fetch_own_token(
        &self,
        workspace: &str,
        tool_name: &str,
        config: &OAuth2Config,
    ) -> Result<Token> {
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if !config.scopes.is_empty() {
            form.push(("scope", config.scopes.join(" ")));
        }
        match self
            .token_request(workspace, tool_name, config, form)
            .await?
        {
            Exchange::Tokens(tokens) => {
                let now = Timestamp::now();
                let connection = OAuthConnection {
                    workspace: workspace.to_owned(),
                    tool: tool_name.to_owned(),
                    user_id: String::new(),
                    access_token: Secret::new(tokens.access_token),
                    refresh_token: tokens.refresh_token.map(Secret::new),
                    expires_at: Timestamp(tokens.expires_at),
                    scope: tokens.scope,
                    version: 0,
                    created_at: now,
                    updated_at: now,
                };
                self.store.put_oauth_connection(&connection, None).await?;
                Ok(Token::Bearer(connection.access_token))
            }
            Exchange::Refused(reason) => Err(Error::Upstream(format!(
                "tool {tool_name:?} refused the platform's client credentials: {reason}"
            ))),
        }
    }

    /// The upstream said 401 to a token: treat it as expired, so the next call refreshes it
    /// (and asks for consent if the provider revoked the grant).
    pub(crate) async fn expire_oauth_token(&self, workspace: &str, tool_name: &str, user: &str) {
        let Ok(Some(connection)) = self
            .store
            .get_oauth_connection(workspace, tool_name, user)
            .await
        else {
            return;
        };
        let expired = OAuthConnection {
            expires_at: Timestamp(1),
            updated_at: Timestamp::now(),
            ..connection.clone()
        };
        if let Err(error) = self
            .store
            .put_oauth_connection(&expired, Some(connection.version))
            .await
        {
            tracing::warn!(tool = %tool_name, %error, "could not mark a rejected token expired");
        }
    }

    /// A consent link for the run's user and the tool, and the message that goes with it; the
    /// link's state names `action_id`, the call the run waits on.
    async fn consent_link(
        &self,
        workspace: &str,
        tool_name: &str,
        tool: &ToolSpec,
        run: &RunRecord,
        action_id: &str,
    ) -> Result<(String, String)> {
        let config = oauth_config(tool);
        let (client_id, _) = self.client_credentials(workspace, tool_name).await?;
        let mut nonce = [0u8; 16];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Upstream("no system randomness".into()))?;
        let state = ConsentState {
            workspace: workspace.to_owned(),
            tool: tool_name.to_owned(),
            user_id: run.user_id.clone(),
            run_id: run.id.clone(),
            action_id: action_id.to_owned(),
            expires_at: Timestamp::now()
                .plus_seconds(oauth::STATE_TTL_SECONDS)
                .millis(),
            nonce: runagents_domain::hex::encode(&nonce),
        };
        let key = self.oauth_key();
        let challenge = config
            .pkce
            .then(|| oauth::pkce_challenge(&state.pkce_verifier(&key)));
        let url = oauth::authorization_url(
            &config,
            &client_id,
            &self.oauth_redirect_uri(),
            &state.sign(&key),
            challenge.as_deref(),
        )?;
        let message = format!(
            "Connect your {tool_name} account so I can continue: open the link, sign in and allow access."
        );
        Ok((url, message))
    }

    /// Pauses the run for the user's consent and tells the agent where to send them.
    pub(crate) async fn consent_required(
        &self,
        workspace: &str,
        tool_name: &str,
        tool: &ToolSpec,
        run: &RunRecord,
    ) -> Result<Outcome> {
        let action_id = uuid::Uuid::now_v7().to_string();
        let (url, message) = self
            .consent_link(workspace, tool_name, tool, run, &action_id)
            .await?;
        let update = RunUpdate {
            from: RunStatus::Running.as_str().to_owned(),
            to: RunStatus::PausedConsent.as_str().to_owned(),
            blocked_action_id: Some(action_id.clone()),
            final_answer: None,
            at: Timestamp::now(),
        };
        let events = [consent_event(tool_name, run, &action_id, &url, &message)];
        match self
            .store
            .update_run(workspace, &run.id, &update, &events)
            .await
        {
            // Already paused by a call made at the same time: this link works as well.
            Ok(_) | Err(runagents_store::Error::Conflict(_)) => {}
            Err(error) => return Err(error.into()),
        }
        let mut extra = Map::new();
        extra.insert("authorization_url".into(), json!(url));
        extra.insert("resume_id".into(), json!(action_id));
        extra.insert("action_id".into(), json!(action_id));
        extra.insert("tool".into(), json!(tool_name));
        extra.insert("run_id".into(), json!(run.id));
        Ok(Outcome::Refused(Refusal {
            status: 403,
            code: "CONSENT_REQUIRED",
            message,
            extra,
        }))
    }

    /// The replay of an approved call found no usable token of the run's user (the connection
    /// was revoked, or the provider refused a refresh): the approval stands and the action
    /// stays APPROVED, its job is put aside, and the run pauses for the user's consent exactly
    /// as egress pauses it; the consent callback queues the replay again. False when no run is
    /// left to pause (none, or it ended) or no consent can be asked for: the caller fails the
    /// action instead.
    pub(crate) async fn replay_needs_consent(
        &self,
        action: &ActionRecord,
        tool: &ToolSpec,
    ) -> Result<bool> {
        let workspace = action.workspace.as_str();
        if action.run_id.is_empty() {
            return Ok(false);
        }
        let Some(run) = self.store.get_run(workspace, &action.run_id).await? else {
            return Ok(false);
        };
        if RunStatus::parse(&run.status).is_ok_and(RunStatus::is_terminal) {
            return Ok(false);
        }
        let (url, message) = match self
            .consent_link(workspace, &action.tool, tool, &run, &action.id)
            .await
        {
            Ok(link) => link,
            // No consent can be asked for (the tool lost its OAuth client): the call fails.
            Err(Error::Invalid(reason)) => {
                tracing::warn!(action = %action.id, %reason, "an approved call needs consent that cannot be asked for");
                return Ok(false);
            }
            Err(error) => return Err(error),
        };
        let pause = RunChange {
            run_id: run.id.clone(),
            from: [
                RunStatus::Running,
                RunStatus::Paused,
                RunStatus::PausedApproval,
                RunStatus::PausedConsent,
            ]
            .map(|status| status.as_str().to_owned())
            .to_vec(),
            to: RunStatus::PausedConsent.as_str().to_owned(),
            blocked_action_id: Some(action.id.clone()),
            events: vec![consent_event(
                &action.tool,
                &run,
                &action.id,
                &url,
                &message,
            )],
        };
        let deferred = self
            .store
            .defer_action(
                workspace,
                &action.id,
                "waiting for the user's consent",
                Some(&pause),
                Timestamp::now(),
            )
            .await?;
        if deferred {
            tracing::info!(action = %action.id, run = %run.id, tool = %action.tool, "an approved call waits for its user's consent");
        }
        // Not deferred: another worker finished the action meanwhile; nothing is left to do.
        Ok(true)
    }

    /// The provider sent the user back: exchange the code, keep the tokens, resume the run.
    pub async fn oauth_callback(&self, code: &str, state: &str) -> Result<Connected> {
        let key = self.oauth_key();
        let state = ConsentState::verify(state, &key, Timestamp::now())?;
        if code.is_empty() {
            return Err(Error::Invalid("the provider sent no code".into()));
        }
        let workspace = state.workspace.as_str();
        let tool = self.get_tool(workspace, &state.tool).await?;
        if !needs_user_token(&tool.spec) {
            return Err(Error::Invalid(format!(
                "tool {:?} no longer uses delegated OAuth2",
                state.tool
            )));
        }
        let config = oauth_config(&tool.spec);
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", self.oauth_redirect_uri()),
        ];
        if config.pkce {
            form.push(("code_verifier", state.pkce_verifier(&key)));
        }
        let tokens = match self
            .token_request(workspace, &state.tool, &config, form)
            .await?
        {
            Exchange::Tokens(tokens) => tokens,
            Exchange::Refused(reason) => {
                return Err(Error::Invalid(format!(
                    "the provider refused the authorization code: {reason}"
                )));
            }
        };
        let now = Timestamp::now();
        self.store
            .put_oauth_connection(
                &OAuthConnection {
                    workspace: workspace.to_owned(),
                    tool: state.tool.clone(),
                    user_id: state.user_id.clone(),
                    access_token: Secret::new(tokens.access_token),
                    refresh_token: tokens.refresh_token.map(Secret::new),
                    expires_at: Timestamp(tokens.expires_at),
                    scope: tokens.scope,
                    version: 0,
                    created_at: now,
                    updated_at: now,
                },
                None,
            )
            .await?;
        let resumed = self.resume_after_consent(&state).await?;
        Ok(Connected {
            tool: state.tool,
            user_id: state.user_id,
            run_id: state.run_id,
            resumed,
        })
    }

    /// Moves the run paused for this consent back to RUNNING and continues its turn.
    async fn resume_after_consent(&self, state: &ConsentState) -> Result<bool> {
        let workspace = state.workspace.as_str();
        let Some(run) = self.store.get_run(workspace, &state.run_id).await? else {
            return Ok(false);
        };
        if run.status != RunStatus::PausedConsent.as_str() {
            return Ok(false);
        }
        if let Some(action) = self
            .store
            .get_action(workspace, &run.blocked_action_id)
            .await?
            .filter(|action| action.status == "APPROVED")
        {
            return self.replay_after_consent(state, &action).await;
        }
        let update = RunUpdate {
            from: run.status.clone(),
            to: RunStatus::Running.as_str().to_owned(),
            blocked_action_id: Some(String::new()),
            final_answer: None,
            at: Timestamp::now(),
        };
        let events = [
            event(
                "CONSENT_GRANTED",
                &state.user_id,
                json!({"tool": state.tool, "user_id": state.user_id, "action_id": state.action_id}),
            ),
            event(
                "RESUMED",
                "platform",
                json!({"action_id": state.action_id, "after": "consent"}),
            ),
        ];
        match self
            .store
            .update_run(workspace, &run.id, &update, &events)
            .await
        {
            Ok(_) => {}
            // Someone else resumed it first (a second callback of the same consent).
            Err(runagents_store::Error::Conflict(_)) => return Ok(false),
            Err(error) => return Err(error.into()),
        }
        // The paused call's own id is the checkpoint's: the turn goes on from there, and the
        // call goes through egress again, now with the user's token (and any approval policy).
        let checkpoint = if run.blocked_action_id.is_empty() {
            state.action_id.clone()
        } else {
            run.blocked_action_id.clone()
        };
        let engine = self.clone();
        let (workspace, run_id) = (workspace.to_owned(), run.id.clone());
        self.background.spawn(async move {
            if let Err(error) = engine.continue_turn(&workspace, &run_id, &checkpoint).await {
                tracing::warn!(run = %run_id, %error, "could not continue the run after consent");
            }
        });
        Ok(true)
    }

    /// The run waits on an approved call whose replay needed this consent: the approval stands,
    /// so the run goes back to waiting for that replay (PAUSED_APPROVAL) and the call is queued
    /// again; the replay resumes the run as it would have. A second callback queues nothing.
    async fn replay_after_consent(
        &self,
        state: &ConsentState,
        action: &ActionRecord,
    ) -> Result<bool> {
        if action.tool != state.tool {
            // Consent to another tool: the run still waits for this one's.
            return Ok(false);
        }
        let now = Timestamp::now();
        let job = ResumeJob {
            id: crate::approvals::new_id("job"),
            workspace: action.workspace.clone(),
            action_id: action.id.clone(),
            run_id: action.run_id.clone(),
            attempts: 0,
            created_at: now,
        };
        let granted = event(
            "CONSENT_GRANTED",
            &state.user_id,
            json!({"tool": state.tool, "user_id": state.user_id, "action_id": action.id}),
        );
        let queued = self
            .store
            .requeue_action(&action.workspace, &job, &[granted], now)
            .await?;
        if queued {
            self.resume_signal.notify_waiters();
        }
        Ok(queued)
    }

    /// The workspace's connections (of one user, or all); never their tokens.
    pub async fn list_connections(
        &self,
        workspace: &str,
        user: Option<&str>,
    ) -> Result<Vec<Connection>> {
        Ok(self
            .store
            .list_oauth_connections(workspace, user.filter(|u| !u.is_empty()))
            .await?
            .into_iter()
            .filter(|c| !c.user_id.is_empty())
            .map(|c| Connection {
                tool: c.tool,
                user_id: c.user_id,
                scope: c.scope,
                expires_at: c.expires_at,
                created_at: c.created_at,
                updated_at: c.updated_at,
            })
            .collect())
    }

    /// Revokes a user's connection: at the provider when it has a revocation endpoint, then
    /// here. The next call of that tool for that user asks for consent again.
    pub async fn revoke_connection(
        &self,
        workspace: &str,
        tool_name: &str,
        user: &str,
    ) -> Result<()> {
        let connection = self
            .store
            .get_oauth_connection(workspace, tool_name, user)
            .await?
            .filter(|_| !user.is_empty())
            .ok_or_else(|| not_found("connection", &format!("{tool_name} for {user}")))?;
        if let Ok(tool) = self.get_tool(workspace, tool_name).await {
            let config = oauth_config(&tool.spec);
            if !config.revoke_url.is_empty() {
                let token = connection
                    .refresh_token
                    .clone()
                    .unwrap_or_else(|| connection.access_token.clone());
                let revoked = self
                    .token_revocation(workspace, tool_name, &config, &token)
                    .await;
                if let Err(error) = revoked {
                    // Forgetting the tokens here still ends the platform's access.
                    tracing::warn!(tool = %tool_name, %error, "the provider did not confirm the revocation");
                }
            }
        }
        self.store
            .delete_oauth_connection(workspace, tool_name, user)
            .await?;
        Ok(())
    }

    async fn token_revocation(
        &self,
        workspace: &str,
        tool_name: &str,
        config: &OAuth2Config,
        token: &Secret,
    ) -> Result<()> {
        let mut form = vec![("token", token.expose().to_owned())];
        self.authenticate_client(workspace, tool_name, &mut form)
            .await?;
        let response = self
            .http
            .post(&config.revoke_url)
            .timeout(TOKEN_TIMEOUT)
            .form(&form)
            .send()
            .await
            .map_err(|e| Error::Upstream(format!("revocation endpoint unreachable: {e}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Error::Upstream(format!(
                "revocation endpoint answered HTTP {}",
                response.status()
            )))
        }
    }
}
