//! Connectivity checks: one live request to the connector's service, within its timeout.
//! Header values are sent marked sensitive and never appear in a check message.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use runagents_domain::Secret;
use runagents_domain::connector::{Check, ConnectorType, SLACK_BOT_TOKEN, Target, header};
use serde_json::{Value, json};

use crate::Engine;
use crate::tools::describe_request_error;

impl Engine {
    /// One live request to the connector's service, within its timeout.
    pub(super) async fn connectivity(
        &self,
        target: &Target,
        headers: &[(String, Secret)],
    ) -> Check {
        let started = Instant::now();
        let outcome = match target.kind {
            ConnectorType::Pagerduty => {
                return Check::skipped(
                    "connectivity",
                    "Connectivity",
                    "PagerDuty accepts events only; delivery is verified on first dispatch",
                );
            }
            ConnectorType::Webhook => {
                self.post_test(target, headers, &json!({"type": "runagents.test"}))
                    .await
            }
            ConnectorType::Teams => {
                let card = json!({
                    "@type": "MessageCard",
                    "@context": "https://schema.org/extensions",
                    "summary": "RunAgents connector test",
                    "text": "RunAgents approval connector test: approval requests will be posted here.",
                });
                self.post_test(target, headers, &card).await
            }
            ConnectorType::Slack => self.slack_auth_test(target, headers).await,
            ConnectorType::Jira => self.jira_myself(target, headers).await,
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(message) => Check::connectivity(true, message, duration_ms),
            Err(message) => Check::connectivity(false, message, duration_ms),
        }
    }

    async fn post_test(
        &self,
        target: &Target,
        headers: &[(String, Secret)],
        body: &Value,
    ) -> Result<String, String> {
        let response = self
            .http
            .post(&target.endpoint)
            .headers(wire_headers(headers)?)
            .timeout(Duration::from_secs(target.timeout_seconds.into()))
            .json(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "Could not reach the endpoint: {}",
                    describe_request_error(&e)
                )
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(format!(
                "Connector endpoint accepted the test request (HTTP {})",
                status.as_u16()
            ))
        } else {
            Err(format!(
                "Connector endpoint answered HTTP {}",
                status.as_u16()
            ))
        }
    }

    /// Slack's `auth.test` verifies the bot token without posting anything.
    async fn slack_auth_test(
        &self,
        target: &Target,
        headers: &[(String, Secret)],
    ) -> Result<String, String> {
        let token = header(headers, SLACK_BOT_TOKEN)
            .ok_or_else(|| format!("header {SLACK_BOT_TOKEN} is missing"))?;
        let url = format!("{}/auth.test", self.settings.slack_api_url);
        let response = self
            .http
            .post(url)
            .bearer_auth(token.expose())
            .timeout(Duration::from_secs(target.timeout_seconds.into()))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "Could not reach the Slack API: {}",
                    describe_request_error(&e)
                )
            })?;
        let status = response.status().as_u16();
        let answer: Value = response
            .json()
            .await
            .map_err(|_| format!("Slack API answered HTTP {status} without a JSON body"))?;
        if answer["ok"] == true {
            Ok(match answer["team"].as_str() {
                Some(team) => format!("Slack accepted the bot token (workspace {team:?})"),
                None => "Slack accepted the bot token".to_owned(),
            })
        } else {
            let error = answer["error"].as_str().unwrap_or("unknown error");
            Err(format!("Slack rejected the bot token: {error}"))
        }
    }

    /// Jira's `myself` shows whether the site is there and accepts the credentials.
    async fn jira_myself(
        &self,
        target: &Target,
        headers: &[(String, Secret)],
    ) -> Result<String, String> {
        let url = format!("{}/rest/api/2/myself", target.endpoint);
        let response = self
            .http
            .get(url)
            .headers(wire_headers(headers)?)
            .header(ACCEPT, "application/json")
            .timeout(Duration::from_secs(target.timeout_seconds.into()))
            .send()
            .await
            .map_err(|e| format!("Could not reach Jira: {}", describe_request_error(&e)))?;
        match response.status().as_u16() {
            code @ 200..=299 => Ok(format!("Jira accepted the credentials (HTTP {code})")),
            code @ (401 | 403) => Err(format!(
                "Jira rejected the credentials (HTTP {code}); set an Authorization header"
            )),
            code => Err(format!(
                "Jira answered HTTP {code} at /rest/api/2/myself; is the endpoint the site's base URL?"
            )),
        }
    }
}

/// Header values marked sensitive, so they stay out of any debug output of the request.
fn wire_headers(headers: &[(String, Secret)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, secret) in headers {
        let wire_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header {name:?} cannot be sent"))?;
        let mut value = HeaderValue::from_str(secret.expose())
            .map_err(|_| format!("the value of header {name:?} cannot be sent"))?;
        value.set_sensitive(true);
        map.insert(wire_name, value);
    }
    Ok(map)
}
