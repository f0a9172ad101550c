use super::*;
use crate::policy::PolicyInput;
use crate::tool::ToolInput;
use serde_json::json;

fn tool(capabilities: serde_json::Value, tags: serde_json::Value) -> ToolSpec {
    ToolInput::parse(json!({"name": "stripe", "spec": {"connection": {"baseUrl": "https://api.stripe.com"}, "capabilities": capabilities, "riskTags": tags}}))
        .unwrap()
        .spec
}

fn policy(name: &str, rules: serde_json::Value) -> (String, PolicySpec) {
    (
        name.to_owned(),
        PolicyInput::parse(json!({"name": name, "spec": {"policies": rules}}), None)
            .unwrap()
            .spec,
    )
}

fn call<'a>(tool: &'a ToolSpec, method: &'a str, path: &'a str, url: &'a str) -> Call<'a> {
    Call {
        method,
        url,
        path,
        tool,
    }
}

#[test]
fn reads_allowed_writes_need_approval() {
    let spec = tool(json!([]), json!([]));
    let policies = vec![policy(
        "p",
        json!([
            {"permission": "allow", "operations": ["GET"], "resource": "https://api.stripe.com/*"},
            {"permission": "approval_required", "operations": ["POST"], "resource": "https://api.stripe.com/*"}
        ]),
    )];
    let read = decide(
        &policies,
        &call(
            &spec,
            "GET",
            "/v1/charges",
            "https://api.stripe.com/v1/charges",
        ),
    )
    .0;
    assert_eq!(read, Decision::Allow);
    let write = decide(
        &policies,
        &call(
            &spec,
            "POST",
            "/v1/charges",
            "https://api.stripe.com/v1/charges",
        ),
    )
    .0;
    assert_eq!(
        write,
        Decision::ApprovalRequired {
            policy: "p".into(),
            rule: 1
        }
    );
    let delete = decide(
        &policies,
        &call(
            &spec,
            "DELETE",
            "/v1/charges/1",
            "https://api.stripe.com/v1/charges/1",
        ),
    )
    .0;
    assert_eq!(delete, Decision::Deny(DenyReason::NoMatchingRule));
}

#[test]
fn no_binding_denies() {
    let spec = tool(json!([]), json!([]));
    assert_eq!(
        decide(&[], &call(&spec, "GET", "/", "https://api.stripe.com/")).0,
        Decision::Deny(DenyReason::NoBinding)
    );
}

#[test]
fn tags_match_tool_and_capability_risk_tags() {
    let spec = tool(
        json!([{"name": "charge", "method": "POST", "path": "/v1/charges", "riskTags": ["financial"]}, {"name": "list", "method": "GET", "path": "/v1/*"}]),
        json!(["pii"]),
    );
    let policies = vec![policy(
        "p",
        json!([
            {"permission": "allow"},
            {"permission": "approval_required", "tags": ["financial"]}
        ]),
    )];
    let (charge, capability) = decide(
        &policies,
        &call(
            &spec,
            "POST",
            "/v1/charges",
            "https://api.stripe.com/v1/charges",
        ),
    );
    assert_eq!(
        (charge, capability.as_deref()),
        (
            Decision::ApprovalRequired {
                policy: "p".into(),
                rule: 1
            },
            Some("charge")
        )
    );
    let (list, capability) = decide(
        &policies,
        &call(
            &spec,
            "GET",
            "/v1/customers",
            "https://api.stripe.com/v1/customers",
        ),
    );
    assert_eq!(
        (list, capability.as_deref()),
        (Decision::Allow, Some("list"))
    );
    let pii = vec![policy(
        "q",
        json!([{"permission": "deny", "tags": ["pii"]}, {"permission": "allow"}]),
    )];
    assert!(matches!(
        decide(
            &pii,
            &call(
                &spec,
                "GET",
                "/v1/customers",
                "https://api.stripe.com/v1/customers"
            )
        )
        .0,
        Decision::Deny(DenyReason::Rule { .. })
    ));
}

#[test]
fn capabilities_are_a_second_guard() {
    let spec = tool(
        json!([{"name": "charge", "method": "POST", "path": "/v1/charges"}]),
        json!([]),
    );
    let allow_all = vec![policy("p", json!([{"permission": "allow"}]))];
    assert_eq!(
        decide(
            &allow_all,
            &call(
                &spec,
                "POST",
                "/v1/charges",
                "https://api.stripe.com/v1/charges"
            )
        )
        .0,
        Decision::Allow
    );
    assert_eq!(
        decide(
            &allow_all,
            &call(
                &spec,
                "DELETE",
                "/v1/charges",
                "https://api.stripe.com/v1/charges"
            )
        )
        .0,
        Decision::Deny(DenyReason::NoCapability)
    );
    assert_eq!(
        decide(
            &allow_all,
            &call(
                &spec,
                "POST",
                "/v1/refunds",
                "https://api.stripe.com/v1/refunds"
            )
        )
        .0,
        Decision::Deny(DenyReason::NoCapability)
    );
    assert_eq!(DenyReason::NoCapability.code(), "OPERATION_NOT_PERMITTED");
}

#[test]
fn paths_and_resources() {
    assert!(path_matches("/v1/charges", "/v1/charges"));
    assert!(path_matches("/v1/charges", "/v1/charges/ch_1"));
    assert!(!path_matches("/v1/charges", "/v1/chargesX"));
    assert!(path_matches("/v1/*", "/v1/anything/else"));
    assert!(path_matches("/", "/x"));
    assert!(resource_matches(
        "https://api.stripe.com/*",
        "https://api.stripe.com/v1/x"
    ));
    assert!(resource_matches(
        "https://api.stripe.com/*",
        "https://api.stripe.com"
    ));
    assert!(!resource_matches(
        "https://api.stripe.com/*",
        "https://api.stripe.com.evil.example/x"
    ));
    assert!(!resource_matches(
        "https://api.stripe.com/v1",
        "https://api.stripe.com/v2"
    ));
    assert!(resource_matches("", "https://anything"));
}

/// Precedence holds for every combination of matching rules, in any order, across policies.
#[test]
fn precedence_property_over_all_rule_combinations() {
    let spec = tool(json!([]), json!([]));
    let permissions = ["allow", "deny", "approval_required", "nomatch"];
    let the_call = call(&spec, "POST", "/v1/x", "https://api.stripe.com/v1/x");
    // Every sequence of up to 4 rules split over up to 2 policies.
    for length in 0..=4usize {
        for combo in 0..permissions.len().pow(length as u32) {
            let mut rules = Vec::new();
            let mut n = combo;
            for _ in 0..length {
                rules.push(permissions[n % permissions.len()]);
                n /= permissions.len();
            }
            for split in 0..=rules.len() {
                let as_json = |slice: &[&str]| {
                    serde_json::Value::Array(
                        slice
                            .iter()
                            .map(|p| match *p {
                                "nomatch" => json!({"permission": "deny", "operations": ["GET"]}),
                                p => json!({"permission": p}),
                            })
                            .collect(),
                    )
                };
                let policies = vec![
                    policy("a", as_json(&rules[..split])),
                    policy("b", as_json(&rules[split..])),
                ];
                let decision = decide(&policies, &the_call).0;
                let expected = if rules.contains(&"deny") {
                    "deny"
                } else if rules.contains(&"approval_required") {
                    "approval"
                } else if rules.contains(&"allow") {
                    "allow"
                } else {
                    "default-deny"
                };
                let actual = match decision {
                    Decision::Deny(DenyReason::Rule { .. }) => "deny",
                    Decision::ApprovalRequired { .. } => "approval",
                    Decision::Allow => "allow",
                    Decision::Deny(_) => "default-deny",
                };
                assert_eq!(actual, expected, "{rules:?} split at {split}");
            }
        }
    }
}

#[test]
fn approval_routes_match_on_every_matcher() {
    let spec = tool(
        json!([{"name": "charge", "method": "POST", "path": "/v1/charges", "riskTags": ["financial"]}]),
        json!([]),
    );
    let policies = vec![(
        "p".to_owned(),
        PolicyInput::parse(
            json!({"name": "p", "spec": {"approvals": [
                {"name": "hr", "toolIds": ["workday"]},
                {"name": "finance", "toolIds": ["stripe"], "tags": ["financial"], "operations": ["POST"], "defaultDuration": "1h"},
                {"name": "fallback"}
            ]}}),
            None,
        )
        .unwrap()
        .spec,
    )];
    let charge = call(
        &spec,
        "POST",
        "/v1/charges",
        "https://api.stripe.com/v1/charges",
    );
    assert_eq!(
        approval_route(&policies, "stripe", Some("charge"), &charge)
            .unwrap()
            .name,
        "finance"
    );
    let other = call(&spec, "PUT", "/v1/x", "https://api.stripe.com/v1/x");
    assert_eq!(
        approval_route(&policies, "stripe", None, &other)
            .unwrap()
            .name,
        "fallback"
    );
    assert!(approval_route(&[], "stripe", None, &other).is_none());
}

/// A small deterministic generator (xorshift), so the comparison below needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// The indexed decision equals the plain one for random policies and calls, over patterns
/// built to hit every edge of authority pinning (no host, bare hosts, wildcards inside the
/// host, trailing slashes, queries, exact URLs).
#[test]
fn indexed_decisions_equal_plain_ones() {
    let spec = tool(
        json!([{"name": "w", "method": "POST", "path": "/v1/*", "riskTags": ["financial"]}]),
        json!(["pii"]),
    );
    let patterns = [
        "",
        "*",
        "https://a.example/*",
        "https://a.example/v1/*",
        "https://a.example/v1",
        "https://a.example",
        "https://a.example/",
        "https://a.exa*",
        "https://a.example*",
        "https://b.example/*",
        "http://a.example/*",
        "https://a.example:8443/*",
        "https://*",
        "https:///x",
        "https://",
        "https://a.example?x=1",
        "a.example/*",
    ];
    let urls = [
        "https://a.example/v1/charges",
        "https://a.example/v1",
        "https://a.example/",
        "https://a.example",
        "https://a.example.evil/v1",
        "https://a.example:8443/v1",
        "https://b.example/x",
        "http://a.example/v1",
        "https://a.example?x=1",
        "https:",
    ];
    let methods = ["GET", "POST", "DELETE"];
    let permissions = ["allow", "deny", "approval_required"];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let policy_count = 1 + rng.next() % 4;
        let policies: Vec<(String, PolicySpec)> = (0..policy_count)
            .map(|p| {
                let rules: Vec<serde_json::Value> = (0..rng.next() % 4)
                    .map(|_| {
                        let mut rule = json!({"permission": rng.pick(&permissions), "resource": rng.pick(&patterns)});
                        if rng.next().is_multiple_of(2) {
                            rule["operations"] = json!([rng.pick(&methods)]);
                        }
                        if rng.next().is_multiple_of(4) {
                            rule["tags"] = json!([rng.pick(&["financial", "pii", "other"])]);
                        }
                        rule
                    })
                    .collect();
                let spec = PolicySpec {
                    policies: serde_json::from_value(json!(rules)).unwrap(),
                    approvals: Vec::new(),
                };
                (format!("p{p}"), spec)
            })
            .collect();
        let index = PolicyIndex::new(&policies);
        for url in urls {
            for method in methods {
                let path = url
                    .find("://")
                    .and_then(|i| url[i + 3..].find('/').map(|j| &url[i + 3 + j..]))
                    .unwrap_or("/");
                let the_call = call(&spec, method, path, url);
                assert_eq!(
                    decide_indexed(&policies, &index, &the_call),
                    decide(&policies, &the_call),
                    "{method} {url} under {policies:?}"
                );
            }
        }
    }
}

#[test]
fn the_index_pins_authorities_only_when_every_match_shares_it() {
    assert_eq!(
        pinned_authority("https://a.example/*"),
        Some("https://a.example")
    );
    assert_eq!(
        pinned_authority("https://a.example/v1"),
        Some("https://a.example")
    );
    assert_eq!(
        pinned_authority("https://a.example"),
        Some("https://a.example")
    );
    assert_eq!(pinned_authority("https://a.example*"), None);
    assert_eq!(pinned_authority("https://*"), None);
    assert_eq!(pinned_authority("*"), None);
    assert_eq!(pinned_authority(""), None);
    assert_eq!(
        url_authority("https://a.example:1/x?y"),
        Some("https://a.example:1")
    );
    assert_eq!(url_authority("no-scheme/x"), None);
}
