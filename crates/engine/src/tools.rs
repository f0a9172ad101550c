//! Tools: upsert by name, read, delete, and reachability probes.

use std::time::Instant;

use runagents_domain::tool::{Probe, ToolInput, ToolSpec, ToolStatus};
use runagents_domain::{Timestamp, from_json};
use runagents_store::{Document, Kind, Write};
use serde_json::{Value, json};

use crate::{Engine, Error, Result, not_found};

/// A tool as stored: spec, status, and the names (never values) of its stored credentials.
#[derive(Clone, Debug)]
pub struct Tool {
    pub name: String,
    pub spec: ToolSpec,
    pub status: ToolStatus,
    pub credentials: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Whether an upsert created the tool or replaced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
}

impl Tool {
    fn from_document(mut document: Document, credentials: Vec<String>) -> Result<Self> {
        // The document is ours: move its parts out rather than copying them.
        let mut part = |name: &str| document.body.get_mut(name).map_or(Value::Null, Value::take);
        let spec = from_json("stored tool", part("spec"))?;
        let status = from_json("stored tool status", part("status"))
            .unwrap_or_else(|_| ToolStatus::pending());
        Ok(Tool {
            name: document.key,
            spec,
            status,
            credentials,
            created_at: document.created_at,
            updated_at: document.updated_at,
        })
    }
}

impl Engine {
    /// Changes with every write to the workspace's tools: a cached list read at the same
    /// generation is still current.
    pub async fn tools_generation(&self, workspace: &str) -> Result<i64> {
        Ok(self.store.generation(workspace, Kind::Tool).await?)
    }

    pub async fn list_tools(&self, workspace: &str) -> Result<Vec<Tool>> {
        let documents = self.store.list_documents(workspace, Kind::Tool).await?;
        documents
            .into_iter()
            .map(|document| Tool::from_document(document, Vec::new()))
            .collect()
    }

    pub async fn get_tool(&self, workspace: &str, name: &str) -> Result<Tool> {
        let document = self
            .store
            .get_document(workspace, Kind::Tool, name)
            .await?
            .ok_or_else(|| not_found("tool", name))?;
        let credentials = self
            .store
            .secret_fields(workspace, Kind::Tool, name)
            .await?;
        Tool::from_document(document, credentials)
    }

    /// Creates or replaces a tool. Its status starts over as Pending (the connection may have
    /// changed); credentials not sent are kept.
    pub async fn upsert_tool(&self, workspace: &str, input: ToolInput) -> Result<(Tool, Upserted)> {
        let name = input.name.to_string();
        let body = json!({"spec": input.spec, "status": ToolStatus::pending()});
        let (stored, upserted, credentials) = self
            .upsert_document(
                workspace,
                Kind::Tool,
                &name,
                body,
                input.credentials.fields(),
            )
            .await?;
        Ok((Tool::from_document(stored, credentials)?, upserted))
    }

    pub async fn delete_tool(&self, workspace: &str, name: &str) -> Result<()> {
        if self
            .store
            .delete_document(workspace, Kind::Tool, name)
            .await?
        {
            Ok(())
        } else {
            Err(not_found("tool", name))
        }
    }

    /// One GET to `url`; any HTTP answer below 500 (401 and 403 included) means reachable.
    pub async fn probe(&self, url: &str) -> Probe {
        let started = Instant::now();
        let outcome = self
            .http
            .get(url)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await;
        let latency_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(response) => Probe::from_status(response.status().as_u16(), latency_ms),
            Err(error) => Probe::failed(describe_request_error(&error), latency_ms),
        }
    }

    /// Probes a registered tool's base URL and records the outcome in its status.
    pub async fn test_tool(&self, workspace: &str, name: &str) -> Result<Probe> {
        let tool = self.get_tool(workspace, name).await?;
        let probe = self.probe(&tool.spec.connection.base_url).await;
        let status = ToolStatus::from_probe(&probe, Timestamp::now());
        let document = Document {
            key: tool.name.clone(),
            body: json!({"spec": tool.spec, "status": status}),
            version: 0,
            created_at: tool.created_at,
            updated_at: Timestamp::now(),
        };
        // Replace, not upsert: a tool deleted while we probed stays deleted.
        match self
            .store
            .put_document(workspace, Kind::Tool, &document, &[], Write::Replace)
            .await
        {
            Ok(_) => Ok(probe),
            Err(runagents_store::Error::NotFound) => Err(not_found("tool", name)),
            Err(error) => Err(Error::from(error)),
        }
    }
}

/// A short reason for a failed request, without reqwest's nested error chain noise.
pub(crate) fn describe_request_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        error.to_string()
    }
}
