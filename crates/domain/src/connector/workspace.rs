//! Workspace-level connector state: the delivery defaults and the activity log entries.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS, timeout, whole_seconds,
};
use crate::Invalid;
use crate::policy::DeliveryMode;

/// Workspace defaults for approval delivery, used when a policy leaves them out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Defaults {
    #[serde(default = "first_success")]
    pub default_delivery_mode: DeliveryMode,
    #[serde(default = "yes")]
    pub default_fallback_to_ui: bool,
    #[serde(default = "default_timeout")]
    pub default_timeout_seconds: u32,
}

fn first_success() -> DeliveryMode {
    DeliveryMode::FirstSuccess
}
fn yes() -> bool {
    true
}
fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_SECONDS
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            default_delivery_mode: first_success(),
            default_fallback_to_ui: yes(),
            default_timeout_seconds: default_timeout(),
        }
    }
}

impl Defaults {
    /// Applies a partial update: only the `default_*` keys present change. The read-only
    /// `min_timeout_seconds`/`max_timeout_seconds` and unknown keys are ignored.
    pub fn updated(&self, body: Value) -> Result<Defaults, Invalid> {
        let Value::Object(doc) = body else {
            return Err(Invalid::new("request body must be a JSON object"));
        };
        let mut defaults = self.clone();
        for (key, value) in doc {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "default_delivery_mode" => {
                    defaults.default_delivery_mode = match value.as_str().map(str::trim) {
                        Some("first_success") => DeliveryMode::FirstSuccess,
                        Some("all") => DeliveryMode::All,
                        _ => {
                            return Err(Invalid(format!(
                                "default_delivery_mode {value} is not supported: use first_success or all"
                            )));
                        }
                    };
                }
                "default_fallback_to_ui" => {
                    defaults.default_fallback_to_ui = value.as_bool().ok_or_else(|| {
                        Invalid::new("default_fallback_to_ui must be true or false")
                    })?;
                }
                "default_timeout_seconds" => {
                    let seconds = whole_seconds(&key, &value)?;
                    defaults.default_timeout_seconds = timeout(seconds).map_err(|_| {
                        Invalid(format!(
                            "default_timeout_seconds must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS} (got {seconds})"
                        ))
                    })?;
                }
                _ => {}
            }
        }
        Ok(defaults)
    }
}

/// How many activity entries to return: `limit` from the query, 50 when absent, 1–500.
pub fn activity_limit(raw: Option<&str>) -> Result<u32, Invalid> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(50);
    };
    raw.parse::<u32>()
        .ok()
        .filter(|limit| (1..=500).contains(limit))
        .ok_or_else(|| {
            Invalid(format!(
                "limit {raw:?} must be a whole number from 1 to 500"
            ))
        })
}

/// One entry of the connector activity log, as stored (the log adds `id` and `timestamp`).
/// Empty strings and `None` mean "not applicable to this event".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Activity {
    pub event: String,
    pub connector_id: String,
    pub connector_name: String,
    pub request_id: String,
    pub action_id: String,
    pub run_id: String,
    pub decision: String,
    pub approver_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    pub message: String,
}
