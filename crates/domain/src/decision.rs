//! The egress decision for one tool call: which capability it is, what the bound policies say,
//! and whether the capability allow-list lets it through. Pure; the engine does the I/O.
//!
//! Precedence is fixed: deny > approval_required > allow; no matching rule (or no policy bound)
//! means deny. Capabilities are a second guard after policy: a tool that declares any
//! capability only accepts calls matching one (method + path prefix, `*` suffix wildcard).

use crate::policy::{Permission, PolicySpec, Rule};
use crate::tool::{Capability, ToolSpec};

/// One intercepted call, as policy sees it.
#[derive(Clone, Debug)]
pub struct Call<'a> {
    pub method: &'a str,
    /// The full upstream URL (tool base URL + path + query).
    pub url: &'a str,
    /// The path relative to the tool's base URL, starting with '/'.
    pub path: &'a str,
    pub tool: &'a ToolSpec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Needs approval; names the policy and the rule's index in it.
    ApprovalRequired {
        policy: String,
        rule: usize,
    },
    Deny(DenyReason),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// The agent has no policy bound at all.
    NoBinding,
    /// Policies are bound but none has a rule matching the call.
    NoMatchingRule,
    /// An explicit deny rule.
    Rule { policy: String, rule: usize },
    /// The tool declares capabilities and none matches the call.
    NoCapability,
}

/// The capability a call falls under: the first whose method and path match.
pub fn match_capability<'t>(
    tool: &'t ToolSpec,
    method: &str,
    path: &str,
) -> Option<&'t Capability> {
    tool.capabilities.iter().find(|capability| {
        (capability.method == "*" || capability.method.eq_ignore_ascii_case(method))
            && path_matches(&capability.path, path)
    })
}

/// `/v1/charges` matches itself and anything under it; `/v1/*` matches any path with that prefix.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => {
            path == pattern
                || (path.starts_with(pattern)
                    && (pattern.ends_with('/') || path[pattern.len()..].starts_with(['/', '?'])))
        }
    }
}

/// `https://api.stripe.com/*` matches every URL with that prefix; without `*` the URL must be
/// equal (ignoring a trailing slash); empty or `*` matches all.
pub fn resource_matches(pattern: &str, url: &str) -> bool {
    if pattern.is_empty() || pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            url.starts_with(prefix) || url.trim_end_matches('/') == prefix.trim_end_matches('/')
        }
        None => url.trim_end_matches('/') == pattern.trim_end_matches('/'),
    }
}

fn rule_matches(rule: &Rule, call: &Call<'_>, tags: &[&str]) -> bool {
    let method_ok = rule.operations.is_empty()
        || rule
            .operations
            .iter()
            .any(|op| op == "*" || op.eq_ignore_ascii_case(call.method));
    let tags_ok = rule.tags.is_empty() || rule.tags.iter().any(|tag| tags.contains(&tag.as_str()));
    method_ok && tags_ok && resource_matches(&rule.resource, call.url)
}

/// Decides a call against the policies bound to the agent (name, spec).
pub fn decide(policies: &[(String, PolicySpec)], call: &Call<'_>) -> (Decision, Option<String>) {
    let every_rule = policies
        .iter()
        .enumerate()
        .flat_map(|(p, (_, spec))| (0..spec.policies.len()).map(move |r| (p as u32, r as u32)));
    decide_over(policies, call, every_rule)
}

/// [`decide`], looking only at the rules that can match the call's URL: the same answer,
/// without scanning every rule of every bound policy.
pub fn decide_indexed(
    policies: &[(String, PolicySpec)],
    index: &PolicyIndex,
    call: &Call<'_>,
) -> (Decision, Option<String>) {
    let pinned = url_authority(call.url)
        .and_then(|authority| index.by_authority.get(authority))
        .map(Vec::as_slice)
        .unwrap_or_default();
    decide_over(policies, call, Merged::new(pinned, &index.anywhere))
}

/// The rules of bound policies by the URL authority (`scheme://host[:port]`) their resource
/// pattern pins, and the rules that can match any authority; each list in binding order
/// (policy, then rule), so merging them visits candidates in the order [`decide`] does.
#[derive(Clone, Debug, Default)]
pub struct PolicyIndex {
    by_authority: std::collections::HashMap<String, Vec<(u32, u32)>>,
    anywhere: Vec<(u32, u32)>,
}

impl PolicyIndex {
    pub fn new(policies: &[(String, PolicySpec)]) -> Self {
        let mut index = PolicyIndex::default();
        for (p, (_, spec)) in policies.iter().enumerate() {
            for (r, rule) in spec.policies.iter().enumerate() {
                let at = (p as u32, r as u32);
                match pinned_authority(&rule.resource) {
                    Some(authority) => index
                        .by_authority
                        .entry(authority.to_owned())
                        .or_default()
                        .push(at),
                    None => index.anywhere.push(at),
                }
            }
        }
        index
    }
}

/// The authority every URL matching `pattern` has (see [`resource_matches`]), if the pattern
/// pins one: a non-empty host followed by a path, or an exact pattern.
fn pinned_authority(pattern: &str) -> Option<&str> {
    if pattern.is_empty() || pattern == "*" {
        return None;
    }
    let (text, wildcard) = match pattern.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (pattern, false),
    };
    let host_start = text.find("://")? + 3;
    let rest = &text[host_start..];
    if rest.is_empty() || rest.starts_with('/') {
        return None;
    }
    match rest.find('/') {
        Some(slash) => Some(&text[..host_start + slash]),
        None if !wildcard => Some(text),
        None => None,
    }
}

/// A URL's `scheme://authority`: everything before the first '/' after `://`.
fn url_authority(url: &str) -> Option<&str> {
    let host_start = url.find("://")? + 3;
    Some(match url[host_start..].find('/') {
        Some(slash) => &url[..host_start + slash],
        None => url,
    })
}

/// Two ascending lists of (policy, rule) merged into one ascending sequence.
struct Merged<'a> {
    left: &'a [(u32, u32)],
    right: &'a [(u32, u32)],
}

impl<'a> Merged<'a> {
    fn new(left: &'a [(u32, u32)], right: &'a [(u32, u32)]) -> Self {
        Merged { left, right }
    }
}

impl Iterator for Merged<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        let take_left = match (self.left.first(), self.right.first()) {
            (Some(left), Some(right)) => left <= right,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let list = if take_left {
            &mut self.left
        } else {
            &mut self.right
        };
        let (first, rest) = list.split_first()?;
        *list = rest;
        Some(*first)
    }
}

fn decide_over(
    policies: &[(String, PolicySpec)],
    call: &Call<'_>,
    candidates: impl Iterator<Item = (u32, u32)>,
) -> (Decision, Option<String>) {
    let capability = match_capability(call.tool, call.method, call.path);
    let mut tags: Vec<&str> = call.tool.risk_tags.iter().map(String::as_str).collect();
    if let Some(capability) = capability {
        tags.extend(capability.risk_tags.iter().map(String::as_str));
    }
    let capability_name = capability.map(|c| c.name.clone());
    if policies.is_empty() {
        return (Decision::Deny(DenyReason::NoBinding), capability_name);
    }
    let mut decision = Decision::Deny(DenyReason::NoMatchingRule);
    for (p, r) in candidates {
        let Some((name, spec)) = policies.get(p as usize) else {
            continue;
        };
        let Some(rule) = spec.policies.get(r as usize) else {
            continue;
        };
        let index = r as usize;
        if !rule_matches(rule, call, &tags) {
            continue;
        }
        match rule.permission {
            Permission::Deny => {
                return (
                    Decision::Deny(DenyReason::Rule {
                        policy: name.clone(),
                        rule: index,
                    }),
                    capability_name,
                );
            }
            Permission::ApprovalRequired => {
                if !matches!(decision, Decision::ApprovalRequired { .. }) {
                    decision = Decision::ApprovalRequired {
                        policy: name.clone(),
                        rule: index,
                    };
                }
            }
            Permission::Allow => {
                if matches!(decision, Decision::Deny(_)) {
                    decision = Decision::Allow;
                }
            }
        }
    }
    // Capabilities are the second guard: policy may allow, the tool's allow-list still decides.
    if decision != Decision::Deny(DenyReason::NoMatchingRule)
        && capability.is_none()
        && !call.tool.capabilities.is_empty()
    {
        return (Decision::Deny(DenyReason::NoCapability), None);
    }
    (decision, capability_name)
}

impl DenyReason {
    /// The wire `code` of the 403.
    pub fn code(&self) -> &'static str {
        match self {
            DenyReason::NoCapability => "OPERATION_NOT_PERMITTED",
            DenyReason::NoBinding | DenyReason::NoMatchingRule | DenyReason::Rule { .. } => {
                "POLICY_DENIED"
            }
        }
    }

    /// A message naming what decided.
    pub fn message(&self, method: &str, url: &str) -> String {
        match self {
            DenyReason::NoBinding => {
                format!("{method} {url} denied: no policy is bound to this agent (default deny)")
            }
            DenyReason::NoMatchingRule => format!(
                "{method} {url} denied: no rule of the bound policies allows it (default deny)"
            ),
            DenyReason::Rule { policy, rule } => {
                format!("{method} {url} denied by policy {policy:?} rule {rule}")
            }
            DenyReason::NoCapability => format!(
                "operation not permitted: {method} {url} matches none of the tool's capabilities"
            ),
        }
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;

/// The approval route for a call that needs approval: the first `spec.approvals` entry of the
/// bound policies whose matchers (toolIds, capabilities, operations, resource, tags) all fit.
pub fn approval_route<'p>(
    policies: &'p [(String, PolicySpec)],
    tool_name: &str,
    capability: Option<&str>,
    call: &Call<'_>,
) -> Option<&'p crate::policy::ApprovalRule> {
    let capability_tags = capability
        .and_then(|name| call.tool.capabilities.iter().find(|c| c.name == name))
        .map(|c| c.risk_tags.as_slice())
        .unwrap_or_default();
    let has_tag = |tag: &String| call.tool.risk_tags.contains(tag) || capability_tags.contains(tag);
    policies
        .iter()
        .flat_map(|(_, spec)| spec.approvals.iter())
        .find(|route| {
            (route.tool_ids.is_empty() || route.tool_ids.iter().any(|t| t == tool_name))
                && (route.capabilities.is_empty()
                    || capability.is_some_and(|c| route.capabilities.iter().any(|r| r == c)))
                && (route.operations.is_empty()
                    || route
                        .operations
                        .iter()
                        .any(|op| op == "*" || op.eq_ignore_ascii_case(call.method)))
                && resource_matches(&route.resource, call.url)
                && (route.tags.is_empty() || route.tags.iter().any(has_tag))
        })
}
