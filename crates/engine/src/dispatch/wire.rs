//! The wire formats of approval delivery, one per connector type: a signed JSON webhook, a
//! Slack Block Kit message with decision buttons (and its `chat.update`), a Teams Adaptive
//! Card with signed decision links, a Jira issue (and its comment), and PagerDuty Events API v2
//! `trigger` / `resolve`. Header values are sent marked sensitive; the webhook signing secret
//! and Jira routing headers are read here and never sent.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use runagents_domain::connector::{PAGERDUTY_ROUTING_KEYS, SLACK_BOT_TOKEN, header};
use runagents_domain::dispatch::{
    Choice, JIRA_WEBHOOK_SECRET, SLACK_VERIFICATION_TOKEN, WEBHOOK_SECRET_HEADER,
    WEBHOOK_SIGNATURE_HEADER, webhook_signature,
};
use runagents_domain::{Secret, Timestamp};
use runagents_store::RequestRecord;
use serde_json::{Value, json};

use super::{Attempt, Delivered, Failure};
use crate::Engine;
use crate::tools::describe_request_error;

/// Jira connector headers naming where issues go; not sent to Jira.
pub const JIRA_PROJECT: &str = "X-Jira-Project";
pub const JIRA_ISSUE_TYPE: &str = "X-Jira-Issue-Type";
const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Headers configuration keeps for us rather than for the receiver.
const NOT_SENT: [&str; 9] = [
    WEBHOOK_SECRET_HEADER,
    SLACK_BOT_TOKEN,
    runagents_domain::connector::SLACK_SIGNING_SECRET,
    SLACK_VERIFICATION_TOKEN,
    PAGERDUTY_ROUTING_KEYS[0],
    PAGERDUTY_ROUTING_KEYS[1],
    JIRA_PROJECT,
    JIRA_ISSUE_TYPE,
    JIRA_WEBHOOK_SECRET,
];

fn wire_headers(headers: &[(String, Secret)]) -> Result<HeaderMap, Failure> {
    let mut map = HeaderMap::new();
    for (name, secret) in headers {
        if NOT_SENT.iter().any(|kept| kept.eq_ignore_ascii_case(name)) {
            continue;
        }
        let wire_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Failure::permanent(format!("header {name:?} cannot be sent")))?;
        let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| {
            Failure::permanent(format!("the value of header {name:?} cannot be sent"))
        })?;
        value.set_sensitive(true);
        map.insert(wire_name, value);
    }
    Ok(map)
}

fn text(request: &RequestRecord, key: &str) -> String {
    request.body[key].as_str().unwrap_or_default().to_owned()
}

/// "Approved for this run by <approver> (slack)" and the like, from the decided request; an
/// approval whose window has ended says so first.
fn decided_text(request: &RequestRecord, mention: impl Fn(&str) -> String) -> String {
    let approver = mention(&text(request, "approver_id"));
    let what = match (request.status.as_str(), text(request, "scope").as_str()) {
        ("REJECTED", _) => "Rejected".to_owned(),
        (_, "once") => "Approved once".to_owned(),
        (_, "run") => "Approved for this run".to_owned(),
        (_, "agent_user_ttl") => format!("Approved for {}", text(request, "duration")),
        (status, _) => status.to_ascii_lowercase(),
    };
    let channel = text(request, "channel");
    let via = if channel.is_empty() {
        String::new()
    } else {
        format!(" ({channel})")
    };
    let reason = text(request, "reason");
    let decided = if reason.is_empty() {
        format!("{what} by {approver}{via}")
    } else {
        format!("{what} by {approver}{via}: {reason}")
    };
    if request.status == "EXPIRED" {
        format!("The approval window has ended. {decided}")
    } else {
        decided
    }
}

fn operation(request: &RequestRecord) -> String {
    let capability = text(request, "capability");
    let call = format!(
        "{} {}",
        text(request, "tool_method"),
        text(request, "tool_url")
    );
    if capability.is_empty() {
        call
    } else {
        format!("{capability} ({call})")
    }
}

impl Engine {
    fn run_link(&self, request: &RequestRecord) -> String {
        if request.run_id.is_empty() {
            String::new()
        } else {
            format!(
                "{}/api/v1/runs/{}",
                self.settings.operator_url, request.run_id
            )
        }
    }

    /// The JSON document describing a request, as webhooks receive it.
    fn describe(&self, request: &RequestRecord) -> Value {
        json!({
            "id": request.id,
            "status": request.status,
            "workspace": request.workspace,
            "agent": text(request, "agent_id"),
            "tool": text(request, "tool_id"),
            "capability": text(request, "capability"),
            "method": text(request, "tool_method"),
            "url": text(request, "tool_url"),
            "user": text(request, "subject"),
            "run_id": request.run_id,
            "run_url": self.run_link(request),
            "action_id": request.action_id,
            "payload_hash": request.payload_hash,
            "message": text(request, "message"),
            "policy": text(request, "policy"),
            "created_at": request.created_at.rfc3339(),
        })
    }

    async fn post(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        attempt: &Attempt<'_>,
    ) -> Result<(u16, Value), Failure> {
        let response = self
            .http
            .post(url)
            .headers(headers)
            .header(CONTENT_TYPE, "application/json")
            .timeout(attempt.timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                Failure::new(
                    None,
                    format!(
                        "could not reach {}: {}",
                        host(url),
                        describe_request_error(&e)
                    ),
                )
            })?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok((status, answer))
        } else {
            Err(Failure::new(
                Some(status),
                format!("{} answered HTTP {status}", host(url)),
            ))
        }
    }

    /// Webhook: the request (or its decision) as JSON, signed over timestamp and body.
    pub(super) async fn send_webhook(
        &self,
        attempt: &Attempt<'_>,
        followup: bool,
    ) -> Result<Delivered, Failure> {
        let request = attempt.request;
        let body = if followup {
            let mut described = self.describe_map(request);
            described.insert(
                "decision".into(),
                json!(request.status.to_ascii_lowercase()),
            );
            for key in ["scope", "duration", "approver_id", "channel", "reason"] {
                described.insert(key.into(), json!(text(request, key)));
            }
            // A decision, or (later) the end of an approval's window.
            let kind = if request.status == "EXPIRED" {
                "approval.expired"
            } else {
                "approval.decided"
            };
            json!({"type": kind, "delivery_id": attempt.row.id, "request": described})
        } else {
            let (links, expires) = self.decision_links(request, &attempt.connector.id);
            let links: serde_json::Map<String, Value> = links
                .into_iter()
                .map(|(choice, url)| (choice.id().to_owned(), json!(url)))
                .collect();
            json!({"type": "approval.requested", "delivery_id": attempt.row.id, "request": self.describe(request),
                   "expires_at": expires.rfc3339(), "links": links})
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut headers = wire_headers(attempt.headers)?;
        if let Some(secret) = header(attempt.headers, WEBHOOK_SECRET_HEADER) {
            let signature = webhook_signature(secret.expose(), Timestamp::now(), &body);
            if let Ok(value) = HeaderValue::from_str(&signature) {
                headers.insert(WEBHOOK_SIGNATURE_HEADER, value);
            }
        }
        let (status, _) = self
            .post(&attempt.connector.spec.endpoint, headers, body, attempt)
            .await?;
        Ok(Delivered {
            status_code: status,
            external_ref: Value::Null,
            silent: false,
        })
    }

    fn describe_map(&self, request: &RequestRecord) -> serde_json::Map<String, Value> {
        match self.describe(request) {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    }

    async fn slack_call(
        &self,
        method: &str,
        attempt: &Attempt<'_>,
        body: &Value,
    ) -> Result<(u16, Value), Failure> {
        let token = header(attempt.headers, SLACK_BOT_TOKEN)
            .ok_or_else(|| Failure::permanent(format!("header {SLACK_BOT_TOKEN} is missing")))?;
        let mut headers = HeaderMap::new();
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| Failure::permanent("the bot token cannot be sent"))?;
        bearer.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, bearer);
        let url = format!("{}/{method}", self.settings.slack_api_url);
        let (status, answer) = self
            .post(
                &url,
                headers,
                serde_json::to_vec(body).unwrap_or_default(),
                attempt,
            )
            .await?;
        if answer["ok"] == true {
            Ok((status, answer))
        } else {
            let error = answer["error"].as_str().unwrap_or("no ok in the answer");
            Err(Failure::new(
                Some(status),
                format!("Slack {method} failed: {error}"),
            ))
        }
    }

    fn slack_summary(&self, request: &RequestRecord) -> Vec<Value> {
        let run = self.run_link(request);
        let run_field = if run.is_empty() {
            "none".to_owned()
        } else {
            format!("<{run}|{}>", request.run_id)
        };
        vec![
            json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Approval required*: {}", text(request, "message"))}}),
            json!({"type": "section", "fields": [
                {"type": "mrkdwn", "text": format!("*Agent*\n{}", text(request, "agent_id"))},
                {"type": "mrkdwn", "text": format!("*Tool*\n{}", text(request, "tool_id"))},
                {"type": "mrkdwn", "text": format!("*Operation*\n{}", operation(request))},
                {"type": "mrkdwn", "text": format!("*User*\n{}", text(request, "subject"))},
                {"type": "mrkdwn", "text": format!("*Run*\n{run_field}")},
            ]}),
        ]
    }

    /// Slack: `chat.postMessage` with the request and four decision buttons. Each button's
    /// value names this delivery, which leads the interactivity endpoint to the connector
    /// whose signing secret must verify the press.
    pub(super) async fn slack_post(&self, attempt: &Attempt<'_>) -> Result<Delivered, Failure> {
        let request = attempt.request;
        let buttons: Vec<Value> = Choice::ALL
            .into_iter()
            .map(|choice| {
                let mut button = json!({"type": "button", "action_id": choice.id(), "value": attempt.row.id,
                    "text": {"type": "plain_text", "text": choice.label()}});
                match choice {
                    Choice::ApproveOnce => button["style"] = json!("primary"),
                    Choice::Reject => button["style"] = json!("danger"),
                    Choice::ApproveRun | Choice::ApproveWindow => {}
                }
                button
            })
            .collect();
        let mut blocks = self.slack_summary(request);
        blocks.push(
            json!({"type": "actions", "block_id": "runagents_decision", "elements": buttons}),
        );
        let message = json!({"channel": attempt.connector.spec.endpoint, "text": text(request, "message"), "blocks": blocks});
        let (status, answer) = self
            .slack_call("chat.postMessage", attempt, &message)
            .await?;
        Ok(Delivered {
            status_code: status,
            external_ref: json!({"channel": answer["channel"], "ts": answer["ts"]}),
            silent: false,
        })
    }

    /// Slack: the message loses its buttons and says who decided what.
    pub(super) async fn slack_update(&self, attempt: &Attempt<'_>) -> Result<Delivered, Failure> {
        let request = attempt.request;
        let reference = &attempt.row.external_ref;
        let decided = decided_text(request, |approver| match approver.strip_prefix("slack:") {
            Some(user) => format!("<@{user}>"),
            None => approver.to_owned(),
        });
        let mut blocks = self.slack_summary(request);
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": decided}]}));
        let message = json!({"channel": reference["channel"], "ts": reference["ts"], "text": decided, "blocks": blocks});
        let (status, _) = self.slack_call("chat.update", attempt, &message).await?;
        Ok(Delivered {
            status_code: status,
            external_ref: reference.clone(),
            silent: false,
        })
    }

    /// Teams: an incoming-webhook message carrying an Adaptive Card with signed decision links
    /// (each opens a confirmation page; nothing is decided by merely opening it).
    pub(super) async fn send_teams(
        &self,
        attempt: &Attempt<'_>,
        followup: bool,
    ) -> Result<Delivered, Failure> {
        let request = attempt.request;
        let facts = json!([
            {"title": "Agent", "value": text(request, "agent_id")},
            {"title": "Tool", "value": text(request, "tool_id")},
            {"title": "Operation", "value": operation(request)},
            {"title": "User", "value": text(request, "subject")},
            {"title": "Run", "value": self.run_link(request)},
        ]);
        let (title, actions) = if followup {
            (decided_text(request, str::to_owned), json!([]))
        } else {
            let (links, _) = self.decision_links(request, &attempt.connector.id);
            let actions: Vec<Value> = links
                .into_iter()
                .map(|(choice, url)| json!({"type": "Action.OpenUrl", "title": choice.label(), "url": url}))
                .collect();
            (
                format!("Approval required: {}", text(request, "message")),
                json!(actions),
            )
        };
        let card = json!({"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
                "body": [{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "text": title},
                         {"type": "FactSet", "facts": facts}],
                "actions": actions}}]});
        let (status, _) = self
            .post(
                &attempt.connector.spec.endpoint,
                wire_headers(attempt.headers)?,
                serde_json::to_vec(&card).unwrap_or_default(),
                attempt,
            )
            .await?;
        Ok(Delivered {
            status_code: status,
            external_ref: Value::Null,
            silent: false,
        })
    }

    /// PagerDuty Events API v2: `trigger` with the routing key, `resolve` once decided and
    /// again when an approval's window ends, all under the request's dedup key.
    pub(super) async fn send_pagerduty(
        &self,
        attempt: &Attempt<'_>,
        followup: bool,
    ) -> Result<Delivered, Failure> {
        let request = attempt.request;
        let routing_key = PAGERDUTY_ROUTING_KEYS
            .iter()
            .find_map(|name| header(attempt.headers, name))
            .filter(|key| !key.expose().is_empty())
            .ok_or_else(|| Failure::permanent("the routing key header is missing"))?;
        let endpoint = &attempt.connector.spec.endpoint;
        let url = if endpoint.contains("://") {
            endpoint.as_str()
        } else {
            PAGERDUTY_EVENTS_URL
        };
        let dedup_key = format!("runagents-{}", request.id);
        let event = if followup {
            json!({"routing_key": routing_key.expose(), "event_action": "resolve", "dedup_key": dedup_key})
        } else {
            let (links, _) = self.decision_links(request, &attempt.connector.id);
            let links: Vec<Value> = links
                .into_iter()
                .map(|(choice, url)| json!({"href": url, "text": choice.label()}))
                .collect();
            json!({"routing_key": routing_key.expose(), "event_action": "trigger", "dedup_key": dedup_key,
                "payload": {"summary": text(request, "message"), "source": format!("runagents/{}", request.workspace),
                    "severity": "warning", "component": text(request, "tool_id"), "group": text(request, "agent_id"),
                    "custom_details": self.describe(request)},
                "links": links})
        };
        let (status, _) = self
            .post(
                url,
                wire_headers(attempt.headers)?,
                serde_json::to_vec(&event).unwrap_or_default(),
                attempt,
            )
            .await?;
        Ok(Delivered {
            status_code: status,
            external_ref: json!({"dedup_key": dedup_key}),
            silent: false,
        })
    }

    /// Jira: an issue in the connector's project (`X-Jira-Project`, `X-Jira-Issue-Type`,
    /// default Task) describing the request, with the signed decision links.
    pub(super) async fn jira_create(&self, attempt: &Attempt<'_>) -> Result<Delivered, Failure> {
        let request = attempt.request;
        let project = header(attempt.headers, JIRA_PROJECT)
            .filter(|p| !p.expose().is_empty())
            .ok_or_else(|| Failure::permanent(format!("header {JIRA_PROJECT} is missing")))?;
        let issue_type = header(attempt.headers, JIRA_ISSUE_TYPE)
            .map(|t| t.expose().to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Task".into());
        let (links, expires) = self.decision_links(request, &attempt.connector.id);
        let mut description = format!(
            "Agent: {}\nTool: {}\nOperation: {}\nUser: {}\nRun: {}\nPayload hash: {}\n\nDecide (links expire {}):\n",
            text(request, "agent_id"),
            text(request, "tool_id"),
            operation(request),
            text(request, "subject"),
            self.run_link(request),
            request.payload_hash,
            expires.rfc3339()
        );
        for (choice, url) in links {
            description.push_str(&format!("- [{}|{url}]\n", choice.label()));
        }
        let issue = json!({"fields": {"project": {"key": project.expose()}, "issuetype": {"name": issue_type},
            "summary": text(request, "message"), "description": description, "labels": ["runagents-approval"]}});
        let url = format!("{}/rest/api/2/issue", attempt.connector.spec.endpoint);
        let (status, answer) = self
            .post(
                &url,
                wire_headers(attempt.headers)?,
                serde_json::to_vec(&issue).unwrap_or_default(),
                attempt,
            )
            .await?;
        Ok(Delivered {
            status_code: status,
            external_ref: json!({"key": answer["key"], "id": answer["id"]}),
            silent: false,
        })
    }

    /// Jira: a comment on the issue saying who decided what.
    pub(super) async fn jira_comment(&self, attempt: &Attempt<'_>) -> Result<Delivered, Failure> {
        let key = attempt.row.external_ref["key"]
            .as_str()
            .ok_or_else(|| Failure::permanent("the Jira issue key is unknown"))?;
        let comment = json!({"body": decided_text(attempt.request, str::to_owned)});
        let url = format!(
            "{}/rest/api/2/issue/{key}/comment",
            attempt.connector.spec.endpoint
        );
        let (status, _) = self
            .post(
                &url,
                wire_headers(attempt.headers)?,
                serde_json::to_vec(&comment).unwrap_or_default(),
                attempt,
            )
            .await?;
        Ok(Delivered {
            status_code: status,
            external_ref: attempt.row.external_ref.clone(),
            silent: false,
        })
    }
}

/// The host of a URL, for messages (never the path: it may carry a token, as Teams' does).
fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_else(|| "the endpoint".into())
}
