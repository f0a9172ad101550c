//! `runagents serve`: open the store, bootstrap, bind both planes, serve until SIGTERM/SIGINT.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::serve::ListenerExt;
use runagents_engine::hosting::HostingSettings;
use runagents_engine::{Engine, Settings};
use runagents_http::{AppState, agent_router, operator_router, rewrite_workspace_path};
use runagents_store::{MasterKey, PostgresStore, SqliteOptions, SqliteStore, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;

use crate::agent_threads::AgentThreads;

#[derive(clap::Args, Debug)]
pub struct Options {
    /// Address of the operator API (the SDK's and CLI's endpoint).
    #[arg(long, env = "RUNAGENTS_LISTEN", default_value = "127.0.0.1:8092")]
    listen: SocketAddr,
    /// Address of the agent plane (what deployed agents call).
    #[arg(long, env = "RUNAGENTS_AGENT_LISTEN", default_value = "127.0.0.1:8093")]
    agent_listen: SocketAddr,
    /// Directory for the SQLite database, the master key and the bootstrap key.
    #[arg(long, env = "RUNAGENTS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Use PostgreSQL instead of the embedded SQLite: postgres://user@host/db
    #[arg(long, env = "RUNAGENTS_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Development mode: no API keys required; binds loopback addresses only.
    #[arg(long, env = "RUNAGENTS_DEV")]
    dev: bool,
    /// Base URL of the Slack Web API, for connector tests (tests point it at a fake).
    #[arg(
        long,
        env = "RUNAGENTS_SLACK_API_URL",
        default_value = "https://slack.com/api",
        hide = true
    )]
    slack_api_url: String,
    /// Log format.
    #[arg(long, env = "RUNAGENTS_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Whether this server builds and runs Tier-2 (Python) agents: `local` runs them here as
    /// supervised processes; `off` serves the API only (another replica hosts them).
    #[arg(long, env = "RUNAGENTS_HOSTING", value_enum, default_value = "local")]
    hosting: HostingMode,
    /// The Python 3 interpreter that creates agents' virtual environments.
    #[arg(long, env = "RUNAGENTS_PYTHON", default_value = "python3")]
    python: PathBuf,
    /// Where agents' Python environments are kept (default: DATA_DIR/hosting); servers on one
    /// machine may share it.
    #[arg(long, env = "RUNAGENTS_ENV_DIR")]
    env_dir: Option<PathBuf>,
    /// Extra `pip install` arguments for agent builds, space-separated (e.g. an index URL).
    #[arg(
        long,
        env = "RUNAGENTS_PIP_ARGS",
        hide_env_values = true,
        default_value = ""
    )]
    pip_args: String,
    /// An identity provider's key set (JWKS) is fetched at most once per this many seconds,
    /// whatever tokens arrive (tests shorten it).
    #[arg(
        long,
        env = "RUNAGENTS_JWKS_MIN_REFRESH_SECS",
        default_value_t = 30,
        hide = true
    )]
    jwks_min_refresh_secs: u64,
    /// On SQLite, how many milliseconds the event journal gathers call events before a commit
    /// when no reader is waiting for them (tests lengthen it to catch events still journaled).
    #[arg(
        long,
        env = "RUNAGENTS_EVENT_LINGER_MS",
        default_value_t = 12,
        hide = true
    )]
    event_linger_ms: u64,
    /// Whether this server runs the background workers (replays of approved calls, approval
    /// deliveries, run callbacks): `off` serves the API only, and another replica on the same
    /// PostgreSQL does that work (woken at once by what this one queues).
    #[arg(long, env = "RUNAGENTS_WORKERS", value_enum, default_value = "on")]
    workers: WorkersMode,
    /// Without a wake-up, the workers look for work this often (tests lengthen it).
    #[arg(
        long,
        env = "RUNAGENTS_WORKER_IDLE_POLL_MS",
        default_value_t = 500,
        hide = true
    )]
    worker_idle_poll_ms: u64,
    /// PEM file of CA certificates that tool upstreams' TLS certificates may chain to, beside
    /// the public web's roots (an internal CA).
    #[arg(long, env = "RUNAGENTS_UPSTREAM_CA_FILE")]
    upstream_ca_file: Option<PathBuf>,
    /// Threads serving the agent plane, each with a runtime of its own (0: the agent plane
    /// shares the main runtime). Default: one per CPU on SQLite, 0 on PostgreSQL, where a
    /// database connection opened on one thread's runtime would make every later query on it
    /// from elsewhere wait for that thread.
    #[arg(long, env = "RUNAGENTS_AGENT_THREADS")]
    agent_threads: Option<usize>,
    /// Scheduling of the agent plane's threads. `realtime` runs them at the lowest real-time
    /// priority (SCHED_FIFO 1), ahead of all ordinary work on the host, which keeps the
    /// latency egress adds flat on a busy host (docs/benchmarks.md). It needs CAP_SYS_NICE or
    /// an RLIMIT_RTPRIO of at least 1, and the agent plane on threads of its own; the start
    /// fails without them. Threads and agents' processes the platform starts keep ordinary
    /// priority.
    #[arg(
        long,
        env = "RUNAGENTS_AGENT_PLANE_PRIORITY",
        value_enum,
        default_value_t = Priority::Normal
    )]
    agent_plane_priority: Priority,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Priority {
    Normal,
    Realtime,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum WorkersMode {
    On,
    Off,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum HostingMode {
    Local,
    Off,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn default_data_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".runagents").join("data"),
        None => PathBuf::from(".runagents"),
    }
}

pub fn run(options: Options) -> anyhow::Result<()> {
    init_logs(options.log_format);
    // One worker per core (TOKIO_WORKER_THREADS overrides): the platform is I/O bound, and
    // the SQLite commits and the event journal have threads of their own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> anyhow::Result<()> {
    if options.dev
        && !(options.listen.ip().is_loopback() && options.agent_listen.ip().is_loopback())
    {
        bail!(
            "--dev runs without authentication, so it binds only loopback addresses (got {} and {})",
            options.listen,
            options.agent_listen
        );
    }
    if options.workers == WorkersMode::Off && options.database_url.is_none() {
        bail!(
            "--workers off needs --database-url: on the embedded SQLite no other server would replay approved calls or deliver approvals and callbacks"
        );
    }
    let agent_threads = options
        .agent_threads
        .unwrap_or(if options.database_url.is_some() {
            0
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        });
    let realtime = options.agent_plane_priority == Priority::Realtime;
    if realtime && agent_threads == 0 {
        bail!(
            "--agent-plane-priority realtime needs the agent plane on threads of its own \
             (--agent-threads 1 or more)"
        );
    }
    let data_dir = options.data_dir.clone().unwrap_or_else(default_data_dir);
    create_private_dir(&data_dir)?;
    let master = master_key(&data_dir)?;
    let store: Arc<dyn Store> = match &options.database_url {
        Some(url) => Arc::new(
            PostgresStore::connect(url, &master)
                .await
                .context("connecting to PostgreSQL")?,
        ),
        None => Arc::new(
            SqliteStore::open_with(
                &data_dir.join("runagents.db"),
                &master,
                &SqliteOptions {
                    event_linger: Duration::from_millis(options.event_linger_ms),
                    ..SqliteOptions::default()
                },
            )
            .await
            .context("opening the SQLite database")?,
        ),
    };

    let operator = TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("binding {}", options.listen))?;
    let agents = TcpListener::bind(options.agent_listen)
        .await
        .with_context(|| format!("binding {}", options.agent_listen))?;
    let operator_addr = operator.local_addr()?;
    let agent_addr = agents.local_addr()?;

    let settings = Settings {
        operator_url: format!("http://{operator_addr}"),
        agent_plane_url: format!("http://{agent_addr}"),
        dev: options.dev,
        slack_api_url: options.slack_api_url.trim_end_matches('/').to_owned(),
        link_key: master.derive("runagents decision links v1"),
        session_key: master.derive("runagents console sessions v1"),
        callback_key: master.derive("runagents run callbacks v1"),
        hosting: Some(HostingSettings {
            enabled: options.hosting == HostingMode::Local,
            data_dir: data_dir.clone(),
            env_dir: options
                .env_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("hosting")),
            python: options.python.clone(),
            pip_args: options
                .pip_args
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }),
        jwks_min_refresh: std::time::Duration::from_secs(options.jwks_min_refresh_secs),
        worker_idle_poll: std::time::Duration::from_millis(options.worker_idle_poll_ms.max(1)),
        upstream_ca_file: options.upstream_ca_file.clone(),
    };
    let engine = Engine::new(store.clone(), settings)?;
    if !options.dev
        && let Some(token) = engine.bootstrap().await?
    {
        announce_bootstrap_key(&data_dir, &token)?;
    }
    if options.dev {
        tracing::warn!("development mode: API requests are not authenticated");
    }

    let background = engine.background().clone();
    let stop = CancellationToken::new();
    // Named by process and address, so leases in a shared database say who holds them.
    let worker_name = format!("{}@{operator_addr}", std::process::id());
    let workers = if options.workers == WorkersMode::On {
        vec![
            tokio::spawn(
                engine
                    .clone()
                    .run_resume_worker(worker_name.clone(), stop.clone()),
            ),
            tokio::spawn(
                engine
                    .clone()
                    .run_dispatch_worker(worker_name.clone(), stop.clone()),
            ),
            tokio::spawn(
                engine
                    .clone()
                    .run_callback_worker(worker_name, stop.clone()),
            ),
            // Work queued on other replicas wakes this one's workers (PostgreSQL only).
            tokio::spawn(engine.clone().run_work_listener(stop.clone())),
        ]
    } else {
        tracing::info!(
            "background workers off: other replicas replay approvals and deliver approvals and callbacks"
        );
        Vec::new()
    };
    // Agents hosted here come back: their environments are reused, their processes restarted.
    tokio::spawn({
        let engine = engine.clone();
        async move {
            if let Err(error) = engine.resume_hosting().await {
                tracing::error!(%error, "could not host the deployed agents again");
            }
            match engine.continue_interrupted_turns().await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "continuing runs a stop interrupted"),
                Err(error) => tracing::error!(%error, "could not look for interrupted runs"),
            }
        }
    });
    let hosting = engine.clone();
    let state = AppState::new(engine);
    let shutdown = shutdown_signal()?;
    let operator_app = tower::util::MapRequestLayer::new(rewrite_workspace_path)
        .layer(operator_router(state.clone()));
    let agent_app = agent_router(state);

    let operator_task = tokio::spawn({
        let stop = stop.clone();
        async move {
            axum::serve(
                operator.tap_io(no_delay),
                axum::ServiceExt::<axum::extract::Request>::into_make_service(operator_app),
            )
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        }
    });
    let mut agent_plane = if agent_threads > 0 {
        AgentPlane::Threads(
            AgentThreads::start(agent_threads, realtime, agents, agent_app, &stop).await?,
        )
    } else {
        AgentPlane::Shared(tokio::spawn(serve_agent_plane(
            agents,
            agent_app,
            stop.clone(),
        )))
    };
    // Announced once both planes serve (the listeners took connections since they were bound).
    tracing::info!(store = store.backend(), data_dir = %data_dir.display(), "operator API listening on http://{operator_addr}");
    tracing::info!(
        threads = agent_threads,
        "agent plane listening on http://{agent_addr}"
    );

    shutdown.await;
    tracing::info!("shutting down");
    stop.cancel();
    operator_task.await??;
    match &mut agent_plane {
        AgentPlane::Threads(threads) => threads.served().await?,
        AgentPlane::Shared(task) => task.await??,
    }
    for worker in workers {
        worker.await?;
    }
    hosting.shutdown_hosting().await;
    // Usage records of the last gateway calls are written after their answers.
    background.close();
    background.wait().await;
    if let Err(error) = store.flush_events().await {
        tracing::warn!(%error, "journaled events stay for the next start to commit");
    }
    if let AgentPlane::Threads(threads) = agent_plane {
        threads.release().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Where the agent plane is served: threads of its own, or the main runtime.
enum AgentPlane {
    Threads(AgentThreads),
    Shared(tokio::task::JoinHandle<std::io::Result<()>>),
}

/// Serves the agent plane on `listener` until `stop`, then answers the calls in flight.
pub(crate) async fn serve_agent_plane<L>(
    listener: L,
    app: axum::Router,
    stop: CancellationToken,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr>,
{
    axum::serve(listener.tap_io(no_delay), app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// Small writes go out at once: a streamed answer's first chunk must not wait for the ACK of
/// the response head (Nagle).
fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
}

/// Installs the SIGTERM/SIGINT handlers now (before we announce readiness, so a signal sent
/// right after "listening on" is never lost) and resolves when one arrives.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes a file only its owner can read, failing if it already exists.
fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// The master key: from RUNAGENTS_MASTER_KEY, else `master.key` in the data dir, generated on
/// first start.
fn master_key(data_dir: &Path) -> anyhow::Result<MasterKey> {
    if let Ok(text) = std::env::var("RUNAGENTS_MASTER_KEY") {
        return MasterKey::from_base64(&text)
            .map_err(|e| anyhow::anyhow!("RUNAGENTS_MASTER_KEY: {e}"));
    }
    let path = data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            MasterKey::from_base64(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate()?;
            write_private_file(&path, &key.to_base64())?;
            tracing::info!(path = %path.display(), "generated a new master key for secrets at rest; back it up");
            Ok(key)
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Shows the bootstrap key once, on the terminal (not in the log), and keeps it in a 0600 file.
fn announce_bootstrap_key(data_dir: &Path, token: &str) -> anyhow::Result<()> {
    let path = data_dir.join("bootstrap-admin.key");
    write_private_file(&path, token)?;
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "Bootstrap admin API key (shown once; also saved to {}):\n\n    {token}\n",
        path.display()
    )?;
    stdout.flush()?;
    Ok(())
}
