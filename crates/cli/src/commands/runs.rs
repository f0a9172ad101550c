//! `runagents runs list|get|events|timeline|wait|export`. Filtering beyond `agent_id` and
//! `status`, sorting and limits happen here, as in the public CLI.

use std::time::{Duration, Instant};

use clap::Subcommand;
use serde_json::{Value, json};

use super::items;
use crate::Ctx;
use crate::client::{query, segment};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::render::{Cell, Table, pick};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List runs, newest first
    List {
        /// Only this agent's runs
        #[arg(long)]
        agent: Option<String>,
        /// Only runs in this status (RUNNING, PAUSED_APPROVAL, COMPLETED, FAILED, …)
        #[arg(long)]
        status: Option<String>,
        /// Only this end user's runs
        #[arg(long)]
        user: Option<String>,
        /// Only this conversation's runs
        #[arg(long)]
        conversation: Option<String>,
        /// At most N runs (0 = all)
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one run
    Get { id: String },
    /// A run's events, in order
    Events {
        id: String,
        /// Only events of this type (case-insensitive), e.g. TOOL_REQUEST
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// Only the last N events (0 = all)
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// A run's story: one line per event
    Timeline { id: String },
    /// Wait until a run completes or fails (exit 4 on timeout)
    Wait {
        id: String,
        /// Give up after this long, e.g. 30s, 5m
        #[arg(long, default_value = "5m")]
        timeout: String,
        /// Time between polls
        #[arg(long, default_value = "2s")]
        interval: String,
    },
    /// The run, its events and its timeline as one document
    Export { id: String },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    let out = &ctx.out;
    match cmd {
        Cmd::List {
            agent,
            status,
            user,
            conversation,
            limit,
        } => {
            let path = format!(
                "/runs{}",
                query(&[
                    ("agent_id", agent.unwrap_or_default()),
                    (
                        "status",
                        status.unwrap_or_default().trim().to_ascii_uppercase()
                    ),
                ])
            );
            let runs = api.get(&path).await?;
            let runs = select_runs(
                items(&runs),
                user.as_deref(),
                conversation.as_deref(),
                limit,
            );
            out.either(&Value::Array(runs.clone()), |out| {
                let mut table = Table::new(&["ID", "AGENT", "STATUS", "USER", "UPDATED"]);
                for run in &runs {
                    table.row(vec![
                        pick(run, &["id"]).into(),
                        pick(run, &["agent_id"]).into(),
                        Cell::status(pick(run, &["status"])),
                        pick(run, &["user_id"]).into(),
                        out.time(&pick(run, &["updated_at", "created_at"])),
                    ]);
                }
                out.table(&table, "No runs.")
            })
        }
        Cmd::Get { id } => {
            let run = api.get(&format!("/runs/{}", segment(&id))).await?;
            out.either(&run, |out| show_run(out, &run))
        }
        Cmd::Events { id, kind, limit } => {
            let events = api.get(&format!("/runs/{}/events", segment(&id))).await?;
            let events = select_events(items(&events), kind.as_deref(), limit);
            out.either(&Value::Array(events.clone()), |out| {
                let mut table = Table::new(&["SEQ", "TYPE", "ACTOR", "TIME", "SUMMARY"]);
                for event in &events {
                    table.row(vec![
                        pick(event, &["seq", "sequence"]).into(),
                        Cell::status(pick(event, &["type"])),
                        pick(event, &["actor"]).into(),
                        out.time(&pick(event, &["timestamp", "created_at"])),
                        summary(event).into(),
                    ]);
                }
                out.table(&table, "No events.")
            })
        }
        Cmd::Timeline { id } => {
            let (run, events) = run_and_events(ctx, &id).await?;
            let timeline = timeline(&run, &events);
            out.either(&json!({"run": run, "timeline": timeline}), |out| {
                print_timeline(out, &timeline)
            })
        }
        Cmd::Wait {
            id,
            timeout,
            interval,
        } => {
            let timeout = parse_duration(&timeout, "--timeout")?;
            let interval = parse_duration(&interval, "--interval")?;
            let run = wait(ctx, &id, timeout, interval).await?;
            out.either(&run, |out| show_run(out, &run))?;
            if pick(&run, &["status"]).eq_ignore_ascii_case("FAILED") {
                return Err(Error::invalid(format!("run {id:?} failed")));
            }
            Ok(())
        }
        Cmd::Export { id } => {
            let (run, events) = run_and_events(ctx, &id).await?;
            let timeline = timeline(&run, &events);
            // Indented JSON either way: an export is a document, not a table.
            out.json(&json!({"run": run, "events": events, "timeline": timeline}))
        }
    }
}

async fn run_and_events(ctx: &Ctx, id: &str) -> Result<(Value, Vec<Value>)> {
    let api = ctx.api()?;
    let run = api.get(&format!("/runs/{}", segment(id))).await?;
    let events = api.get(&format!("/runs/{}/events", segment(id))).await?;
    Ok((run, select_events(items(&events), None, 0)))
}

/// Polls at once, then every `interval`, until the run is COMPLETED or FAILED. `PAUSED_*` is
/// not an end: a run waiting for approval waits until the timeout.
async fn wait(ctx: &Ctx, id: &str, timeout: Duration, interval: Duration) -> Result<Value> {
    let api = ctx.api()?;
    let started = Instant::now();
    let mut spinner = ctx.out.spinner();
    let path = format!("/runs/{}", segment(id));
    let result = loop {
        let run = match spinner
            .run(&format!("waiting for run {id}"), api.get(&path))
            .await
        {
            Ok(run) => run,
            Err(error) => break Err(error),
        };
        let status = pick(&run, &["status"]);
        if is_terminal(&status) {
            break Ok(run);
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break Err(Error::TimedOut(format!(
                "timed out waiting for run {id:?} to finish (still {status} after {}s)",
                timeout.as_secs()
            )));
        }
        let label = format!("run {id} is {status}");
        spinner.sleep(&label, interval.min(left)).await;
    };
    spinner.clear();
    result
}

pub(crate) fn is_terminal(status: &str) -> bool {
    matches!(
        status.trim().to_ascii_uppercase().as_str(),
        "COMPLETED" | "FAILED"
    )
}

/// Go-style durations: `500ms`, `2s`, `5m`, `1h30m`, `1d`. Zero or less is an error.
pub(crate) fn parse_duration(text: &str, flag: &str) -> Result<Duration> {
    let invalid = || {
        Error::invalid(format!(
            "{flag}: invalid duration {text:?}; use forms like 500ms, 2s, 5m or 1h30m"
        ))
    };
    let text = text.trim();
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let amount: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let (unit, length) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else {
            match rest.chars().next() {
                Some('s') => (Duration::from_secs(1), 1),
                Some('m') => (Duration::from_secs(60), 1),
                Some('h') => (Duration::from_secs(3_600), 1),
                Some('d') => (Duration::from_secs(86_400), 1),
                _ => return Err(invalid()),
            }
        };
        rest = &rest[length..];
        let amount = u32::try_from(amount).map_err(|_| invalid())?;
        total = total.checked_add(unit * amount).ok_or_else(invalid)?;
    }
    if total.is_zero() {
        return Err(invalid());
    }
    Ok(total)
}

/// Client-side filters of `runs list`: user and conversation, newest first, at most `limit`.
pub(crate) fn select_runs(
    runs: &[Value],
    user: Option<&str>,
    conversation: Option<&str>,
    limit: usize,
) -> Vec<Value> {
    let matches = |run: &Value, key: &str, wanted: Option<&str>| {
        wanted.is_none_or(|wanted| wanted.is_empty() || pick(run, &[key]) == wanted)
    };
    let mut selected: Vec<Value> = runs
        .iter()
        .filter(|run| {
            matches(run, "user_id", user) && matches(run, "conversation_id", conversation)
        })
        .cloned()
        .collect();
    // RFC 3339 UTC text sorts like the time; parse to be safe with offsets.
    let key = |run: &Value| {
        let text = pick(run, &["updated_at", "created_at"]);
        runagents_domain::Timestamp::parse_rfc3339(&text).map_or(i64::MIN, |t| t.millis())
    };
    selected.sort_by_key(|run| std::cmp::Reverse(key(run)));
    if limit > 0 {
        selected.truncate(limit);
    }
    selected
}

fn seq(event: &Value) -> i64 {
    event
        .get("seq")
        .or_else(|| event.get("sequence"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Events of `kind` (any case), ordered by `seq`, the last `limit` of them (0 = all).
pub(crate) fn select_events(events: &[Value], kind: Option<&str>, limit: usize) -> Vec<Value> {
    let mut selected: Vec<Value> = events
        .iter()
        .filter(|event| {
            kind.is_none_or(|kind| {
                kind.is_empty() || pick(event, &["type"]).eq_ignore_ascii_case(kind)
            })
        })
        .cloned()
        .collect();
    selected.sort_by_key(seq);
    if limit > 0 && selected.len() > limit {
        selected.drain(..selected.len() - limit);
    }
    selected
}

/// One line about an event, from the `data` keys the public CLI reads.
pub(crate) fn summary(event: &Value) -> String {
    let data = event.get("data").unwrap_or(&Value::Null);
    let text = pick(data, &["message", "detail", "summary", "content"]);
    let tool = pick(data, &["tool_id", "tool"]);
    let mut parts: Vec<String> = Vec::new();
    if !tool.is_empty() {
        let call = [pick(data, &["tool_method"]), pick(data, &["tool_url"])]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let capability = pick(data, &["capability"]);
        let mut described = tool;
        if !capability.is_empty() {
            described.push_str(&format!(".{capability}"));
        }
        if !call.is_empty() {
            described.push_str(&format!(" {call}"));
        }
        parts.push(described);
    }
    for (key, label) in [
        ("status_code", "HTTP"),
        ("approver_id", "by"),
        ("error", "error:"),
    ] {
        let value = pick(data, &[key]);
        if !value.is_empty() {
            parts.push(format!("{label} {value}"));
        }
    }
    if !text.is_empty() {
        let short: String = text.chars().take(100).collect();
        parts.insert(0, short);
    }
    parts.join(" · ")
}

/// `{seq, timestamp, type, actor, summary}` per event; with no events, one entry from the run.
pub(crate) fn timeline(run: &Value, events: &[Value]) -> Vec<Value> {
    if events.is_empty() {
        let status = pick(run, &["status"]);
        return vec![json!({
            "seq": 0,
            "timestamp": pick(run, &["updated_at", "created_at"]),
            "type": status,
            "actor": "",
            "summary": format!("run is {status}"),
        })];
    }
    events
        .iter()
        .map(|event| {
            json!({
                "seq": seq(event),
                "timestamp": pick(event, &["timestamp", "created_at"]),
                "type": pick(event, &["type"]),
                "actor": pick(event, &["actor"]),
                "summary": summary(event),
            })
        })
        .collect()
}

fn print_timeline(out: &Output, timeline: &[Value]) -> Result<()> {
    let mut table = Table::new(&["SEQ", "TIME", "TYPE", "ACTOR", "WHAT"]);
    for entry in timeline {
        table.row(vec![
            pick(entry, &["seq"]).into(),
            out.time(&pick(entry, &["timestamp"])),
            Cell::status(pick(entry, &["type"])),
            pick(entry, &["actor"]).into(),
            pick(entry, &["summary"]).into(),
        ]);
    }
    out.table(&table, "No events.")
}

fn show_run(out: &Output, run: &Value) -> Result<()> {
    out.fields(&[
        ("Run", Cell::plain(pick(run, &["id"]))),
        ("Agent", Cell::plain(pick(run, &["agent_id"]))),
        ("Status", Cell::status(pick(run, &["status"]))),
        ("User", Cell::plain(pick(run, &["user_id"]))),
        ("Conversation", Cell::plain(pick(run, &["conversation_id"]))),
        (
            "Blocked action",
            Cell::plain(pick(run, &["blocked_action_id"])),
        ),
        (
            "Message",
            Cell::plain(pick(run, &["initial_message", "message"])),
        ),
        ("Created", out.time(&pick(run, &["created_at"]))),
        ("Updated", out.time(&pick(run, &["updated_at"]))),
    ])
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
