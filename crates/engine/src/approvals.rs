//! Approvals: raising an access request for a blocked call, and deciding it with a scope.
//!
//! Invariant: a blocked call is recorded in full (method, URL, non-secret headers, body and
//! its SHA-256 payload hash) together with its request and the run's pause, in one store
//! transaction; approving writes the grant and the resume job in the same transaction as the
//! decision, so an approval can never be lost between the two.
//!
//! Every decision, from the API, the console or a connector, goes through `decide_request`:
//! the request's approval rule decides who may (`approvers`, else any operator), a decision
//! that repeats the recorded one changes nothing and answers the decided request, a different
//! one is a conflict; the approver, channel and reason are recorded on the request and in its
//! APPROVED / REJECTED event.

use runagents_domain::approval::{ApprovalDecision, Decision, Scope, repeats};
use runagents_domain::approver::may_decide;
use runagents_domain::policy::{ApprovalRule, Approvers};
use runagents_domain::tool::ToolSpec;
use runagents_domain::{Timestamp, duration};
use runagents_store::{
    ActionRecord, GrantRecord, ListedRequest, RequestDecision, RequestRecord, ResumeJob, RunChange,
    RunRecord,
};
use serde_json::{Map, Value, json};

use crate::egress::{Outbound, Outcome, Refusal};
use crate::runs::event;
use crate::{Caller, Engine, Error, Result, not_found};

/// The default window of an `agent_user_ttl` approval when neither the approver nor the
/// matching approval rule says otherwise.
const DEFAULT_WINDOW_SECS: i64 = 4 * 3600;

/// Headers never kept in a blocked action (credentials the platform or the agent set).
const SECRET_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-end-user-id",
    "x-runagents-api-key",
];

/// A call that needs approval, as egress found it.
pub(crate) struct Blocked<'a> {
    pub agent: &'a str,
    pub call: &'a Outbound,
    pub url: &'a str,
    pub tool: &'a ToolSpec,
    pub capability: Option<&'a str>,
    pub run: Option<&'a RunRecord>,
    pub hash: String,
    pub policy: String,
    pub rule: usize,
    pub route: Option<ApprovalRule>,
}

pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7())
}

impl Engine {
    /// Records the blocked call, raises (or finds) its access request, pauses the run, and
    /// answers the agent with APPROVAL_REQUIRED.
    pub(crate) async fn block(&self, ws: &str, blocked: Blocked<'_>) -> Result<Outcome> {
        let call = blocked.call;
        let now = Timestamp::now();
        let run_id = blocked.run.map(|r| r.id.clone()).unwrap_or_default();
        let user = blocked.run.map(|r| r.user_id.clone()).unwrap_or_default();
        let capability = blocked.capability.unwrap_or_default().to_owned();
        let key_header = blocked
            .tool
            .connection
            .authentication
            .api_key_config
            .as_ref()
            .map(|c| c.name.to_ascii_lowercase());
        let headers: Map<String, Value> = call
            .headers
            .iter()
            .filter(|(name, _)| {
                let lower = name.to_ascii_lowercase();
                !SECRET_HEADERS.contains(&lower.as_str())
                    && key_header.as_deref() != Some(lower.as_str())
                    && !matches!(lower.as_str(), "host" | "content-length" | "connection")
            })
            .map(|(name, value)| (name.to_ascii_lowercase(), json!(value)))
            .collect();
        let action = ActionRecord {
            id: new_id("act"),
            workspace: ws.to_owned(),
            run_id: run_id.clone(),
            agent: blocked.agent.to_owned(),
            user_id: user.clone(),
            tool: call.tool.clone(),
            capability: capability.clone(),
            method: call.method.clone(),
            url: blocked.url.to_owned(),
            headers: Value::Object(headers),
            body: call.body.clone(),
            payload_hash: blocked.hash.clone(),
            status: "BLOCKED".into(),
            response: Value::Null,
            delivered: false,
            created_at: now,
            updated_at: now,
        };
        let message = format!(
            "Approval required for {} ({}): {} {}",
            call.tool,
            if capability.is_empty() {
                "call"
            } else {
                &capability
            },
            call.method,
            blocked.url.split('?').next().unwrap_or_default()
        );
        let route = blocked.route.clone().unwrap_or_default();
        let duration = if route.default_duration.is_empty() {
            "4h".to_owned()
        } else {
            route.default_duration.clone()
        };
        let request = RequestRecord {
            id: new_id("req"),
            workspace: ws.to_owned(),
            action_id: action.id.clone(),
            run_id: run_id.clone(),
            payload_hash: blocked.hash.clone(),
            status: "PENDING".into(),
            body: json!({
                "subject": if user.is_empty() { blocked.agent } else { &user },
                "agent_id": blocked.agent,
                "tool_id": call.tool,
                "capability": capability,
                "tool_method": call.method,
                "tool_url": blocked.url.split('?').next().unwrap_or_default(),
                "duration": duration,
                "message": message,
                "policy": blocked.policy,
                "rule": blocked.rule,
                "routing": {
                    "rule": route.name,
                    "approvers": route.approvers,
                    "defaultDuration": route.default_duration,
                    "delivery": route.delivery,
                },
            }),
            expires_at: None,
            created_at: now,
            updated_at: now,
        };
        let pause = blocked.run.map(|run| RunChange {
            run_id: run.id.clone(),
            from: vec!["RUNNING".into(), "PAUSED_APPROVAL".into()],
            to: "PAUSED_APPROVAL".into(),
            blocked_action_id: Some(action.id.clone()),
            events: vec![{
                let mut required = event(
                    "APPROVAL_REQUIRED",
                    "platform",
                    json!({"message": message, "tool": call.tool, "tool_id": call.tool, "capability": capability, "tool_method": call.method,
                           "tool_url": blocked.url.split('?').next().unwrap_or_default(), "action_id": action.id, "request_id": request.id}),
                );
                required.payload_hash = blocked.hash.clone();
                required
            }],
        });
        let dispatches = self
            .plan_dispatches(ws, &request.id, Some(&route.delivery), now)
            .await?;
        let raised = match self
            .store
            .block_action(&action, &request, pause.as_ref(), &dispatches)
            .await?
        {
            runagents_store::Blocked::Created(request) => {
                self.wake_dispatch();
                request
            }
            runagents_store::Blocked::Existing(request) => request,
            runagents_store::Blocked::RunEnded(status) => {
                let mut extra = Map::new();
                extra.insert("run_id".into(), json!(run_id));
                extra.insert("tool".into(), json!(call.tool));
                return Ok(Outcome::Refused(Refusal {
                    status: 409,
                    code: "RUN_ENDED",
                    message: format!(
                        "run {run_id} is {status}: it makes no more calls that need approval"
                    ),
                    extra,
                }));
            }
        };
        let mut extra = Map::new();
        extra.insert("action_id".into(), json!(raised.action_id));
        extra.insert("run_id".into(), json!(raised.run_id));
        extra.insert("request_id".into(), json!(raised.id));
        extra.insert("tool".into(), json!(call.tool));
        extra.insert("capability".into(), json!(capability));
        Ok(Outcome::Refused(Refusal {
            status: 403,
            code: "APPROVAL_REQUIRED",
            message,
            extra,
        }))
    }

    pub async fn get_access_request(&self, ws: &str, id: &str) -> Result<RequestRecord> {
        self.store
            .get_request(ws, id)
            .await?
            .ok_or_else(|| not_found("access request", id))
    }

    /// Approval windows that ended: their requests become EXPIRED and the connectors that
    /// delivered them hear of it (a PagerDuty incident is resolved again, a webhook gets
    /// `approval.expired`), through the outbox.
    pub(crate) async fn expire_windows(&self) -> Result<()> {
        if self.store.expire_requests(Timestamp::now()).await? > 0 {
            self.wake_dispatch();
        }
        Ok(())
    }

    /// Requests in creation order; `status` None means PENDING, "ALL" means every status.
    pub async fn list_access_requests(
        &self,
        ws: &str,
        status: Option<&str>,
    ) -> Result<Vec<ListedRequest>> {
        self.expire_windows().await?;
        let statuses = match status.map(|s| s.trim().to_ascii_uppercase()) {
            None => vec!["PENDING".to_owned()],
            Some(all) if all == "ALL" || all.is_empty() => Vec::new(),
            Some(status)
                if ["PENDING", "APPROVED", "REJECTED", "EXPIRED"].contains(&status.as_str()) =>
            {
                vec![status]
            }
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "status {other:?} is not one of PENDING, APPROVED, REJECTED, EXPIRED, ALL"
                )));
            }
        };
        Ok(self.store.list_requests(ws, &statuses).await?)
    }

    /// Approves a PENDING request with a scope; records the grant and, when there is a blocked
    /// action, the job that replays it. Approving again alike answers the approved request.
    pub async fn approve_request(
        &self,
        caller: &Caller,
        id: &str,
        decision: ApprovalDecision,
    ) -> Result<RequestRecord> {
        Ok(self
            .decide_request(caller, id, Decision::Approve(decision))
            .await?
            .request)
    }

    /// Rejects a PENDING request: the blocked call never runs and its run fails. Rejecting
    /// again answers the rejected request.
    pub async fn reject_request(
        &self,
        caller: &Caller,
        id: &str,
        reason: String,
    ) -> Result<RequestRecord> {
        Ok(self
            .decide_request(caller, id, Decision::Reject(reason))
            .await?
            .request)
    }

    /// The one decision path: authority, then the decision once.
    pub(crate) async fn decide_request(
        &self,
        caller: &Caller,
        id: &str,
        decision: Decision,
    ) -> Result<Decided> {
        let ws = caller.workspace.as_str();
        let request = self.get_access_request(ws, id).await?;
        self.check_authority(caller, &request)?;
        if request.status != "PENDING" {
            return settled(request, &decision);
        }
        let decided = match &decision {
            Decision::Approve(approval) => self.approval(caller, &request, approval).await?,
            Decision::Reject(reason) => rejection(caller, &request, reason),
        };
        match self.decide(ws, id, &decided).await {
            Ok(stored) => {
                if decided.job.is_some() {
                    self.resume_signal.notify_waiters();
                }
                self.wake_dispatch();
                // A rejection ends the run: its callback is queued.
                self.wake_callbacks();
                Ok(Decided {
                    request: stored,
                    applied: true,
                })
            }
            // Decided concurrently (a double click on two replicas): the same decision is fine.
            Err(Error::Conflict(message)) => match self.store.get_request(ws, id).await? {
                Some(now) if now.status != "PENDING" => settled(now, &decision),
                _ => Err(Error::Conflict(message)),
            },
            Err(error) => Err(error),
        }
    }

    /// Whether the caller may decide the request, by the approvers of the rule that routed it.
    /// In `--dev` mode the local operator has no identity and may decide anything; decisions
    /// through connectors are checked there too.
    pub(crate) fn check_authority(&self, caller: &Caller, request: &RequestRecord) -> Result<()> {
        if self.settings.dev && caller.channel.is_operator() {
            return Ok(());
        }
        let routing = &request.body["routing"];
        let approvers: Approvers = match routing.get("approvers") {
            None | Some(Value::Null) => Approvers::default(),
            Some(stored) => serde_json::from_value(stored.clone()).map_err(|_| {
                Error::Forbidden(format!(
                    "the approver rule of request {} cannot be read; nobody may decide it",
                    request.id
                ))
            })?,
        };
        may_decide(&approvers, &caller.approver()).map_err(|refusal| {
            let rule = routing["rule"].as_str().unwrap_or_default();
            let policy = request.body["policy"].as_str().unwrap_or_default();
            Error::Forbidden(if rule.is_empty() || policy.is_empty() {
                refusal.0
            } else {
                format!("{refusal} (approval rule {rule:?} of policy {policy:?})")
            })
        })
    }

    /// What approving writes: the grant, the replay job, the APPROVED event.
    async fn approval(
        &self,
        caller: &Caller,
        request: &RequestRecord,
        decision: &ApprovalDecision,
    ) -> Result<RequestDecision> {
        let ws = caller.workspace.as_str();
        let action = self.store.get_action(ws, &request.action_id).await?;
        let now = Timestamp::now();
        let window = match decision.scope {
            Scope::AgentUserTtl => Some(match decision.duration {
                Some(seconds) => seconds,
                None => {
                    let default = request.body["routing"]["defaultDuration"]
                        .as_str()
                        .unwrap_or_default();
                    if default.is_empty() {
                        DEFAULT_WINDOW_SECS
                    } else {
                        duration::parse_seconds(default).unwrap_or(DEFAULT_WINDOW_SECS)
                    }
                }
            }),
            Scope::Once | Scope::Run => None,
        };
        let expires_at = window.map(|seconds| now.plus_seconds(seconds));
        let text = |key: &str| request.body[key].as_str().unwrap_or_default().to_owned();
        let grant = GrantRecord {
            id: new_id("grant"),
            workspace: ws.to_owned(),
            request_id: request.id.clone(),
            scope: decision.scope.as_str().to_owned(),
            agent: text("agent_id"),
            tool: text("tool_id"),
            user_id: action
                .as_ref()
                .map(|a| a.user_id.clone())
                .unwrap_or_else(|| text("subject")),
            run_id: request.run_id.clone(),
            method: text("tool_method"),
            capability: text("capability"),
            action_id: request.action_id.clone(),
            payload_hash: request.payload_hash.clone(),
            expires_at,
            created_at: now,
        };
        // Only a captured call is replayed; a request raised by hand has nothing to send.
        let job = action
            .as_ref()
            .filter(|action| action.status == "BLOCKED" && !action.url.is_empty())
            .map(|action| ResumeJob {
                id: new_id("job"),
                workspace: ws.to_owned(),
                action_id: action.id.clone(),
                run_id: action.run_id.clone(),
                attempts: 0,
                created_at: now,
            });
        let duration_text = window.map(format_duration).unwrap_or_default();
        let channel = caller.channel.as_str();
        let approved = event(
            "APPROVED",
            &caller.subject,
            json!({"approver_id": caller.subject, "channel": channel, "scope": decision.scope.as_str(), "duration": duration_text,
                   "reason": decision.reason, "request_id": request.id, "action_id": request.action_id, "tool": text("tool_id")}),
        );
        let run = (!request.run_id.is_empty()).then(|| RunChange {
            run_id: request.run_id.clone(),
            from: Vec::new(),
            to: String::new(),
            blocked_action_id: None,
            events: vec![approved],
        });
        Ok(RequestDecision {
            status: "APPROVED".into(),
            fields: json!({"scope": decision.scope.as_str(), "duration": duration_text, "approver_id": caller.subject,
                           "channel": channel, "reason": decision.reason}),
            expires_at,
            action_status: "APPROVED".into(),
            grant: Some(grant),
            job,
            run,
            at: now,
        })
    }

    async fn decide(
        &self,
        ws: &str,
        id: &str,
        decision: &RequestDecision,
    ) -> Result<RequestRecord> {
        match self.store.decide_request(ws, id, decision).await {
            Ok(request) => Ok(request),
            Err(runagents_store::Error::NotFound) => Err(not_found("access request", id)),
            Err(runagents_store::Error::Conflict(message)) => Err(Error::Conflict(format!(
                "request {id} is not in a mutable state: {message}"
            ))),
            Err(error) => Err(error.into()),
        }
    }

    /// Raises a request by hand (`POST /approvals/requests`), deduplicated like egress does:
    /// the same payload in the same pending run returns the existing request.
    pub async fn create_access_request(
        &self,
        ws: &str,
        body: &Value,
    ) -> Result<(RequestRecord, bool)> {
        let text = |key: &str| runagents_domain::fields::text(body, key);
        let (subject, tool) = (text("subject")?, text("tool_id")?);
        if subject.is_empty() || tool.is_empty() {
            return Err(Error::Invalid("subject and tool_id are required".into()));
        }
        let duration_text = text("duration")?;
        if !duration_text.is_empty() {
            duration::parse_seconds(&duration_text)?;
        }
        let run_id = text("run_id")?;
        if !run_id.is_empty() {
            self.get_run(ws, &run_id).await?;
        }
        let tool_url = text("tool_url")?;
        if !tool_url.is_empty() {
            runagents_domain::url::http_url("tool_url", &tool_url)?;
        }
        let now = Timestamp::now();
        let payload_hash = match text("payload_hash")? {
            hash if hash.is_empty() => runagents_domain::approval::payload_hash(
                &text("tool_method")?,
                &tool_url,
                subject.as_bytes(),
            ),
            hash => hash,
        };
        let action = ActionRecord {
            id: new_id("act"),
            workspace: ws.to_owned(),
            run_id: run_id.clone(),
            agent: text("agent_id")?,
            user_id: subject.clone(),
            tool: tool.clone(),
            capability: text("capability")?,
            method: text("tool_method")?,
            url: tool_url.clone(),
            headers: json!({}),
            body: Vec::new(),
            payload_hash: payload_hash.clone(),
            // Raised by hand: there is no captured call to replay.
            status: "MANUAL".into(),
            response: Value::Null,
            delivered: false,
            created_at: now,
            updated_at: now,
        };
        let request = RequestRecord {
            id: new_id("req"),
            workspace: ws.to_owned(),
            action_id: action.id.clone(),
            run_id,
            payload_hash,
            status: "PENDING".into(),
            body: json!({"subject": subject, "agent_id": action.agent, "tool_id": tool, "capability": action.capability, "tool_method": action.method,
                         "tool_url": tool_url, "duration": if duration_text.is_empty() { "4h".to_owned() } else { duration_text }, "routing": {}}),
            expires_at: None,
            created_at: now,
            updated_at: now,
        };
        let dispatches = self.plan_dispatches(ws, &request.id, None, now).await?;
        Ok(
            match self
                .store
                .block_action(&action, &request, None, &dispatches)
                .await?
            {
                runagents_store::Blocked::Created(request) => {
                    self.wake_dispatch();
                    (request, true)
                }
                runagents_store::Blocked::Existing(request) => (request, false),
                runagents_store::Blocked::RunEnded(status) => {
                    return Err(Error::Conflict(format!(
                        "run {} is {status}: no request can be raised for it",
                        request.run_id
                    )));
                }
            },
        )
    }
}

/// A decision as applied: the request as it now stands, and whether this call changed it
/// (false when it repeated the recorded decision).
pub(crate) struct Decided {
    pub request: RequestRecord,
    pub applied: bool,
}

/// A request someone already decided: the same decision again is answered with it, changing
/// nothing; any other is a conflict naming what was decided.
fn settled(request: RequestRecord, decision: &Decision) -> Result<Decided> {
    let text = |key: &str| request.body[key].as_str().unwrap_or_default().to_owned();
    let window = duration::parse_seconds(&text("duration")).ok();
    if repeats(&request.status, &text("scope"), window, decision) {
        return Ok(Decided {
            request,
            applied: false,
        });
    }
    let approver = text("approver_id");
    let by = if approver.is_empty() {
        String::new()
    } else {
        format!(" by {approver}")
    };
    let what = if request.status == "EXPIRED" {
        format!("was approved{by} and its window has ended")
    } else {
        format!("is already {}{by}", request.status.to_ascii_lowercase())
    };
    Err(Error::Conflict(format!(
        "request {} {what}; a different decision cannot replace it",
        request.id
    )))
}

/// What rejecting writes: the REJECTED and FAILED events; the action fails.
fn rejection(caller: &Caller, request: &RequestRecord, reason: &str) -> RequestDecision {
    let channel = caller.channel.as_str();
    let data = json!({"approver_id": caller.subject, "channel": channel, "reason": reason, "request_id": request.id,
                      "action_id": request.action_id, "tool": request.body["tool_id"]});
    let run = (!request.run_id.is_empty()).then(|| RunChange {
        run_id: request.run_id.clone(),
        from: vec!["RUNNING".into(), "PAUSED_APPROVAL".into()],
        to: "FAILED".into(),
        blocked_action_id: None,
        events: vec![
            event("REJECTED", &caller.subject, data),
            event(
                "FAILED",
                "platform",
                json!({"error": "approval rejected", "reason": reason}),
            ),
        ],
    });
    RequestDecision {
        status: "REJECTED".into(),
        fields: json!({"approver_id": caller.subject, "channel": channel, "reason": reason}),
        expires_at: None,
        action_status: "FAILED".into(),
        grant: None,
        job: None,
        run,
        at: Timestamp::now(),
    }
}

/// Seconds as the shortest duration text: 14400 → "4h", 5400 → "1h30m".
pub fn format_duration(seconds: i64) -> String {
    let (hours, minutes, secs) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut text = String::new();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    if secs > 0 || text.is_empty() {
        text.push_str(&format!("{secs}s"));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_format_shortest() {
        assert_eq!(super::format_duration(14_400), "4h");
        assert_eq!(super::format_duration(5_400), "1h30m");
        assert_eq!(super::format_duration(90), "1m30s");
    }
}
