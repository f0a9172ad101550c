//! The supervisor: one `python -m runagents.runtime` per hosted agent, kept alive.
//!
//! Each key (`{workspace}/{agent}`) has at most one supervising task, which owns the child
//! process: it spawns it on a free loopback port, marks it `Running` once `GET /healthz`
//! answers, and when it exits (or never becomes healthy within a minute) marks it `Failed` and
//! starts it again after a backoff (0.5 s doubling to 30 s, back to 0.5 s after a minute of
//! running), for as long as the key is supervised. Status changes go through a watch channel,
//! so [`Supervisor::wait_running`] wakes on the change itself.
//!
//! The child leads its own process group and everything in that group is signalled: on
//! [`Supervisor::stop`] (SIGTERM, SIGKILL after five seconds), on [`Supervisor::shutdown`], when
//! a supervising task is dropped with its runtime, and when the [`Supervisor`] is dropped. The
//! child's pid is kept in `{log_dir}/pid`; a runtime still running under a pid from a previous
//! platform process (one killed outright) is killed before its replacement starts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::logs::{LogLine, Sink};
use crate::process::{describe_status, for_each_line, signal_group};

const PROBE_EVERY: Duration = Duration::from_millis(100);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
const READY_WITHIN: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Running this long earns a failure the first backoff again.
const STABLE_AFTER: Duration = Duration::from_secs(60);
const TERM_GRACE: Duration = Duration::from_secs(5);
/// Platform variables a hosted runtime inherits; the rest of its environment is the caller's.
const INHERITED_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

/// What to run for one hosted agent.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Identifies the agent, e.g. `ws/agent`.
    pub key: String,
    /// The environment's interpreter (`Built::python`).
    pub python: PathBuf,
    /// The agent's sources: the working directory and `RUNAGENTS_USER_CODE_DIR`.
    pub code_dir: PathBuf,
    /// The runtime's whole environment (`SYSTEM_PROMPT`, `LLM_GATEWAY_URL`,
    /// `USER_ENTRY_POINT`, …) besides `PATH`, `HOME`, `LANG` and what the supervisor sets
    /// (`PORT`, `RUNAGENTS_USER_CODE_DIR`, `PYTHONUNBUFFERED`). Values may be secret: they are
    /// never logged.
    pub env: Vec<(String, String)>,
    /// Receives `agent.log` (rotated at 5 MiB to `agent.log.1`) and `pid`.
    pub log_dir: PathBuf,
    /// Secrets the runtime may print (the runtime logs `LLM_GATEWAY_URL`, for one): each is
    /// replaced by `[redacted]` in every line kept, in memory and on disk.
    pub redact: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Started, not answering `/healthz` yet.
    Pending,
    /// Answering `/healthz` at `url`.
    Running,
    /// Exited or never became healthy; a restart is scheduled.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStatus {
    pub phase: Phase,
    /// One line: `starting`, `running`, `exited with status 1: …; restarting in 2s`, …
    pub message: String,
    /// `http://127.0.0.1:{port}` while `Running`.
    pub url: Option<String>,
    /// How many times the runtime was (or is about to be) started again.
    pub restarts: u32,
    /// The current process, while there is one.
    pub pid: Option<u32>,
}

/// Supervises hosted runtimes by key. Dropping it kills every runtime it started.
pub struct Supervisor {
    entries: Mutex<HashMap<String, Entry>>,
    /// Serialises `start` and `stop` of one key.
    ops: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    client: reqwest::Client,
}

struct Entry {
    status: watch::Receiver<ProcessStatus>,
    sink: Arc<Sink>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    /// The current child's pid (its process group), 0 when there is none.
    pgid: Arc<AtomicU32>,
}

impl Entry {
    async fn stop(self) {
        self.cancel.cancel();
        // A task that panicked has dropped its child, whose guard killed the group.
        let _ = self.task.await;
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ops: Mutex::new(HashMap::new()),
            // Probes go to loopback: never through a proxy from the platform's environment.
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(PROBE_TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    /// Supervises `spec`, replacing the key's current process (stopped first) if it has one.
    /// Returns at once with the key `Pending`; the key's in-memory log carries over.
    pub async fn start(&self, spec: ProcessSpec) {
        let op = self.op_lock(&spec.key);
        let _op = op.lock().await;
        let old = self.lock_entries().remove(&spec.key);
        let sink = match old {
            Some(old) => {
                let sink = Arc::clone(&old.sink);
                old.stop().await;
                sink
            }
            None => Arc::new(Sink::default()),
        };
        sink.configure(&spec.log_dir, &spec.redact);
        let (status_tx, status) = watch::channel(ProcessStatus {
            phase: Phase::Pending,
            message: "starting".to_owned(),
            url: None,
            restarts: 0,
            pid: None,
        });
        let cancel = CancellationToken::new();
        let pgid = Arc::new(AtomicU32::new(0));
        let key = spec.key.clone();
        let task = tokio::spawn(
            Task {
                spec,
                status: status_tx,
                sink: Arc::clone(&sink),
                cancel: cancel.clone(),
                pgid: Arc::clone(&pgid),
                client: self.client.clone(),
            }
            .run(),
        );
        self.lock_entries().insert(
            key,
            Entry {
                status,
                sink,
                cancel,
                task,
                pgid,
            },
        );
    }

    /// Stops the key's process (SIGTERM to its group, SIGKILL after 5 s) and forgets the key.
    /// Returns once the process is gone.
    pub async fn stop(&self, key: &str) {
        let op = self.op_lock(key);
        let _op = op.lock().await;
        let entry = self.lock_entries().remove(key);
        if let Some(entry) = entry {
            entry.stop().await;
        }
    }

    pub fn status(&self, key: &str) -> Option<ProcessStatus> {
        self.lock_entries()
            .get(key)
            .map(|entry| entry.status.borrow().clone())
    }

    /// The key's last `tail` lines of output and supervisor notes, oldest first.
    pub fn logs(&self, key: &str, tail: usize) -> Vec<LogLine> {
        self.lock_entries()
            .get(key)
            .map(|entry| entry.sink.tail(tail))
            .unwrap_or_default()
    }

    /// Waits until the key is `Running` and returns that status; `None` if it is not
    /// supervised, stops being supervised, or `timeout` passes first.
    pub async fn wait_running(&self, key: &str, timeout: Duration) -> Option<ProcessStatus> {
        let mut status = self.lock_entries().get(key)?.status.clone();
        let running = tokio::time::timeout(
            timeout,
            status.wait_for(|status| status.phase == Phase::Running),
        )
        .await;
        match running {
            Ok(Ok(status)) => Some(status.clone()),
            _ => None,
        }
    }

    /// Stops every process, all at once, and forgets every key.
    pub async fn shutdown(&self) {
        let entries: Vec<Entry> = self.lock_entries().drain().map(|(_, e)| e).collect();
        for entry in &entries {
            entry.cancel.cancel();
        }
        for entry in entries {
            entry.stop().await;
        }
    }

    fn lock_entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn op_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut ops = self
            .ops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget the locks nobody holds or waits for.
        ops.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(ops.entry(key.to_owned()).or_default())
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for entry in self.lock_entries().values() {
            entry.cancel.cancel();
            let pgid = entry.pgid.load(Ordering::SeqCst);
            if pgid != 0 {
                signal_group(pgid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// A spawned runtime whose process group is killed when this is dropped, however the
/// supervising task ends.
struct Running {
    child: Child,
    pgid: u32,
    slot: Arc<AtomicU32>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.slot.store(0, Ordering::SeqCst);
        signal_group(self.pgid, rustix::process::Signal::KILL);
    }
}

/// How one run of the runtime ended.
enum Ended {
    Stopped,
    Exited { what: String, ran: Duration },
    NeverHealthy,
    NotStarted(String),
}

struct Task {
    spec: ProcessSpec,
    status: watch::Sender<ProcessStatus>,
    sink: Arc<Sink>,
    cancel: CancellationToken,
    pgid: Arc<AtomicU32>,
    client: reqwest::Client,
}

impl Task {
    async fn run(self) {
        self.kill_leftover().await;
        let mut backoff = FIRST_BACKOFF;
        let mut restarts: u32 = 0;
        loop {
            let what = match self.run_once(restarts).await {
                Ended::Stopped => return,
                Ended::Exited { what, ran } => {
                    if ran >= STABLE_AFTER {
                        backoff = FIRST_BACKOFF;
                    }
                    what
                }
                Ended::NeverHealthy => {
                    format!("not healthy within {}s, killed", READY_WITHIN.as_secs())
                }
                Ended::NotStarted(why) => why,
            };
            restarts = restarts.saturating_add(1);
            let message = format!("{what}; restarting in {}s", backoff.as_secs_f64());
            self.sink.push("supervisor", message.clone());
            self.status.send_replace(ProcessStatus {
                phase: Phase::Failed,
                message,
                url: None,
                restarts,
                pid: None,
            });
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn run_once(&self, restarts: u32) -> Ended {
        if self.cancel.is_cancelled() {
            return Ended::Stopped;
        }
        let port = match free_port() {
            Ok(port) => port,
            Err(e) => return Ended::NotStarted(format!("no free port: {e}")),
        };
        let spec = &self.spec;
        let mut command = Command::new(&spec.python);
        command
            .args(["-m", "runagents.runtime"])
            .current_dir(&spec.code_dir)
            .env_clear()
            .envs(
                INHERITED_ENV
                    .iter()
                    .filter_map(|name| std::env::var_os(name).map(|value| (*name, value))),
            )
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("PORT", port.to_string())
            .env("RUNAGENTS_USER_CODE_DIR", &spec.code_dir)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Ended::NotStarted(format!("cannot start {}: {e}", spec.python.display()));
            }
        };
        let Some(pid) = child.id() else {
            return Ended::NotStarted("the process vanished at once".to_owned());
        };
        self.pgid.store(pid, Ordering::SeqCst);
        let last_stderr = Arc::new(Mutex::new(String::new()));
        let readers = self.read_output(&mut child, &last_stderr);
        let mut running = Running {
            child,
            pgid: pid,
            slot: Arc::clone(&self.pgid),
        };
        let pid_file = spec.log_dir.join("pid");
        if let Err(e) = std::fs::write(&pid_file, format!("{pid}\n")) {
            tracing::warn!(path = %pid_file.display(), error = %e, "cannot write the pid file");
        }
        self.sink
            .push("supervisor", format!("started pid {pid} on port {port}"));
        self.set(Phase::Pending, "starting", None, restarts, Some(pid));

        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let health = loop {
            tokio::select! {
                () = self.cancel.cancelled() => {
                    self.terminate(&mut running).await;
                    return Ended::Stopped;
                }
                exit = running.child.wait() => {
                    return exited(&running, exit, Duration::ZERO, readers, &last_stderr).await;
                }
                health = self.probe(&url) => {
                    if let Some(health) = health {
                        break health;
                    }
                }
            }
            if started.elapsed() >= READY_WITHIN {
                signal_group(pid, rustix::process::Signal::KILL);
                let _ = running.child.wait().await;
                return Ended::NeverHealthy;
            }
        };

        let message = self.running_message(&health);
        self.sink.push("supervisor", format!("{message} at {url}"));
        self.set(Phase::Running, &message, Some(url), restarts, Some(pid));
        let since = Instant::now();
        tokio::select! {
            () = self.cancel.cancelled() => {
                self.terminate(&mut running).await;
                Ended::Stopped
            }
            exit = running.child.wait() => {
                exited(&running, exit, since.elapsed(), readers, &last_stderr).await
            }
        }
    }

    fn set(
        &self,
        phase: Phase,
        message: &str,
        url: Option<String>,
        restarts: u32,
        pid: Option<u32>,
    ) {
        self.status.send_replace(ProcessStatus {
            phase,
            message: message.to_owned(),
            url,
            restarts,
            pid,
        });
    }

    /// Copies stdout and stderr into the sink, line by line; stderr's last non-empty line
    /// also goes to `last_stderr` (it explains most exits).
    fn read_output(
        &self,
        child: &mut Child,
        last_stderr: &Arc<Mutex<String>>,
    ) -> Vec<JoinHandle<()>> {
        let mut readers = Vec::with_capacity(2);
        if let Some(stdout) = child.stdout.take() {
            let sink = Arc::clone(&self.sink);
            readers.push(tokio::spawn(for_each_line(stdout, move |line| {
                sink.push("stdout", line);
            })));
        }
        if let Some(stderr) = child.stderr.take() {
            let sink = Arc::clone(&self.sink);
            let last = Arc::clone(last_stderr);
            readers.push(tokio::spawn(for_each_line(stderr, move |line| {
                if !line.trim().is_empty()
                    && let Ok(mut last) = last.lock()
                {
                    line.trim().clone_into(&mut last);
                }
                sink.push("stderr", line);
            })));
        }
        readers
    }

    /// Waits [`PROBE_EVERY`], then `GET {url}/healthz`; its JSON body if it answered 2xx.
    async fn probe(&self, url: &str) -> Option<serde_json::Value> {
        tokio::time::sleep(PROBE_EVERY).await;
        let response = self
            .client
            .get(format!("{url}/healthz"))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        Some(response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `running`, unless an entry point was given and the runtime reports no user code: it
    /// could not import it and fell back to its built-in loop.
    fn running_message(&self, health: &serde_json::Value) -> String {
        let entry_point = self
            .spec
            .env
            .iter()
            .find(|(name, _)| name == "USER_ENTRY_POINT")
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty());
        match (entry_point, health.get("user_code")) {
            (Some(entry_point), Some(serde_json::Value::Bool(false))) => {
                format!("running without user code: {entry_point} did not import (see the logs)")
            }
            _ => "running".to_owned(),
        }
    }

    /// SIGTERM to the group, SIGKILL after [`TERM_GRACE`]; then the pid file goes.
    async fn terminate(&self, running: &mut Running) {
        signal_group(running.pgid, rustix::process::Signal::TERM);
        let exited = tokio::time::timeout(TERM_GRACE, running.child.wait()).await;
        if exited.is_err() {
            self.sink.push(
                "supervisor",
                format!(
                    "pid {} ignored SIGTERM for {}s; killing it",
                    running.pgid,
                    TERM_GRACE.as_secs()
                ),
            );
        }
        signal_group(running.pgid, rustix::process::Signal::KILL);
        let note = match running.child.wait().await {
            Ok(status) => format!("stopped ({})", describe_status(status)),
            Err(e) => format!("stopped (lost the process: {e})"),
        };
        self.sink.push("supervisor", note);
        let _ = std::fs::remove_file(self.spec.log_dir.join("pid"));
    }

    /// Before the first start: a runtime whose pid is in the pid file was left by a platform
    /// process that died without stopping it. Kill it (and its group) and wait until it is gone.
    async fn kill_leftover(&self) {
        let pid_file = self.spec.log_dir.join("pid");
        let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
        else {
            return;
        };
        if !is_runtime(pid) {
            return;
        }
        self.sink.push(
            "supervisor",
            format!("killing runtime pid {pid} left by a previous platform process"),
        );
        signal_group(pid, rustix::process::Signal::KILL);
        if let Some(raw) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(raw, rustix::process::Signal::KILL);
        }
        // Its parent (init, usually) reaps it; a zombie's cmdline is empty.
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_runtime(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_file(&pid_file);
    }
}

/// Records how a run ended: the exit status and stderr's last line, after the output readers
/// have caught up (for at most a second).
async fn exited(
    running: &Running,
    exit: std::io::Result<std::process::ExitStatus>,
    ran: Duration,
    readers: Vec<JoinHandle<()>>,
    last_stderr: &Mutex<String>,
) -> Ended {
    // Anything the runtime left in its group would keep the pipes open.
    signal_group(running.pgid, rustix::process::Signal::KILL);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        for reader in readers {
            let _ = reader.await;
        }
    })
    .await;
    let what = match exit {
        // A process that exits tells why on stderr, last (a traceback's last line names the
        // exception); one killed by a signal was cut off mid-output.
        Ok(status) if status.code().is_some() => {
            let last = last_stderr.lock().map(|l| l.clone()).unwrap_or_default();
            if last.is_empty() {
                format!("exited with {}", describe_status(status))
            } else {
                format!("exited with {}: {last}", describe_status(status))
            }
        }
        Ok(status) => format!("exited with {}", describe_status(status)),
        Err(e) => format!("lost the process: {e}"),
    };
    Ended::Exited { what, ran }
}

/// Whether `pid` is a live `runagents.runtime` process.
fn is_runtime(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        cmdline
            .windows(b"runagents.runtime".len())
            .any(|w| w == b"runagents.runtime")
    })
}

/// A loopback port nobody listens on right now.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
