//! `deploy`, `agents …`, `starter-kit` and `context export` from the CLI.

use serde_json::json;

use super::{Shell, names};
use crate::server;

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
