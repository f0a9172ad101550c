//! Approval delivery: routing a new access request to its connectors through the store's
//! outbox, the worker that drains it (webhook, Slack, Teams, Jira, PagerDuty), and decisions
//! that come back from a connector (Slack interactivity, signed decision links, Jira
//! transitions).
//!
//! Invariants: nothing here runs on the egress path — `block` only writes outbox rows, in the
//! request's own transaction. Rows are claimed with a lease, each attempt is bounded by the
//! connector's `timeout_seconds`, failures are retried with backoff and every attempt lands in
//! the activity log. A request is never dropped: whatever the connectors do, it stays PENDING
//! in the console queue until someone decides it. Every decision goes through
//! `decide_request`, as the approver the connector names: a Slack user or Jira account by the
//! connector's `approver_map`, a link holder as the connector's `link_approver`.

mod wire;

use std::time::{Duration, Instant};

use runagents_domain::approval::{ApprovalDecision, Decision, Scope};
use runagents_domain::approver::{Approver, Channel};
use runagents_domain::connector::{
    Activity, ConnectorType, SLACK_SIGNING_SECRET, SlackSecurityMode, header,
};
use runagents_domain::dispatch::{
    Choice, DecisionLink, JIRA_WEBHOOK_SECRET, LINK_TTL_SECS, SLACK_VERIFICATION_TOKEN, Verdict,
    jira_transition, route, transition_verdict, verify_jira_signature, verify_slack_signature,
};
use runagents_domain::policy::Delivery;
use runagents_domain::{Secret, Timestamp};
use runagents_store::{DELIVER, DispatchRecord, FOLLOWUP, RequestRecord};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api_keys::Role;
use crate::approvals::Decided;
use crate::connectors::Connector;
use crate::{Caller, Engine, Error, Result};

/// How long a claimed row is ours: longer than the longest connector timeout (120 s).
const LEASE_MS: i64 = 150_000;
/// Attempts per row before it is marked failed; backoff doubles from one second.
const MAX_ATTEMPTS: i64 = 8;
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;

/// A failed attempt: what the service answered (if it did) and why it failed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status_code: Option<u16>,
    pub message: String,
    /// Retrying cannot help (the connector is gone or misconfigured).
    pub permanent: bool,
}

impl Failure {
    pub(crate) fn new(status_code: Option<u16>, message: impl Into<String>) -> Self {
        Failure {
            status_code,
            message: message.into(),
            permanent: false,
        }
    }

    fn permanent(message: impl Into<String>) -> Self {
        Failure {
            status_code: None,
            message: message.into(),
            permanent: true,
        }
    }
}

/// A successful attempt: the service's status and its name for what we delivered.
pub(crate) struct Delivered {
    pub status_code: u16,
    pub external_ref: Value,
    /// Follow-ups a connector type has no use for are finished without a log entry.
    pub silent: bool,
}

/// Everything one attempt needs.
pub(crate) struct Attempt<'a> {
    pub row: &'a DispatchRecord,
    pub request: &'a RequestRecord,
    pub connector: &'a Connector,
    pub headers: &'a [(String, Secret)],
    pub timeout: Duration,
}

/// What a Slack button press came to.
#[derive(Debug)]
pub enum Pressed {
    /// Decided now, or already decided the same way (a double click, a retry).
    Decided(RequestRecord),
    /// Not applied: the presser may not decide the request, or it was decided otherwise.
    /// Said to the presser alone (an ephemeral message); nothing changed.
    Refused(String),
}

/// What a Jira webhook came to; Jira only needs a 2xx, the rest is for people reading logs.
#[derive(Debug)]
pub struct JiraAnswer {
    /// `approved`, `rejected`, `already_decided`, `conflict` or `ignored`.
    pub result: &'static str,
    pub request_id: String,
    pub message: String,
}

impl JiraAnswer {
    fn ignored(message: impl Into<String>) -> Self {
        JiraAnswer {
            result: "ignored",
            request_id: String::new(),
            message: message.into(),
        }
    }
}

/// The caller a connector decision acts as.
fn connector_caller(ws: &str, approver: Approver, channel: Channel) -> Caller {
    Caller {
        workspace: ws.to_owned(),
        role: Role::Member,
        key_id: String::new(),
        key_name: approver.subject.clone(),
        subject: approver.subject,
        groups: approver.groups,
        channel,
    }
}

/// The decision a connector choice makes; `reason` goes with it.
fn choice_decision(choice: Choice, reason: String) -> Decision {
    match choice.scope() {
        Some((scope, duration)) => Decision::Approve(ApprovalDecision {
            scope,
            duration,
            reason,
        }),
        None => Decision::Reject(reason),
    }
}

/// "Approve once", "Approve for 4h", "Reject": what a decision asked for, for the activity log.
fn decision_label(decision: &Decision) -> String {
    match decision {
        Decision::Approve(approval) => match (approval.scope, approval.duration) {
            (Scope::Once, _) => "Approve once".into(),
            (Scope::Run, _) => "Approve for this run".into(),
            (Scope::AgentUserTtl, Some(seconds)) => {
                format!("Approve for {}", crate::approvals::format_duration(seconds))
            }
            (Scope::AgentUserTtl, None) => "Approve for a window".into(),
        },
        Decision::Reject(_) => "Reject".into(),
    }
}

/// The channel of a decision link, by the type of the connector that carried it.
fn link_channel(connector: Option<&Connector>) -> Channel {
    match connector.map(|c| c.spec.kind) {
        Some(ConnectorType::Webhook) => Channel::Webhook,
        Some(ConnectorType::Teams) => Channel::Teams,
        Some(ConnectorType::Jira) => Channel::Jira,
        Some(ConnectorType::Slack | ConnectorType::Pagerduty) | None => Channel::Link,
    }
}

fn backoff_ms(attempts: i64) -> i64 {
    (1000_i64 << attempts.clamp(1, 20).saturating_sub(1)).min(MAX_BACKOFF_MS)
}

impl Engine {
    /// The outbox rows for a new request, from its routing (`spec.approvals[].delivery`) or the
    /// workspace defaults. Empty when no connector applies: the console queue has it anyway.
    pub(crate) async fn plan_dispatches(
        &self,
        ws: &str,
        request_id: &str,
        delivery: Option<&Delivery>,
        now: Timestamp,
    ) -> Result<Vec<DispatchRecord>> {
        let connectors: Vec<_> = self
            .list_connectors(ws)
            .await?
            .into_iter()
            .map(|c| (c.id, c.spec))
            .collect();
        let defaults = self.connector_defaults(ws).await?;
        let route = route(delivery, &connectors, &defaults);
        Ok(route
            .connectors
            .iter()
            .zip(0_i64..)
            .map(|(connector_id, position)| DispatchRecord {
                id: crate::approvals::new_id("dsp"),
                workspace: ws.to_owned(),
                request_id: request_id.to_owned(),
                connector_id: connector_id.clone(),
                purpose: DELIVER.into(),
                mode: route.mode.as_str().into(),
                position,
                state: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                external_ref: Value::Null,
                last_error: String::new(),
                created_at: now,
            })
            .collect())
    }

    /// Wakes the dispatch worker (new request or decision).
    pub(crate) fn wake_dispatch(&self) {
        self.dispatch_signal.notify_waiters();
    }

    /// Runs until `stop` is cancelled, draining ready outbox rows.
    pub async fn run_dispatch_worker(self, worker: String, stop: CancellationToken) {
        loop {
            let notified = self.dispatch_signal.notified();
            loop {
                // Shutdown does not wait for a slow connector: the abandoned attempt keeps its
                // lease until it runs out, then any worker tries again.
                let step = tokio::select! {
                    () = stop.cancelled() => return,
                    step = self.dispatch_next(&worker) => step,
                };
                match step {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(error) => {
                        tracing::error!(%error, "dispatch worker step failed");
                        break;
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = notified => {}
                () = tokio::time::sleep(self.settings.worker_idle_poll) => {}
            }
        }
    }

    /// Claims and attempts one outbox row; false when none was ready.
    pub async fn dispatch_next(&self, worker: &str) -> Result<bool> {
        let Some(row) = self
            .store
            .claim_dispatch(worker, Timestamp::now(), LEASE_MS)
            .await?
        else {
            return Ok(false);
        };
        let started = Instant::now();
        let (outcome, connector) = self.attempt(&row).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let base = Activity {
            connector_id: row.connector_id.clone(),
            connector_name: connector.map(|c| c.spec.name).unwrap_or_default(),
            request_id: row.request_id.clone(),
            duration_ms: Some(duration_ms),
            ..Activity::default()
        };
        let what = if row.purpose == FOLLOWUP {
            "Decision update"
        } else {
            "Delivery"
        };
        match outcome {
            Ok(delivered) => {
                // A service whose callbacks name the delivery by its own key (a Jira issue key,
                // the only `key` among the references) finds it by that key.
                let external_key = delivered.external_ref["key"].as_str().unwrap_or_default();
                self.store
                    .complete_dispatch(
                        &row.id,
                        &delivered.external_ref,
                        external_key,
                        Timestamp::now(),
                    )
                    .await?;
                if !delivered.silent {
                    let activity = Activity {
                        event: "dispatch_succeeded".into(),
                        status_code: Some(delivered.status_code),
                        message: format!("{what} succeeded (attempt {})", row.attempts),
                        ..base
                    };
                    self.record(&row.workspace, activity).await;
                }
            }
            Err(failure) => {
                let give_up = failure.permanent || row.attempts >= MAX_ATTEMPTS;
                let retry_at =
                    (!give_up).then(|| Timestamp::now().plus_millis(backoff_ms(row.attempts)));
                self.store
                    .retry_dispatch(&row.id, &failure.message, retry_at, Timestamp::now())
                    .await?;
                let next = match retry_at {
                    Some(_) => format!("will retry in {} ms", backoff_ms(row.attempts)),
                    None => self.after_giving_up(&row).await,
                };
                tracing::warn!(dispatch = %row.id, request = %row.request_id, attempt = row.attempts, error = %failure.message, "approval delivery failed");
                let activity = Activity {
                    event: "dispatch_failed".into(),
                    status_code: failure.status_code,
                    message: format!(
                        "{what} failed (attempt {}): {}; {next}",
                        row.attempts, failure.message
                    ),
                    ..base
                };
                self.record(&row.workspace, activity).await;
            }
        }
        Ok(true)
    }

    /// What a row given up on means for its request: said in the activity log, never lost.
    async fn after_giving_up(&self, row: &DispatchRecord) -> String {
        let rows = self
            .store
            .list_dispatches(&row.workspace, &row.request_id)
            .await
            .unwrap_or_default();
        let delivered = rows
            .iter()
            .any(|r| r.purpose == DELIVER && r.state == "delivered");
        let open = rows
            .iter()
            .any(|r| r.purpose == DELIVER && r.state == "pending" && r.id != row.id);
        if row.purpose == FOLLOWUP || delivered || open {
            return "gave up on this connector".into();
        }
        let fallback = match self
            .store
            .get_request(&row.workspace, &row.request_id)
            .await
        {
            Ok(Some(request)) => request.body["routing"]["delivery"]["fallbackToUI"]
                .as_bool()
                .unwrap_or(true),
            _ => true,
        };
        if fallback {
            "no connector delivered the request; it stays in the console queue".into()
        } else {
            "no connector delivered the request and fallbackToUI is off; it stays PENDING until decided in the console or API".into()
        }
    }

    async fn attempt(
        &self,
        row: &DispatchRecord,
    ) -> (Result<Delivered, Failure>, Option<Connector>) {
        let connector = match self.get_connector(&row.workspace, &row.connector_id).await {
            Ok(connector) => connector,
            Err(Error::NotFound(_)) => {
                return (Err(Failure::permanent("the connector was deleted")), None);
            }
            Err(error) => return (Err(Failure::new(None, error.to_string())), None),
        };
        let outcome = self.attempt_with(row, &connector).await;
        (outcome, Some(connector))
    }

    async fn attempt_with(
        &self,
        row: &DispatchRecord,
        connector: &Connector,
    ) -> Result<Delivered, Failure> {
        if row.purpose == DELIVER && !connector.spec.enabled {
            return Err(Failure::permanent("the connector is disabled"));
        }
        let request = match self
            .store
            .get_request(&row.workspace, &row.request_id)
            .await
        {
            Ok(Some(request)) => request,
            Ok(None) => return Err(Failure::permanent("the access request no longer exists")),
            Err(error) => return Err(Failure::new(None, error.to_string())),
        };
        let headers = self
            .connector_headers(&row.workspace, connector)
            .await
            .map_err(|error| Failure::new(None, error.to_string()))?;
        let attempt = Attempt {
            row,
            request: &request,
            connector,
            headers: &headers,
            timeout: Duration::from_secs(connector.spec.timeout_seconds.into()),
        };
        match (connector.spec.kind, row.purpose == FOLLOWUP) {
            (ConnectorType::Webhook, followup) => self.send_webhook(&attempt, followup).await,
            (ConnectorType::Slack, false) => self.slack_post(&attempt).await,
            (ConnectorType::Slack, true) => self.slack_update(&attempt).await,
            (ConnectorType::Teams, followup) => self.send_teams(&attempt, followup).await,
            (ConnectorType::Pagerduty, followup) => self.send_pagerduty(&attempt, followup).await,
            (ConnectorType::Jira, false) => self.jira_create(&attempt).await,
            (ConnectorType::Jira, true) => self.jira_comment(&attempt).await,
        }
    }

    /// The four signed decision links of a request, carried by `connector_id`.
    pub(crate) fn decision_links(
        &self,
        request: &RequestRecord,
        connector_id: &str,
    ) -> (Vec<(Choice, String)>, Timestamp) {
        let expires = Timestamp::now().plus_seconds(LINK_TTL_SECS);
        let links = Choice::ALL
            .into_iter()
            .map(|choice| {
                let link = DecisionLink {
                    id: crate::approvals::new_id("dl"),
                    workspace: request.workspace.clone(),
                    request_id: request.id.clone(),
                    choice: choice.id().into(),
                    connector_id: connector_id.into(),
                    exp: expires.millis() / 1000,
                };
                let token = link.sign(self.settings.link_key.expose().as_bytes());
                (
                    choice,
                    format!("{}/approvals/decide/{token}", self.settings.operator_url),
                )
            })
            .collect();
        (links, expires)
    }

    /// Checks a decision link without using it (the confirmation page).
    pub async fn read_decision_link(&self, token: &str) -> Result<(DecisionLink, RequestRecord)> {
        let link = DecisionLink::verify(
            self.settings.link_key.expose().as_bytes(),
            token,
            Timestamp::now(),
        )
        .map_err(|invalid| Error::Forbidden(invalid.0))?;
        let request = self
            .get_access_request(&link.workspace, &link.request_id)
            .await?;
        Ok((link, request))
    }

    /// Decides with a decision link: valid, unexpired, and unused while its request is
    /// PENDING. The holder decides as the carrying connector's `link_approver` (by default
    /// `link:<connector>` with no groups); `approver`, if the receiver names one, is recorded as
    /// the subject, but authority stays the connector's. Using the link again for a request it
    /// already decided answers the decided request.
    pub async fn decide_by_link(
        &self,
        token: &str,
        approver: Option<String>,
        reason: String,
    ) -> Result<RequestRecord> {
        let (link, request) = self.read_decision_link(token).await?;
        let connector = self
            .get_connector(&link.workspace, &link.connector_id)
            .await
            .ok();
        let holder = connector.as_ref().map_or_else(
            || Approver {
                subject: format!("link:{}", link.connector_id),
                groups: Vec::new(),
            },
            |c| c.spec.link_holder(),
        );
        let named = approver
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty() && a.chars().count() <= 200 && !a.contains(char::is_control));
        let caller = connector_caller(
            &link.workspace,
            Approver {
                subject: named.unwrap_or(holder.subject),
                groups: holder.groups,
            },
            link_channel(connector.as_ref()),
        );
        let decision = choice_decision(link.choice()?, reason);
        let source = "a signed decision link".to_owned();
        // Authority first, so a refused holder does not use the link up.
        if let Err(refused) = self.check_authority(&caller, &request) {
            self.record_refusal(
                &caller,
                &request.id,
                connector.as_ref(),
                &decision,
                &refused,
                &source,
            )
            .await;
            return Err(refused);
        }
        if request.status == "PENDING"
            && !self
                .store
                .use_decision_link(
                    &link.workspace,
                    &link.id,
                    &link.request_id,
                    Timestamp::now(),
                )
                .await?
        {
            return Err(Error::Conflict(
                "this decision link was already used".into(),
            ));
        }
        Ok(self
            .decide_from_connector(&caller, &request.id, decision, connector.as_ref(), source)
            .await?
            .request)
    }

    /// A Slack interactivity request (a button press): verified with the connector's signing
    /// secret (required in strict mode); in compat mode without one, the legacy verification
    /// token is checked if configured, otherwise the request is accepted unverified, which the
    /// connector test reports. An unverifiable press is an error; a verified press by someone
    /// who may not decide, or against a decision already made otherwise, is `Refused` and
    /// also said to the presser through the payload's `response_url`.
    pub async fn slack_interaction(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Pressed> {
        let forbidden = |message: &str| Error::Forbidden(message.to_owned());
        let payload = url::form_urlencoded::parse(body)
            .find(|(key, _)| key == "payload")
            .map(|(_, value)| value.into_owned())
            .ok_or_else(|| Error::Invalid("body has no payload field".into()))?;
        let payload: Value = serde_json::from_str(&payload)
            .map_err(|_| Error::Invalid("payload is not JSON".into()))?;
        let action = &payload["actions"][0];
        let choice = action["action_id"]
            .as_str()
            .and_then(Choice::parse)
            .ok_or_else(|| Error::Invalid("unknown action".into()))?;
        let dispatch_id = action["value"].as_str().unwrap_or_default();
        let row = self
            .store
            .get_dispatch(dispatch_id)
            .await?
            .filter(|row| row.purpose == DELIVER)
            .ok_or_else(|| forbidden("unknown approval message"))?;
        let connector = self
            .get_connector(&row.workspace, &row.connector_id)
            .await
            .map_err(|_| forbidden("unknown approval message"))?;
        if connector.spec.kind != ConnectorType::Slack {
            return Err(forbidden("unknown approval message"));
        }
        let headers = self.connector_headers(&row.workspace, &connector).await?;
        let signing_secret =
            header(&headers, SLACK_SIGNING_SECRET).filter(|s| !s.expose().is_empty());
        match (signing_secret, connector.spec.slack_security_mode) {
            (Some(secret), _) => verify_slack_signature(
                secret.expose(),
                timestamp.unwrap_or_default(),
                signature.unwrap_or_default(),
                body,
                Timestamp::now(),
            )
            .map_err(|invalid| Error::Forbidden(invalid.0))?,
            (None, Some(SlackSecurityMode::Strict)) => {
                return Err(forbidden("strict mode needs a signing secret"));
            }
            (None, _) => {
                if let Some(token) = header(&headers, SLACK_VERIFICATION_TOKEN)
                    && payload["token"].as_str() != Some(token.expose())
                {
                    return Err(forbidden("verification token does not match"));
                }
            }
        }
        let user = payload["user"]["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::Invalid("payload has no user".into()))?;
        let channel = payload["channel"]["id"].as_str().unwrap_or_default();
        let caller = connector_caller(
            &row.workspace,
            connector.spec.approver_for(user),
            Channel::Slack,
        );
        let decided = self
            .decide_from_connector(
                &caller,
                &row.request_id,
                choice_decision(choice, String::new()),
                Some(&connector),
                format!("Slack channel {channel}"),
            )
            .await;
        let refusal = match decided {
            Ok(decided) => return Ok(Pressed::Decided(decided.request)),
            Err(Error::Forbidden(message)) => format!("You can't decide this request: {message}."),
            Err(Error::Conflict(message)) => format!("Nothing changed: {message}."),
            Err(error) => return Err(error),
        };
        if let Some(url) = payload["response_url"].as_str() {
            self.slack_respond(url, &refusal, &connector);
        }
        Ok(Pressed::Refused(refusal))
    }

    /// Tells the presser alone (`response_type: ephemeral`), through Slack's `response_url`.
    /// Only a Slack hooks URL (or one on the configured Slack API's host, for a proxy or a test
    /// double) is called: in compat mode the payload may be unverified.
    fn slack_respond(&self, url: &str, text: &str, connector: &Connector) {
        let origin = |raw: &str| {
            url::Url::parse(raw).ok().map(|u| {
                (
                    u.scheme().to_owned(),
                    u.host_str().map(str::to_owned),
                    u.port(),
                )
            })
        };
        let allowed = url.starts_with("https://hooks.slack.com/")
            || origin(url).is_some_and(|o| Some(o) == origin(&self.settings.slack_api_url));
        if !allowed {
            tracing::warn!(connector = %connector.id, "Slack response_url is not a Slack hooks URL; not answered");
            return;
        }
        let request = self
            .http
            .post(url)
            .timeout(Duration::from_secs(connector.spec.timeout_seconds.into()))
            .json(&serde_json::json!({"response_type": "ephemeral", "replace_original": false, "text": text}));
        let connector = connector.id.clone();
        // The presser's notice only; shutting down without it loses nothing recorded.
        tokio::spawn(async move {
            if let Err(error) = request.send().await {
                tracing::warn!(%connector, error = %crate::tools::describe_request_error(&error), "could not answer a refused Slack press");
            }
        });
    }

    /// A Jira webhook (`jira:issue_updated`) on `/integrations/jira/{workspace}/{connector}`,
    /// signed by Jira with the connector's `X-Jira-Webhook-Secret` (`X-Hub-Signature`, as a
    /// Jira admin webhook with a secret sends it; there is no unsigned mode). An issue of ours
    /// moved to one of the connector's approve transitions approves the request once; to a
    /// reject transition, rejects it; as whoever moved it, by the connector's `approver_map`.
    /// Anything else is ignored. A conflict is answered 200 (Jira retries 409): the issue got
    /// a comment when the request was decided elsewhere.
    pub async fn jira_webhook(
        &self,
        ws: &str,
        connector_id: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<JiraAnswer> {
        let unknown = || Error::Forbidden("unknown Jira connector".into());
        let connector = match self.get_connector(ws, connector_id).await {
            Ok(connector) if connector.spec.kind == ConnectorType::Jira => connector,
            Ok(_) | Err(Error::NotFound(_) | Error::Invalid(_)) => return Err(unknown()),
            Err(error) => return Err(error),
        };
        let headers = self.connector_headers(ws, &connector).await?;
        let secret = header(&headers, JIRA_WEBHOOK_SECRET)
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| {
                Error::Forbidden(format!(
                    "this connector has no {JIRA_WEBHOOK_SECRET}; set one and give it to the Jira webhook as its secret"
                ))
            })?;
        verify_jira_signature(secret.expose(), signature.unwrap_or_default(), body)
            .map_err(|invalid| Error::Forbidden(invalid.0))?;
        let payload: Value =
            serde_json::from_slice(body).map_err(|_| Error::Invalid("body is not JSON".into()))?;
        let Some(transition) = jira_transition(&payload) else {
            return Ok(JiraAnswer::ignored("not an issue status change"));
        };
        let (approve, reject) = connector.spec.transitions();
        let Some(verdict) = transition_verdict(&transition.to_status, &approve, &reject) else {
            return Ok(JiraAnswer::ignored(format!(
                "status {:?} neither approves nor rejects",
                transition.to_status
            )));
        };
        let Some(row) = self
            .store
            .find_delivery(ws, &connector.id, &transition.issue_key)
            .await?
        else {
            return Ok(JiraAnswer::ignored(format!(
                "issue {} is not an approval request of this connector",
                transition.issue_key
            )));
        };
        let user = if transition.user.is_empty() {
            "unknown"
        } else {
            transition.user.as_str()
        };
        let caller = connector_caller(ws, connector.spec.approver_for(user), Channel::Jira);
        let reason = format!(
            "{} moved to {} in Jira",
            transition.issue_key, transition.to_status
        );
        let decision = match verdict {
            Verdict::Approve => Decision::Approve(ApprovalDecision {
                scope: Scope::Once,
                duration: None,
                reason,
            }),
            Verdict::Reject => Decision::Reject(reason),
        };
        let source = format!("Jira issue {}", transition.issue_key);
        match self
            .decide_from_connector(&caller, &row.request_id, decision, Some(&connector), source)
            .await
        {
            Ok(decided) => Ok(JiraAnswer {
                result: match (decided.applied, decided.request.status.as_str()) {
                    (false, _) => "already_decided",
                    (true, "REJECTED") => "rejected",
                    (true, _) => "approved",
                },
                request_id: decided.request.id,
                message: String::new(),
            }),
            Err(Error::Conflict(message)) => Ok(JiraAnswer {
                result: "conflict",
                request_id: row.request_id,
                message,
            }),
            Err(error) => Err(error),
        }
    }

    /// Applies a decision that came through a connector, through the one decision path, and
    /// logs it as `decision_received` (once: a repeated decision logs nothing) or, when the
    /// approver may not decide, as `decision_refused`.
    async fn decide_from_connector(
        &self,
        caller: &Caller,
        request_id: &str,
        decision: Decision,
        connector: Option<&Connector>,
        source: String,
    ) -> Result<Decided> {
        let label = decision_label(&decision);
        let decided = match self
            .decide_request(caller, request_id, decision.clone())
            .await
        {
            Ok(decided) => decided,
            Err(refused @ Error::Forbidden(_)) => {
                self.record_refusal(caller, request_id, connector, &decision, &refused, &source)
                    .await;
                return Err(refused);
            }
            Err(error) => return Err(error),
        };
        if decided.applied {
            let request = &decided.request;
            let activity = Activity {
                event: "decision_received".into(),
                connector_id: connector.map(|c| c.id.clone()).unwrap_or_default(),
                connector_name: connector.map(|c| c.spec.name.clone()).unwrap_or_default(),
                request_id: request_id.to_owned(),
                action_id: request.action_id.clone(),
                run_id: request.run_id.clone(),
                decision: request.status.to_ascii_lowercase(),
                approver_id: caller.subject.clone(),
                message: format!("{label} by {} from {source}", caller.subject),
                ..Activity::default()
            };
            self.record(&caller.workspace, activity).await;
        }
        Ok(decided)
    }

    /// Logs a refused connector decision; the request is untouched.
    async fn record_refusal(
        &self,
        caller: &Caller,
        request_id: &str,
        connector: Option<&Connector>,
        decision: &Decision,
        refused: &Error,
        source: &str,
    ) {
        let activity = Activity {
            event: "decision_refused".into(),
            connector_id: connector.map(|c| c.id.clone()).unwrap_or_default(),
            connector_name: connector.map(|c| c.spec.name.clone()).unwrap_or_default(),
            request_id: request_id.to_owned(),
            approver_id: caller.subject.clone(),
            message: format!(
                "{} by {} from {source} refused: {refused}",
                decision_label(decision),
                caller.subject
            ),
            ..Activity::default()
        };
        self.record(&caller.workspace, activity).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_from_one_second_and_is_capped() {
        assert_eq!(super::backoff_ms(1), 1000);
        assert_eq!(super::backoff_ms(2), 2000);
        assert_eq!(super::backoff_ms(4), 8000);
        assert_eq!(super::backoff_ms(30), super::MAX_BACKOFF_MS);
    }
}
