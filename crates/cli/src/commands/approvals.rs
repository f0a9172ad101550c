//! `runagents approvals list|approve|reject`: access requests raised when a policy says
//! `approval_required`.

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::items;
use crate::Ctx;
use crate::client::{Body, query, segment};
use crate::error::{Error, Result};
use crate::render::{Cell, Table, pick};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List access requests
    List {
        /// Only requests in this status: PENDING, APPROVED, REJECTED or EXPIRED
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve a request for one action, the whole run, or a time window
    Approve {
        id: String,
        /// once (this action), run (the rest of the run) or window (user × agent × tool for
        /// --duration); ttl and agent_user_ttl mean window
        #[arg(long)]
        scope: Option<String>,
        /// How long a window approval lasts, e.g. 30m, 4h (implies --scope window)
        #[arg(long)]
        duration: Option<String>,
        /// Why, for the audit trail
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a request
    Reject {
        id: String,
        /// Why, for the audit trail
        #[arg(long)]
        reason: Option<String>,
    },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    match cmd {
        Cmd::List { status } => {
            let status = status.unwrap_or_default().trim().to_ascii_uppercase();
            let requests = api
                .get(&format!(
                    "/approvals/requests{}",
                    query(&[("status", status)])
                ))
                .await?;
            ctx.out.either(&requests, |out| {
                let mut table =
                    Table::new(&["ID", "AGENT", "TOOL", "SUBJECT", "STATUS", "CREATED"]);
                for request in items(&requests) {
                    table.row(vec![
                        pick(request, &["id"]).into(),
                        pick(request, &["agent", "agent_id"]).into(),
                        pick(request, &["tool", "tool_id"]).into(),
                        pick(request, &["subject"]).into(),
                        Cell::status(pick(request, &["status"])),
                        out.time(&pick(request, &["created_at"])),
                    ]);
                }
                out.table(&table, "No access requests.")
            })
        }
        Cmd::Approve {
            id,
            scope,
            duration,
            reason,
        } => {
            let decision =
                approval_decision(scope.as_deref(), duration.as_deref(), reason.as_deref())?;
            let answer = api
                .send(
                    reqwest::Method::POST,
                    &format!("/approvals/requests/{}/approve", segment(&id)),
                    Body::Json(decision),
                )
                .await?;
            ctx.out.either(&answer, |out| {
                let scope = pick(&answer, &["scope"]);
                let until = pick(&answer, &["expires_at"]);
                let mut text = format!("request {id} approved");
                if !scope.is_empty() {
                    text.push_str(&format!(" (scope {scope}"));
                    if !until.is_empty() {
                        text.push_str(&format!(", until {until}"));
                    }
                    text.push(')');
                }
                out.done(&text)
            })
        }
        Cmd::Reject { id, reason } => {
            let path = format!("/approvals/requests/{}/reject", segment(&id));
            let answer = match reason.filter(|r| !r.trim().is_empty()) {
                Some(reason) => api.post(&path, json!({"reason": reason})).await?,
                None => api.post_empty(&path).await?,
            };
            ctx.out
                .either(&answer, |out| out.done(&format!("request {id} rejected")))
        }
    }
}

/// The approve body: the public CLI's rules, plus `reason`. Nothing given → `null` (the server
/// decides). `window`, `ttl` and `agent_user_ttl` are one scope, sent as `agent_user_ttl`; a
/// duration alone means that scope, and a duration with `once` or `run` is an error.
pub(crate) fn approval_decision(
    scope: Option<&str>,
    duration: Option<&str>,
    reason: Option<&str>,
) -> Result<Value> {
    let given = |value: Option<&str>| {
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let (scope, duration, reason) = (given(scope), given(duration), given(reason));
    let scope = match scope.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None if duration.is_some() => Some("agent_user_ttl"),
        None => None,
        Some("once") => Some("once"),
        Some("run") => Some("run"),
        Some("window" | "ttl" | "agent_user_ttl") => Some("agent_user_ttl"),
        Some(other) => {
            return Err(Error::invalid(format!(
                "invalid scope {other:?}: use once, run or window"
            )));
        }
    };
    if let (Some(scope @ ("once" | "run")), Some(_)) = (scope, &duration) {
        return Err(Error::invalid(format!(
            "--duration applies only to --scope window, not {scope}"
        )));
    }
    let mut body = Map::new();
    if let Some(scope) = scope {
        body.insert("scope".into(), json!(scope));
    }
    if let Some(duration) = duration {
        runagents_domain::duration::parse_seconds(&duration)
            .map_err(|e| Error::invalid(e.to_string()))?;
        body.insert("duration".into(), json!(duration));
    }
    if let Some(reason) = reason {
        body.insert("reason".into(), json!(reason));
    }
    Ok(if body.is_empty() {
        Value::Null
    } else {
        Value::Object(body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_normalised_like_the_public_cli() {
        assert_eq!(approval_decision(None, None, None).unwrap(), Value::Null);
        assert_eq!(
            approval_decision(Some("once"), None, None).unwrap(),
            json!({"scope": "once"})
        );
        assert_eq!(
            approval_decision(Some(" RUN "), None, None).unwrap(),
            json!({"scope": "run"})
        );
        for alias in ["window", "ttl", "agent_user_ttl", "Window"] {
            assert_eq!(
                approval_decision(Some(alias), Some("4h"), None).unwrap(),
                json!({"scope": "agent_user_ttl", "duration": "4h"}),
                "{alias}"
            );
        }
        assert_eq!(
            approval_decision(None, Some("30m"), None).unwrap(),
            json!({"scope": "agent_user_ttl", "duration": "30m"})
        );
        assert_eq!(
            approval_decision(None, None, Some("looks fine")).unwrap(),
            json!({"reason": "looks fine"})
        );
        assert_eq!(
            approval_decision(Some("window"), None, Some("")).unwrap(),
            json!({"scope": "agent_user_ttl"})
        );
    }

    #[test]
    fn contradictions_are_errors() {
        for (scope, duration, expected) in [
            (Some("once"), Some("4h"), "applies only to --scope window"),
            (Some("run"), Some("1h"), "applies only to --scope window"),
            (Some("forever"), None, "use once, run or window"),
            (Some("window"), Some("soon"), "invalid duration"),
        ] {
            let error = approval_decision(scope, duration, None).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
    }
}
