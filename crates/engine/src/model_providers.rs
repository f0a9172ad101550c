//! Model providers: upsert by name, read with their derived status, delete.

use runagents_domain::model_provider::{ModelProviderInput, ModelProviderSpec, ProviderStatus};
use runagents_domain::{Timestamp, from_json};
use runagents_store::{Document, Kind};
use serde_json::json;

use crate::tools::Upserted;
use crate::{Engine, Result, not_found};

/// A provider as stored, with its status derived from the spec and the stored credentials.
#[derive(Clone, Debug)]
pub struct ModelProvider {
    pub name: String,
    pub spec: ModelProviderSpec,
    pub status: ProviderStatus,
    /// Names (never values) of the stored credential fields.
    pub credentials: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ModelProvider {
    fn from_document(document: Document, credentials: Vec<String>) -> Result<Self> {
        let spec: ModelProviderSpec =
            from_json("stored model provider", document.body["spec"].clone())?;
        Ok(ModelProvider {
            name: document.key,
            status: spec.status(&credentials),
            spec,
            credentials,
            created_at: document.created_at,
            updated_at: document.updated_at,
        })
    }
}

impl Engine {
    pub async fn list_model_providers(&self, workspace: &str) -> Result<Vec<ModelProvider>> {
        let documents = self
            .store
            .list_documents(workspace, Kind::ModelProvider)
            .await?;
        let mut providers = Vec::with_capacity(documents.len());
        for document in documents {
            // The status depends on which credentials are stored, so each one is looked up.
            let credentials = self
                .store
                .secret_fields(workspace, Kind::ModelProvider, &document.key)
                .await?;
            providers.push(ModelProvider::from_document(document, credentials)?);
        }
        Ok(providers)
    }

    pub async fn get_model_provider(&self, workspace: &str, name: &str) -> Result<ModelProvider> {
        let document = self
            .store
            .get_document(workspace, Kind::ModelProvider, name)
            .await?
            .ok_or_else(|| not_found("model provider", name))?;
        let credentials = self
            .store
            .secret_fields(workspace, Kind::ModelProvider, name)
            .await?;
        ModelProvider::from_document(document, credentials)
    }

    /// Creates or replaces a provider; credentials not sent are kept.
    pub async fn upsert_model_provider(
        &self,
        workspace: &str,
        input: ModelProviderInput,
    ) -> Result<(ModelProvider, Upserted)> {
        let name = input.name.to_string();
        let body = json!({"spec": input.spec});
        let (stored, upserted, credentials) = self
            .upsert_document(
                workspace,
                Kind::ModelProvider,
                &name,
                body,
                input.credentials.fields(),
            )
            .await?;
        self.routes.forget(workspace);
        Ok((ModelProvider::from_document(stored, credentials)?, upserted))
    }

    pub async fn delete_model_provider(&self, workspace: &str, name: &str) -> Result<()> {
        let deleted = self
            .store
            .delete_document(workspace, Kind::ModelProvider, name)
            .await?;
        self.routes.forget(workspace);
        if deleted {
            Ok(())
        } else {
            Err(not_found("model provider", name))
        }
    }
}
