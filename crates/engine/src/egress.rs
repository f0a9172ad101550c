//! Egress: every call an agent makes to a tool passes here. Tool match → the agent's policy
//! bindings → rule evaluation → capability check → grant check → credential injection →
//! X-End-User-ID → upstream. Denials never reach the upstream; calls that need approval are
//! recorded in full and the run pauses; every call is recorded on its run.
//!
//! Invariant: fail closed. If the agent, tool, policies or credentials cannot be read, the
//! call is denied (and counted), never let through unchecked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use ring::rand::{SecureRandom, SystemRandom};
use runagents_domain::approval::payload_hash;
use runagents_domain::decision::{self, Call, Decision};
use runagents_domain::tool::{AuthType, KeyLocation, ToolSpec};
use runagents_domain::{Secret, Timestamp, api_key};
use runagents_store::{Generations, Kind, RunRecord};
use serde_json::{Map, Value, json};

use crate::replays::{recorded_of, recorded_outcome};
use crate::runs::event;
use crate::upstream::Origin;
use crate::{Engine, Error, Result};

pub(crate) const CREDENTIAL_PREFIX: &str = "rag_";
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

/// Why egress refused a call: the status, the body's `code` (also sent as `error`), a
/// message, and any further fields of the body (action_id, run_id, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub extra: Map<String, Value>,
}

/// An upstream's answer as egress relays it: its head, and its body as it arrives (reading it
/// drives the upstream connection).
pub type Answer = http::Response<AnswerBody>;
pub type AnswerBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// The whole body of an answer.
pub async fn read_whole(body: AnswerBody) -> std::io::Result<bytes::Bytes> {
    Ok(http_body_util::BodyExt::collect(body).await?.to_bytes())
}

/// What egress did with a call.
pub enum Outcome {
    /// Forwarded; the upstream's answer, to stream back.
    Forwarded(Answer),
    /// An approved action the platform already executed: its recorded answer.
    Replayed {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Refused(Refusal),
}

pub(crate) fn refuse(status: u16, code: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Refused(Refusal {
        status,
        code,
        message: message.into(),
        extra: Map::new(),
    })
}

/// Headers an agent may not set upstream: hop-by-hop, routing, and identity the platform owns.
const STRIPPED_HEADERS: [&str; 11] = [
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
    "cookie",
];

/// A call that passed policy: everything needed to send it, now or when replayed.
pub(crate) struct Prepared<'a> {
    pub workspace: &'a str,
    pub tool_name: &'a str,
    pub tool: &'a ToolSpec,
    pub method: &'a str,
    pub url: String,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub user: Option<&'a str>,
    /// Sent as `Idempotency-Key` so an upstream that honours it never applies a replay twice.
    pub idempotency_key: Option<&'a str>,
    /// The tool's secrets as egress already read them; `None` reads them from the store.
    pub secrets: Option<&'a [(String, Secret)]>,
}

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
                "issued",
                &api_key::hash(&credential),
                Timestamp::now(),
            )
            .await?;
        Ok(credential)
    }

    /// The agent behind an agent-plane credential; `None` for anything unknown.
    pub async fn agent_identity(&self, credential: &str) -> Result<Option<AgentIdentity>> {
        if !well_formed(credential) {
            return Ok(None);
        }
        Ok(self
            .egress_identity(credential)
            .await?
            .map(|(identity, _)| identity))
    }

    /// Decides and, when allowed, forwards one call of an agent the platform runs itself.
    pub async fn egress(&self, identity: &AgentIdentity, call: Outbound) -> Outcome {
        let checked = async {
            let generations = self.store.egress_generations(&identity.workspace).await?;
            self.egress_checked(identity, generations, call).await
        };
        fail_closed(identity, checked.await)
    }

    /// Decides and, when allowed, forwards one call made under an agent-plane credential;
    /// `None` when the credential is unknown. The credential's agent and the workspace's
    /// cache generations are read together, once for the call.
    pub async fn egress_for(&self, credential: &str, call: Outbound) -> Option<Outcome> {
        if !well_formed(credential) {
            return None;
        }
        let (identity, generations) = match self.egress_identity(credential).await {
            Ok(found) => found?,
            Err(error) => {
                FAIL_CLOSED.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "egress failed closed: the credential could not be checked");
                return Some(refuse(
                    403,
                    "POLICY_DENIED",
                    "denied: the platform could not evaluate policy for this call",
                ));
            }
        };
        let outcome = self.egress_checked(&identity, generations, call).await;
        Some(fail_closed(&identity, outcome))
    }

    async fn egress_checked(
        &self,
        identity: &AgentIdentity,
        generations: Generations,
        call: Outbound,
    ) -> Result<Outcome> {
        let ws = identity.workspace.as_str();
        let agent = self.egress_agent(ws, &identity.agent, generations).await?;
        if !agent.tools.contains(&call.tool) {
            return Ok(refuse(
                403,
                "UNKNOWN_TOOL",
                format!("tool {:?} is not one of this agent's tools", call.tool),
            ));
        }
        let Some(tool_view) = self.egress_tool(ws, &call.tool, generations).await? else {
            return Ok(refuse(
                403,
                "UNKNOWN_TOOL",
                format!("tool {:?} is not registered", call.tool),
            ));
        };
        let tool = &tool_view.spec;
        let run = match &call.run_id {
            Some(run_id) => match self.egress_run(ws, run_id).await? {
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
        let run = run.as_deref();
        let policies = &agent.policies;
        let path = call.path_and_query.split('?').next().unwrap_or("/");
        let url = format!("{}{}", tool.connection.base_url, call.path_and_query);
        // A run whose turn the platform invoked again: calls it already made get their answers.
        let replaying = run.filter(|run| run.turn > 0);
        let hash = replaying.map(|_| payload_hash(&call.method, &url, &call.body));
        if let (Some(run), Some(hash)) = (replaying, &hash)
            && let Some(done) = self
                .store
                .take_recorded_call(ws, &run.id, hash, run.turn)
                .await?
        {
            let recorded_url = format!("{}{}", tool.connection.base_url, path);
            self.record_replay(run, &call.tool, &call.method, &recorded_url, done.status)
                .await;
            return Ok(recorded_outcome(done));
        }
        let checked = Call {
            method: &call.method,
            url: &url,
            path,
            tool,
        };
        let (decision, capability) = decision::decide_indexed(policies, &agent.index, &checked);
        // A delegated-OAuth tool acts as the run's user: without their token, the run waits
        // for their consent (before any approval, so the approver sees a call that can run).
        if !matches!(decision, Decision::Deny(_)) && crate::oauth::needs_user_token(tool) {
            let Some(run) = run else {
                return Ok(refuse(
                    403,
                    "USER_REQUIRED",
                    format!(
                        "tool {:?} acts for a user: send X-Run-ID of a run that has one",
                        call.tool
                    ),
                ));
            };
            if let crate::oauth::Token::Missing =
                self.oauth_token(ws, &call.tool, tool, &run.user_id).await?
            {
                return self.consent_required(ws, &call.tool, tool, run).await;
            }
        }
        match decision {
            Decision::Allow => {}
            Decision::Deny(reason) => {
                let refused = refusal(403, reason.code(), reason.message(&call.method, &url));
                let recorded_url = format!("{}{}", tool.connection.base_url, path);
                let sent = Sent::Refused(refused.clone());
                self.record_call(
                    run,
                    &call.tool,
                    &call.method,
                    &recorded_url,
                    capability.as_deref(),
                    &sent,
                )
                .await;
                return Ok(Outcome::Refused(refused));
            }
            Decision::ApprovalRequired { policy, rule } => {
                let hash = hash
                    .clone()
                    .unwrap_or_else(|| payload_hash(&call.method, &url, &call.body));
                if let Some(run) = run
                    && let Some(done) = self
                        .store
                        .take_undelivered_result(ws, &run.id, &hash)
                        .await?
                {
                    if run.turn > 0 {
                        // A later turn of this run gets it again from the run's calls.
                        self.keep_answer(run, &hash, recorded_of(&done.response))
                            .await;
                    }
                    return Ok(replayed(&done.response));
                }
                if !self
                    .granted(ws, &identity.agent, &call, run, capability.as_deref())
                    .await?
                {
                    let route = decision::approval_route(
                        policies,
                        &call.tool,
                        capability.as_deref(),
                        &checked,
                    )
                    .cloned();
                    let blocked = crate::approvals::Blocked {
                        agent: &identity.agent,
                        call: &call,
                        url: &url,
                        tool,
                        capability: capability.as_deref(),
                        run,
                        hash,
                        policy,
                        rule,
                        route,
                    };
                    return self.block(ws, blocked).await;
                }
            }
        }
        let outcome = self
            .send_upstream(&Prepared {
                workspace: ws,
                tool_name: &call.tool,
                tool,
                method: &call.method,
                url,
                headers: &call.headers,
                body: &call.body,
                user: run.map(|r| r.user_id.as_str()),
                idempotency_key: None,
                secrets: Some(&tool_view.secrets),
            })
            .await?;
        let recorded_url = format!("{}{}", tool.connection.base_url, path);
        self.record_call(
            run,
            &call.tool,
            &call.method,
            &recorded_url,
            capability.as_deref(),
            &outcome,
        )
        .await;
        Ok(match outcome {
            Sent::Answered(response, _) => match (replaying, hash) {
                (Some(run), Some(hash)) => self.kept_response(run, &hash, response).await,
                _ => Outcome::Forwarded(response),
            },
            Sent::Failed(error, _) => refuse(
                502,
                "UPSTREAM_FAILED",
                format!("tool {:?} upstream request failed: {error}", call.tool),
            ),
            Sent::Refused(refusal) => Outcome::Refused(refusal),
        })
    }

    /// Is there a live approval covering this call? `run` scope: same run, method and
    /// capability; `agent_user_ttl`: same user (the run's), agent and tool within the window.
    async fn granted(
        &self,
        ws: &str,
        agent: &str,
        call: &Outbound,
        run: Option<&RunRecord>,
        capability: Option<&str>,
    ) -> Result<bool> {
        let grants = self
            .store
            .live_grants(ws, agent, &call.tool, Timestamp::now())
            .await?;
        let user = run.map(|r| r.user_id.as_str()).unwrap_or_default();
        Ok(grants.iter().any(|grant| match grant.scope.as_str() {
            "run" => {
                run.is_some_and(|r| r.id == grant.run_id)
                    && grant.method.eq_ignore_ascii_case(&call.method)
                    && grant.capability == capability.unwrap_or_default()
            }
            "agent_user_ttl" => grant.user_id == user,
            _ => false,
        }))
    }

    /// Injects credentials and the user's identity, and sends the call upstream.
    pub(crate) async fn send_upstream(&self, prepared: &Prepared<'_>) -> Result<Sent> {
        let method = reqwest::Method::from_bytes(prepared.method.as_bytes())
            .map_err(|_| Error::Invalid(format!("bad method {}", prepared.method)))?;
        let mut url = prepared.url.clone();
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in prepared.headers {
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
        let tool_name = prepared.tool_name;
        match prepared.tool.connection.authentication.kind {
            AuthType::None => {}
            AuthType::ApiKey => {
                let config = prepared
                    .tool
                    .connection
                    .authentication
                    .api_key_config
                    .clone()
                    .unwrap_or_default();
                let read;
                let secrets = match prepared.secrets {
                    Some(secrets) => secrets,
                    None => {
                        read = self
                            .store
                            .secrets(prepared.workspace, Kind::Tool, tool_name)
                            .await?;
                        &read[..]
                    }
                };
                let Some((_, key)) = secrets.iter().find(|(field, _)| field == "api_key") else {
                    return Ok(Sent::Refused(refusal(
                        502,
                        "TOOL_NOT_CONFIGURED",
                        format!(
                            "tool {tool_name:?} has no API key stored; set credentials.api_key"
                        ),
                    )));
                };
                match config.location {
                    KeyLocation::Header => {
                        let value = format!("{}{}", config.value_prefix, key.expose());
                        let (Ok(name), Ok(value)) = (
                            reqwest::header::HeaderName::from_bytes(config.name.as_bytes()),
                            reqwest::header::HeaderValue::from_str(&value),
                        ) else {
                            return Ok(Sent::Refused(refusal(
                                502,
                                "TOOL_NOT_CONFIGURED",
                                format!(
                                    "tool {tool_name:?} has an API key that is not a valid header value"
                                ),
                            )));
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
                let user = prepared.user.unwrap_or_default();
                match self
                    .oauth_token(prepared.workspace, tool_name, prepared.tool, user)
                    .await?
                {
                    crate::oauth::Token::Bearer(token) => {
                        let Ok(value) = reqwest::header::HeaderValue::from_str(&format!(
                            "Bearer {}",
                            token.expose()
                        )) else {
                            return Ok(Sent::Refused(refusal(
                                502,
                                "TOOL_NOT_CONFIGURED",
                                format!(
                                    "tool {tool_name:?} got a token that is not a valid header value"
                                ),
                            )));
                        };
                        headers.insert(reqwest::header::AUTHORIZATION, value);
                    }
                    crate::oauth::Token::Missing => {
                        return Ok(Sent::Refused(refusal(
                            403,
                            "CONSENT_REQUIRED",
                            format!("{user:?} has not connected tool {tool_name:?}"),
                        )));
                    }
                }
            }
        }
        if let Some(user) = prepared.user
            && let Ok(user) = reqwest::header::HeaderValue::from_str(user)
        {
            headers.insert("x-end-user-id", user);
        }
        if let Some(key) = prepared.idempotency_key
            && let Ok(key) = reqwest::header::HeaderValue::from_str(key)
        {
            headers.insert("idempotency-key", key);
        }
        let started = Instant::now();
        let Some((origin, request)) = upstream_request(method, &url, headers, prepared.body) else {
            return Ok(Sent::Failed(
                format!("{url:?} is not an http or https URL"),
                0,
            ));
        };
        let sent = self.upstream.send(origin, request, UPSTREAM_TIMEOUT).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        if let Ok(response) = &sent
            && response.status() == http::StatusCode::UNAUTHORIZED
            && prepared.tool.connection.authentication.kind == AuthType::OAuth2
        {
            // The provider no longer takes this token (revoked, or expired early).
            self.expire_oauth_token(
                prepared.workspace,
                tool_name,
                if crate::oauth::needs_user_token(prepared.tool) {
                    prepared.user.unwrap_or_default()
                } else {
                    ""
                },
            )
            .await;
        }
        Ok(match sent {
            Ok(response) => {
                Sent::Answered(response.map(http_body_util::BodyExt::boxed), latency_ms)
            }
            Err(error) => Sent::Failed(error.to_string(), latency_ms),
        })
    }

    /// TOOL_REQUEST + TOOL_RESPONSE on the run (best effort; the call stands either way). The
    /// URL is recorded without its query, so a query-placed key never reaches an event.
    pub(crate) async fn record_call(
        &self,
        run: Option<&RunRecord>,
        tool_name: &str,
        method: &str,
        recorded_url: &str,
        capability: Option<&str>,
        sent: &Sent,
    ) {
        let Some(run) = run else { return };
        let request = event(
            "TOOL_REQUEST",
            &run.agent,
            json!({"tool": tool_name, "tool_method": method, "tool_url": recorded_url, "capability": capability}),
        );
        let mut data = json!({"tool": tool_name, "tool_method": method, "tool_url": recorded_url});
        match sent {
            Sent::Answered(response, latency_ms) => {
                data["status_code"] = json!(response.status().as_u16());
                data["latency_ms"] = json!(latency_ms);
            }
            Sent::Failed(error, latency_ms) => {
                data["error"] = json!(error);
                data["latency_ms"] = json!(latency_ms);
            }
            Sent::Refused(refusal) => {
                data["status_code"] = json!(refusal.status);
                data["error"] = json!(refusal.code);
                data["detail"] = json!(refusal.message);
            }
        }
        let response = event("TOOL_RESPONSE", "platform", data);
        self.append_call_events(run, vec![request, response]).await;
    }

    /// Appends a call's events through the group commit, waiting until they are stored.
    pub(crate) async fn append_call_events(
        &self,
        run: &RunRecord,
        events: Vec<runagents_store::NewEvent>,
    ) {
        let appended = self
            .events
            .append(
                &self.store,
                &self.background,
                &run.workspace,
                &run.id,
                events,
            )
            .await;
        if let Err(error) = appended {
            tracing::warn!(run = %run.id, %error, "could not record tool call events");
        }
    }
}

/// The call as the upstream client sends it: its origin, and the request with an origin-form
/// URI, `host` and the body. `None` for a URL that is not http or https.
fn upstream_request(
    method: http::Method,
    url: &str,
    mut headers: http::HeaderMap,
    body: &[u8],
) -> Option<(Origin, http::Request<Full<Bytes>>)> {
    // Strict first; a URL with characters a URI does not take (spaces, non-ASCII) is
    // normalized (percent-encoded, punycode) as a browser would.
    let uri: http::Uri = match url.parse() {
        Ok(uri) => uri,
        Err(_) => url::Url::parse(url).ok()?.as_str().parse().ok()?,
    };
    let origin = Origin::of(&uri)?;
    let host = http::HeaderValue::from_str(uri.authority()?.as_str()).ok()?;
    headers.insert(http::header::HOST, host);
    headers
        .entry(http::header::ACCEPT)
        .or_insert(http::HeaderValue::from_static("*/*"));
    let path = uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .ok()?;
    *request.headers_mut() = headers;
    Some((origin, request))
}

/// What happened to a call sent upstream.
pub(crate) enum Sent {
    Answered(Answer, u64),
    Failed(String, u64),
    Refused(Refusal),
}

/// The shape of an agent-plane credential, checked before any lookup.
fn well_formed(credential: &str) -> bool {
    credential.starts_with(CREDENTIAL_PREFIX) && credential.len() == CREDENTIAL_PREFIX.len() + 43
}

/// A call's outcome, or the fail-closed refusal (counted) when egress could not decide it.
fn fail_closed(identity: &AgentIdentity, checked: Result<Outcome>) -> Outcome {
    match checked {
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

fn refusal(status: u16, code: &'static str, message: String) -> Refusal {
    Refusal {
        status,
        code,
        message,
        extra: Map::new(),
    }
}

/// The recorded answer of an executed action, as `{status, headers, body_base64}`.
fn replayed(response: &Value) -> Outcome {
    use base64::Engine as _;
    let status = response["status"].as_u64().unwrap_or(200) as u16;
    let headers = response["headers"]
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let body = response["body_base64"]
        .as_str()
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .unwrap_or_default();
    Outcome::Replayed {
        status,
        headers,
        body,
    }
}
