use serde_json::json;

use super::*;
use crate::tool::ToolInput;

fn stripe() -> ToolSpec {
    ToolInput::parse(json!({"name": "stripe", "spec": {
        "connection": {"baseUrl": "https://api.stripe.com/"},
        "capabilities": [
            {"name": "list-charges", "method": "GET", "path": "/v1/charges"},
            {"name": "create-charge", "method": "POST", "path": "/v1/charges", "riskTags": ["financial"]},
        ],
    }}))
    .unwrap()
    .spec
}

const YAML: &str = "name: payments\nspec:\n  policies:\n    - permission: allow\n      operations: [GET]\n      resource: https://api.stripe.com/*\n    - permission: approval_required\n      tags: [financial]\n  approvals:\n    - name: finance\n      tags: [financial]\n      defaultDuration: 4h\n";

fn request(body: Value) -> PreviewRequest {
    PreviewRequest::parse(body.clone()).unwrap_or_else(|e| panic!("{body}: {e}"))
}

#[test]
fn reads_the_edited_policy_as_text_or_object_whole_or_spec_only() {
    let from_yaml = request(json!({"spec": YAML}));
    assert_eq!(from_yaml.name, "payments");
    assert_eq!(from_yaml.spec.policies.len(), 2);
    assert_eq!(from_yaml.spec.approvals[0].name, "finance");
    let from_json = request(json!({"spec": {"name": "payments", "spec": from_yaml.spec}}));
    assert_eq!(from_json.spec, from_yaml.spec);
    let spec_only = request(json!({"name": "p2", "spec": {"policies": [{"permission": "deny"}]}}));
    assert_eq!(spec_only.name, "p2");
    let unnamed = request(json!({"spec": "policies:\n  - permission: deny\n"}));
    assert_eq!(unnamed.name, "draft");
    let text_json = request(json!({"spec": "{\"spec\": {\"policies\": []}}"}));
    assert_eq!(text_json.name, "draft");
    assert!(text_json.calls.is_empty() && text_json.agent.is_none());
}

#[test]
fn refuses_what_a_save_would_refuse() {
    for (body, message) in [
        (json!({}), "spec is required"),
        (json!({"spec": "  "}), "spec is empty"),
        (json!({"spec": "[1, 2]"}), "spec must be a policy"),
        (json!({"spec": "policies: [\n"}), "invalid"),
        (
            json!({"spec": {"policies": [{"permission": "maybe"}]}}),
            "maybe",
        ),
        (
            json!({"spec": {"policies": []}, "calls": [{"method": "GET"}]}),
            "calls[0].tool is required",
        ),
        (
            json!({"spec": {"policies": []}, "calls": [{"tool": "t", "path": "v1"}]}),
            "must start with /",
        ),
        (
            json!({"spec": {"policies": []}, "calls": [{"tool": "t", "path": "/a", "url": "https://x/a"}]}),
            "not both",
        ),
        (
            json!({"spec": {"policies": []}, "calls": [{"tool": "t", "method": "GE T"}]}),
            "not an HTTP method",
        ),
        (
            json!({"spec": {"policies": []}, "calls": {}}),
            "calls must be a list",
        ),
    ] {
        let error = PreviewRequest::parse(body.clone()).unwrap_err();
        assert!(error.0.contains(message), "{body}: {error}");
    }
    let many: Vec<Value> = (0..=MAX_CALLS).map(|_| json!({"tool": "t"})).collect();
    assert!(
        PreviewRequest::parse(json!({"spec": {"policies": []}, "calls": many}))
            .unwrap_err()
            .0
            .contains("at most")
    );
}

#[test]
fn calls_resolve_under_the_tool_as_egress_sees_them() {
    let tool = stripe();
    let parsed = request(json!({"spec": YAML, "agent": " billing ", "calls": [
        {"tool": "stripe", "method": "post", "path": "/v1/charges?limit=1"},
        {"tool": "stripe", "url": "https://api.stripe.com/v1/charges"},
        {"tool": "stripe", "url": "https://api.stripe.com"},
        {"tool": "stripe"},
        {"tool": "stripe", "url": "https://api.stripe.com.evil.com/v1"},
    ]}));
    assert_eq!(parsed.agent.as_deref(), Some("billing"));
    let calls = &parsed.calls;
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[3].method, "GET");
    let resolved: Vec<_> = calls.iter().map(|call| call.resolve(&tool)).collect();
    assert_eq!(
        resolved[0],
        Ok((
            "https://api.stripe.com/v1/charges?limit=1".into(),
            "/v1/charges".into()
        ))
    );
    assert_eq!(
        resolved[1],
        Ok((
            "https://api.stripe.com/v1/charges".into(),
            "/v1/charges".into()
        ))
    );
    assert_eq!(
        resolved[2],
        Ok(("https://api.stripe.com/".into(), "/".into()))
    );
    assert_eq!(resolved[3], resolved[2]);
    assert!(resolved[4].as_ref().unwrap_err().contains("not under"));
}

#[test]
fn previews_each_decision_with_its_rule_and_route() {
    let tool = stripe();
    let edited = request(json!({"spec": YAML}));
    let policies = vec![(edited.name, edited.spec)];
    let read = preview(
        &policies,
        "stripe",
        &tool,
        "GET",
        "https://api.stripe.com/v1/charges",
        "/v1/charges",
    );
    assert_eq!(read.decided.decision, "allow");
    assert_eq!(read.capability.as_deref(), Some("list-charges"));
    assert!(read.route.is_none());
    let write = preview(
        &policies,
        "stripe",
        &tool,
        "POST",
        "https://api.stripe.com/v1/charges",
        "/v1/charges",
    );
    assert_eq!(
        (
            write.decided.decision,
            write.decided.policy.as_deref(),
            write.decided.rule
        ),
        ("approval_required", Some("payments"), Some(1))
    );
    assert_eq!(
        write.route.as_ref().map(|route| route.name.as_str()),
        Some("finance")
    );
    let view = serde_json::to_value(&write).unwrap();
    assert_eq!(view["decision"], "approval_required");
    assert_eq!(view["route"]["defaultDuration"], "4h");
    // Outside the capabilities: the second guard denies, with egress's code.
    let delete = preview(
        &policies,
        "stripe",
        &tool,
        "DELETE",
        "https://api.stripe.com/v1/charges",
        "/v1/charges",
    );
    assert_eq!(
        (delete.decided.decision, delete.decided.code),
        ("deny", Some("POLICY_DENIED"))
    );
    // An explicit deny names its rule; nothing bound is `no_policy`.
    let mut deny = policies;
    deny.push(
        request(json!({"name": "freeze", "spec": {"policies": [{"permission": "deny", "operations": ["POST"]}]}}))
            .into_pair(),
    );
    let frozen = preview(
        &deny,
        "stripe",
        &tool,
        "POST",
        "https://api.stripe.com/v1/charges",
        "/v1/charges",
    );
    assert_eq!(
        (
            frozen.decided.decision,
            frozen.decided.policy.as_deref(),
            frozen.decided.rule
        ),
        ("deny", Some("freeze"), Some(0))
    );
    assert!(frozen.route.is_none());
    let none = preview(&[], "stripe", &tool, "GET", "https://api.stripe.com/", "/");
    assert_eq!(none.decided.decision, "no_policy");
    let unknown = Previewed::unknown_tool(
        &request(json!({"spec": YAML, "calls": [{"tool": "nope", "path": "/x"}]})).calls[0],
        "tool \"nope\" is not registered".into(),
    );
    assert_eq!(
        (unknown.decided.decision, unknown.decided.code),
        ("deny", Some("UNKNOWN_TOOL"))
    );
}

impl PreviewRequest {
    fn into_pair(self) -> (String, PolicySpec) {
        (self.name, self.spec)
    }
}
