//! The binary as the operator CLI: each case starts a server, then runs `runagents <command>`
//! as a person or a script would (own HOME, env settings, files in a working directory) and
//! checks stdout, stderr, exit codes and what the server then holds.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use axum::http::StatusCode;
use axum::routing::post;
use runagents_testkit::TestServer;
use serde_json::{Value, json};

use crate::server;

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
        Shell {
            home: tempfile::tempdir().unwrap(),
            dir: tempfile::tempdir().unwrap(),
            env: vec![
                ("RUNAGENTS_ENDPOINT".into(), server.url.clone()),
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

    fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(TestServer::binary())
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.home.path())
            .env_remove("RUNAGENTS_ENDPOINT")
            .env_remove("RUNAGENTS_API_KEY")
            .env_remove("RUNAGENTS_NAMESPACE")
            .env_remove("NO_COLOR")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
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
    assert_eq!(json["api_key"], "(not set)");

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
async fn tools_create_list_get_test_delete() {
    let server = server().await;
    let shell = Shell::new(&server);
    shell.write(
        "tool.yaml",
        &format!(
            "name: local-api\nbase_url: {}\ndescription: The platform itself\nauth_type: None\n",
            server.url
        ),
    );
    let created = shell.run(&["tools", "create", "-f", "tool.yaml"]).ok();
    assert_eq!(created.stdout, "✓ tool \"local-api\" saved (Pending)\n");
    shell.write(
        "dead.json",
        r#"{"name": "dead-api", "base_url": "http://127.0.0.1:1"}"#,
    );
    let dead = shell
        .run(&["tools", "create", "--file", "dead.json", "-o", "json"])
        .json();
    assert_eq!(dead["base_url"], "http://127.0.0.1:1");

    let list = shell.run(&["tools", "list", "-o", "json"]).json();
    assert_eq!(names(&list), ["dead-api", "local-api"]);
    let table = shell.run(&["tools", "list"]).ok().stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("NAME       BASE URL"), "{table}");
    assert!(
        lines[2].starts_with(&format!(
            "local-api  {}  None  Restricted  Pending",
            server.url
        )),
        "{table}"
    );
    assert!(
        lines[2].ends_with("just now") || lines[2].ends_with("s ago"),
        "{table}"
    );
    assert!(!table.contains('\x1b'), "no colour off a terminal");

    let tool = shell
        .run(&["tools", "get", "local-api", "-o", "json"])
        .json();
    assert_eq!(tool["description"], "The platform itself");
    let shown = shell.run(&["tools", "get", "local-api"]).ok().stdout;
    assert!(
        shown.contains("Description:     The platform itself"),
        "{shown}"
    );

    // Reachable (any answer below 500), then a closed port: a failure, exit 1.
    let probe = shell
        .run(&["tools", "test", "local-api", "-o", "json"])
        .json();
    assert_eq!(probe["reachable"], true);
    let test = shell.run(&["tools", "test", "dead-api"]);
    assert_eq!(test.code, 1, "{test:?}");
    assert!(test.stdout.contains("Reachable:    no"), "{test:?}");
    assert_eq!(test.stderr, "error: tool \"dead-api\" is unreachable\n");
    let tool = shell
        .run(&["tools", "get", "dead-api", "-o", "json"])
        .json();
    assert_eq!(tool["status"]["phase"], "Unreachable");

    let deleted = shell.run(&["tools", "delete", "dead-api"]).ok();
    assert_eq!(deleted.stdout, "✓ tool \"dead-api\" deleted\n");
    assert_eq!(
        shell
            .run(&["tools", "delete", "local-api", "-o", "json"])
            .json(),
        json!({"status": "deleted"})
    );
    shell
        .run(&["tools", "get", "local-api"])
        .failed(3, "error: tool \"local-api\" not found (HTTP 404)\n");
    assert_eq!(shell.run(&["tools", "list"]).ok().stdout.lines().count(), 1);
    shell
        .run(&["tools", "create", "-f", "missing.yaml"])
        .failed(1, "missing.yaml");
    shell.write("bad.yaml", "name: [unclosed\n");
    shell
        .run(&["tools", "create", "-f", "bad.yaml"])
        .failed(1, "invalid YAML");
}

#[tokio::test]
async fn models_create_list_get_spend() {
    let server = server().await;
    let shell = Shell::new(&server);
    shell.write(
        "provider.yaml",
        "name: openai-prod\nspec:\n  provider: openai\n  endpoint: https://api.openai.com/v1\n  models: [gpt-4o, gpt-4o-mini]\n",
    );
    let created = shell
        .run(&["models", "create", "-f", "provider.yaml", "-o", "json"])
        .json();
    assert_eq!(created["models"], json!(["gpt-4o", "gpt-4o-mini"]));
    let table = shell.run(&["models", "list"]).ok().stdout;
    assert!(
        table.contains("openai-prod  openai    gpt-4o, gpt-4o-mini  https://api.openai.com/v1"),
        "{table}"
    );
    let list = shell.run(&["models", "list", "-o", "json"]).json();
    assert_eq!(names(&list), ["openai-prod"]);
    let got = shell
        .run(&["models", "get", "openai-prod", "-o", "json"])
        .json();
    assert_eq!(got["provider"], "openai");

    let spend = shell.run(&["models", "spend", "-o", "json"]).json();
    assert_eq!(spend["summary"]["total_budget_usd"], 0.0);
    let spend = shell.run(&["models", "spend"]).ok().stdout;
    assert!(spend.contains("Total budget:     $0.00"), "{spend}");
    shell.run(&["models", "delete", "openai-prod"]).ok();
    shell
        .run(&["models", "get", "openai-prod"])
        .failed(3, "model provider \"openai-prod\" not found (HTTP 404)");
}

#[tokio::test]
async fn policies_apply_yaml_documents_and_json_bare_specs() {
    let server = server().await;
    let shell = Shell::new(&server);
    shell.write(
        "policy.yaml",
        "name: stripe-guarded\nspec:\n  policies:\n    - permission: allow\n      operations: [GET]\n      resource: https://api.stripe.com/*\n",
    );
    let first = shell.run(&["policies", "apply", "-f", "policy.yaml"]).ok();
    assert_eq!(first.stdout, "✓ policy \"stripe-guarded\" created\n");
    shell.write(
        "policy.yaml",
        "name: stripe-guarded\nspec:\n  policies:\n    - permission: allow\n      operations: [GET]\n      resource: https://api.stripe.com/*\n    - permission: approval_required\n      operations: [POST]\n      resource: https://api.stripe.com/v1/charges*\n",
    );
    let second = shell.run(&["policies", "apply", "-f", "policy.yaml"]).ok();
    assert_eq!(second.stdout, "✓ policy \"stripe-guarded\" updated\n");
    let policy = shell
        .run(&["policies", "get", "stripe-guarded", "-o", "json"])
        .json();
    assert_eq!(
        policy["spec"]["policies"][1]["permission"],
        "approval_required"
    );

    shell.write(
        "bare.json",
        r#"{"policies": [{"permission": "deny", "resource": "*"}]}"#,
    );
    let bare = shell
        .run(&[
            "policies",
            "apply",
            "-f",
            "bare.json",
            "--name",
            "deny-all",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(bare["name"], "deny-all");
    assert_eq!(bare["spec"]["policies"][0]["permission"], "deny");
    shell
        .run(&["policies", "apply", "-f", "bare.json"])
        .failed(1, "needs a name");
    shell.write("empty.yaml", "name: nothing\nspec:\n  policies: []\n");
    shell
        .run(&["policies", "apply", "-f", "empty.yaml"])
        .failed(1, "at least one rule");

    let table = shell.run(&["policies", "list"]).ok().stdout;
    assert!(
        table.starts_with("NAME            READY  RULES  APPROVALS  USED BY\n"),
        "{table}"
    );
    assert!(table.contains("stripe-guarded  true   2      0"), "{table}");
    let shown = shell
        .run(&["policies", "get", "stripe-guarded"])
        .ok()
        .stdout;
    assert!(
        shown.contains("approval_required  POST        https://api.stripe.com/v1/charges*"),
        "{shown}"
    );
    shell.run(&["policies", "delete", "deny-all"]).ok();
    assert_eq!(
        names(&shell.run(&["policies", "list", "-o", "json"]).json()),
        ["stripe-guarded"]
    );
}

#[tokio::test]
async fn identity_providers_apply_get_delete() {
    let server = server().await;
    let shell = Shell::new(&server);
    let document = "name: google-oidc\nspec:\n  host: agents.example.com\n  identityProvider:\n    issuer: https://accounts.google.com\n    jwksUri: https://www.googleapis.com/oauth2/v3/certs\n  userIDClaim: email\n";
    shell.write("idp.yaml", document);
    let created = shell
        .run(&["identity-providers", "apply", "-f", "idp.yaml"])
        .ok();
    assert_eq!(
        created.stdout,
        "✓ identity provider \"google-oidc\" created\n"
    );
    shell.write(
        "idp.yaml",
        &format!("{document}  allowedDomains: [example.com]\n"),
    );
    let updated = shell
        .run(&["identity-providers", "apply", "-f", "idp.yaml"])
        .ok();
    assert_eq!(
        updated.stdout,
        "✓ identity provider \"google-oidc\" updated\n"
    );
    let got = shell
        .run(&["identity-providers", "get", "google-oidc", "-o", "json"])
        .json();
    assert_eq!(got["spec"]["allowedDomains"], json!(["example.com"]));
    let table = shell.run(&["identity-providers", "list"]).ok().stdout;
    assert!(
        table.contains("google-oidc  agents.example.com  https://accounts.google.com  email"),
        "{table}"
    );
    shell.write("partial.yaml", "name: x\nspec:\n  host: h\n");
    shell
        .run(&["identity-providers", "apply", "-f", "partial.yaml"])
        .failed(1, "spec.identityProvider.issuer is required");
    shell
        .run(&["identity-providers", "delete", "google-oidc"])
        .ok();
    shell
        .run(&["identity-providers", "get", "google-oidc"])
        .failed(3, "HTTP 404");
}

/// A local webhook: `/ok` answers 204, `/fail` 500.
async fn fake_webhook() -> String {
    let router = axum::Router::new()
        .route("/ok", post(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/fail",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

// Two workers: the fake webhook must answer while this thread waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_connectors_apply_test_defaults_activity() {
    let server = server().await;
    let hook = fake_webhook().await;
    let shell = Shell::new(&server);
    shell.write(
        "hook.yaml",
        &format!("name: ops-hook\ntype: webhook\nendpoint: {hook}/ok\nheaders:\n  X-Token: s3cret-value\n"),
    );
    let created = shell
        .run(&[
            "approval-connectors",
            "apply",
            "-f",
            "hook.yaml",
            "-o",
            "json",
        ])
        .json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["headers"], json!({"X-Token": "********"}));
    // The same name again is an update of that connector, with only the fields given.
    shell.write("hook.yaml", "name: ops-hook\ntimeout_seconds: 20\n");
    let updated = shell
        .run(&["approval-connectors", "apply", "-f", "hook.yaml"])
        .ok();
    assert_eq!(
        updated.stdout,
        format!("✓ approval connector \"ops-hook\" updated (id {id})\n")
    );
    let got = shell
        .run(&["approval-connectors", "get", &id, "-o", "json"])
        .json();
    assert_eq!(
        (got["timeout_seconds"].as_u64(), got["endpoint"].as_str()),
        (Some(20), Some(format!("{hook}/ok").as_str()))
    );
    let list = shell.run(&["approval-connectors", "list"]).ok().stdout;
    assert!(
        list.contains(&format!("{id}  ops-hook  webhook  {hook}/ok  enabled")),
        "{list}"
    );

    let report = shell
        .run(&["approval-connectors", "test", &id, "-o", "json"])
        .json();
    assert_eq!(report["status"], "healthy", "{report}");
    let shown = shell.run(&["approval-connectors", "test", &id]).ok().stdout;
    assert!(shown.starts_with("Status:    healthy\n"), "{shown}");
    assert!(!shown.contains("s3cret-value"));

    shell.write(
        "broken.yaml",
        &format!("name: broken\nendpoint: {hook}/fail\n"),
    );
    let broken = shell
        .run(&[
            "approval-connectors",
            "apply",
            "-f",
            "broken.yaml",
            "-o",
            "json",
        ])
        .json();
    let failed = shell.run(&[
        "approval-connectors",
        "test",
        broken["id"].as_str().unwrap(),
    ]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(failed.stdout.contains("unhealthy"), "{failed:?}");
    assert!(
        failed.stderr.starts_with("error: approval connector ac_"),
        "{failed:?}"
    );

    let defaults = shell
        .run(&["approval-connectors", "defaults", "get", "-o", "json"])
        .json();
    assert_eq!(defaults["default_delivery_mode"], "first_success");
    let set = shell
        .run(&[
            "approval-connectors",
            "defaults",
            "set",
            "--timeout-seconds",
            "30",
            "--fallback-to-ui",
            "false",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(
        (
            set["default_timeout_seconds"].as_u64(),
            set["default_fallback_to_ui"].as_bool()
        ),
        (Some(30), Some(false))
    );
    assert_eq!(set["default_delivery_mode"], "first_success", "unchanged");
    shell
        .run(&["approval-connectors", "defaults", "set"])
        .failed(1, "nothing to set");

    let activity = shell
        .run(&[
            "approval-connectors",
            "activity",
            "--limit",
            "5",
            "-o",
            "json",
        ])
        .json();
    assert!(activity.as_array().unwrap().len() <= 5, "{activity}");
    let table = shell.run(&["approval-connectors", "activity"]).ok().stdout;
    assert!(
        table.starts_with("TIME") || table.starts_with("No connector activity"),
        "{table}"
    );
    shell.run(&["approval-connectors", "delete", &id]).ok();
    shell
        .run(&["approval-connectors", "get", &id])
        .failed(3, "not found (HTTP 404)");
}

const AGENT: &str = "from runagents import Agent\n\nagent = Agent()\n\ndef handler(request, context):\n    return {\"response\": \"hello\"}\n";

#[tokio::test]
async fn deploy_then_agents_list_get_config() {
    let server = server().await;
    let shell = Shell::new(&server);
    shell.run(&["starter-kit"]).ok();
    shell.write(
        "p.yaml",
        "name: open\nspec:\n  policies: [{permission: allow, resource: '*'}]\n",
    );
    shell.run(&["policies", "apply", "-f", "p.yaml"]).ok();
    shell.write("agent.py", AGENT);
    shell.write("lib/helpers.py", "X = 1\n");
    shell.write("lib/__pycache__/helpers.cpython-311.pyc", "junk");

    let deployed = shell
        .run(&[
            "deploy",
            "--name",
            "bot",
            "--file",
            "agent.py",
            "--file",
            "lib",
            "--tool",
            "echo-tool",
            "--model",
            "openai/gpt-4o-mini",
            "--policy",
            "open",
            "--system-prompt",
            "You help.",
        ])
        .ok()
        .stdout;
    assert!(
        deployed.starts_with("✓ agent \"bot\" deployed to workspace default\n"),
        "{deployed}"
    );
    assert!(
        deployed.contains("Execution:       PYTHON_RUNTIME"),
        "{deployed}"
    );

    let table = shell.run(&["agents", "list"]).ok().stdout;
    assert!(
        table
            .starts_with("NAME  STATUS   MODE            MODEL               TOOLS      CREATED\n"),
        "{table}"
    );
    assert!(
        table.contains("bot   Pending  PYTHON_RUNTIME  openai/gpt-4o-mini  echo-tool"),
        "{table}"
    );
    let agent = shell.run(&["agents", "get", "bot", "-o", "json"]).json();
    assert_eq!(
        agent["spec"]["sourceFiles"],
        json!(["agent.py", "lib/helpers.py"])
    );
    assert_eq!(agent["required_tools"], json!(["echo-tool"]));
    assert_eq!(agent["spec"]["policies"], json!(["open"]));
    assert_eq!(agent["system_prompt"], "You help.");
    // The public CLI's `<namespace> <name>` form.
    let shown = shell.run(&["agents", "get", "default", "bot"]).ok().stdout;
    assert!(
        shown.contains("Model:              openai/gpt-4o-mini"),
        "{shown}"
    );

    let config = shell
        .run(&["agents", "config", "get", "bot", "-o", "json"])
        .json();
    assert_eq!(config["llm_configs"][0]["model"], "gpt-4o-mini");
    let shown = shell.run(&["agents", "config", "get", "bot"]).ok().stdout;
    assert!(
        shown.contains("default  openai    gpt-4o-mini  uncapped"),
        "{shown}"
    );
    shell.write(
        "budget.yaml",
        "llm_configs:\n  - {role: default, provider: openai, model: gpt-4o-mini, monthly_budget_usd: 25}\nsystem_prompt: Be brief.\n",
    );
    let updated = shell
        .run(&["agents", "config", "update", "bot", "-f", "budget.yaml"])
        .ok()
        .stdout;
    assert!(
        updated.starts_with("✓ agent \"bot\" config updated\n"),
        "{updated}"
    );
    assert!(updated.contains("$25.00"), "{updated}");
    let config = shell
        .run(&["agents", "config", "get", "bot", "-o", "json"])
        .json();
    assert_eq!(config["system_prompt"], "Be brief.");
    assert_eq!(config["llm_configs"][0]["monthly_budget_usd"], 25.0);

    // A prompt-only agent; then --wait gives up (no agent host here) with exit 4.
    let waited = shell.run(&[
        "deploy",
        "--name",
        "helper",
        "--system-prompt",
        "Hi.",
        "--wait",
        "--timeout",
        "1s",
    ]);
    assert_eq!(waited.code, 4, "{waited:?}");
    assert!(waited.stdout.contains("NATIVE_LOOP"), "{waited:?}");
    assert!(
        waited
            .stderr
            .starts_with("error: timed out waiting for agent \"helper\" to run"),
        "{waited:?}"
    );

    shell
        .run(&[
            "deploy", "--name", "x", "--file", "agent.py", "--policy", "ghost",
        ])
        .failed(1, "policy \"ghost\" not found (HTTP 400)");
    shell
        .run(&[
            "deploy", "--name", "x", "--file", "agent.py", "--model", "gpt-4o",
        ])
        .failed(1, "use provider/model");
    shell.run(&["agents", "delete", "bot"]).ok();
    shell
        .run(&["agents", "get", "bot"])
        .failed(3, "agent \"bot\" not found (HTTP 404)");
    assert_eq!(
        names(&shell.run(&["agents", "list", "-o", "json"]).json()),
        ["helper"]
    );
}

#[tokio::test]
async fn starter_kit_and_context_export() {
    let server = server().await;
    let shell = Shell::new(&server);
    let seeded = shell.run(&["starter-kit", "-o", "json"]).json();
    assert_eq!(seeded["tools_created"], json!(["echo-tool"]));
    let again = shell.run(&["starter-kit"]).ok().stdout;
    assert!(
        again.starts_with("✓ starter kit ready: starter kit already present\n"),
        "{again}"
    );

    let export = shell.run(&["context", "export"]).json();
    assert_eq!(names(&export["resources"]["tools"]), ["echo-tool"]);
    assert_eq!(export["meta"]["tools_count"], 1);
    assert_eq!(export["meta"]["model_providers_count"], 1);
    assert_eq!(export["meta"]["approvals_count"], 0);
    assert_eq!(export["errors"], json!({}));
    assert_eq!(export["namespace"], "default");
    let strict = shell
        .run(&["context", "export", "--strict", "-o", "json"])
        .json();
    assert_eq!(strict["resources"]["tools"], export["resources"]["tools"]);
}

#[tokio::test]
async fn errors_have_exit_codes_and_hints() {
    let server = server().await;
    let shell = Shell::new(&server);
    shell
        .run(&["policies", "get", "nope"])
        .failed(3, "error: policy \"nope\" not found (HTTP 404)\n");
    // Runs are not served yet: a clear 404 and a hint.
    shell.run(&["runs", "list"]).failed(
        3,
        "error: no such endpoint: GET /api/v1/runs (HTTP 404)\nhint: this server does not serve that command",
    );
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
