//! Approval delivery: routing a new access request to its connectors through the store's
//! outbox, the worker that drains it (webhook, Slack, Teams, Jira, PagerDuty), and decisions
//! that come back from a connector (Slack interactivity, signed decision links).
//!
//! Invariants: nothing here runs on the egress path — `block` only writes outbox rows, in the
//! request's own transaction. Rows are claimed with a lease, each attempt is bounded by the
//! connector's `timeout_seconds`, failures are retried with backoff and every attempt lands in
//! the activity log. A request is never dropped: whatever the connectors do, it stays PENDING
//! in the console queue until someone decides it. Every decision goes through
//! `approve_request` / `reject_request`.

mod wire;

use std::time::{Duration, Instant};

use runagents_domain::approval::ApprovalDecision;
use runagents_domain::connector::{
    Activity, ConnectorType, SLACK_SIGNING_SECRET, SlackSecurityMode, header,
};
use runagents_domain::dispatch::{
    Choice, DecisionLink, LINK_TTL_SECS, SLACK_VERIFICATION_TOKEN, route, verify_slack_signature,
};
use runagents_domain::policy::Delivery;
use runagents_domain::{Secret, Timestamp};
use runagents_store::{DELIVER, DispatchRecord, FOLLOWUP, RequestRecord};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api_keys::Role;
use crate::connectors::Connector;
use crate::{Caller, Engine, Error, Result};

/// How long a claimed row is ours: longer than the longest connector timeout (120 s).
const LEASE_MS: i64 = 150_000;
/// Without a wake-up (a request raised on another replica), look again this often.
const IDLE_POLL: Duration = Duration::from_millis(500);
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
                () = tokio::time::sleep(IDLE_POLL) => {}
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
                self.store
                    .complete_dispatch(&row.id, &delivered.external_ref, Timestamp::now())
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

    /// Decides with a decision link: valid, unexpired, unused, and its request still PENDING.
    /// `approver` is who the receiver says decided; the link's connector otherwise.
    pub async fn decide_by_link(
        &self,
        token: &str,
        approver: Option<String>,
        reason: String,
    ) -> Result<RequestRecord> {
        let (link, request) = self.read_decision_link(token).await?;
        if request.status != "PENDING" {
            return Err(Error::Conflict(format!(
                "request {} is already {}",
                request.id, request.status
            )));
        }
        if !self
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
        let connector = self
            .get_connector(&link.workspace, &link.connector_id)
            .await
            .ok();
        let via = connector
            .as_ref()
            .map_or(link.connector_id.clone(), |c| c.spec.name.clone());
        let approver = approver
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| format!("link:{via}"));
        self.decide_from_connector(
            &link.workspace,
            &link.request_id,
            link.choice()?,
            &approver,
            reason,
            connector.as_ref(),
            "a signed decision link".into(),
        )
        .await
    }

    /// A Slack interactivity request (a button press): verified with the connector's signing
    /// secret (required in strict mode); in compat mode without one, the legacy verification
    /// token is checked if configured, otherwise the request is accepted unverified, which the
    /// connector test reports.
    pub async fn slack_interaction(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<RequestRecord> {
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
        self.decide_from_connector(
            &row.workspace,
            &row.request_id,
            choice,
            &format!("slack:{user}"),
            String::new(),
            Some(&connector),
            format!("Slack channel {channel}"),
        )
        .await
    }

    /// Applies a decision that came through a connector, through the one decision path, and
    /// logs it as `decision_received`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call per decision source, all named"
    )]
    async fn decide_from_connector(
        &self,
        ws: &str,
        request_id: &str,
        choice: Choice,
        approver: &str,
        reason: String,
        connector: Option<&Connector>,
        source: String,
    ) -> Result<RequestRecord> {
        let caller = Caller {
            workspace: ws.to_owned(),
            role: Role::Member,
            key_id: String::new(),
            key_name: approver.to_owned(),
        };
        let decided = match choice.scope() {
            Some((scope, duration)) => {
                let decision = ApprovalDecision {
                    scope,
                    duration,
                    reason,
                };
                self.approve_request(&caller, request_id, decision).await?
            }
            None => self.reject_request(&caller, request_id, reason).await?,
        };
        let activity = Activity {
            event: "decision_received".into(),
            connector_id: connector.map(|c| c.id.clone()).unwrap_or_default(),
            connector_name: connector.map(|c| c.spec.name.clone()).unwrap_or_default(),
            request_id: request_id.to_owned(),
            action_id: decided.action_id.clone(),
            run_id: decided.run_id.clone(),
            decision: decided.status.to_ascii_lowercase(),
            approver_id: approver.to_owned(),
            message: format!("{} by {approver} from {source}", choice.label()),
            ..Activity::default()
        };
        self.record(ws, activity).await;
        Ok(decided)
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
