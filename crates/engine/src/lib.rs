//! Use cases over the `Store`: each public method is one thing an operator or client can do.
//! This layer generates ids and timestamps, enforces cross-resource rules (a policy in use
//! cannot be deleted, an agent can only reference what exists) and never knows about HTTP.

pub mod agent_logs;
pub mod agent_loop;
pub mod agents;
pub mod api_keys;
pub mod approvals;
pub mod callbacks;
pub mod connectors;
pub mod console_sso;
pub mod dispatch;
pub mod egress;
mod egress_cache;
pub mod end_users;
mod event_writer;
pub mod flow;
pub mod gateway;
pub mod governance;
mod hosted;
pub mod hosting;
pub mod identity_providers;
pub mod invoke;
pub mod model_providers;
pub mod oauth;
pub mod policies;
mod replays;
pub mod resume;
pub mod run_actions;
pub mod runs;
pub mod sessions;
pub mod starter_kit;
pub mod tools;
mod upstream;
mod wake;

use std::sync::Arc;

use runagents_domain::Invalid;
use runagents_store::Store;

pub use api_keys::{Caller, Role};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Upstream(String),
    /// A provider refused a gateway request with this status.
    #[error("provider request failed (HTTP {status}): {message}")]
    UpstreamStatus { status: u16, message: String },
    /// Something this server does not do (yet).
    #[error("{0}")]
    Unsupported(String),
    /// An agent's monthly budget for a model is used up until the period ends.
    #[error("{message}")]
    BudgetExceeded {
        message: String,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Store(runagents_store::Error),
}

impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Self {
        Error::Invalid(invalid.0)
    }
}

impl From<runagents_store::Error> for Error {
    fn from(error: runagents_store::Error) -> Self {
        match error {
            runagents_store::Error::Conflict(message) => Error::Conflict(message),
            other => Error::Store(other),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the engine needs to know about how the platform is reached.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base URL of the operator API as seen from this machine, e.g. `http://127.0.0.1:8092`.
    pub operator_url: String,
    /// Base URL of the agent plane as agents reach it, e.g. `http://127.0.0.1:8093`.
    pub agent_plane_url: String,
    /// True in `--dev`: requests need no API key.
    pub dev: bool,
    /// Base URL of the Slack Web API, without a trailing slash (tests point it at a fake).
    pub slack_api_url: String,
    /// Signs decision links; derived from the master key, so every replica shares it.
    pub link_key: runagents_domain::Secret,
    /// Signs console sessions and their CSRF tokens; derived from the master key like
    /// `link_key`, and separate from it.
    pub session_key: runagents_domain::Secret,
    /// Signs run callbacks (per workspace, see `callbacks.rs`); derived from the master key
    /// like `link_key`, and separate from it.
    pub callback_key: runagents_domain::Secret,
    /// How Tier-2 agents are hosted here; `None` on a server that hosts none.
    pub hosting: Option<hosting::HostingSettings>,
    /// An identity provider's key set (JWKS) is fetched at most once per this interval.
    pub jwks_min_refresh: std::time::Duration,
    /// Without a wake-up, the resume, dispatch and callback workers look for work this often
    /// (work queued on another replica wakes them at once on PostgreSQL; see `wake.rs`).
    pub worker_idle_poll: std::time::Duration,
    /// PEM certificates egress trusts beside the public web's roots (an internal CA).
    pub upstream_ca_file: Option<std::path::PathBuf>,
}

/// The use cases, sharing one store and one outbound HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    /// Egress's client for tool upstreams (see `upstream.rs`).
    upstream: Arc<upstream::UpstreamClient>,
    settings: Arc<Settings>,
    keys: Arc<api_keys::KeyCache>,
    /// What egress reads on every call, validated by the store's generations.
    egress_cache: Arc<egress_cache::EgressCache>,
    /// Group commit of the events egress records.
    events: Arc<event_writer::EventWriter>,
    /// Woken by every approval (here, or on another replica through the store's work
    /// notices), so the resume worker replays without a polling delay.
    resume_signal: Arc<tokio::sync::Notify>,
    /// Woken when a run ends here, so its callback goes out at once.
    callback_signal: Arc<tokio::sync::Notify>,
    /// Woken by every new access request and decision, so deliveries go out at once.
    dispatch_signal: Arc<tokio::sync::Notify>,
    routes: Arc<gateway::TtlCache<Vec<gateway::Route>>>,
    agent_specs: Arc<gateway::TtlCache<runagents_domain::agent::AgentSpec>>,
    /// The platform's log lines about each agent's turns.
    agent_logs: Arc<agent_logs::AgentLogs>,
    /// Builds and processes of Tier-2 agents.
    host: hosting::SharedHost,
    /// One token refresh at a time per OAuth connection, in this process.
    oauth_refresh_locks: Arc<oauth::RefreshLocks>,
    /// Identity providers' key sets, for end-user tokens at ingress and console sign-in.
    key_sets: Arc<end_users::KeySets>,
    /// Each workspace's console single sign-on setting, which every person's session is
    /// checked against.
    sso: Arc<gateway::TtlCache<Option<runagents_domain::sso::ConsoleSso>>>,
    /// Work that outlives a request (usage records written after the answer); shutdown waits
    /// for it.
    background: tokio_util::task::TaskTracker,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> Result<Self> {
        let host = settings
            .hosting
            .clone()
            .map(|hosting| Arc::new(hosting::Host::new(hosting)));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Upstream(format!("HTTP client: {e}")))?;
        let upstream = upstream::UpstreamClient::new(settings.upstream_ca_file.as_deref())
            .map_err(Error::Invalid)?;
        Ok(Engine {
            store,
            http,
            upstream: Arc::new(upstream),
            settings: Arc::new(settings),
            keys: Arc::default(),
            egress_cache: Arc::default(),
            events: Arc::default(),
            resume_signal: Arc::default(),
            dispatch_signal: Arc::default(),
            callback_signal: Arc::default(),
            routes: Arc::default(),
            agent_specs: Arc::default(),
            agent_logs: Arc::default(),
            host,
            oauth_refresh_locks: Arc::default(),
            key_sets: Arc::default(),
            sso: Arc::default(),
            background: tokio_util::task::TaskTracker::new(),
        })
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Tasks started by requests that may still run after them; close and wait on shutdown.
    pub fn background(&self) -> &tokio_util::task::TaskTracker {
        &self.background
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// `kind "name" not found`, the message shape clients match on.
pub(crate) fn not_found(kind: &str, name: &str) -> Error {
    Error::NotFound(format!("{kind} {name:?} not found"))
}

impl Engine {
    /// Creates or replaces a resource document (upsert by key) together with its secret fields
    /// (fields not given keep their stored value). Returns the stored document, whether it was
    /// created, and the names of all its stored secret fields.
    pub(crate) async fn upsert_document(
        &self,
        workspace: &str,
        kind: runagents_store::Kind,
        key: &str,
        body: serde_json::Value,
        secrets: Vec<(&'static str, runagents_domain::Secret)>,
    ) -> Result<(runagents_store::Document, tools::Upserted, Vec<String>)> {
        let now = runagents_domain::Timestamp::now();
        let document = runagents_store::Document {
            key: key.to_owned(),
            body,
            version: 0,
            created_at: now,
            updated_at: now,
        };
        let secrets: Vec<(String, runagents_domain::Secret)> = secrets
            .into_iter()
            .map(|(field, secret)| (field.to_owned(), secret))
            .collect();
        let stored = self
            .store
            .put_document(
                workspace,
                kind,
                &document,
                &secrets,
                runagents_store::Write::Upsert,
            )
            .await?;
        let upserted = if stored.version == 1 {
            tools::Upserted::Created
        } else {
            tools::Upserted::Updated
        };
        let fields = self.store.secret_fields(workspace, kind, key).await?;
        Ok((stored, upserted, fields))
    }
}
