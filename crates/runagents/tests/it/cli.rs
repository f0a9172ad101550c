//! The binary as the operator CLI: each case starts a server, then runs `runagents <command>`
//! as a person or a script would (own HOME, env settings, files in a working directory) and
//! checks stdout, stderr, exit codes and what the server then holds.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use runagents_testkit::TestServer;
use serde_json::{Value, json};

use crate::server;

mod agents;
mod dev;
mod mcp;
mod resources;
mod runs;

/// What one CLI run printed and how it ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        assert!(self.stderr.is_empty(), "{self:?}");
        self
    }

    #[track_caller]
    fn json(self) -> Value {
        let run = self.ok();
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    }

    #[track_caller]
    fn failed(self, code: i32, stderr: &str) -> Self {
        assert_eq!(self.code, code, "{self:?}");
        assert!(
            self.stderr.contains(stderr),
            "wanted {stderr:?} in {self:?}"
        );
        assert!(self.stdout.is_empty(), "{self:?}");
        self
    }
}

/// A person's shell: a HOME of its own, a working directory, and the settings in env.
struct Shell {
    home: tempfile::TempDir,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Shell {
    fn new(server: &TestServer) -> Self {
        Self::with_key(server, &server.admin_key)
    }

    fn with_key(server: &TestServer, key: &str) -> Self {
        Self::at(&server.url, key)
    }

    fn at(endpoint: &str, key: &str) -> Self {
        Shell {
            home: tempfile::tempdir().unwrap(),
            dir: tempfile::tempdir().unwrap(),
            env: vec![
                ("RUNAGENTS_ENDPOINT".into(), endpoint.into()),
                ("RUNAGENTS_API_KEY".into(), key.into()),
            ],
        }
    }

    /// No settings in env: only what `config set` saved.
    fn bare() -> Self {
        Shell {
            home: tempfile::tempdir().unwrap(),
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.into(), value.into()));
    }

    fn write(&self, path: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `runagents ARGS` in `dir` (relative to the shell's directory), with the shell's env.
    fn command_in(&self, dir: &str, args: &[&str]) -> Command {
        let mut command = Command::new(TestServer::binary());
        command
            .args(args)
            .current_dir(self.dir.path().join(dir))
            .env("HOME", self.home.path())
            .env_remove("RUNAGENTS_ENDPOINT")
            .env_remove("RUNAGENTS_API_KEY")
            .env_remove("RUNAGENTS_NAMESPACE")
            .env_remove("NO_COLOR")
            .env_remove("OPENAI_API_KEY")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_in("", args)
    }

    fn run_in(&self, dir: &str, args: &[&str]) -> Run {
        let output = self.command_in(dir, args).output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    fn config_file(&self) -> PathBuf {
        self.home.path().join(".runagents/config.json")
    }
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}
#[tokio::test]
async fn config_set_get_and_precedence() {
    let server = server().await;
    let mut shell = Shell::bare();
    // Nothing set: the default endpoint, where nothing listens in this test.
    let json = shell.run(&["config", "get", "-o", "json"]).json();
    assert_eq!(json["endpoint"], "http://localhost:8092");
    assert_eq!(json["base_url"], "http://localhost:8092/api/v1");
    assert_eq!(json["api_key"], Value::Null);
    let shown = shell.run(&["config", "get"]).ok().stdout;
    assert!(shown.contains("api-key:         -\n"), "{shown}");

    shell
        .run(&["config", "set", "endpoint", &format!("{}/", server.url)])
        .ok();
    let saved = shell
        .run(&["config", "set", "api-key", &server.admin_key])
        .ok();
    assert!(!saved.stdout.contains(&server.admin_key), "{saved:?}");
    let mode = std::fs::metadata(shell.config_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(shell.config_file()).unwrap()).unwrap();
    assert_eq!(file["api_key"], server.admin_key.as_str());

    let shown = shell.run(&["config", "get"]).ok().stdout;
    assert!(!shown.contains(&server.admin_key), "{shown}");
    let masked = format!(
        "{}{}{}",
        &server.admin_key[..4],
        "*".repeat(server.admin_key.len() - 8),
        &server.admin_key[server.admin_key.len() - 4..]
    );
    assert!(
        shown.contains(&format!("{masked} (config file)")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("base URL:        {}/api/v1", server.url)),
        "{shown}"
    );
    assert_eq!(
        shell.run(&["config", "get", "api-key"]).ok().stdout,
        format!("{masked}\n")
    );

    // The file alone is enough to talk to the server.
    assert_eq!(
        shell.run(&["tools", "list", "-o", "json"]).json(),
        json!([])
    );
    // env beats the file, and a flag beats env.
    shell.set("RUNAGENTS_API_KEY", "ra_ws_wrong");
    shell
        .run(&["tools", "list"])
        .failed(1, "error: Missing or invalid API key (HTTP 401)\nhint: set an API key with `runagents config set api-key <key>` or RUNAGENTS_API_KEY\n");
    assert_eq!(
        shell
            .run(&[
                "tools",
                "list",
                "-o",
                "json",
                "--api-key",
                &server.admin_key
            ])
            .json(),
        json!([])
    );
    let json = shell.run(&["config", "get", "-o", "json"]).json();
    assert_eq!(json["sources"]["api-key"], "env RUNAGENTS_API_KEY");
    assert_eq!(json["sources"]["endpoint"], "config file");

    shell
        .run(&["config", "set", "colour", "blue"])
        .failed(1, "unknown config key \"colour\"");
    shell
        .run(&["config", "set", "assistant-mode", "loud"])
        .failed(1, "use external, runagents or off");
}
#[tokio::test]
async fn errors_have_exit_codes_and_hints() {
    let server = server().await;
    let shell = Shell::new(&server);
    shell
        .run(&["policies", "get", "nope"])
        .failed(3, "error: policy \"nope\" not found (HTTP 404)\n");
    shell
        .run(&["runs", "get", "no-such-run"])
        .failed(3, "error: run no-such-run not found (HTTP 404)");
    Shell::with_key(&server, "not-a-key")
        .run(&["agents", "list"])
        .failed(1, "(HTTP 401)\nhint: set an API key");
    let mut closed = Shell::new(&server);
    closed.set("RUNAGENTS_ENDPOINT", "http://127.0.0.1:1");
    closed.run(&["tools", "list"]).failed(
        1,
        "error: cannot reach http://127.0.0.1:1: Connection refused",
    );
    assert!(
        closed
            .run(&["tools", "list"])
            .stderr
            .ends_with("hint: is the server running? start it with `runagents serve`\n")
    );
    closed.set("RUNAGENTS_ENDPOINT", "localhost:8092");
    closed
        .run(&["tools", "list"])
        .failed(1, "is not an http:// or https:// URL");
    shell
        .run(&[
            "approvals",
            "approve",
            "r1",
            "--scope",
            "once",
            "--duration",
            "1h",
        ])
        .failed(1, "--duration applies only to --scope window");
    let usage = shell.run(&["tools", "frobnicate"]);
    assert_eq!(usage.code, 2, "{usage:?}");
    let version = shell.run(&["version"]).ok();
    assert_eq!(
        version.stdout,
        format!("runagents {}\n", env!("CARGO_PKG_VERSION"))
    );
    let help = shell.run(&["--help"]).ok().stdout;
    assert!(
        help.contains(
            "Exit codes: 0 success; 1 error; 2 invalid command line; 3 not found (HTTP 404);"
        ),
        "{help}"
    );
}

#[tokio::test]
async fn approving_outside_the_approver_groups_names_them_with_a_hint() {
    let s = crate::egress::setup().await;
    crate::approvals::finance_rule(&s, "any").await;
    let bob = crate::approvals::key_for(&s, "bob", "bob@example.com", &["sre"]).await;
    let ann = crate::approvals::key_for(&s, "ann", "ann@example.com", &["finance"]).await;
    let (status, blocked) = crate::egress::call(
        "POST",
        &format!("{}/v1/charges", s.tool_url),
        Some(&s.run_id),
        Some(json!({"amount": 1})),
    )
    .await;
    assert_eq!(status, 403, "{blocked}");
    let id = blocked["request_id"].as_str().unwrap();
    let refused = Shell::with_key(&s.server, &bob)
        .run(&["approvals", "approve", id, "--scope", "once"])
        .failed(
            1,
            "bob@example.com is in none of them (approval rule \"charges\" of policy \"stripe-guarded\") (HTTP 403)",
        );
    assert!(
        refused
            .stderr
            .contains("hint: the request's approval rule names its approver groups"),
        "{refused:?}"
    );
    let approved = Shell::with_key(&s.server, &ann)
        .run(&["approvals", "approve", id, "--scope", "once", "-o", "json"])
        .json();
    assert_eq!(
        (
            approved["approver_id"].as_str(),
            approved["channel"].as_str()
        ),
        (Some("ann@example.com"), Some("api"))
    );
}

#[tokio::test]
async fn workspace_flag_and_env_select_the_workspace() {
    let server = server().await;
    let (status, team) = server
        .client()
        .post("/workspaces", json!({"name": "revops"}))
        .await;
    assert_eq!(status, 201, "{team}");
    let token = team["token"].as_str().unwrap();
    let mut shell = Shell::with_key(&server, token);
    shell.write(
        "tool.json",
        r#"{"name": "crm", "base_url": "https://crm.example.com"}"#,
    );
    let created = shell
        .run(&[
            "--workspace",
            "revops",
            "tools",
            "create",
            "-f",
            "tool.json",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(created["namespace"], "revops");
    shell.set("RUNAGENTS_NAMESPACE", "revops");
    assert_eq!(
        names(&shell.run(&["tools", "list", "-o", "json"]).json()),
        ["crm"]
    );
    // The admin's default workspace does not see it, and revops' key cannot reach default.
    let admin = Shell::new(&server);
    assert_eq!(
        admin.run(&["tools", "list", "-o", "json"]).json(),
        json!([])
    );
    shell
        .run(&["--workspace", "default", "tools", "list"])
        .failed(3, "HTTP 404");
    let shown = shell.run(&["config", "get", "-o", "json"]).json();
    assert_eq!(
        shown["base_url"],
        format!("{}/api/v1/workspaces/revops", server.url)
    );
}
