//! Approval connectors: where approval requests are delivered (a webhook, Slack, Teams, Jira or
//! PagerDuty), the workspace delivery defaults, the activity log entries and the checks a
//! connector test reports.
//!
//! Invariant: every header value is a credential. It leaves parsing as a `Secret` and is never
//! part of a `ConnectorSpec`; clients see it only as `MASK`, and sending `MASK` back means "keep
//! the stored value", so a GET → PATCH round trip never destroys a credential.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approver::{Approver, parse_approver};
use crate::{Invalid, Secret};

mod report;
mod workspace;

pub use report::{Check, CheckStatus, TestReport};
pub use workspace::{Activity, Defaults, activity_limit};

/// What clients see instead of a header value.
pub const MASK: &str = "********";
pub const MIN_TIMEOUT_SECONDS: u32 = 1;
pub const MAX_TIMEOUT_SECONDS: u32 = 120;
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 10;
/// The settings key of the workspace defaults.
pub const DEFAULTS_SETTING: &str = "approval_connector_defaults";
pub const SLACK_BOT_TOKEN: &str = "X-Slack-Bot-Token";
pub const SLACK_SIGNING_SECRET: &str = "X-Slack-Signing-Secret";
/// PagerDuty routing-key headers, either accepted.
pub const PAGERDUTY_ROUTING_KEYS: [&str; 2] = ["X-PagerDuty-Routing-Key", "X-Routing-Key"];

const MAX_NAME_CHARS: usize = 128;
const MAX_ENDPOINT_CHARS: usize = 2048;
const MAX_HEADERS: usize = 32;
const MAX_HEADER_NAME_CHARS: usize = 128;
const MAX_MAPPED_APPROVERS: usize = 500;
const MAX_TRANSITIONS: usize = 32;
/// Set by the HTTP client from the request itself; configuring them would corrupt the request.
const RESERVED_HEADERS: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorType {
    Webhook,
    Slack,
    Teams,
    Jira,
    Pagerduty,
}

impl ConnectorType {
    const ALL: [ConnectorType; 5] = [
        ConnectorType::Webhook,
        ConnectorType::Slack,
        ConnectorType::Teams,
        ConnectorType::Jira,
        ConnectorType::Pagerduty,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorType::Webhook => "webhook",
            ConnectorType::Slack => "slack",
            ConnectorType::Teams => "teams",
            ConnectorType::Jira => "jira",
            ConnectorType::Pagerduty => "pagerduty",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let wanted = raw.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == wanted)
            .ok_or_else(|| {
                Invalid(format!(
                    "type {raw:?} is not supported: use webhook, slack, teams, jira or pagerduty"
                ))
            })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlackSecurityMode {
    Compat,
    Strict,
}

impl SlackSecurityMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SlackSecurityMode::Compat => "compat",
            SlackSecurityMode::Strict => "strict",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "compat" => Ok(SlackSecurityMode::Compat),
            "strict" => Ok(SlackSecurityMode::Strict),
            _ => Err(Invalid(format!(
                "slack_security_mode {raw:?} is not supported: use compat or strict"
            ))),
        }
    }
}

/// A header value as a client sent it.
#[derive(Clone, Debug)]
pub enum HeaderValue {
    /// A new value to store.
    Set(Secret),
    /// `MASK`: keep the value stored under this header name.
    Keep,
}

/// A create, patch or test request with each field checked for its JSON type only. `null` and
/// `""` count as absent: the SDK and CLI send either for "not set". Other keys (`id`,
/// `created_at`, ...) are ignored, so a connector as read can be sent back.
#[derive(Clone, Debug, Default)]
pub struct Fields {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub endpoint: Option<String>,
    pub headers: Option<Vec<(String, HeaderValue)>>,
    pub enabled: Option<bool>,
    pub timeout_seconds: Option<i64>,
    pub slack_security_mode: Option<String>,
    /// Slack user id or Jira account id → the approver that person is.
    pub approver_map: Option<BTreeMap<String, Approver>>,
    /// Who holds a decision link this connector carried.
    pub link_approver: Option<Approver>,
    /// Jira statuses that approve (scope once) and that reject.
    pub approve_transitions: Option<Vec<String>>,
    pub reject_transitions: Option<Vec<String>>,
}

impl Fields {
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        let Value::Object(doc) = body else {
            return Err(Invalid::new("request body must be a JSON object"));
        };
        let mut fields = Fields::default();
        for (key, value) in doc {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "name" => fields.name = text(&key, value)?,
                "type" => fields.kind = text(&key, value)?,
                "endpoint" => fields.endpoint = text(&key, value)?,
                "slack_security_mode" => fields.slack_security_mode = text(&key, value)?,
                "headers" => fields.headers = Some(headers(value)?),
                "enabled" => {
                    fields.enabled = Some(
                        value
                            .as_bool()
                            .ok_or_else(|| Invalid::new("enabled must be true or false"))?,
                    );
                }
                "timeout_seconds" => fields.timeout_seconds = Some(whole_seconds(&key, &value)?),
                "approver_map" => fields.approver_map = Some(approver_map(&value)?),
                "link_approver" => fields.link_approver = Some(parse_approver(&key, &value)?),
                "approve_transitions" => {
                    fields.approve_transitions = Some(transitions(&key, &value)?)
                }
                "reject_transitions" => {
                    fields.reject_transitions = Some(transitions(&key, &value)?)
                }
                _ => {}
            }
        }
        Ok(fields)
    }
}

fn text(field: &str, value: Value) -> Result<Option<String>, Invalid> {
    match value {
        Value::String(text) => {
            let trimmed = text.trim();
            Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
        }
        _ => Err(Invalid(format!("{field} must be a string"))),
    }
}

/// A JSON integer; out-of-range values saturate so the range check reports them.
fn whole_seconds(field: &str, value: &Value) -> Result<i64, Invalid> {
    let Value::Number(number) = value else {
        return Err(Invalid(format!(
            "{field} must be a whole number of seconds"
        )));
    };
    number
        .as_i64()
        .or_else(|| number.as_u64().map(|_| i64::MAX))
        .ok_or_else(|| Invalid(format!("{field} must be a whole number of seconds")))
}

/// `{service user id: {subject?, groups?}}`.
fn approver_map(value: &Value) -> Result<BTreeMap<String, Approver>, Invalid> {
    let Value::Object(map) = value else {
        return Err(Invalid::new(
            "approver_map must be an object of user ids (Slack user id, Jira account id) to {subject, groups}",
        ));
    };
    if map.len() > MAX_MAPPED_APPROVERS {
        return Err(Invalid(format!(
            "approver_map may name at most {MAX_MAPPED_APPROVERS} users"
        )));
    }
    map.iter()
        .map(|(user, approver)| {
            let id = user.trim();
            if id.is_empty()
                || id.len() > 128
                || id.contains(|c: char| c.is_whitespace() || c.is_control())
            {
                return Err(Invalid(format!(
                    "approver_map: {user:?} is not a user id (1 to 128 characters, no spaces)"
                )));
            }
            Ok((
                id.to_owned(),
                parse_approver(&format!("approver_map.{id}"), approver)?,
            ))
        })
        .collect()
}

/// A list of Jira status names.
fn transitions(field: &str, value: &Value) -> Result<Vec<String>, Invalid> {
    let Value::Array(items) = value else {
        return Err(Invalid(format!(
            "{field} must be a list of Jira status names"
        )));
    };
    if items.len() > MAX_TRANSITIONS {
        return Err(Invalid(format!(
            "{field} may name at most {MAX_TRANSITIONS} statuses"
        )));
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(name)
                if !name.trim().is_empty()
                    && name.trim().chars().count() <= 255
                    && !name.chars().any(char::is_control) =>
            {
                Ok(name.trim().to_owned())
            }
            _ => Err(Invalid(format!(
                "{field} must contain status names (1 to 255 characters)"
            ))),
        })
        .collect()
}

fn headers(value: Value) -> Result<Vec<(String, HeaderValue)>, Invalid> {
    let Value::Object(map) = value else {
        return Err(Invalid::new(
            "headers must be an object of header names to string values",
        ));
    };
    map.into_iter()
        .map(|(name, value)| match value {
            Value::String(text) if text.trim() == MASK => Ok((name, HeaderValue::Keep)),
            Value::String(text) => Ok((name, HeaderValue::Set(Secret::new(text.trim())))),
            _ => Err(Invalid(format!("headers.{name} must be a string"))),
        })
        .collect()
}

/// Checks header names and values as sent. Values are credentials: messages never include them.
pub fn check_headers(headers: &[(String, HeaderValue)]) -> Result<(), Invalid> {
    if headers.len() > MAX_HEADERS {
        return Err(Invalid(format!(
            "at most {MAX_HEADERS} headers are allowed"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (name, value) in headers {
        let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || name.len() > MAX_HEADER_NAME_CHARS || !name.chars().all(token_char) {
            return Err(Invalid(format!("{name:?} is not a valid HTTP header name")));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Invalid(format!(
                "header {name:?} is set by the platform and cannot be configured"
            )));
        }
        if !seen.insert(lower) {
            return Err(Invalid(format!(
                "header {name:?} is given more than once (header names ignore case)"
            )));
        }
        if let HeaderValue::Set(secret) = value
            && secret.expose().chars().any(char::is_control)
        {
            return Err(Invalid(format!(
                "header {name:?} has a value with control characters (line breaks?)"
            )));
        }
    }
    Ok(())
}

/// Replaces each `Keep` with the value stored under the same header name (ignoring case).
pub fn resolve_headers(
    sent: Vec<(String, HeaderValue)>,
    stored: &[(String, Secret)],
) -> Result<Vec<(String, Secret)>, Invalid> {
    sent.into_iter()
        .map(|(name, value)| match value {
            HeaderValue::Set(secret) => Ok((name, secret)),
            HeaderValue::Keep => match header(stored, &name) {
                Some(secret) => Ok((name, secret.clone())),
                None => Err(Invalid(format!(
                    "header {name:?} is masked ({MASK:?}) but no value is stored for it; send the real value"
                ))),
            },
        })
        .collect()
}

/// The value of a header, looked up ignoring case.
pub fn header<'a>(headers: &'a [(String, Secret)], name: &str) -> Option<&'a Secret> {
    headers
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        .map(|(_, secret)| secret)
}

fn has_value(headers: &[(String, Secret)], name: &str) -> bool {
    header(headers, name).is_some_and(|secret| !secret.expose().is_empty())
}

/// Where and how a connector delivers, checked against the rules of its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub kind: ConnectorType,
    pub endpoint: String,
    pub timeout_seconds: u32,
    pub slack_security_mode: Option<SlackSecurityMode>,
}

impl Target {
    /// The configuration rules; `kind` defaults to webhook and the timeout to `default_timeout`.
    pub fn check(
        kind: Option<&str>,
        endpoint: Option<&str>,
        timeout_seconds: Option<i64>,
        default_timeout: u32,
        slack_security_mode: Option<&str>,
    ) -> Result<Target, Invalid> {
        let kind = kind.map_or(Ok(ConnectorType::Webhook), ConnectorType::parse)?;
        let endpoint = endpoint_for(kind, endpoint.unwrap_or_default())?;
        let timeout_seconds = match timeout_seconds {
            None => default_timeout,
            Some(seconds) => timeout(seconds)?,
        };
        let slack_security_mode = match (kind, slack_security_mode) {
            (ConnectorType::Slack, None) => Some(SlackSecurityMode::Compat),
            (ConnectorType::Slack, Some(mode)) => Some(SlackSecurityMode::parse(mode)?),
            (_, None) => None,
            (other, Some(_)) => {
                return Err(Invalid(format!(
                    "slack_security_mode applies only to slack connectors, not {}",
                    other.as_str()
                )));
            }
        };
        Ok(Target {
            kind,
            endpoint,
            timeout_seconds,
            slack_security_mode,
        })
    }

    /// The credential rules of the type, over the resolved headers.
    pub fn check_credentials(&self, headers: &[(String, Secret)]) -> Result<(), Invalid> {
        match self.kind {
            ConnectorType::Slack => {
                if !has_value(headers, SLACK_BOT_TOKEN) {
                    return Err(Invalid(format!(
                        "slack connectors need the bot token in header {SLACK_BOT_TOKEN}"
                    )));
                }
                if self.slack_security_mode == Some(SlackSecurityMode::Strict)
                    && !has_value(headers, SLACK_SIGNING_SECRET)
                {
                    return Err(Invalid(format!(
                        "slack strict mode needs the signing secret in header {SLACK_SIGNING_SECRET}"
                    )));
                }
                Ok(())
            }
            ConnectorType::Pagerduty => {
                if PAGERDUTY_ROUTING_KEYS
                    .iter()
                    .any(|name| has_value(headers, name))
                {
                    Ok(())
                } else {
                    Err(Invalid(format!(
                        "pagerduty connectors need a routing key in header {} (or {})",
                        PAGERDUTY_ROUTING_KEYS[0], PAGERDUTY_ROUTING_KEYS[1]
                    )))
                }
            }
            ConnectorType::Webhook | ConnectorType::Teams | ConnectorType::Jira => Ok(()),
        }
    }
}

pub fn timeout(seconds: i64) -> Result<u32, Invalid> {
    u32::try_from(seconds)
        .ok()
        .filter(|s| (MIN_TIMEOUT_SECONDS..=MAX_TIMEOUT_SECONDS).contains(s))
        .ok_or_else(|| {
            Invalid(format!(
                "timeout_seconds must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS} (got {seconds})"
            ))
        })
}

fn endpoint_for(kind: ConnectorType, raw: &str) -> Result<String, Invalid> {
    let endpoint = raw.trim();
    if endpoint.is_empty() {
        return Err(Invalid::new("endpoint is required"));
    }
    if endpoint.len() > MAX_ENDPOINT_CHARS || endpoint.chars().any(char::is_control) {
        return Err(Invalid::new(
            "endpoint must be at most 2048 characters, without control characters",
        ));
    }
    match kind {
        ConnectorType::Slack => slack_channel(endpoint),
        ConnectorType::Webhook => secure_url("webhook endpoint", endpoint),
        ConnectorType::Teams => secure_url("teams endpoint", endpoint),
        ConnectorType::Jira => {
            let base = secure_url("jira endpoint", endpoint)?;
            if base.contains(['?', '#']) {
                return Err(Invalid(format!(
                    "jira endpoint {base:?} must be the site's base URL (e.g. https://acme.atlassian.net), without query or fragment"
                )));
            }
            Ok(base.trim_end_matches('/').to_owned())
        }
        ConnectorType::Pagerduty if endpoint.contains("://") => {
            secure_url("pagerduty endpoint", endpoint)
        }
        ConnectorType::Pagerduty => {
            if endpoint.contains(char::is_whitespace) {
                return Err(Invalid(format!(
                    "pagerduty endpoint {endpoint:?} must be an https:// events URL or a single word"
                )));
            }
            Ok(endpoint.to_owned())
        }
    }
}

/// A Slack conversation id: `C…` (channel), `G…` (private channel) or `D…` (direct message).
fn slack_channel(endpoint: &str) -> Result<String, Invalid> {
    let mut chars = endpoint.chars();
    let valid = matches!(chars.next(), Some('C' | 'G' | 'D'))
        && endpoint.len() >= 3
        && endpoint.len() <= 24
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if valid {
        Ok(endpoint.to_owned())
    } else {
        Err(Invalid(format!(
            "slack endpoint {endpoint:?} must be a channel id such as C0123456789 (not a #name)"
        )))
    }
}

/// An `https://` URL with a host. Plain `http://` is accepted only for loopback hosts: that
/// traffic never leaves the machine, and it lets a local relay or test double stand in.
fn secure_url(field: &str, raw: &str) -> Result<String, Invalid> {
    let parsed = url::Url::parse(raw)
        .map_err(|error| Invalid(format!("{field} {raw:?} is not a valid URL: {error}")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let secure = match parsed.scheme() {
        "https" => true,
        "http" => loopback,
        _ => false,
    };
    if !secure || parsed.host_str().is_none_or(str::is_empty) {
        return Err(Invalid(format!(
            "{field} {raw:?} must be an https:// URL with a host"
        )));
    }
    Ok(raw.to_owned())
}

/// A connector's validated settings: the stored document. Credentials are kept apart; only the
/// names of its headers are here, and only secrets under these names belong to the connector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectorSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    pub endpoint: String,
    #[serde(default)]
    pub header_names: Vec<String>,
    pub enabled: bool,
    pub timeout_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_security_mode: Option<SlackSecurityMode>,
    /// Slack and Jira: who a person deciding there is, by their Slack user id or Jira account
    /// id. Anyone not listed decides as `slack:<id>` / `jira:<id>` with no groups.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approver_map: BTreeMap<String, Approver>,
    /// Connectors that carry decision links: who holds them. Without it, `link:<name>` with
    /// no groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_approver: Option<Approver>,
    /// Jira: statuses that approve (scope once) and reject; empty means the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approve_transitions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reject_transitions: Vec<String>,
}

impl ConnectorType {
    /// Whoever decides through this type is a person the service names (Slack, Jira).
    pub fn names_its_users(self) -> bool {
        matches!(self, ConnectorType::Slack | ConnectorType::Jira)
    }

    /// This type carries signed decision links (every type but Slack, which has buttons).
    pub fn carries_links(self) -> bool {
        self != ConnectorType::Slack
    }
}

/// The approver settings of a connector.
struct DecisionSettings {
    approver_map: BTreeMap<String, Approver>,
    link_approver: Option<Approver>,
    approve_transitions: Vec<String>,
    reject_transitions: Vec<String>,
}

/// The approver settings of a connector, checked against its type.
fn decision_settings(kind: ConnectorType, fields: &Fields) -> Result<DecisionSettings, Invalid> {
    let approver_map = fields.approver_map.clone().unwrap_or_default();
    let link_approver = fields
        .link_approver
        .clone()
        .filter(|approver| *approver != Approver::default());
    let approve = fields.approve_transitions.clone().unwrap_or_default();
    let reject = fields.reject_transitions.clone().unwrap_or_default();
    let applies_to = |set: bool, applies: bool, what: &str, types: &str| {
        if set && !applies {
            Err(Invalid(format!(
                "{what} applies only to {types} connectors, not {}",
                kind.as_str()
            )))
        } else {
            Ok(())
        }
    };
    applies_to(
        !approver_map.is_empty(),
        kind.names_its_users(),
        "approver_map",
        "slack and jira",
    )?;
    applies_to(
        link_approver.is_some(),
        kind.carries_links(),
        "link_approver",
        "webhook, teams, jira and pagerduty",
    )?;
    applies_to(
        !approve.is_empty() || !reject.is_empty(),
        kind == ConnectorType::Jira,
        "approve_transitions and reject_transitions",
        "jira",
    )?;
    if let Some(both) = approve
        .iter()
        .find(|a| reject.iter().any(|r| r.eq_ignore_ascii_case(a)))
    {
        return Err(Invalid(format!(
            "status {both:?} is in both approve_transitions and reject_transitions"
        )));
    }
    Ok(DecisionSettings {
        approver_map,
        link_approver,
        approve_transitions: approve,
        reject_transitions: reject,
    })
}

impl ConnectorSpec {
    /// Validates a complete connector: `fields` after defaults and `headers` after resolution.
    pub fn new(
        fields: &Fields,
        headers: &[(String, Secret)],
        default_timeout: u32,
    ) -> Result<Self, Invalid> {
        let name = connector_name(fields.name.as_deref())?;
        let target = Target::check(
            fields.kind.as_deref(),
            fields.endpoint.as_deref(),
            fields.timeout_seconds,
            default_timeout,
            fields.slack_security_mode.as_deref(),
        )?;
        target.check_credentials(headers)?;
        let decisions = decision_settings(target.kind, fields)?;
        Ok(ConnectorSpec {
            name,
            kind: target.kind,
            endpoint: target.endpoint,
            header_names: headers.iter().map(|(name, _)| name.clone()).collect(),
            enabled: fields.enabled.unwrap_or(true),
            timeout_seconds: target.timeout_seconds,
            slack_security_mode: target.slack_security_mode,
            approver_map: decisions.approver_map,
            link_approver: decisions.link_approver,
            approve_transitions: decisions.approve_transitions,
            reject_transitions: decisions.reject_transitions,
        })
    }

    /// Every group this connector gives to someone deciding through it.
    pub fn granted_groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self
            .approver_map
            .values()
            .chain(self.link_approver.iter())
            .flat_map(|approver| approver.groups.iter().cloned())
            .collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// Who `user` (a Slack user id or Jira account id) is: mapped, or `<type>:<user>` with no
    /// groups.
    pub fn approver_for(&self, user: &str) -> Approver {
        let default_subject = format!("{}:{user}", self.kind.as_str());
        match self.approver_map.get(user) {
            Some(mapped) => Approver {
                subject: if mapped.subject.is_empty() {
                    default_subject
                } else {
                    mapped.subject.clone()
                },
                groups: mapped.groups.clone(),
            },
            None => Approver {
                subject: default_subject,
                groups: Vec::new(),
            },
        }
    }

    /// Who holds a decision link this connector carried.
    pub fn link_holder(&self) -> Approver {
        let configured = self.link_approver.clone().unwrap_or_default();
        Approver {
            subject: if configured.subject.is_empty() {
                format!("link:{}", self.name)
            } else {
                configured.subject
            },
            groups: configured.groups,
        }
    }

    /// The Jira statuses that approve and reject, the defaults where none are configured.
    pub fn transitions(&self) -> (Vec<String>, Vec<String>) {
        let or_default = |names: &[String], default: &[&str]| {
            if names.is_empty() {
                default.iter().map(|n| (*n).to_owned()).collect()
            } else {
                names.to_vec()
            }
        };
        (
            or_default(
                &self.approve_transitions,
                &crate::dispatch::DEFAULT_APPROVE_TRANSITIONS,
            ),
            or_default(
                &self.reject_transitions,
                &crate::dispatch::DEFAULT_REJECT_TRANSITIONS,
            ),
        )
    }

    /// This connector with a PATCH applied; `headers` is the resolved header set to keep.
    pub fn patched(&self, patch: &Fields, headers: &[(String, Secret)]) -> Result<Self, Invalid> {
        let kind = patch
            .kind
            .clone()
            .unwrap_or_else(|| self.kind.as_str().to_owned());
        // A stored Slack mode does not follow the connector to another type.
        let still_slack = ConnectorType::parse(&kind).is_ok_and(|k| k == ConnectorType::Slack);
        let slack_security_mode = patch.slack_security_mode.clone().or_else(|| {
            self.slack_security_mode
                .filter(|_| still_slack)
                .map(|mode| mode.as_str().to_owned())
        });
        let target_kind = ConnectorType::parse(&kind).ok();
        // Approver settings, like the Slack mode, stay only where the new type has a use for them.
        let keep = |applies: fn(ConnectorType) -> bool| target_kind.is_some_and(applies);
        let merged = Fields {
            approver_map: patch.approver_map.clone().or_else(|| {
                keep(ConnectorType::names_its_users).then(|| self.approver_map.clone())
            }),
            link_approver: patch.link_approver.clone().or_else(|| {
                self.link_approver
                    .clone()
                    .filter(|_| keep(ConnectorType::carries_links))
            }),
            approve_transitions: patch.approve_transitions.clone().or_else(|| {
                keep(|k| k == ConnectorType::Jira).then(|| self.approve_transitions.clone())
            }),
            reject_transitions: patch.reject_transitions.clone().or_else(|| {
                keep(|k| k == ConnectorType::Jira).then(|| self.reject_transitions.clone())
            }),
            name: patch.name.clone().or_else(|| Some(self.name.clone())),
            kind: Some(kind),
            endpoint: patch
                .endpoint
                .clone()
                .or_else(|| Some(self.endpoint.clone())),
            headers: None,
            enabled: patch.enabled.or(Some(self.enabled)),
            timeout_seconds: patch
                .timeout_seconds
                .or(Some(i64::from(self.timeout_seconds))),
            slack_security_mode,
        };
        ConnectorSpec::new(&merged, headers, self.timeout_seconds)
    }

    pub fn target(&self) -> Target {
        Target {
            kind: self.kind,
            endpoint: self.endpoint.clone(),
            timeout_seconds: self.timeout_seconds,
            slack_security_mode: self.slack_security_mode,
        }
    }
}

fn connector_name(raw: Option<&str>) -> Result<String, Invalid> {
    let name = raw.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(Invalid::new("name is required"));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Invalid(format!(
            "name must be at most {MAX_NAME_CHARS} characters, without control characters"
        )));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
#[path = "connector_tests.rs"]
mod tests;
