//! The outcome of a connector test: three checks (configuration, credentials, connectivity)
//! and an overall status.

use serde::Serialize;

use crate::Invalid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Passed,
    Failed,
    Skipped,
}

/// One check of a connector test.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub label: &'static str,
    pub status: CheckStatus,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl Check {
    pub fn config(outcome: Result<(), &Invalid>) -> Check {
        Check::of(
            "config",
            "Configuration",
            outcome,
            "Connector configuration is valid",
        )
    }

    pub fn credentials(outcome: Result<(), &Invalid>) -> Check {
        Check::of(
            "credentials",
            "Credentials",
            outcome,
            "Required credentials are present",
        )
    }

    fn of(
        id: &'static str,
        label: &'static str,
        outcome: Result<(), &Invalid>,
        passed: &str,
    ) -> Check {
        let (status, message) = match outcome {
            Ok(()) => (CheckStatus::Passed, passed.to_owned()),
            Err(invalid) => (CheckStatus::Failed, invalid.0.clone()),
        };
        Check {
            id,
            label,
            status,
            message,
            duration_ms: None,
        }
    }

    pub fn skipped(id: &'static str, label: &'static str, message: impl Into<String>) -> Check {
        Check {
            id,
            label,
            status: CheckStatus::Skipped,
            message: message.into(),
            duration_ms: None,
        }
    }

    pub fn connectivity(passed: bool, message: impl Into<String>, duration_ms: u64) -> Check {
        Check {
            id: "connectivity",
            label: "Connectivity",
            status: if passed {
                CheckStatus::Passed
            } else {
                CheckStatus::Failed
            },
            message: message.into(),
            duration_ms: Some(duration_ms),
        }
    }
}

/// The outcome of a connector test: healthy when no check failed (skipped checks do not count).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestReport {
    pub status: &'static str,
    pub connector_type: String,
    pub endpoint: String,
    pub checks: Vec<Check>,
}

impl TestReport {
    pub fn new(connector_type: String, endpoint: String, checks: Vec<Check>) -> Self {
        let healthy = checks.iter().all(|c| c.status != CheckStatus::Failed);
        TestReport {
            status: if healthy { "healthy" } else { "unhealthy" },
            connector_type,
            endpoint,
            checks,
        }
    }

    pub fn healthy(&self) -> bool {
        self.status == "healthy"
    }

    /// A one-line summary for the activity log: the first failure, or that all passed.
    pub fn summary(&self) -> String {
        self.checks
            .iter()
            .find(|c| c.status == CheckStatus::Failed)
            .map_or_else(
                || "Connector test passed".to_owned(),
                |c| format!("{} check failed: {}", c.label, c.message),
            )
    }
}
