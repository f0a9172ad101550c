//! Policies: create, replace, read with the agents that use them, delete when unused, and a
//! preview of the decisions an edited policy would make.

use std::collections::HashMap;

use runagents_domain::policy::{PolicyInput, PolicySpec};
use runagents_domain::policy_preview::{self, PreviewRequest, Previewed};
use runagents_domain::tool::ToolSpec;
use runagents_domain::{Timestamp, from_json};
use runagents_store::{Document, Kind, Write};
use serde_json::json;

use crate::{Engine, Error, Result, not_found};

#[derive(Clone, Debug)]
pub struct Policy {
    pub name: String,
    pub spec: PolicySpec,
    /// Names of the agents bound to this policy.
    pub used_by: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Engine {
    /// For each agent, the policies it is bound to (its `spec.policies`).
    pub(crate) async fn policy_bindings(
        &self,
        workspace: &str,
    ) -> Result<Vec<(String, Vec<String>)>> {
        let agents = self.store.list_documents(workspace, Kind::Agent).await?;
        Ok(agents
            .into_iter()
            .map(|agent| {
                let policies = agent.body["spec"]["policies"]
                    .as_array()
                    .map(|names| {
                        names
                            .iter()
                            .filter_map(|n| n.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                (agent.key, policies)
            })
            .collect())
    }

    fn policy_from(document: Document, bindings: &[(String, Vec<String>)]) -> Result<Policy> {
        let spec = from_json("stored policy", document.body["spec"].clone())?;
        let used_by = bindings
            .iter()
            .filter(|(_, policies)| policies.contains(&document.key))
            .map(|(agent, _)| agent.clone())
            .collect();
        Ok(Policy {
            name: document.key,
            spec,
            used_by,
            created_at: document.created_at,
            updated_at: document.updated_at,
        })
    }

    pub async fn list_policies(&self, workspace: &str) -> Result<Vec<Policy>> {
        let bindings = self.policy_bindings(workspace).await?;
        let documents = self.store.list_documents(workspace, Kind::Policy).await?;
        documents
            .into_iter()
            .map(|document| Self::policy_from(document, &bindings))
            .collect()
    }

    pub async fn get_policy(&self, workspace: &str, name: &str) -> Result<Policy> {
        let document = self
            .store
            .get_document(workspace, Kind::Policy, name)
            .await?
            .ok_or_else(|| not_found("policy", name))?;
        Self::policy_from(document, &self.policy_bindings(workspace).await?)
    }

    /// `Write::Create` for POST (409 if it exists), `Write::Replace` for PUT (404 if it does not).
    pub async fn write_policy(
        &self,
        workspace: &str,
        input: PolicyInput,
        write: Write,
    ) -> Result<Policy> {
        let now = Timestamp::now();
        let name = input.name.to_string();
        let document = Document {
            key: name.clone(),
            body: json!({"spec": input.spec}),
            version: 0,
            created_at: now,
            updated_at: now,
        };
        let stored = match self
            .store
            .put_document(workspace, Kind::Policy, &document, &[], write)
            .await
        {
            Ok(stored) => stored,
            Err(runagents_store::Error::NotFound) => return Err(not_found("policy", &name)),
            Err(runagents_store::Error::Conflict(_)) => {
                return Err(Error::Conflict(format!(
                    "policy {name:?} already exists; use PUT /policies/{name} to replace it"
                )));
            }
            Err(error) => return Err(error.into()),
        };
        Self::policy_from(stored, &self.policy_bindings(workspace).await?)
    }

    /// Deletes a policy no agent is bound to.
    pub async fn delete_policy(&self, workspace: &str, name: &str) -> Result<()> {
        let policy = self.get_policy(workspace, name).await?;
        if !policy.used_by.is_empty() {
            return Err(Error::Conflict(format!(
                "policy {name:?} is bound to agent(s) {}; remove it from their policies first",
                policy.used_by.join(", ")
            )));
        }
        if self
            .store
            .delete_document(workspace, Kind::Policy, name)
            .await?
        {
            Ok(())
        } else {
            Err(not_found("policy", name))
        }
    }
}

impl Engine {
    /// Every (agent, policy) binding of the workspace, sorted by agent then policy.
    pub async fn list_policy_bindings(&self, workspace: &str) -> Result<Vec<(String, String)>> {
        let mut pairs: Vec<(String, String)> = self
            .policy_bindings(workspace)
            .await?
            .into_iter()
            .flat_map(|(agent, policies)| {
                policies
                    .into_iter()
                    .map(move |policy| (agent.clone(), policy))
            })
            .collect();
        pairs.sort();
        Ok(pairs)
    }
}

/// What a policy preview decided.
#[derive(Clone, Debug)]
pub struct PolicyPreview {
    /// The policies decided against, in the agent's binding order: the edited one in place of
    /// the stored policy of its name (or last).
    pub policies: Vec<String>,
    pub calls: Vec<Previewed>,
}

impl Engine {
    /// Decides sample calls against an edited policy before it is saved, with `agent`'s other
    /// bound policies when one is named (and then only its tools), by the decision egress
    /// applies. Nothing is stored.
    pub async fn preview_policy(
        &self,
        workspace: &str,
        request: PreviewRequest,
    ) -> Result<PolicyPreview> {
        let edited = (request.name.clone(), request.spec);
        let mut policies = Vec::new();
        let mut tools_of_agent = None;
        if let Some(agent) = &request.agent {
            let agent = self.get_agent(workspace, agent).await?;
            for name in &agent.spec.policies {
                if *name == edited.0 {
                    policies.push(edited.clone());
                } else {
                    let policy = self.get_policy(workspace, name).await?;
                    policies.push((policy.name, policy.spec));
                }
            }
            tools_of_agent = Some(
                agent
                    .spec
                    .referenced_tools()
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            );
        }
        if !policies.iter().any(|(name, _)| *name == edited.0) {
            policies.push(edited);
        }
        let mut tools: HashMap<String, Option<ToolSpec>> = HashMap::new();
        let mut calls = Vec::with_capacity(request.calls.len());
        for (index, call) in request.calls.iter().enumerate() {
            if let Some(allowed) = &tools_of_agent
                && !allowed.contains(&call.tool)
            {
                calls.push(Previewed::unknown_tool(
                    call,
                    format!("tool {:?} is not one of this agent's tools", call.tool),
                ));
                continue;
            }
            if !tools.contains_key(&call.tool) {
                let tool = match self.get_tool(workspace, &call.tool).await {
                    Ok(tool) => Some(tool.spec),
                    Err(Error::NotFound(_)) => None,
                    Err(error) => return Err(error),
                };
                tools.insert(call.tool.clone(), tool);
            }
            let Some(Some(tool)) = tools.get(&call.tool) else {
                calls.push(Previewed::unknown_tool(
                    call,
                    format!("tool {:?} is not registered", call.tool),
                ));
                continue;
            };
            let (url, path) = call
                .resolve(tool)
                .map_err(|reason| Error::Invalid(format!("calls[{index}]: {reason}")))?;
            calls.push(policy_preview::preview(
                &policies,
                &call.tool,
                tool,
                &call.method,
                &url,
                &path,
            ));
        }
        Ok(PolicyPreview {
            policies: policies.into_iter().map(|(name, _)| name).collect(),
            calls,
        })
    }
}
