//! Identity providers: upsert by name (the SDK's and CLI's apply always POSTs), read, and
//! delete when no agent uses them.

use runagents_domain::identity_provider::{IdentityProviderInput, IdentityProviderSpec};
use runagents_domain::{Timestamp, from_json};
use runagents_store::{Document, Kind};
use serde_json::json;

use crate::tools::Upserted;
use crate::{Engine, Error, Result, not_found};

#[derive(Clone, Debug)]
pub struct IdentityProvider {
    pub name: String,
    pub spec: IdentityProviderSpec,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl IdentityProvider {
    fn from_document(document: Document) -> Result<Self> {
        Ok(IdentityProvider {
            spec: from_json("stored identity provider", document.body["spec"].clone())?,
            name: document.key,
            created_at: document.created_at,
            updated_at: document.updated_at,
        })
    }
}

impl Engine {
    pub async fn list_identity_providers(&self, workspace: &str) -> Result<Vec<IdentityProvider>> {
        self.store
            .list_documents(workspace, Kind::IdentityProvider)
            .await?
            .into_iter()
            .map(IdentityProvider::from_document)
            .collect()
    }

    pub async fn get_identity_provider(
        &self,
        workspace: &str,
        name: &str,
    ) -> Result<IdentityProvider> {
        let document = self
            .store
            .get_document(workspace, Kind::IdentityProvider, name)
            .await?
            .ok_or_else(|| not_found("identity provider", name))?;
        IdentityProvider::from_document(document)
    }

    pub async fn upsert_identity_provider(
        &self,
        workspace: &str,
        input: IdentityProviderInput,
    ) -> Result<(IdentityProvider, Upserted)> {
        let name = input.name.to_string();
        let (stored, upserted, _) = self
            .upsert_document(
                workspace,
                Kind::IdentityProvider,
                &name,
                json!({"spec": input.spec}),
                Vec::new(),
            )
            .await?;
        Ok((IdentityProvider::from_document(stored)?, upserted))
    }

    /// Names of the agents whose `spec.identityProvider` is `name`, sorted.
    async fn agents_using_identity_provider(
        &self,
        workspace: &str,
        name: &str,
    ) -> Result<Vec<String>> {
        let mut agents: Vec<String> = self
            .store
            .list_documents(workspace, Kind::Agent)
            .await?
            .into_iter()
            .filter(|agent| agent.body["spec"]["identityProvider"].as_str() == Some(name))
            .map(|agent| agent.key)
            .collect();
        agents.sort();
        Ok(agents)
    }

    /// Deletes an identity provider no agent uses: removing one from under an agent would turn
    /// its authenticated ingress into one that cannot verify anyone.
    pub async fn delete_identity_provider(&self, workspace: &str, name: &str) -> Result<()> {
        self.get_identity_provider(workspace, name).await?;
        let agents = self.agents_using_identity_provider(workspace, name).await?;
        if !agents.is_empty() {
            return Err(Error::Conflict(format!(
                "identity provider {name:?} is used by agent(s) {}; change their identity provider first",
                agents.join(", ")
            )));
        }
        let console = self
            .store
            .get_document(workspace, Kind::Setting, runagents_domain::sso::SETTING)
            .await?;
        if console.is_some_and(|setting| setting.body["identity_provider"].as_str() == Some(name)) {
            return Err(Error::Conflict(format!(
                "identity provider {name:?} signs operators in to the console (settings/console-sso); change or remove that first"
            )));
        }
        if self
            .store
            .delete_document(workspace, Kind::IdentityProvider, name)
            .await?
        {
            Ok(())
        } else {
            Err(not_found("identity provider", name))
        }
    }
}
