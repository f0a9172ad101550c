//! Tools, model providers, policies, identity providers and approval connectors from the CLI.

use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;

use super::{Shell, names};
use crate::server;

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
