//! Approval delivery as pure rules: which connectors an access request goes to (routing), the
//! signatures on what we send and what we accept (webhook and Slack HMAC-SHA256 with a replay
//! window), and signed decision links (expiring capabilities naming one request and decision).
//!
//! Invariant: every check here is constant-time over secrets (`ring::hmac::verify`) and rejects
//! anything older or newer than `REPLAY_WINDOW_SECS`; nothing here performs I/O.

use base64::Engine as _;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::approval::Scope;
use crate::connector::{ConnectorSpec, Defaults};
use crate::policy::{Delivery, DeliveryMode};
use crate::{Invalid, Timestamp};

/// Signed webhook deliveries and Slack interactions older (or newer) than this are refused.
pub const REPLAY_WINDOW_SECS: i64 = 300;
/// The header carrying our webhook signature.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "X-RunAgents-Signature";
/// The connector header holding a webhook's signing secret; never sent on the wire.
pub const WEBHOOK_SECRET_HEADER: &str = "X-Webhook-Secret";
/// A Slack connector's legacy verification token (compat mode without a signing secret).
pub const SLACK_VERIFICATION_TOKEN: &str = "X-Slack-Verification-Token";
/// The connector header holding the secret Jira signs its webhooks with; never sent.
pub const JIRA_WEBHOOK_SECRET: &str = "X-Jira-Webhook-Secret";
/// Where Jira Cloud puts its webhook signature: `sha256=<hex hmac-sha256(secret, body)>`.
pub const JIRA_SIGNATURE_HEADER: &str = "X-Hub-Signature";
/// Jira transitions that approve (scope once) or reject when a connector names none.
pub const DEFAULT_APPROVE_TRANSITIONS: [&str; 1] = ["Approved"];
pub const DEFAULT_REJECT_TRANSITIONS: [&str; 1] = ["Rejected"];
/// How long a decision link stays usable.
pub const LINK_TTL_SECS: i64 = 24 * 3600;

/// Where an access request goes: connector ids in delivery order, how, and whether the
/// console queue is the fallback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub connectors: Vec<String>,
    pub mode: DeliveryMode,
    pub fallback_to_ui: bool,
}

/// Resolves a request's delivery settings against the workspace's connectors (id, spec) and
/// defaults. Connectors are named by id or name; unknown and disabled ones are skipped. A rule
/// that names no connectors delivers to every enabled connector of the workspace, in the
/// order given; mode and fallback come from the defaults where the rule leaves them out.
pub fn route(
    delivery: Option<&Delivery>,
    connectors: &[(String, ConnectorSpec)],
    defaults: &Defaults,
) -> Route {
    let named = delivery
        .map(|d| d.connectors.as_slice())
        .unwrap_or_default();
    let mut chosen: Vec<String> = Vec::new();
    if named.is_empty() {
        chosen.extend(
            connectors
                .iter()
                .filter(|(_, spec)| spec.enabled)
                .map(|(id, _)| id.clone()),
        );
    } else {
        for wanted in named {
            let found = connectors
                .iter()
                .find(|(id, _)| id == wanted)
                .or_else(|| connectors.iter().find(|(_, spec)| &spec.name == wanted));
            if let Some((id, spec)) = found
                && spec.enabled
                && !chosen.contains(id)
            {
                chosen.push(id.clone());
            }
        }
    }
    Route {
        connectors: chosen,
        mode: delivery
            .and_then(|d| d.mode)
            .unwrap_or(defaults.default_delivery_mode),
        fallback_to_ui: match delivery {
            // A rule without `delivery` says nothing about the fallback either.
            Some(delivery) if !named.is_empty() || delivery.mode.is_some() => {
                delivery.fallback_to_ui
            }
            _ => defaults.default_fallback_to_ui,
        },
    }
}

impl DeliveryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::FirstSuccess => "first_success",
            DeliveryMode::All => "all",
        }
    }
}

fn hmac_hex(secret: &[u8], message: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    crate::hex::encode(hmac::sign(&key, message).as_ref())
}

fn verify_hex(secret: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    crate::hex::decode(signature_hex).is_some_and(|tag| hmac::verify(&key, message, &tag).is_ok())
}

fn fresh(sent_at_secs: i64, now: Timestamp) -> Result<(), Invalid> {
    if (now.millis() / 1000 - sent_at_secs).abs() > REPLAY_WINDOW_SECS {
        return Err(Invalid::new(
            "signature timestamp is outside the 5-minute window (replayed or clock skew)",
        ));
    }
    Ok(())
}

/// `X-RunAgents-Signature` for a webhook body: `t=<unix>,v1=<hex hmac-sha256(secret, "t.body")>`.
pub fn webhook_signature(secret: &str, now: Timestamp, body: &[u8]) -> String {
    let t = now.millis() / 1000;
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    format!("t={t},v1={}", hmac_hex(secret.as_bytes(), &message))
}

/// Checks a `X-RunAgents-Signature` value against the body, within the replay window.
pub fn verify_webhook_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), Invalid> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| Invalid::new("signature has no timestamp"))?;
    fresh(t, now)?;
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    if signatures
        .iter()
        .any(|sig| verify_hex(secret.as_bytes(), &message, sig))
    {
        Ok(())
    } else {
        Err(Invalid::new("signature does not match"))
    }
}

/// Slack's v0 request signature: `v0=<hex hmac-sha256(secret, "v0:{timestamp}:{body}")>`.
pub fn slack_signature(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut message = format!("v0:{timestamp}:").into_bytes();
    message.extend_from_slice(body);
    format!("v0={}", hmac_hex(signing_secret.as_bytes(), &message))
}

/// Verifies `X-Slack-Signature` and `X-Slack-Request-Timestamp` as Slack documents them.
pub fn verify_slack_signature(
    signing_secret: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), Invalid> {
    let t = timestamp
        .trim()
        .parse::<i64>()
        .map_err(|_| Invalid::new("X-Slack-Request-Timestamp is missing or not a number"))?;
    fresh(t, now)?;
    let Some(hex_sig) = signature.trim().strip_prefix("v0=") else {
        return Err(Invalid::new("X-Slack-Signature is missing or not v0"));
    };
    let mut message = format!("v0:{}:", timestamp.trim()).into_bytes();
    message.extend_from_slice(body);
    if verify_hex(signing_secret.as_bytes(), &message, hex_sig) {
        Ok(())
    } else {
        Err(Invalid::new("X-Slack-Signature does not match"))
    }
}

/// Jira Cloud's webhook signature over a body (what a Jira admin webhook with a secret sends).
pub fn jira_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(secret.as_bytes(), body))
}

/// Verifies `X-Hub-Signature`. Jira signs no timestamp, so there is no replay window: a
/// replayed transition can only repeat a decision, which changes nothing.
pub fn verify_jira_signature(secret: &str, header: &str, body: &[u8]) -> Result<(), Invalid> {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return Err(Invalid::new("X-Hub-Signature is missing or not sha256"));
    };
    if verify_hex(secret.as_bytes(), body, hex_sig) {
        Ok(())
    } else {
        Err(Invalid::new("X-Hub-Signature does not match"))
    }
}

/// A status change of a Jira issue, read from a `jira:issue_updated` webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JiraTransition {
    pub issue_key: String,
    /// The status the issue moved to, as Jira names it (`changelog.items[].toString`).
    pub to_status: String,
    /// Who moved it: `user.accountId` (Cloud), else `user.name` or `user.key` (Data Center).
    pub user: String,
}

/// The status change in a Jira webhook, if it is one: other events and field changes are
/// `None`. The issue key must look like one (`PROJ-123`), since it is looked up.
pub fn jira_transition(payload: &serde_json::Value) -> Option<JiraTransition> {
    if payload["webhookEvent"].as_str() != Some("jira:issue_updated") {
        return None;
    }
    let issue_key = payload["issue"]["key"].as_str()?;
    let (project, number) = issue_key.split_once('-')?;
    let well_formed = project.starts_with(|c: char| c.is_ascii_uppercase())
        && project
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit());
    if !well_formed || issue_key.len() > 64 {
        return None;
    }
    let to_status = payload["changelog"]["items"]
        .as_array()?
        .iter()
        .rev()
        .find(|item| item["field"].as_str() == Some("status"))?["toString"]
        .as_str()?
        .trim()
        .to_owned();
    let user = &payload["user"];
    let user = ["accountId", "name", "key"]
        .into_iter()
        .find_map(|key| user[key].as_str().filter(|id| !id.is_empty()))
        .unwrap_or_default()
        .to_owned();
    Some(JiraTransition {
        issue_key: issue_key.to_owned(),
        to_status,
        user,
    })
}

/// What moving an issue to `status` decides, by the connector's transition names (compared
/// ignoring case); `None` for any other status.
pub fn transition_verdict(status: &str, approve: &[String], reject: &[String]) -> Option<Verdict> {
    let named = |names: &[String]| {
        names
            .iter()
            .any(|n| n.trim().eq_ignore_ascii_case(status.trim()))
    };
    if named(reject) {
        Some(Verdict::Reject)
    } else if named(approve) {
        Some(Verdict::Approve)
    } else {
        None
    }
}

/// What a decision link decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

/// The four choices every connector offers, in display order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    ApproveOnce,
    ApproveRun,
    ApproveWindow,
    Reject,
}

impl Choice {
    pub const ALL: [Choice; 4] = [
        Choice::ApproveOnce,
        Choice::ApproveRun,
        Choice::ApproveWindow,
        Choice::Reject,
    ];

    /// The action id on Slack buttons and the key in webhook `links`.
    pub fn id(self) -> &'static str {
        match self {
            Choice::ApproveOnce => "approve_once",
            Choice::ApproveRun => "approve_run",
            Choice::ApproveWindow => "approve_4h",
            Choice::Reject => "reject",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Choice::ApproveOnce => "Approve once",
            Choice::ApproveRun => "Approve for this run",
            Choice::ApproveWindow => "Approve for 4h",
            Choice::Reject => "Reject",
        }
    }

    pub fn parse(id: &str) -> Option<Choice> {
        Choice::ALL.into_iter().find(|choice| choice.id() == id)
    }

    pub fn verdict(self) -> Verdict {
        match self {
            Choice::Reject => Verdict::Reject,
            _ => Verdict::Approve,
        }
    }

    /// The approval scope and window (seconds) of an approving choice.
    pub fn scope(self) -> Option<(Scope, Option<i64>)> {
        match self {
            Choice::ApproveOnce => Some((Scope::Once, None)),
            Choice::ApproveRun => Some((Scope::Run, None)),
            Choice::ApproveWindow => Some((Scope::AgentUserTtl, Some(4 * 3600))),
            Choice::Reject => None,
        }
    }
}

/// The claims of a decision link. `id` makes each link single-use on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionLink {
    pub id: String,
    #[serde(rename = "ws")]
    pub workspace: String,
    #[serde(rename = "req")]
    pub request_id: String,
    /// The `Choice` id.
    pub choice: String,
    /// Connector that carried the link (for the activity log); empty if none.
    #[serde(rename = "via", default)]
    pub connector_id: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

impl DecisionLink {
    pub fn choice(&self) -> Result<Choice, Invalid> {
        Choice::parse(&self.choice).ok_or_else(|| Invalid::new("decision link has no valid choice"))
    }

    /// `<base64url(claims)>.<hex hmac-sha256(key, base64url(claims))>`.
    pub fn sign(&self, key: &[u8]) -> String {
        let claims = serde_json::to_vec(self).unwrap_or_default();
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        let signature = hmac_hex(key, encoded.as_bytes());
        format!("{encoded}.{signature}")
    }

    /// The claims of a token we signed that has not expired at `now`.
    pub fn verify(key: &[u8], token: &str, now: Timestamp) -> Result<DecisionLink, Invalid> {
        let refused = || Invalid::new("decision link is not valid");
        let (encoded, signature) = token.split_once('.').ok_or_else(refused)?;
        if !verify_hex(key, encoded.as_bytes(), signature) {
            return Err(refused());
        }
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| refused())?;
        let link: DecisionLink = serde_json::from_slice(&claims).map_err(|_| refused())?;
        if now.millis() / 1000 >= link.exp {
            return Err(Invalid::new("decision link has expired"));
        }
        link.choice()?;
        Ok(link)
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
