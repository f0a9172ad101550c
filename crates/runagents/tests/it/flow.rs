//! `/agents/{name}/flow`: the policy decision for each of an agent's tool capabilities.

use serde_json::json;

use crate::server;

#[tokio::test]
async fn flow_shows_each_capability_with_its_policy_decision() {
    let server = server().await;
    let api = server.client();
    api.post(
        "/tools",
        json!({"name": "pay", "spec": {"connection": {"baseUrl": "https://pay.example.com"},
        "capabilities": [{"name": "read", "method": "GET", "path": "/v1/*"},
                         {"name": "charge", "method": "POST", "path": "/v1/charges"},
                         {"name": "refund", "method": "DELETE", "path": "/v1/refunds"},
                         {"name": "export", "method": "PUT", "path": "/v2/export"}]}}),
    )
    .await;
    api.post(
        "/tools",
        json!({"name": "plain", "base_url": "https://plain.example.com"}),
    )
    .await;
    api.post("/policies", json!({"name": "guarded", "spec": {"policies": [
        {"permission": "allow", "operations": ["GET"], "resource": "https://pay.example.com/*"},
        {"permission": "approval_required", "operations": ["POST"], "resource": "https://pay.example.com/v1/*"},
        {"permission": "deny", "operations": ["DELETE"], "resource": "https://pay.example.com/*"}]}}))
        .await;
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": "payer", "source_files": {},
            "required_tools": ["pay", "plain"], "policies": ["guarded"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, flow) = api.get("/agents/payer/flow").await;
    assert_eq!(status, 200, "{flow}");
    let decisions: Vec<(String, String, String)> = flow["tools"][0]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["capability"].as_str().unwrap().to_owned(),
                d["decision"].as_str().unwrap().to_owned(),
                d["policy"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("read", "allow", ""),
        ("charge", "approval_required", "guarded"),
        ("refund", "deny", "guarded"),
        ("export", "deny", ""),
    ];
    assert_eq!(
        decisions,
        expected
            .iter()
            .map(|(c, d, p)| (c.to_string(), d.to_string(), p.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(flow["tools"][1]["tool"], "plain");
    assert_eq!(flow["tools"][1]["decisions"].as_array().unwrap().len(), 5);
    assert!(
        flow["tools"][1]["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["decision"] == "deny")
    );
    // Without policies, every call is denied by default: "no policy".
    api.post(
        "/deploy",
        json!({"agent_name": "loose", "source_files": {}, "required_tools": ["pay"]}),
    )
    .await;
    let (_, flow) = api.get("/agents/loose/flow").await;
    assert!(
        flow["tools"][0]["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["decision"] == "no_policy")
    );
    assert_eq!(api.get("/agents/nobody/flow").await.0, 404);
}
