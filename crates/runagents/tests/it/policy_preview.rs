//! `POST /policies/preview`: what sample calls would get from an edited policy before it is
//! saved, alone or with the other policies bound to an agent, by egress's own decision.

use runagents_testkit::server::ApiClient;
use serde_json::{Value, json};

use crate::server;

/// Tool `pay` (capabilities), tool `plain`, policies `guarded` (reads) and `freeze` (no
/// deletes), agent `payer` bound to both with tool `pay` only.
async fn setup(api: &ApiClient) {
    let (status, body) = api
        .post(
            "/tools",
            json!({"name": "pay", "spec": {"connection": {"baseUrl": "https://pay.example.com"},
            "capabilities": [{"name": "read", "method": "GET", "path": "/v1/*"},
                             {"name": "charge", "method": "POST", "path": "/v1/charges", "riskTags": ["financial"]},
                             {"name": "refund", "method": "DELETE", "path": "/v1/refunds"}]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post(
            "/tools",
            json!({"name": "plain", "base_url": "https://plain.example.com"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for policy in [
        json!({"name": "guarded", "spec": {"policies": [
            {"permission": "allow", "operations": ["GET"], "resource": "https://pay.example.com/*"}]}}),
        json!({"name": "freeze", "spec": {"policies": [
            {"permission": "deny", "operations": ["DELETE"], "resource": "https://pay.example.com/*"}]}}),
    ] {
        let (status, body) = api.post("/policies", policy).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": "payer", "source_files": {}, "required_tools": ["pay"],
                "policies": ["guarded", "freeze"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// `guarded` as edited in the console: charges now need finance's approval.
const EDITED: &str = "name: guarded
spec:
  policies:
    - permission: allow
      operations: [GET]
      resource: https://pay.example.com/*
    - permission: approval_required
      operations: [POST]
      tags: [financial]
  approvals:
    - name: finance
      tags: [financial]
      defaultDuration: 4h
";

fn calls() -> Value {
    json!([
        {"tool": "pay", "method": "GET", "path": "/v1/charges"},
        {"tool": "pay", "method": "POST", "url": "https://pay.example.com/v1/charges"},
        {"tool": "pay", "method": "DELETE", "path": "/v1/refunds"},
        {"tool": "plain", "method": "GET", "path": "/"},
        {"tool": "ghost", "method": "GET", "path": "/"},
    ])
}

fn decisions(answer: &Value) -> Vec<(String, String, String)> {
    answer["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|call| {
            (
                call["decision"].as_str().unwrap().to_owned(),
                call["policy"].as_str().unwrap_or("").to_owned(),
                call["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn expect(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    rows.iter()
        .map(|(d, p, c)| (d.to_string(), p.to_string(), c.to_string()))
        .collect()
}

#[tokio::test]
async fn previews_an_edit_with_the_agents_other_policies_and_saves_nothing() {
    let server = server().await;
    let api = server.client();
    setup(&api).await;

    let (status, answer) = api
        .post(
            "/policies/preview",
            json!({"spec": EDITED, "agent": "payer", "calls": calls()}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["policies"], json!(["guarded", "freeze"]));
    assert_eq!(
        decisions(&answer),
        expect(&[
            ("allow", "", ""),
            ("approval_required", "guarded", ""),
            // Another bound policy still decides: `freeze` denies deletes.
            ("deny", "freeze", "POLICY_DENIED"),
            // Not one of payer's tools, and not a tool at all: egress refuses both.
            ("deny", "", "UNKNOWN_TOOL"),
            ("deny", "", "UNKNOWN_TOOL"),
        ])
    );
    let charge = &answer["calls"][1];
    assert_eq!(charge["capability"], "charge");
    assert_eq!(charge["rule"], 1);
    assert_eq!(charge["path"], "/v1/charges");
    assert_eq!(charge["route"]["name"], "finance");
    assert_eq!(charge["route"]["defaultDuration"], "4h");
    assert!(
        charge["reason"]
            .as_str()
            .unwrap()
            .contains("needs approval")
    );

    // Alone, the edit allows no deletes either (default deny), and `plain` is previewed too.
    let (status, alone) = api
        .post(
            "/policies/preview",
            json!({"spec": EDITED, "calls": calls()}),
        )
        .await;
    assert_eq!(status, 200, "{alone}");
    assert_eq!(alone["policies"], json!(["guarded"]));
    assert_eq!(
        decisions(&alone),
        expect(&[
            ("allow", "", ""),
            ("approval_required", "guarded", ""),
            ("deny", "", "POLICY_DENIED"),
            ("deny", "", "POLICY_DENIED"),
            ("deny", "", "UNKNOWN_TOOL"),
        ])
    );

    // A JSON spec (just the rules) under a new name is added to the agent's bindings.
    let (status, with_new) = api
        .post(
            "/policies/preview",
            json!({"name": "charges-ok", "agent": "payer",
                "spec": {"policies": [{"permission": "allow", "operations": ["POST"]}]},
                "calls": [{"tool": "pay", "method": "post", "path": "/v1/charges"}]}),
        )
        .await;
    assert_eq!(status, 200, "{with_new}");
    assert_eq!(
        with_new["policies"],
        json!(["guarded", "freeze", "charges-ok"])
    );
    assert_eq!(decisions(&with_new), expect(&[("allow", "", "")]));

    // Nothing was saved.
    let (_, stored) = api.get("/policies/guarded").await;
    assert_eq!(stored["spec"]["policies"].as_array().unwrap().len(), 1);
    let (_, all) = api.get("/policies").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn refuses_what_cannot_be_previewed() {
    let server = server().await;
    let api = server.client();
    setup(&api).await;
    for (body, status, message) in [
        (json!({"spec": "policies: [\n"}), 400, "invalid"),
        (
            json!({"spec": {"policies": [{"permission": "sometimes"}]}}),
            400,
            "sometimes",
        ),
        (json!({"calls": []}), 400, "spec is required"),
        (
            json!({"spec": EDITED, "agent": "nobody", "calls": calls()}),
            404,
            "nobody",
        ),
        (
            json!({"spec": EDITED, "calls": [{"tool": "pay", "url": "https://evil.example.com/v1"}]}),
            400,
            "not under the tool's base URL",
        ),
        (
            json!({"spec": EDITED, "calls": [{"method": "GET", "path": "/"}]}),
            400,
            "calls[0].tool is required",
        ),
    ] {
        let (got, answer) = api.post("/policies/preview", body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(message),
            "{body}: {answer}"
        );
    }
    let (status, _) = api
        .with_key("")
        .post("/policies/preview", json!({"spec": EDITED}))
        .await;
    assert_eq!(status, 401);
}
