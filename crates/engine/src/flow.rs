//! An agent's flow: each tool it may call, with what its bound policies decide for each of the
//! tool's capabilities, by the same `decision::decide` the agent plane applies to real calls.
//! A tool that declares no capabilities is shown once per common method at its base URL.

use runagents_domain::decision::{self, Call};
use runagents_domain::policy_preview;
use runagents_domain::tool::ToolSpec;
use serde::Serialize;

use crate::{Engine, Result};

#[derive(Clone, Debug, Serialize)]
pub struct ToolFlow {
    pub tool: String,
    /// False when the agent names a tool that is not registered (every call is refused).
    pub registered: bool,
    pub base_url: String,
    pub decisions: Vec<PathDecision>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PathDecision {
    /// Empty for a tool without capabilities.
    pub capability: String,
    pub method: String,
    pub path: String,
    /// `allow`, `deny`, `approval_required`, or `no_policy` (nothing bound: denied by default).
    pub decision: &'static str,
    /// The policy and rule (index) that decided, when one did.
    pub policy: Option<String>,
    pub rule: Option<usize>,
    pub reason: String,
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// One decision for `method path` on `tool`.
fn decide(
    policies: &[(String, runagents_domain::policy::PolicySpec)],
    tool: &ToolSpec,
    capability: &str,
    method: &str,
    path: &str,
) -> PathDecision {
    // A wildcard capability (`/v1/*`) is decided at its prefix; `*` (any method) as POST, the
    // method a write-guarding rule is most likely to name.
    let concrete = path.trim_end_matches('*');
    let concrete = if concrete.is_empty() { "/" } else { concrete };
    let method_used = if method == "*" { "POST" } else { method };
    let url = format!(
        "{}{concrete}",
        tool.connection.base_url.trim_end_matches('/')
    );
    let call = Call {
        method: method_used,
        url: &url,
        path: concrete,
        tool,
    };
    let (decision, _) = decision::decide(policies, &call);
    let described = policy_preview::describe(decision, method_used, &url);
    PathDecision {
        capability: capability.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        decision: described.decision,
        policy: described.policy,
        rule: described.rule,
        reason: described.reason,
    }
}

impl Engine {
    pub async fn agent_flow(&self, workspace: &str, name: &str) -> Result<Vec<ToolFlow>> {
        let agent = self.get_agent(workspace, name).await?;
        let mut policies = Vec::with_capacity(agent.spec.policies.len());
        for policy in &agent.spec.policies {
            let policy = self.get_policy(workspace, policy).await?;
            policies.push((policy.name, policy.spec));
        }
        let mut flows = Vec::new();
        for tool_name in agent.spec.referenced_tools() {
            let tool = match self.get_tool(workspace, tool_name).await {
                Ok(tool) => tool,
                Err(crate::Error::NotFound(_)) => {
                    flows.push(ToolFlow {
                        tool: tool_name.to_owned(),
                        registered: false,
                        base_url: String::new(),
                        decisions: Vec::new(),
                    });
                    continue;
                }
                Err(error) => return Err(error),
            };
            let spec = &tool.spec;
            let decisions = if spec.capabilities.is_empty() {
                METHODS
                    .iter()
                    .map(|method| decide(&policies, spec, "", method, "/*"))
                    .collect()
            } else {
                spec.capabilities
                    .iter()
                    .map(|c| decide(&policies, spec, &c.name, &c.method, &c.path))
                    .collect()
            };
            flows.push(ToolFlow {
                tool: tool.name.clone(),
                registered: true,
                base_url: spec.connection.base_url.clone(),
                decisions,
            });
        }
        Ok(flows)
    }
}
