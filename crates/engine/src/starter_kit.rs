//! The starter kit: an echo tool served by the platform itself, the offline playground model
//! and a policy that lets agents bound to it call the echo tool, so a first agent works with
//! no key and no network. Seeding is idempotent: what
//! exists is left as it is (an operator may have changed it).

use runagents_domain::model_provider::ModelProviderInput;
use runagents_domain::policy::PolicyInput;
use runagents_domain::tool::ToolInput;
use runagents_store::Write;
use serde_json::json;

use crate::{Engine, Error, Result};

pub const ECHO_TOOL: &str = "echo-tool";
pub const PLAYGROUND_PROVIDER: &str = "playground-llm";
pub const ECHO_POLICY: &str = "echo-tool-allow";

/// What a seeding created; names that already existed are not listed.
#[derive(Debug, Default)]
pub struct Seeded {
    pub tools_created: Vec<String>,
    pub model_providers_created: Vec<String>,
    pub policies_created: Vec<String>,
}

impl Engine {
    pub async fn seed_starter_kit(&self, workspace: &str) -> Result<Seeded> {
        let mut seeded = Seeded::default();
        if absent(self.get_tool(workspace, ECHO_TOOL).await)? {
            let echo = ToolInput::parse(json!({
                "name": ECHO_TOOL,
                "spec": {
                    "description": "Echoes back the message it is sent. Built into the platform, for trying agents and policies.",
                    "connection": {"topology": "Internal", "baseUrl": self.settings.operator_url, "authentication": {"type": "None"}},
                    "capabilities": [{"name": "echo", "method": "POST", "path": "/echo", "description": "Send {\"message\": ...}; the reply echoes it."}],
                    "governance": {"accessControl": {"mode": "Restricted"}},
                },
            }))?;
            self.upsert_tool(workspace, echo).await?;
            seeded.tools_created.push(ECHO_TOOL.to_owned());
        }
        if absent(
            self.get_model_provider(workspace, PLAYGROUND_PROVIDER)
                .await,
        )? {
            let playground = ModelProviderInput::parse(json!({
                "name": PLAYGROUND_PROVIDER,
                "spec": {"provider": "playground", "models": ["playground"]},
            }))?;
            self.upsert_model_provider(workspace, playground).await?;
            seeded
                .model_providers_created
                .push(PLAYGROUND_PROVIDER.to_owned());
        }
        if absent(self.get_policy(workspace, ECHO_POLICY).await)? {
            let allow = PolicyInput::parse(
                json!({
                    "name": ECHO_POLICY,
                    "spec": {"policies": [{"permission": "allow", "operations": ["POST"],
                        "resource": format!("{}/echo", self.settings.operator_url)}]},
                }),
                None,
            )?;
            match self.write_policy(workspace, allow, Write::Create).await {
                // Created meanwhile by someone else: theirs stays.
                Ok(_) | Err(Error::Conflict(_)) => {}
                Err(error) => return Err(error),
            }
            seeded.policies_created.push(ECHO_POLICY.to_owned());
        }
        Ok(seeded)
    }
}

/// True when a lookup says "not found"; other errors pass through.
fn absent<T>(lookup: Result<T>) -> Result<bool> {
    match lookup {
        Ok(_) => Ok(false),
        Err(Error::NotFound(_)) => Ok(true),
        Err(error) => Err(error),
    }
}
