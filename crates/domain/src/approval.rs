//! Approvals: scopes, the decision body, and payload hashing.

use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Invalid;

/// How far an approval reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// That exact blocked action (bound to its payload hash).
    Once,
    /// Matching actions (same tool, method and capability) for the rest of the run.
    Run,
    /// Same user, agent and tool for a time window.
    AgentUserTtl,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Once => "once",
            Scope::Run => "run",
            Scope::AgentUserTtl => "agent_user_ttl",
        }
    }

    /// Accepts the clients' spellings: once, run, window / ttl / agent_user_ttl.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match text.trim().to_ascii_lowercase().as_str() {
            "once" => Ok(Scope::Once),
            "run" => Ok(Scope::Run),
            "window" | "ttl" | "agent_user_ttl" => Ok(Scope::AgentUserTtl),
            _ => Err(Invalid(format!(
                "scope {text:?} is not one of once, run, agent_user_ttl (window)"
            ))),
        }
    }
}

/// A parsed approve body: `{scope?, duration?, reason?}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalDecision {
    pub scope: Scope,
    /// Seconds, for `agent_user_ttl`.
    pub duration: Option<i64>,
    pub reason: String,
}

/// Reads the approve body. No scope and no duration means `once`; a duration alone means a
/// window; a duration with once or run is refused (as the clients do).
pub fn parse_decision(body: &Value) -> Result<ApprovalDecision, Invalid> {
    let text = |key: &str| crate::fields::text(body, key);
    let (scope, duration, reason) = (text("scope")?, text("duration")?, text("reason")?);
    let duration = if duration.is_empty() {
        None
    } else {
        Some(crate::duration::parse_seconds(&duration)?)
    };
    let scope = match (scope.as_str(), duration) {
        ("", None) => Scope::Once,
        ("", Some(_)) => Scope::AgentUserTtl,
        (scope, _) => Scope::parse(scope)?,
    };
    if duration.is_some() && scope != Scope::AgentUserTtl {
        return Err(Invalid(format!(
            "duration applies only to the window scope (agent_user_ttl), not {}",
            scope.as_str()
        )));
    }
    if reason.len() > 2000 {
        return Err(Invalid::new("reason is longer than 2000 characters"));
    }
    Ok(ApprovalDecision {
        scope,
        duration,
        reason,
    })
}

/// A decision on an access request: approve with a scope, or reject with a reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve(ApprovalDecision),
    Reject(String),
}

/// Whether `decision` asks again for what a decided request already says (a double click, a
/// retried delivery): the same verdict and scope, and the same window when one is given. The
/// approver and the reason do not matter; an expired approval repeats nothing.
/// `window_secs` is the request's recorded window, if it has one.
pub fn repeats(status: &str, scope: &str, window_secs: Option<i64>, decision: &Decision) -> bool {
    match (status, decision) {
        ("APPROVED", Decision::Approve(wanted)) => {
            wanted.scope.as_str() == scope
                && (wanted.duration.is_none() || wanted.duration == window_secs)
        }
        ("REJECTED", Decision::Reject(_)) => true,
        _ => false,
    }
}

/// SHA-256 over method, URL and body, hex: what an approval of a single action is bound to.
pub fn payload_hash(method: &str, url: &str, body: &[u8]) -> String {
    let mut data = Vec::with_capacity(method.len() + url.len() + body.len() + 2);
    data.extend_from_slice(method.to_ascii_uppercase().as_bytes());
    data.push(b'\n');
    data.extend_from_slice(url.as_bytes());
    data.push(b'\n');
    data.extend_from_slice(body);
    crate::hex::encode(digest(&SHA256, &data).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decisions() {
        assert_eq!(parse_decision(&json!({})).unwrap().scope, Scope::Once);
        assert_eq!(
            parse_decision(&json!({"scope": "run"})).unwrap().scope,
            Scope::Run
        );
        let window = parse_decision(&json!({"duration": "4h"})).unwrap();
        assert_eq!(
            (window.scope, window.duration),
            (Scope::AgentUserTtl, Some(14_400))
        );
        assert_eq!(
            parse_decision(&json!({"scope": "window", "duration": "30m", "reason": "ok"}))
                .unwrap()
                .reason,
            "ok"
        );
        assert_eq!(
            parse_decision(&json!({"scope": "ttl"})).unwrap(),
            ApprovalDecision {
                scope: Scope::AgentUserTtl,
                duration: None,
                reason: String::new()
            }
        );
        for bad in [
            json!({"scope": "forever"}),
            json!({"scope": "once", "duration": "1h"}),
            json!({"duration": "soon"}),
            json!({"scope": 1}),
        ] {
            assert!(parse_decision(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_repeated_decision_is_recognised_and_a_different_one_is_not() {
        let approve = |scope, duration| {
            Decision::Approve(ApprovalDecision {
                scope,
                duration,
                reason: "again".into(),
            })
        };
        let reject = Decision::Reject(String::new());
        assert!(repeats(
            "APPROVED",
            "once",
            None,
            &approve(Scope::Once, None)
        ));
        assert!(repeats(
            "APPROVED",
            "agent_user_ttl",
            Some(14_400),
            &approve(Scope::AgentUserTtl, None)
        ));
        assert!(repeats(
            "APPROVED",
            "agent_user_ttl",
            Some(14_400),
            &approve(Scope::AgentUserTtl, Some(14_400))
        ));
        assert!(!repeats(
            "APPROVED",
            "agent_user_ttl",
            Some(14_400),
            &approve(Scope::AgentUserTtl, Some(3_600))
        ));
        assert!(!repeats(
            "APPROVED",
            "once",
            None,
            &approve(Scope::Run, None)
        ));
        assert!(!repeats("APPROVED", "once", None, &reject));
        assert!(repeats("REJECTED", "", None, &reject));
        assert!(!repeats("REJECTED", "", None, &approve(Scope::Once, None)));
        assert!(!repeats(
            "EXPIRED",
            "agent_user_ttl",
            Some(60),
            &approve(Scope::AgentUserTtl, None)
        ));
        assert!(!repeats("PENDING", "", None, &reject));
    }

    #[test]
    fn payload_hash_binds_method_url_and_body() {
        let base = payload_hash("POST", "https://api.stripe.com/v1/charges", b"amount=100");
        assert_eq!(base.len(), 64);
        assert_eq!(
            base,
            payload_hash("post", "https://api.stripe.com/v1/charges", b"amount=100")
        );
        assert_ne!(
            base,
            payload_hash("POST", "https://api.stripe.com/v1/charges", b"amount=999")
        );
        assert_ne!(
            base,
            payload_hash("PUT", "https://api.stripe.com/v1/charges", b"amount=100")
        );
        assert_ne!(
            base,
            payload_hash("POST", "https://api.stripe.com/v1/refunds", b"amount=100")
        );
    }
}
