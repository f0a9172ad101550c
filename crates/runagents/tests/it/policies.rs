//! `/policies` (JSON and YAML bodies).

use serde_json::{Value, json};

use crate::server;

#[tokio::test]
async fn create_get_replace_delete() {
    let server = server().await;
    let api = server.client();
    let (status, body) = api.get("/policies/stripe").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "policy \"stripe\" not found")
    );
    let spec = json!({"policies": [
        {"permission": "allow", "operations": ["GET"], "resource": "https://api.stripe.com/*"},
        {"permission": "approval_required", "operations": ["POST"], "resource": "https://api.stripe.com/v1/charges*"}],
        "approvals": [{"name": "finance", "approvers": {"groups": ["finance"]}, "defaultDuration": "4h", "delivery": {"connectors": ["secops-slack"], "mode": "first_success", "fallbackToUI": true}}]});
    let (status, policy) = api
        .post("/policies", json!({"name": "stripe", "spec": spec}))
        .await;
    assert_eq!(status, 201, "{policy}");
    assert_eq!(policy["status"]["ready"], true);
    assert_eq!(policy["used_by"], json!([]));
    assert_eq!(
        policy["spec"]["policies"][1]["permission"],
        "approval_required"
    );
    let (status, _) = api
        .post("/policies", json!({"name": "stripe", "spec": spec}))
        .await;
    assert_eq!(status, 409);

    let (status, policy) = api.put("/policies/stripe", json!({"name": "stripe", "spec": {"policies": [{"permission": "deny", "resource": "*"}]}})).await;
    assert_eq!(status, 200, "{policy}");
    assert_eq!(policy["spec"]["policies"][0]["permission"], "deny");
    let (status, _) = api
        .put("/policies/other", json!({"name": "other", "spec": {}}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .put("/policies/stripe", json!({"name": "mismatch", "spec": {}}))
        .await;
    assert_eq!(status, 400);
    let (_, list) = api.get("/policies").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (status, body) = api.delete("/policies/stripe").await;
    assert_eq!((status, body), (200, json!({"status": "deleted"})));
    let (status, _) = api.delete("/policies/stripe").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn invalid_rules_are_rejected_with_reasons() {
    let server = server().await;
    let api = server.client();
    for (spec, expected) in [
        (
            json!({"policies": [{"permission": "sometimes"}]}),
            "unknown variant",
        ),
        (
            json!({"policies": [{"permission": "allow", "operations": ["FETCH"]}]}),
            "not an HTTP method",
        ),
        (
            json!({"policies": [{"permission": "allow", "resource": "https://a*b"}]}),
            "only at the end",
        ),
        (json!({"policies": "all"}), "invalid policy spec"),
    ] {
        let (status, body) = api
            .post("/policies", json!({"name": "p", "spec": spec}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains(expected), "{body}");
    }
    let (_, list) = api.get("/policies").await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn translate_drafts_rules_that_validate() {
    let server = server().await;
    let api = server.client();
    let (status, body) = api
        .post(
            "/policies/translate",
            json!({"text": "Allow Google Workspace reads and require approval for writes"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let rules = body["rules"].as_array().unwrap();
    assert_eq!(rules[0]["permission"], "allow");
    assert_eq!(rules[1]["permission"], "approval_required");
    // The draft is a valid spec as it stands.
    let (status, created) = api
        .post(
            "/policies",
            json!({"name": "drafted", "spec": {"policies": rules}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        api.post("/policies/translate", json!({"text": "nice weather"}))
            .await
            .0,
        400
    );
    assert_eq!(api.post("/policies/translate", json!({})).await.0, 400);
}

#[tokio::test]
async fn policies_can_be_written_as_yaml() {
    let server = server().await;
    let http = reqwest::Client::new();
    let yaml = "name: yaml-policy\nspec:\n  policies:\n    - permission: allow\n      operations: [GET]\n      resource: https://api.example.com/*\n";
    let created = http
        .post(server.api("/policies"))
        .header("x-runagents-api-key", &server.admin_key)
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (_, policy) = server.client().get("/policies/yaml-policy").await;
    assert_eq!(policy["spec"]["policies"][0]["operations"], json!(["GET"]));
    let replaced = http
        .put(server.api("/policies/yaml-policy"))
        .header("x-runagents-api-key", &server.admin_key)
        .header("content-type", "application/yaml; charset=utf-8")
        .body(yaml.replace("[GET]", "[GET, HEAD]"))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
    for (bad, says) in [
        ("spec: [unclosed\n", "invalid YAML"),
        ("- a\n- b\n", "mapping"),
        (
            "name: p\nspec:\n  policies:\n    - permission: maybe\n",
            "unknown variant",
        ),
    ] {
        let response = http
            .post(server.api("/policies"))
            .header("x-runagents-api-key", &server.admin_key)
            .header("content-type", "application/yaml")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(says), "{body}");
    }
}
