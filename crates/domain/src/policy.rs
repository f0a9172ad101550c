//! Policies: rules that decide what an agent's tool calls may do, and where approvals go.
//! Policies bind to agents through the agent's `policies` list.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tool::{parse_method, tags};
use crate::{Invalid, ResourceName, from_json};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicySpec {
    #[serde(default)]
    pub policies: Vec<Rule>,
    #[serde(default)]
    pub approvals: Vec<ApprovalRule>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub permission: Permission,
    /// HTTP methods; empty means all.
    #[serde(default)]
    pub operations: Vec<String>,
    /// A URL pattern; `*` is allowed only as a suffix. Empty means any URL.
    #[serde(default)]
    pub resource: String,
    /// Matches when any of these is among the tool's or capability's risk tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Allow,
    Deny,
    ApprovalRequired,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRule {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tool_ids: Vec<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub operations: Vec<String>,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub approvers: Approvers,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_duration: String,
    #[serde(default)]
    pub delivery: Delivery,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Approvers {
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, rename = "match")]
    pub matching: ApproverMatch,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApproverMatch {
    #[default]
    Any,
    All,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    #[serde(default)]
    pub connectors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DeliveryMode>,
    #[serde(default = "yes", rename = "fallbackToUI")]
    pub fallback_to_ui: bool,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            connectors: Vec::new(),
            mode: None,
            fallback_to_ui: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    FirstSuccess,
    All,
}

/// A parsed, validated create-or-replace request for a policy.
#[derive(Debug)]
pub struct PolicyInput {
    pub name: ResourceName,
    pub spec: PolicySpec,
}

impl PolicyInput {
    /// Accepts `{name, spec}`. `path_name`, when given (PUT), must agree with the body's name.
    pub fn parse(body: Value, path_name: Option<&str>) -> Result<Self, Invalid> {
        let Value::Object(mut doc) = body else {
            return Err(Invalid::new("request body must be a JSON object"));
        };
        let name = match (doc.remove("name"), path_name) {
            (Some(Value::String(name)), Some(path)) if name.trim() != path => {
                return Err(Invalid(format!(
                    "name {name:?} in the body does not match {path:?} in the path"
                )));
            }
            (Some(Value::String(name)), _) => ResourceName::parse(&name)?,
            (None, Some(path)) => ResourceName::parse(path)?,
            (Some(_), _) => return Err(Invalid::new("name must be a string")),
            (None, None) => return Err(Invalid::new("name is required")),
        };
        let spec = match doc.remove("spec") {
            Some(spec @ Value::Object(_)) => spec,
            Some(_) => return Err(Invalid::new("spec must be an object")),
            None => return Err(Invalid::new("spec is required")),
        };
        let mut spec: PolicySpec = from_json("policy spec", spec)?;
        spec.normalize()?;
        Ok(PolicyInput { name, spec })
    }
}

/// Checks a resource pattern: empty, `*`, or an http(s) URL with an optional trailing `*`.
pub fn resource_pattern(field: &str, raw: &str) -> Result<String, Invalid> {
    let pattern = raw.trim();
    if pattern.is_empty() || pattern == "*" {
        return Ok(pattern.to_owned());
    }
    let (base, wildcard) = match pattern.strip_suffix('*') {
        Some(base) => (base, true),
        None => (pattern, false),
    };
    if base.contains('*') {
        return Err(Invalid(format!(
            "{field} {raw:?}: '*' is allowed only at the end"
        )));
    }
    let probe = if wildcard && base.ends_with("://") {
        format!("{base}x")
    } else {
        base.to_owned()
    };
    crate::url::http_url(field, &probe)
        .map_err(|_| Invalid(format!("{field} {raw:?} must be an http(s) URL, optionally ending in '*' (e.g. https://api.stripe.com/*)")))?;
    Ok(pattern.to_owned())
}

impl PolicySpec {
    fn normalize(&mut self) -> Result<(), Invalid> {
        for (index, rule) in self.policies.iter_mut().enumerate() {
            let field = format!("policies[{index}]");
            rule.operations = methods(&format!("{field}.operations"), &rule.operations)?;
            rule.resource = resource_pattern(&format!("{field}.resource"), &rule.resource)?;
            rule.tags = tags(&format!("{field}.tags"), &rule.tags)?;
        }
        for (index, approval) in self.approvals.iter_mut().enumerate() {
            let field = format!("approvals[{index}]");
            approval.operations = methods(&format!("{field}.operations"), &approval.operations)?;
            approval.resource = resource_pattern(&format!("{field}.resource"), &approval.resource)?;
            approval.tags = tags(&format!("{field}.tags"), &approval.tags)?;
            if !approval.default_duration.is_empty() {
                crate::duration::parse_seconds(&approval.default_duration)
                    .map_err(|error| Invalid(format!("{field}.defaultDuration: {error}")))?;
            }
            approval.approvers.groups = approval
                .approvers
                .groups
                .iter()
                .map(|group| group.trim().to_owned())
                .collect();
            if approval.approvers.groups.iter().any(String::is_empty) {
                return Err(Invalid(format!(
                    "{field}.approvers.groups must not contain empty names"
                )));
            }
            if approval
                .delivery
                .connectors
                .iter()
                .any(|c| c.trim().is_empty())
            {
                return Err(Invalid(format!(
                    "{field}.delivery.connectors must not contain empty names"
                )));
            }
        }
        Ok(())
    }
}

fn methods(field: &str, raw: &[String]) -> Result<Vec<String>, Invalid> {
    raw.iter()
        .map(|method| parse_method(field, method, true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_rules_and_approval_routing() {
        let input = PolicyInput::parse(
            json!({"name": "stripe-writes", "spec": {
                "policies": [
                    {"permission": "allow", "operations": ["get"], "resource": "https://api.stripe.com/*"},
                    {"permission": "approval_required", "operations": ["POST"], "resource": "https://api.stripe.com/v1/charges*", "tags": ["financial"]}
                ],
                "approvals": [{"name": "finance", "toolIds": ["stripe-api"], "approvers": {"groups": ["finance"], "match": "any"},
                    "defaultDuration": "4h", "delivery": {"connectors": ["secops-slack"], "mode": "first_success", "fallbackToUI": true}}]
            }}),
            None,
        )
        .unwrap();
        assert_eq!(input.spec.policies[0].operations, vec!["GET"]);
        assert_eq!(
            input.spec.policies[1].permission,
            Permission::ApprovalRequired
        );
        assert_eq!(
            input.spec.approvals[0].delivery.mode,
            Some(DeliveryMode::FirstSuccess)
        );
    }

    #[test]
    fn tolerates_extra_keys_in_spec() {
        let input = PolicyInput::parse(
            json!({"name": "p", "spec": {"name": "p", "policies": []}}),
            None,
        )
        .unwrap();
        assert!(input.spec.policies.is_empty());
    }

    #[test]
    fn rejects_invalid_rules() {
        let cases = [
            (
                json!({"name": "p", "spec": {"policies": [{"permission": "maybe"}]}}),
                "unknown variant",
            ),
            (
                json!({"name": "p", "spec": {"policies": [{"permission": "allow", "operations": ["FETCH"]}]}}),
                "not an HTTP method",
            ),
            (
                json!({"name": "p", "spec": {"policies": [{"permission": "allow", "resource": "https://*.x.com"}]}}),
                "only at the end",
            ),
            (
                json!({"name": "p", "spec": {"policies": [{"permission": "allow", "resource": "stripe"}]}}),
                "must be an http(s) URL",
            ),
            (
                json!({"name": "p", "spec": {"approvals": [{"defaultDuration": "soon"}]}}),
                "defaultDuration",
            ),
            (
                json!({"name": "p", "spec": {"approvals": [{"delivery": {"mode": "sometimes"}}]}}),
                "unknown variant",
            ),
            (
                json!({"name": "p", "spec": {"approvals": [{"approvers": {"groups": ["finance", " "]}}]}}),
                "approvers.groups must not contain empty names",
            ),
            (json!({"name": "p"}), "spec is required"),
            (json!({"spec": {}}), "name is required"),
            (json!({"name": "P!", "spec": {}}), "invalid name"),
        ];
        for (body, expected) in cases {
            let error = PolicyInput::parse(body.clone(), None).unwrap_err();
            assert!(error.0.contains(expected), "{body}: {error}");
        }
    }

    #[test]
    fn path_name_must_match_body() {
        assert!(PolicyInput::parse(json!({"name": "a", "spec": {}}), Some("b")).is_err());
        assert_eq!(
            PolicyInput::parse(json!({"spec": {}}), Some("b"))
                .unwrap()
                .name
                .as_str(),
            "b"
        );
    }

    #[test]
    fn resource_patterns() {
        for ok in [
            "",
            "*",
            "https://api.stripe.com/*",
            "https://api.stripe.com/v1/charges",
            "http://127.0.0.1:9000/*",
            "https://*",
        ] {
            assert!(resource_pattern("r", ok).is_ok(), "{ok}");
        }
    }
}
