//! Egress: every call an agent makes to a tool passes here. Tool match → the agent's policy
//! bindings → rule evaluation → capability check → credential injection → X-End-User-ID →
//! upstream. Denials never reach the upstream; every call is recorded on its run.
//!
//! Invariant: fail closed. If the agent, tool, policies or credentials cannot be read, the
//! call is denied (and counted), never let through unchecked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use runagents_domain::decision::{self, Call, Decision};
use runagents_domain::policy::PolicySpec;
use runagents_domain::tool::{AuthType, KeyLocation, ToolSpec};
use runagents_domain::{Timestamp, api_key, from_json};
use runagents_store::{Kind, RunRecord};
use serde_json::json;

use crate::runs::event;
use crate::{Engine, Error, Result};

const CREDENTIAL_PREFIX: &str = "rag_";
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// Calls denied because policy data could not be read.
pub static FAIL_CLOSED: AtomicU64 = AtomicU64::new(0);

/// The agent a credential belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentIdentity {
    pub workspace: String,
    pub agent: String,
}

/// One call from an agent, as received on the agent plane.
#[derive(Debug)]
pub struct Outbound {
    pub tool: String,
    pub method: String,
    /// Path below the tool's URL, starting with '/', plus `?query` if any.
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The `X-Run-ID` the agent sent, if any.
    pub run_id: Option<String>,
}

/// Why egress refused a call, as the 403 body's `code` and `error`/`message`.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

/// What egress did with a call.
pub enum Outcome {
    /// Forwarded; the upstream's answer, to stream back.
    Forwarded(reqwest::Response),
    Refused(Refusal),
}

fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Refused(Refusal {
        status,
        code,
        message: message.into(),
    })
}

/// Headers an agent may not set upstream: hop-by-hop, routing, and identity the platform owns.
const STRIPPED_HEADERS: [&str; 10] = [
    "host",
    "authorization",
    "x-end-user-id",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "proxy-authorization",
];

impl Engine {
    /// Issues a new agent-plane credential for the agent (the previous one stops working).
    pub async fn issue_agent_credential(&self, workspace: &str, agent: &str) -> Result<String> {
        self.get_agent(workspace, agent).await?;
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| Error::Upstream("no system randomness".into()))?;
        let credential = api_key::encode_token(CREDENTIAL_PREFIX, &bytes);
        self.store
            .set_agent_credential(
                workspace,
                agent,
                &api_key::hash(&credential),
                Timestamp::now(),
            )
            .await?;
        Ok(credential)
    }

    /// The agent behind an agent-plane credential; `None` for anything unknown.
    pub async fn agent_identity(&self, credential: &str) -> Result<Option<AgentIdentity>> {
        if !credential.starts_with(CREDENTIAL_PREFIX)
            || credential.len() != CREDENTIAL_PREFIX.len() + 43
        {
            return Ok(None);
        }
        let found = self
            .store
            .agent_by_credential(&api_key::hash(credential))
            .await?;
        Ok(found.map(|(workspace, agent)| AgentIdentity { workspace, agent }))
    }

    /// Decides and, when allowed, forwards one call.
    pub async fn egress(&self, identity: &AgentIdentity, call: Outbound) -> Outcome {
        match self.egress_checked(identity, call).await {
            Ok(outcome) => outcome,
            Err(error) => {
                FAIL_CLOSED.fetch_add(1, Ordering::Relaxed);
                tracing::error!(agent = %identity.agent, %error, "egress failed closed");
                refuse(
                    403,
                    "POLICY_DENIED",
                    "denied: the platform could not evaluate policy for this call",
                )
            }
        }
    }

    async fn egress_checked(&self, identity: &AgentIdentity, call: Outbound) -> Result<Outcome> {
        let ws = identity.workspace.as_str();
        let agent = self.get_agent(ws, &identity.agent).await?;
        if !agent.spec.referenced_tools().contains(&call.tool.as_str()) {
            return Ok(refuse(
                403,
                "UNKNOWN_TOOL",
                format!("tool {:?} is not one of this agent's tools", call.tool),
            ));
        }
        let Some(tool_doc) = self.store.get_document(ws, Kind::Tool, &call.tool).await? else {
            return Ok(refuse(
                403,
                "UNKNOWN_TOOL",
                format!("tool {:?} is not registered", call.tool),
            ));
        };
        let tool: ToolSpec = from_json("stored tool", tool_doc.body["spec"].clone())?;
        let run = match &call.run_id {
            Some(run_id) => match self.store.get_run(ws, run_id).await? {
                Some(run) if run.agent == identity.agent => Some(run),
                _ => {
                    return Ok(refuse(
                        403,
                        "UNKNOWN_RUN",
                        format!("run {run_id} is not a run of this agent"),
                    ));
                }
            },
            None => None,
        };
        let mut policies = Vec::with_capacity(agent.spec.policies.len());
        for name in &agent.spec.policies {
            // A bound policy that vanished must not widen access: fail closed.
            let document = self
                .store
                .get_document(ws, Kind::Policy, name)
                .await?
                .ok_or_else(|| Error::NotFound(format!("bound policy {name:?} is missing")))?;
            let spec: PolicySpec = from_json("stored policy", document.body["spec"].clone())?;
            policies.push((name.clone(), spec));
        }
        let path = call
            .path_and_query
            .split('?')
            .next()
            .unwrap_or("/")
            .to_owned();
        let url = format!("{}{}", tool.connection.base_url, call.path_and_query);
        let (decision, capability) = decision::decide(
            &policies,
            &Call {
                method: &call.method,
                url: &url,
                path: &path,
                tool: &tool,
            },
        );
        match decision {
            Decision::Allow => {}
            Decision::Deny(reason) => {
                let message = reason.message(&call.method, &url);
                self.record_refusal(
                    run.as_ref(),
                    &call,
                    &url,
                    capability.as_deref(),
                    reason.code(),
                    &message,
                )
                .await;
                return Ok(refuse(403, reason.code(), message));
            }
            Decision::ApprovalRequired { policy, rule } => {
                // Blocking and the approval flow land with the approvals API; until then the call
                // is refused without reaching the upstream.
                let message = format!(
                    "{} {url} requires approval (policy {policy:?} rule {rule})",
                    call.method
                );
                self.record_refusal(
                    run.as_ref(),
                    &call,
                    &url,
                    capability.as_deref(),
                    "APPROVAL_REQUIRED",
                    &message,
                )
                .await;
                return Ok(refuse(403, "APPROVAL_REQUIRED", message));
            }
        }
        self.forward(ws, &call, &tool, url, capability, run.as_ref())
            .await
    }

    async fn forward(
        &self,
        ws: &str,
        call: &Outbound,
        tool: &ToolSpec,
        mut url: String,
        capability: Option<String>,
        run: Option<&RunRecord>,
    ) -> Result<Outcome> {
        let method = reqwest::Method::from_bytes(call.method.as_bytes())
            .map_err(|_| Error::Invalid(format!("bad method {}", call.method)))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &call.headers {
            if STRIPPED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                continue;
            }
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                reqwest::header::HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        match tool.connection.authentication.kind {
            AuthType::None => {}
            AuthType::ApiKey => {
                let config = tool
                    .connection
                    .authentication
                    .api_key_config
                    .clone()
                    .unwrap_or_default();
                let secrets = self.store.secrets(ws, Kind::Tool, &call.tool).await?;
                let Some((_, key)) = secrets.iter().find(|(field, _)| field == "api_key") else {
                    return Ok(refuse(
                        502,
                        "TOOL_NOT_CONFIGURED",
                        format!(
                            "tool {:?} has no API key stored; set credentials.api_key",
                            call.tool
                        ),
                    ));
                };
                match config.location {
                    KeyLocation::Header => {
                        let value = format!("{}{}", config.value_prefix, key.expose());
                        let (Ok(name), Ok(value)) = (
                            reqwest::header::HeaderName::from_bytes(config.name.as_bytes()),
                            reqwest::header::HeaderValue::from_str(&value),
                        ) else {
                            return Ok(refuse(
                                502,
                                "TOOL_NOT_CONFIGURED",
                                format!(
                                    "tool {:?} has an API key that is not a valid header value",
                                    call.tool
                                ),
                            ));
                        };
                        headers.insert(name, value);
                    }
                    KeyLocation::Query => {
                        let separator = if url.contains('?') { '&' } else { '?' };
                        url = format!(
                            "{url}{separator}{}={}{}",
                            config.name,
                            config.value_prefix,
                            key.expose()
                        );
                    }
                }
            }
            AuthType::OAuth2 => {
                return Ok(refuse(
                    502,
                    "TOOL_NOT_CONFIGURED",
                    format!(
                        "tool {:?} uses OAuth2, which this server does not broker yet",
                        call.tool
                    ),
                ));
            }
        }
        if let Some(run) = run
            && let Ok(user) = reqwest::header::HeaderValue::from_str(&run.user_id)
        {
            headers.insert("x-end-user-id", user);
        }
        let started = Instant::now();
        let sent = self
            .http
            .request(method, &url)
            .headers(headers)
            .body(call.body.clone())
            .timeout(UPSTREAM_TIMEOUT)
            .send()
            .await;
        let latency_ms = started.elapsed().as_millis() as u64;
        // The URL is recorded without its query: a query-placed API key must not reach an event.
        let recorded_url = format!(
            "{}{}",
            tool.connection.base_url,
            call.path_and_query.split('?').next().unwrap_or_default()
        );
        let (status_code, error) = match &sent {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(error) => (None, Some(crate::tools::describe_request_error(error))),
        };
        if let Some(run) = run {
            let request = event(
                "TOOL_REQUEST",
                &run.agent,
                json!({"tool": call.tool, "tool_method": call.method, "tool_url": recorded_url, "capability": capability}),
            );
            let mut response_data = json!({"tool": call.tool, "tool_method": call.method, "tool_url": recorded_url, "latency_ms": latency_ms});
            if let Some(code) = status_code {
                response_data["status_code"] = json!(code);
            }
            if let Some(error) = &error {
                response_data["error"] = json!(error);
            }
            let response = event("TOOL_RESPONSE", "platform", response_data);
            if let Err(error) = self
                .store
                .append_events(ws, &run.id, &[request, response])
                .await
            {
                tracing::warn!(run = %run.id, %error, "could not record tool call events");
            }
        }
        match sent {
            Ok(response) => Ok(Outcome::Forwarded(response)),
            Err(_) => Ok(refuse(
                502,
                "UPSTREAM_FAILED",
                format!(
                    "tool {:?} upstream request failed: {}",
                    call.tool,
                    error.unwrap_or_default()
                ),
            )),
        }
    }

    /// Records a refused call on its run (best effort; the refusal stands either way).
    async fn record_refusal(
        &self,
        run: Option<&RunRecord>,
        call: &Outbound,
        url: &str,
        capability: Option<&str>,
        code: &str,
        message: &str,
    ) {
        let Some(run) = run else { return };
        let url = url.split('?').next().unwrap_or_default();
        let request = event(
            "TOOL_REQUEST",
            &run.agent,
            json!({"tool": call.tool, "tool_method": call.method, "tool_url": url, "capability": capability}),
        );
        let response = event(
            "TOOL_RESPONSE",
            "platform",
            json!({"tool": call.tool, "status_code": 403, "error": code, "detail": message}),
        );
        if let Err(error) = self
            .store
            .append_events(&run.workspace, &run.id, &[request, response])
            .await
        {
            tracing::warn!(run = %run.id, %error, "could not record refused tool call");
        }
    }
}
