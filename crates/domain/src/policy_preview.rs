//! Previewing a policy before it is saved: which decision sample calls would get from the
//! edited policy (with the other policies bound to an agent, when one is named), by the same
//! `decision::decide` and `decision::approval_route` egress applies to real calls. Pure; the
//! engine reads the agent, its policies and the tools.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::decision::{self, Call, Decision, DenyReason};
use crate::policy::{ApprovalRule, PolicyInput, PolicySpec};
use crate::tool::ToolSpec;
use crate::{Invalid, document, fields};

/// At most this many sample calls per preview.
pub const MAX_CALLS: usize = 100;
/// The name an edited policy without one is previewed under.
const UNNAMED: &str = "draft";

/// A parsed `POST /policies/preview` body.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewRequest {
    /// The edited policy's name (it replaces the stored policy of that name in an agent's
    /// bindings) and spec, validated as a save would.
    pub name: String,
    pub spec: PolicySpec,
    /// Preview with this agent's other bound policies, and only its tools.
    pub agent: Option<String>,
    pub calls: Vec<SampleCall>,
}

/// A call to preview: `path` (relative to the tool's base URL) or `url` (under it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleCall {
    pub tool: String,
    pub method: String,
    pub target: Target,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Path(String),
    Url(String),
}

impl PreviewRequest {
    /// `{spec, name?, agent?, calls: [{tool, method, url | path}]}`. `spec` is the edited
    /// policy: a whole policy document (`{name, spec}`) or just its spec (`{policies,
    /// approvals}`), as an object or as JSON or YAML text (the editor's).
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        let Value::Object(mut body) = body else {
            return Err(Invalid::new("request body must be a JSON object"));
        };
        let fallback = match fields::string("name", body.remove("name"))? {
            Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => UNNAMED.to_owned(),
        };
        let (name, spec) = edited_policy(
            body.remove("spec")
                .or_else(|| body.remove("policy"))
                .unwrap_or(Value::Null),
            &fallback,
        )?;
        let agent = fields::string("agent", body.remove("agent"))?
            .map(|agent| agent.trim().to_owned())
            .filter(|agent| !agent.is_empty());
        let calls = match body.remove("calls") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(calls)) => calls
                .into_iter()
                .enumerate()
                .map(|(index, call)| SampleCall::parse(index, call))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(Invalid::new("calls must be a list of {tool, method, path}")),
        };
        if calls.len() > MAX_CALLS {
            return Err(Invalid(format!(
                "at most {MAX_CALLS} calls can be previewed at once"
            )));
        }
        Ok(PreviewRequest {
            name,
            spec,
            agent,
            calls,
        })
    }
}

/// The edited policy, checked as `POST /policies` would check it.
fn edited_policy(spec: Value, fallback_name: &str) -> Result<(String, PolicySpec), Invalid> {
    let document = match spec {
        Value::String(text) if text.trim().is_empty() => {
            return Err(Invalid::new("spec is empty: write the policy"));
        }
        Value::String(text) => document::parse(&text).map_err(Invalid)?,
        Value::Null => return Err(Invalid::new("spec is required: the edited policy")),
        other => other,
    };
    let Value::Object(mut document) = document else {
        return Err(Invalid::new(
            "spec must be a policy: {name, spec: {policies: [...]}} or {policies: [...]}",
        ));
    };
    let body = if document.contains_key("spec") {
        if !document.get("name").is_some_and(Value::is_string) {
            document.insert("name".into(), json!(fallback_name));
        }
        Value::Object(document)
    } else {
        json!({"name": fallback_name, "spec": document})
    };
    let input = PolicyInput::parse(body, None)?;
    Ok((input.name.to_string(), input.spec))
}

impl SampleCall {
    fn parse(index: usize, call: Value) -> Result<Self, Invalid> {
        let field = |name: &str| format!("calls[{index}].{name}");
        let Value::Object(mut call) = call else {
            return Err(Invalid(format!(
                "calls[{index}] must be an object: {{tool, method, path}}"
            )));
        };
        let text = |call: &mut Map<String, Value>, name: &str| {
            fields::string(&field(name), call.remove(name))
                .map(|text| text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
        };
        let tool = text(&mut call, "tool")?
            .ok_or_else(|| Invalid(format!("{} is required", field("tool"))))?;
        let method = text(&mut call, "method")?
            .unwrap_or_else(|| "GET".to_owned())
            .to_ascii_uppercase();
        if !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Invalid(format!(
                "{} {method:?} is not an HTTP method",
                field("method")
            )));
        }
        let target = match (text(&mut call, "path")?, text(&mut call, "url")?) {
            (Some(path), None) if path.starts_with('/') => Target::Path(path),
            (Some(path), None) => {
                return Err(Invalid(format!(
                    "{} {path:?} must start with /",
                    field("path")
                )));
            }
            (None, Some(url)) => Target::Url(url),
            (Some(_), Some(_)) => {
                return Err(Invalid(format!(
                    "calls[{index}]: give path or url, not both"
                )));
            }
            (None, None) => Target::Path("/".to_owned()),
        };
        Ok(SampleCall {
            tool,
            method,
            target,
        })
    }

    /// The call's full URL and its path relative to the tool's base URL, as egress sees them;
    /// an error when a `url` is not under the tool's base URL (egress never sends one there).
    pub fn resolve(&self, tool: &ToolSpec) -> Result<(String, String), String> {
        let base = tool.connection.base_url.trim_end_matches('/');
        let relative = match &self.target {
            Target::Path(path) => path.clone(),
            Target::Url(url) => match url.strip_prefix(base) {
                Some("") => "/".to_owned(),
                Some(rest) if rest.starts_with(['/', '?']) => rest.to_owned(),
                _ => {
                    return Err(format!("{url} is not under the tool's base URL {base}"));
                }
            },
        };
        let relative = if relative.starts_with('?') {
            format!("/{relative}")
        } else {
            relative
        };
        let path = relative.split('?').next().unwrap_or("/").to_owned();
        Ok((format!("{base}{relative}"), path))
    }
}

/// What a bound policy (or the lack of one) decides for a call, in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Described {
    /// `allow`, `deny`, `approval_required`, or `no_policy` (nothing bound: denied by default).
    pub decision: &'static str,
    /// The 403 `code` egress answers a denied call with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// The policy and rule (index) that decided, when one did.
    pub policy: Option<String>,
    pub rule: Option<usize>,
    pub reason: String,
}

/// Puts a decision into words for `method url`.
pub fn describe(decision: Decision, method: &str, url: &str) -> Described {
    let code = match &decision {
        Decision::Deny(reason) => Some(reason.code()),
        _ => None,
    };
    let (kind, policy, rule, reason) = match decision {
        Decision::Allow => ("allow", None, None, "allowed by a bound policy".to_owned()),
        Decision::ApprovalRequired { policy, rule } => (
            "approval_required",
            Some(policy.clone()),
            Some(rule),
            format!("needs approval: policy {policy:?} rule {rule}"),
        ),
        Decision::Deny(DenyReason::NoBinding) => (
            "no_policy",
            None,
            None,
            "no policy is bound to this agent: denied by default".to_owned(),
        ),
        Decision::Deny(DenyReason::Rule { policy, rule }) => (
            "deny",
            Some(policy.clone()),
            Some(rule),
            format!("denied by policy {policy:?} rule {rule}"),
        ),
        Decision::Deny(reason) => ("deny", None, None, reason.message(method, url)),
    };
    Described {
        decision: kind,
        code,
        policy,
        rule,
        reason,
    }
}

/// The preview of one call.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Previewed {
    pub tool: String,
    pub method: String,
    pub url: String,
    pub path: String,
    /// The tool capability the call falls under, if any.
    pub capability: Option<String>,
    #[serde(flatten)]
    pub decided: Described,
    /// Where an `approval_required` call's request would go: the matching `approvals` route.
    pub route: Option<ApprovalRule>,
}

impl Previewed {
    /// A call egress refuses before any policy is read: a tool that is not registered, or not
    /// one of the agent's (`UNKNOWN_TOOL`).
    pub fn unknown_tool(call: &SampleCall, reason: String) -> Previewed {
        let (url, path) = match &call.target {
            Target::Path(path) => (String::new(), path.clone()),
            Target::Url(url) => (url.clone(), String::new()),
        };
        Previewed {
            tool: call.tool.clone(),
            method: call.method.clone(),
            url,
            path,
            capability: None,
            decided: Described {
                decision: "deny",
                code: Some("UNKNOWN_TOOL"),
                policy: None,
                rule: None,
                reason,
            },
            route: None,
        }
    }
}

/// Decides `call` on `tool` against `policies` (name, spec), as egress would.
pub fn preview(
    policies: &[(String, PolicySpec)],
    tool_name: &str,
    tool: &ToolSpec,
    method: &str,
    url: &str,
    path: &str,
) -> Previewed {
    let call = Call {
        method,
        url,
        path,
        tool,
    };
    let (decision, capability) = decision::decide(policies, &call);
    let route = matches!(decision, Decision::ApprovalRequired { .. })
        .then(|| decision::approval_route(policies, tool_name, capability.as_deref(), &call))
        .flatten()
        .cloned();
    Previewed {
        tool: tool_name.to_owned(),
        method: method.to_owned(),
        url: url.to_owned(),
        path: path.to_owned(),
        capability,
        decided: describe(decision, method, url),
        route,
    }
}

#[cfg(test)]
#[path = "policy_preview_tests.rs"]
mod tests;
