//! `runagents init` and `runagents dev` with the public runtime (`runagents==1.4.2` on PyPI):
//! the generated agent answers its first `/invoke`, the environment is set before the runtime
//! imports it, `--port` and `--mock-port` are honoured, and `--platform` sends the agent's tool
//! calls through the platform's egress.
//!
//! Python: `RUNAGENTS_TEST_PYTHON` if set; else the repository's `.venv` (made by
//! `scripts/test`) if it has runagents 1.4.2; else a venv built once in the target directory.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use runagents_testkit::{Backend, TestServer};
use serde_json::{Value, json};

use super::Shell;
use crate::server;

const RUNTIME: &str = "1.4.2";

fn has_runtime(python: &Path) -> bool {
    std::process::Command::new(python)
        .args([
            "-c",
            &format!(
                "import importlib.metadata as m, runagents.runtime; assert m.version('runagents') == '{RUNTIME}'"
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A Python with `runagents==1.4.2`.
fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Ok(path) = std::env::var("RUNAGENTS_TEST_PYTHON") {
                return PathBuf::from(path);
            }
            let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
            if has_runtime(&repo) {
                return repo;
            }
            // target/debug/runagents → target/test-venv, shared by test processes under a lock.
            let target = TestServer::binary()
                .parent()
                .and_then(Path::parent)
                .unwrap()
                .to_path_buf();
            std::fs::create_dir_all(&target).unwrap();
            let lock = std::fs::File::create(target.join("test-venv.lock")).unwrap();
            lock.lock().unwrap();
            let venv = target.join("test-venv");
            let python = venv.join("bin/python");
            if !has_runtime(&python) {
                let made = std::process::Command::new("python3")
                    .args(["-m", "venv", "--clear"])
                    .arg(&venv)
                    .status()
                    .unwrap();
                assert!(made.success(), "python3 -m venv failed");
                let installed = std::process::Command::new(venv.join("bin/pip"))
                    .args([
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        &format!("runagents=={RUNTIME}"),
                    ])
                    .status()
                    .unwrap();
                assert!(
                    installed.success(),
                    "pip install runagents=={RUNTIME} failed"
                );
            }
            lock.unlock().unwrap();
            python
        })
        .clone()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `runagents dev`; stopped with SIGTERM (as a person's Ctrl-C would) on drop.
struct Dev {
    child: Child,
    port: u16,
    stderr: tempfile::NamedTempFile,
}

impl Dev {
    /// Starts `runagents dev ARGS` in `dir` and waits until the agent answers `/healthz`.
    async fn start(shell: &Shell, dir: &str, args: &[&str]) -> Dev {
        let port = free_port();
        let port_text = port.to_string();
        let python = python();
        let mut all = vec!["dev", "--port", &port_text, "--python"];
        all.push(python.to_str().unwrap());
        all.extend_from_slice(args);
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let child = shell
            .command_in(dir, &all)
            .stdin(Stdio::null())
            .stdout(stderr.reopen().unwrap())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut dev = Dev {
            child,
            port,
            stderr,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = dev.child.try_wait() {
                panic!("runagents dev exited with {status}:\n{}", dev.output());
            }
            if let Ok(response) = reqwest::get(dev.url("/healthz")).await
                && response.status() == 200
            {
                return dev;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the agent did not answer within 60s:\n{}",
                dev.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn output(&self) -> String {
        let mut text = String::new();
        let _ = self.stderr.reopen().unwrap().read_to_string(&mut text);
        text
    }

    async fn invoke(&self, message: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.url("/invoke"))
            .json(&json!({"message": message}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// SIGTERM, then the exit code (at most 20 s).
    fn stop(&mut self) -> Option<i32> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Appended to the generated agent.py: "use the tool" calls echo-tool through
/// `Agent().call_tool` (its URL comes from runagents.yaml's block list).
const TOOL_BRANCH: &str = r#"

_chat_handler = handler


def handler(request, ctx):
    if request["message"] == "use the tool":
        from runagents import Agent

        answer = Agent().call_tool("echo-tool", "/v1/items?x=1", {"a": 1}, method="PUT")
        return {"response": json.dumps({"answer": answer, "tools": sorted(ctx.tools)})}
    return _chat_handler(request, ctx)
"#;

#[tokio::test]
async fn init_then_dev_answers_with_the_platform_model_and_the_mock() {
    let server = TestServer::start_with(Backend::Sqlite, &["--dev"]).await;
    let (status, body) = server.client().send("POST", "/starter-kit", None).await;
    assert!(status < 300, "{body}");
    let shell = Shell::new(&server);
    let created = shell.run(&["init", "helper", "--tool", "echo-tool"]).ok();
    assert!(
        created.stdout.contains("created agent project helper/"),
        "{created:?}"
    );
    shell.run(&["init", "helper"]).failed(1, "already exists");
    shell
        .run(&["init", "Helper_1"])
        .failed(1, "invalid name \"Helper_1\"");
    let yaml = std::fs::read_to_string(shell.dir.path().join("helper/runagents.yaml")).unwrap();
    assert!(yaml.contains("tools:\n  - echo-tool\n"), "{yaml}");
    let agent = shell.dir.path().join("helper/agent.py");
    let mut code = std::fs::read_to_string(&agent).unwrap();
    code.push_str(TOOL_BRANCH);
    std::fs::write(&agent, code).unwrap();

    let mock_port = free_port();
    let mut dev = Dev::start(&shell, "helper", &["--mock-port", &mock_port.to_string()]).await;
    // Import-time values of the runtime: set before it started, so they are the project's.
    let health: Value = reqwest::get(dev.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["agent"], "helper", "{health}");
    assert_eq!(health["model"], "playground", "{health}");
    assert_eq!(health["user_code"], true, "{health}");

    // The generated handler, unchanged, through the platform's gateway and playground model.
    let (status, answer) = dev.invoke("hello").await;
    assert_eq!(status, 200, "{answer}\n{}", dev.output());
    assert_eq!(answer["response"], "You said: hello", "{answer}");
    assert_eq!(answer["model"], "playground");

    // The tool from the block list points at the mock, which reports the real method.
    let (status, answer) = dev.invoke("use the tool").await;
    assert_eq!(status, 200, "{answer}\n{}", dev.output());
    let called: Value = serde_json::from_str(answer["response"].as_str().unwrap()).unwrap();
    assert_eq!(called["tools"], json!(["echo-tool"]));
    assert_eq!(
        called["answer"],
        json!({"method": "PUT", "path": "/v1/items?x=1", "received": {"a": 1}, "mock": true,
            "result": "Mock response for /v1/items?x=1"})
    );
    let mock = format!("http://127.0.0.1:{mock_port}");
    let http = reqwest::Client::new();
    let patched: Value = http
        .patch(format!("{mock}/p"))
        .body("plain")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (patched["method"].clone(), patched["received"].clone()),
        (json!("PATCH"), json!({"raw": "plain"}))
    );
    let deleted: Value = http
        .delete(format!("{mock}/v1/items/3"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({"method": "DELETE", "path": "/v1/items/3", "mock": true, "deleted": true})
    );

    // SIGTERM stops the runtime too; the port is free again.
    let code = dev.stop();
    let output = dev.output();
    assert_eq!(code, Some(143), "{output}");
    assert!(output.contains("runagents dev: stopped"), "{output}");
    assert!(!output.contains("error:"), "{output}");
    assert!(reqwest::get(dev.url("/healthz")).await.is_err());
}

#[tokio::test]
async fn dev_says_what_is_wrong_before_starting_anything() {
    let server = server().await;
    let shell = Shell::new(&server);
    shell
        .run(&["dev", "--python", "/bin/false"])
        .failed(1, "no runagents.yaml in");
    shell.write("bad/runagents.yaml", "name: bad\ntools: echo-tool\n");
    shell
        .run_in("bad", &["dev", "--python", "/bin/false"])
        .failed(1, "runagents.yaml: tools must be a list of tool names");
    shell.write("missing/runagents.yaml", "name: m\nentry_point: main.py\n");
    shell
        .run_in("missing", &["dev", "--python", "/bin/false"])
        .failed(1, "entry_point: main.py does not exist");
    shell.write("ok/runagents.yaml", "name: ok\ntools: [a, b]\n");
    shell
        .run_in("ok", &["dev", "--python", "/bin/false"])
        .failed(1, "/bin/false cannot import the runagents runtime; install it with `/bin/false -m pip install runagents==1.4.2`");
    shell
        .run_in("ok", &["dev", "--python", "/no/such/python"])
        .failed(1, "cannot run /no/such/python");
    shell
        .run_in("ok", &["dev", "--platform", "--no-mock"])
        .failed(2, "cannot be used with");
}

/// A handler that reads through `Agent().call_tool` and writes with raw urllib, both to the
/// platform's egress under the agent's credential.
const GOVERNED_AGENT: &str = r#"
import json
import urllib.error
import urllib.request

from runagents import Agent


def handler(request, ctx):
    read = Agent().call_tool("stripe", "/v1/balance", method="GET")
    write = urllib.request.Request(ctx.tools["stripe"] + "/v1/charges", data=b'{"amount": 5}',
                                   headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(write, timeout=10) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    return {"response": json.dumps({"read": read, "write": status})}
"#;

#[tokio::test]
async fn dev_platform_sends_tool_calls_through_egress() {
    let setup = crate::egress::setup().await;
    let shell = Shell::new(&setup.server);
    shell.write(
        "billing/runagents.yaml",
        "name: billing\ntools:\n  - stripe\nmodel: {provider: playground, model: playground}\n",
    );
    shell.write("billing/agent.py", GOVERNED_AGENT);
    let mut dev = Dev::start(&shell, "billing", &["--platform"]).await;
    let (status, answer) = dev.invoke("refund order 7").await;
    assert_eq!(status, 200, "{answer}\n{}", dev.output());
    // The write was held for approval, as in production.
    assert_eq!(
        answer["approval_required"]["code"],
        "APPROVAL_REQUIRED",
        "{answer}\n{}",
        dev.output()
    );
    // The read reached the upstream through egress, with the tool's credential injected.
    let seen = setup.upstream.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].uri.as_str()),
        ("GET", "/v1/balance")
    );
    assert_eq!(seen[0].headers["authorization"], "Bearer sk_egress_secret");
    let (_, pending) = setup
        .server
        .client()
        .get("/approvals/requests?status=PENDING")
        .await;
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["agent_id"], "billing");
    assert_eq!(pending[0]["tool_id"], "stripe");
    dev.stop();
    let output = dev.output();
    assert!(
        output.contains("the platform's agent plane (governed)"),
        "{output}"
    );
    assert!(
        !output.contains("/a/rag_") && output.contains("/a/<redacted>/"),
        "a credential URL was printed:\n{output}"
    );

    // Without --platform, against a server that wants keys: the generated agent sends the
    // configured key to the gateway (as LLM_API_KEY), and the runtime's output never shows it.
    let (status, body) = setup
        .server
        .client()
        .send("POST", "/starter-kit", None)
        .await;
    assert!(status < 300, "{body}");
    shell.run(&["init", "keyed"]).ok();
    let mock_port = free_port().to_string();
    let mut keyed = Dev::start(&shell, "keyed", &["--mock-port", &mock_port]).await;
    let (status, answer) = keyed.invoke("hi there").await;
    assert_eq!(status, 200, "{answer}\n{}", keyed.output());
    assert_eq!(answer["response"], "You said: hi there");
    keyed.stop();
    assert!(!keyed.output().contains(&setup.server.admin_key));

    // An agent the platform does not know.
    shell.write("ghost/runagents.yaml", "name: ghost\n");
    let python = python();
    shell
        .run_in(
            "ghost",
            &["dev", "--platform", "--python", python.to_str().unwrap()],
        )
        .failed(3, "agent \"ghost\" is not deployed at");
}
