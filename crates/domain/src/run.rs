//! Runs: their statuses and the transitions between them, and the event types of a timeline.

use serde::{Deserialize, Serialize};

use crate::Invalid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Running,
    Paused,
    PausedApproval,
    PausedConsent,
    Completed,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Paused => "PAUSED",
            RunStatus::PausedApproval => "PAUSED_APPROVAL",
            RunStatus::PausedConsent => "PAUSED_CONSENT",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        serde_json::from_value(serde_json::Value::String(text.trim().to_ascii_uppercase())).map_err(|_| {
            Invalid(format!("status {text:?} is not one of RUNNING, PAUSED, PAUSED_APPROVAL, PAUSED_CONSENT, COMPLETED, FAILED"))
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed)
    }

    pub fn is_paused(self) -> bool {
        matches!(
            self,
            RunStatus::Paused | RunStatus::PausedApproval | RunStatus::PausedConsent
        )
    }

    /// Whether the platform may move a run from `self` to `next`. Terminal states are final;
    /// a paused run resumes to RUNNING or fails; a run can pause for consent and then for
    /// approval (or the other way round) only by resuming in between. The one exception is
    /// the platform's own: an approved call whose user's token is gone when it is replayed
    /// moves its run PAUSED_APPROVAL → PAUSED_CONSENT and, on consent, back (the approval
    /// stands; see the engine's resume worker).
    pub fn can_become(self, next: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (
                Running,
                Paused | PausedApproval | PausedConsent | Completed | Failed
            ) | (Paused | PausedApproval | PausedConsent, Running | Failed)
        )
    }

    /// Transitions a client may ask for with `PATCH /runs/{id}` (the pauses for approval and
    /// consent are the platform's own to make, except PAUSED_APPROVAL which the API documents).
    pub fn settable_by_client(self) -> bool {
        matches!(
            self,
            RunStatus::Running
                | RunStatus::PausedApproval
                | RunStatus::Completed
                | RunStatus::Failed
        )
    }
}

/// Checks a requested transition, with the API's error message.
pub fn transition(current: RunStatus, next: RunStatus) -> Result<RunStatus, Invalid> {
    if current.can_become(next) {
        Ok(next)
    } else {
        Err(Invalid(format!(
            "invalid transition from {} to {}",
            current.as_str(),
            next.as_str()
        )))
    }
}

/// The documented event types; anything else a client posts is refused.
pub const EVENT_TYPES: [&str; 16] = [
    "USER_MESSAGE",
    "AGENT_MESSAGE",
    "TOOL_REQUEST",
    "TOOL_RESPONSE",
    "APPROVAL_REQUIRED",
    "CONSENT_REQUIRED",
    "APPROVED",
    "REJECTED",
    "RESUMED",
    "RUN_CREATED",
    "INVOKE_REQUESTED",
    "INVOKE_COMPLETED",
    "INVOKE_FAILED",
    "TOOL_CALLED",
    "COMPLETED",
    "FAILED",
];

pub fn event_type(text: &str) -> Result<String, Invalid> {
    let upper = text.trim().to_ascii_uppercase();
    if EVENT_TYPES.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(Invalid(format!(
            "event type {text:?} is not one of {}",
            EVENT_TYPES.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RunStatus::*;

    #[test]
    fn documented_transitions() {
        for (from, to) in [
            (Running, PausedApproval),
            (Running, Completed),
            (Running, Failed),
            (PausedApproval, Running),
            (PausedApproval, Failed),
        ] {
            assert_eq!(transition(from, to), Ok(to));
        }
        for from in [Completed, Failed] {
            for to in [Running, PausedApproval, Completed, Failed] {
                assert_eq!(
                    transition(from, to).unwrap_err().0,
                    format!(
                        "invalid transition from {} to {}",
                        from.as_str(),
                        to.as_str()
                    )
                );
            }
        }
        assert!(transition(PausedApproval, Completed).is_err());
        assert!(transition(PausedConsent, PausedApproval).is_err());
    }

    #[test]
    fn parse_and_names() {
        assert_eq!(RunStatus::parse("paused_approval"), Ok(PausedApproval));
        assert!(RunStatus::parse("DONE").is_err());
        assert_eq!(
            serde_json::to_string(&PausedConsent).unwrap(),
            "\"PAUSED_CONSENT\""
        );
        assert!(!PausedConsent.settable_by_client());
        assert_eq!(event_type("tool_request").unwrap(), "TOOL_REQUEST");
        assert!(event_type("HACKED").is_err());
    }
}
