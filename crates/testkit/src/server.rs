//! Runs the real `runagents serve` on free ports with a temporary data directory, and waits
//! for its "listening on" lines (never a sleep). The process is killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL database URL.
    Postgres(String),
}

impl Backend {
    /// A fresh backend of the kind named by `kind` ("sqlite" or "postgres").
    pub async fn fresh(kind: &str) -> Backend {
        match kind {
            "postgres" => Backend::Postgres(
                crate::postgres::fresh_database()
                    .await
                    .expect("private PostgreSQL"),
            ),
            _ => Backend::Sqlite,
        }
    }
}

pub struct TestServer {
    child: Child,
    /// `http://127.0.0.1:PORT` of the operator API.
    pub url: String,
    /// `http://127.0.0.1:PORT` of the agent plane.
    pub agent_url: String,
    /// The bootstrap admin key (empty in `--dev` mode).
    pub admin_key: String,
    pub data_dir: PathBuf,
    /// Keeps the temporary data directory alive across restarts.
    temp: Option<Arc<tempfile::TempDir>>,
    backend: Backend,
    extra: Vec<String>,
    envs: Vec<(String, String)>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    pub fn binary() -> PathBuf {
        if let Ok(path) = std::env::var("RUNAGENTS_BIN") {
            return PathBuf::from(path);
        }
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        };
        target.join("debug/runagents")
    }

    /// `serve` on ephemeral loopback ports with `data_dir`, the arguments every test server
    /// starts with; more arguments may follow.
    pub fn serve_args(data_dir: &Path) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--agent-listen",
            "127.0.0.1:0",
            "--data-dir",
        ]
        .into_iter()
        .map(Into::into)
        .collect();
        args.push(data_dir.into());
        args
    }

    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, &[]).await
    }

    /// Starts with extra `serve` arguments (for example `--dev`).
    pub async fn start_with(backend: Backend, extra: &[&str]) -> TestServer {
        Self::start_with_env(backend, extra, &[]).await
    }

    /// Starts with extra `serve` arguments and environment variables (for example a fake
    /// upstream's URL).
    pub async fn start_with_env(
        backend: Backend,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> TestServer {
        let temp = Arc::new(tempfile::tempdir().expect("temp dir"));
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let envs = envs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let data_dir = temp.path().join("data");
        Self::spawn(backend, extra, envs, data_dir, Some(temp)).await
    }

    /// Stops this server and starts a new one on the same data directory and database.
    pub async fn restart(mut self) -> TestServer {
        self.stop();
        self.respawn().await
    }

    /// Kills this server with SIGKILL (no chance to clean up) and starts it again.
    pub async fn crash_and_restart(mut self) -> TestServer {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.respawn().await
    }

    async fn respawn(&mut self) -> TestServer {
        let (backend, extra, envs, data_dir, temp) = (
            self.backend.clone(),
            self.extra.clone(),
            self.envs.clone(),
            self.data_dir.clone(),
            self.temp.take(),
        );
        Self::spawn(backend, extra, envs, data_dir, temp).await
    }

    async fn spawn(
        backend: Backend,
        extra: Vec<String>,
        envs: Vec<(String, String)>,
        data_dir: PathBuf,
        temp: Option<Arc<tempfile::TempDir>>,
    ) -> TestServer {
        let binary = Self::binary();
        let mut command = Command::new(&binary);
        command
            .args(Self::serve_args(&data_dir))
            .args(&extra)
            .env_remove("RUNAGENTS_DATABASE_URL")
            .env_remove("RUNAGENTS_MASTER_KEY")
            .env("RUST_LOG", "info")
            // Tests that host Python agents say so; the others need no interpreter.
            .env("RUNAGENTS_HOSTING", "off")
            // Environments are built once per test run, shared by every test server.
            .env("RUNAGENTS_ENV_DIR", shared_env_dir())
            .envs(envs.clone())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Backend::Postgres(url) = &backend {
            command.args(["--database-url", url]);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let (lines_tx, logs) = (lines_tx.clone(), logs.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().expect("logs").push(line.clone());
                    let _ = lines_tx.send(line);
                }
            });
        }
        let (mut url, mut agent_url) = (String::new(), String::new());
        let waited = tokio::task::spawn_blocking(move || {
            while url.is_empty() || agent_url.is_empty() {
                let line = lines_rx
                    .recv_timeout(Duration::from_secs(30))
                    .map_err(|_| "server did not start listening within 30s")?;
                if let Some(address) = listening_address(&line, "operator API listening on ") {
                    url = address;
                } else if let Some(address) = listening_address(&line, "agent plane listening on ")
                {
                    agent_url = address;
                }
            }
            Ok::<_, &str>((url, agent_url))
        })
        .await
        .expect("join");
        let (url, agent_url) = match waited {
            Ok(addresses) => addresses,
            Err(error) => {
                let _ = child.kill();
                panic!(
                    "{error}; output:\n{}",
                    logs.lock().expect("logs").join("\n")
                );
            }
        };
        let admin_key = std::fs::read_to_string(data_dir.join("bootstrap-admin.key"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        TestServer {
            child,
            url,
            agent_url,
            admin_key,
            data_dir,
            temp,
            backend,
            extra,
            envs,
            logs,
        }
    }

    /// Everything the server has printed so far.
    pub fn output(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }

    /// `{url}/api/v1{path}`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    /// A client that sends the admin key.
    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.url, &self.admin_key)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        // SIGTERM first, to exercise graceful shutdown; then make sure.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and returns the exit status once the process has ended.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.stop();
        self.child.wait().expect("wait")
    }
}

impl Drop for TestServer {
    /// Graceful, so a server that hosts Python agents stops their processes too (a SIGKILLed
    /// platform leaves them to its next start).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

fn listening_address(line: &str, marker: &str) -> Option<String> {
    let rest = &line[line.find(marker)? + marker.len()..];
    // The line may be text or JSON: the address ends at whitespace, a quote or a comma.
    let address: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | ',' | '}'))
        .collect();
    Some(if address.starts_with("http") {
        address
    } else {
        format!("http://{address}")
    })
}

/// A small JSON client for HTTP tests: every call returns (status, JSON body or Null).
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl ApiClient {
    pub fn new(base: &str, key: &str) -> Self {
        ApiClient {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        }
    }

    pub fn with_key(&self, key: &str) -> Self {
        ApiClient {
            key: key.to_owned(),
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else if path.starts_with("/api/")
            || !path.starts_with('/')
            || path.starts_with("/healthz")
        {
            format!("{}{path}", self.base)
        } else {
            format!("{}/api/v1{path}", self.base)
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, self.url(path));
        if !self.key.is_empty() {
            request = request.header("X-RunAgents-API-Key", &self.key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Sends a raw body with a JSON content type.
    pub async fn send_raw(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if !self.key.is_empty() {
            request = request.header("X-RunAgents-API-Key", &self.key);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.send("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.send("POST", path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.send("PUT", path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.send("PATCH", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.send("DELETE", path, None).await
    }
}

/// Where test servers keep agents' Python environments: `RUNAGENTS_TEST_ENV_DIR`, else
/// `target/tmp/runagents-envs`.
pub fn shared_env_dir() -> PathBuf {
    match std::env::var_os("RUNAGENTS_TEST_ENV_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => TestServer::binary()
            .parent()
            .and_then(Path::parent)
            .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
            .join("tmp/runagents-envs"),
    }
}
