//! Policies: create, replace, read with the agents that use them, delete when unused.

use runagents_domain::policy::{PolicyInput, PolicySpec};
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
