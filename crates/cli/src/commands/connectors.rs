//! `runagents approval-connectors list|get|apply|delete|test|defaults get|defaults set|activity`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::{deleted, items};
use crate::Ctx;
use crate::client::{Client, query, segment};
use crate::error::{Error, Result};
use crate::input;
use crate::output::Output;
use crate::render::{Cell, Table, pick};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List approval connectors
    List,
    /// Show one connector (header values are always masked)
    Get { id: String },
    /// Create a connector, or update the one with the same id or name, from YAML or JSON
    Apply {
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete a connector
    Delete { id: String },
    /// Check a connector's configuration, credentials and connectivity (exit 1 if unhealthy)
    Test { id: String },
    /// Workspace delivery defaults
    #[command(subcommand)]
    Defaults(DefaultsCmd),
    /// Recent delivery events
    Activity {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum DefaultsCmd {
    /// Show the defaults
    Get,
    /// Change some defaults (only the flags given are sent)
    Set {
        /// first_success or all
        #[arg(long)]
        delivery_mode: Option<String>,
        /// Also show requests in the console when delivery fails
        #[arg(long, value_name = "BOOL")]
        fallback_to_ui: Option<bool>,
        #[arg(long, value_name = "SECONDS")]
        timeout_seconds: Option<u32>,
    },
}

/// What `apply` will do.
#[derive(Debug, PartialEq)]
pub(crate) enum Plan {
    Create(Value),
    Update { id: String, changes: Value },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    match cmd {
        Cmd::List => {
            let connectors = api.get("/approval-connectors").await?;
            ctx.out.either(&connectors, |out| {
                let mut table = Table::new(&["ID", "NAME", "TYPE", "ENDPOINT", "ENABLED", "UPDATED"]);
                for connector in items(&connectors) {
                    table.row(vec![
                        pick(connector, &["id"]).into(),
                        pick(connector, &["name"]).into(),
                        pick(connector, &["type"]).into(),
                        pick(connector, &["endpoint"]).into(),
                        Cell::status(if connector["enabled"] == false { "disabled" } else { "enabled" }),
                        out.time(&pick(connector, &["updated_at", "created_at"])),
                    ]);
                }
                out.table(&table, "No approval connectors. Apply one with `runagents approval-connectors apply -f connector.yaml`.")
            })
        }
        Cmd::Get { id } => {
            let connector = api
                .get(&format!("/approval-connectors/{}", segment(&id)))
                .await?;
            ctx.out.either(&connector, |out| show(out, &connector))
        }
        Cmd::Apply { file } => {
            let document = input::read_document(&file)?;
            let existing = api.get("/approval-connectors").await?;
            let plan = plan(document, items(&existing)).map_err(|e| Error::file(&file, e))?;
            let (connector, verb) = match plan {
                Plan::Create(body) => (api.post("/approval-connectors", body).await?, "created"),
                Plan::Update { id, changes } => (
                    api.patch(&format!("/approval-connectors/{}", segment(&id)), changes)
                        .await?,
                    "updated",
                ),
            };
            ctx.out.either(&connector, |out| {
                out.done(&format!(
                    "approval connector {:?} {verb} (id {})",
                    pick(&connector, &["name"]),
                    pick(&connector, &["id"])
                ))
            })
        }
        Cmd::Delete { id } => {
            let answer = api
                .delete(&format!("/approval-connectors/{}", segment(&id)))
                .await?;
            deleted(ctx, "approval connector", &id, &answer)
        }
        Cmd::Test { id } => {
            let report = ctx
                .out
                .progress(&format!("testing {id}"), test(api, &id))
                .await?;
            ctx.out.either(&report, |out| show_report(out, &report))?;
            if pick(&report, &["status"]) != "healthy" {
                return Err(Error::invalid(format!(
                    "approval connector {id} is {}",
                    pick(&report, &["status"])
                )));
            }
            Ok(())
        }
        Cmd::Defaults(DefaultsCmd::Get) => {
            let defaults = api.get("/approval-connectors/defaults").await?;
            ctx.out
                .either(&defaults, |out| show_defaults(out, &defaults))
        }
        Cmd::Defaults(DefaultsCmd::Set {
            delivery_mode,
            fallback_to_ui,
            timeout_seconds,
        }) => {
            let mut changes = Map::new();
            if let Some(mode) = delivery_mode {
                changes.insert("default_delivery_mode".into(), json!(mode));
            }
            if let Some(fallback) = fallback_to_ui {
                changes.insert("default_fallback_to_ui".into(), json!(fallback));
            }
            if let Some(seconds) = timeout_seconds {
                changes.insert("default_timeout_seconds".into(), json!(seconds));
            }
            if changes.is_empty() {
                return Err(Error::invalid(
                    "nothing to set: give --delivery-mode, --fallback-to-ui or --timeout-seconds",
                ));
            }
            let defaults = api
                .put("/approval-connectors/defaults", Value::Object(changes))
                .await?;
            ctx.out.either(&defaults, |out| {
                out.done("approval connector defaults updated")?;
                show_defaults(out, &defaults)
            })
        }
        Cmd::Activity { limit } => {
            let activity = api
                .get(&format!(
                    "/approval-connectors/activity{}",
                    query(&[("limit", limit.max(1).to_string())])
                ))
                .await?;
            ctx.out.either(&activity, |out| {
                let mut table = Table::new(&[
                    "TIME",
                    "EVENT",
                    "CONNECTOR",
                    "REQUEST",
                    "DECISION",
                    "HTTP",
                    "MESSAGE",
                ]);
                for entry in items(&activity) {
                    table.row(vec![
                        out.time(&pick(entry, &["timestamp"])),
                        pick(entry, &["event"]).into(),
                        pick(entry, &["connector_name", "connector_id"]).into(),
                        pick(entry, &["request_id", "action_id"]).into(),
                        pick(entry, &["decision"]).into(),
                        pick(entry, &["status_code"]).into(),
                        pick(entry, &["message"]).into(),
                    ]);
                }
                out.table(&table, "No connector activity yet.")
            })
        }
    }
}

/// Tests a stored connector by id. Servers without `POST /approval-connectors/{id}/test` get
/// the public CLI's request: the connector's own fields to `POST /approval-connectors/test`.
pub(crate) async fn test(api: &Client, id: &str) -> Result<Value> {
    let path = format!("/approval-connectors/{}", segment(id));
    let connector = api.get(&path).await?;
    match api.post_empty(&format!("{path}/test")).await {
        Err(error) if matches!(error.status(), Some(404 | 405)) => {
            let mut body = Map::new();
            for key in ["type", "endpoint", "headers", "slack_security_mode"] {
                if let Some(value) = connector
                    .get(key)
                    .filter(|v| !v.is_null() && **v != json!(""))
                {
                    body.insert(key.into(), value.clone());
                }
            }
            if let Some(seconds) = connector["timeout_seconds"].as_u64().filter(|s| *s > 0) {
                body.insert("timeout_seconds".into(), json!(seconds));
            }
            api.post("/approval-connectors/test", Value::Object(body))
                .await
        }
        other => other,
    }
}

/// Matches the document to a listed connector by `id`, then by `name`; a match is patched with
/// the document's fields, anything else is created (and needs `name` and `endpoint`).
pub(crate) fn plan(document: Value, existing: &[Value]) -> Result<Plan, String> {
    let Value::Object(mut fields) = document else {
        return Err("a connector must be a YAML or JSON object".to_owned());
    };
    let id = fields
        .remove("id")
        .and_then(|v| v.as_str().map(str::to_owned));
    for read_only in ["created_at", "updated_at"] {
        fields.remove(read_only);
    }
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if id.is_none() && name.is_none() {
        return Err("the connector needs an id or a name".to_owned());
    }
    let by_id = id
        .as_deref()
        .and_then(|id| existing.iter().find(|c| c["id"].as_str() == Some(id)));
    let matched = match by_id {
        Some(found) => Some(found),
        None => {
            let same_name: Vec<&Value> = existing
                .iter()
                .filter(|c| name.is_some() && c["name"].as_str() == name.as_deref())
                .collect();
            if same_name.len() > 1 {
                return Err(format!(
                    "{} connectors are named {:?}; put the id of the one to update in the file",
                    same_name.len(),
                    name.unwrap_or_default()
                ));
            }
            same_name.first().copied()
        }
    };
    match matched {
        Some(connector) => Ok(Plan::Update {
            id: pick(connector, &["id"]),
            changes: Value::Object(fields),
        }),
        None if id.is_some() && name.is_none() => {
            Err(format!("no connector has id {:?}", id.unwrap_or_default()))
        }
        None => {
            for key in ["name", "endpoint"] {
                if fields
                    .get(key)
                    .and_then(Value::as_str)
                    .is_none_or(|v| v.trim().is_empty())
                {
                    return Err(format!("a new connector needs {key}"));
                }
            }
            Ok(Plan::Create(Value::Object(fields)))
        }
    }
}

fn show(out: &Output, connector: &Value) -> Result<()> {
    let headers: Vec<String> = connector["headers"]
        .as_object()
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default();
    out.fields(&[
        ("ID", Cell::plain(pick(connector, &["id"]))),
        ("Name", Cell::plain(pick(connector, &["name"]))),
        ("Type", Cell::plain(pick(connector, &["type"]))),
        ("Endpoint", Cell::plain(pick(connector, &["endpoint"]))),
        ("Enabled", Cell::status(pick(connector, &["enabled"]))),
        (
            "Timeout",
            Cell::plain(format!("{}s", pick(connector, &["timeout_seconds"]))),
        ),
        (
            "Slack security",
            Cell::plain(pick(connector, &["slack_security_mode"])),
        ),
        ("Headers", Cell::plain(headers.join(", "))),
        ("Created", out.time(&pick(connector, &["created_at"]))),
        ("Updated", out.time(&pick(connector, &["updated_at"]))),
    ])
}

fn show_report(out: &Output, report: &Value) -> Result<()> {
    out.fields(&[
        ("Status", Cell::status(pick(report, &["status"]))),
        ("Type", Cell::plain(pick(report, &["connector_type"]))),
        ("Endpoint", Cell::plain(pick(report, &["endpoint"]))),
    ])?;
    let mut table = Table::new(&["CHECK", "STATUS", "MESSAGE", "TIME"]);
    for check in items(&report["checks"]) {
        let ms = pick(check, &["duration_ms"]);
        table.row(vec![
            pick(check, &["label", "id"]).into(),
            Cell::status(pick(check, &["status"])),
            pick(check, &["message"]).into(),
            (if ms.is_empty() {
                String::new()
            } else {
                format!("{ms} ms")
            })
            .into(),
        ]);
    }
    out.line("")?;
    out.table(&table, "No checks reported.")
}

fn show_defaults(out: &Output, defaults: &Value) -> Result<()> {
    out.fields(&[
        (
            "Delivery mode",
            Cell::plain(pick(defaults, &["default_delivery_mode"])),
        ),
        (
            "Fallback to UI",
            Cell::plain(pick(defaults, &["default_fallback_to_ui"])),
        ),
        (
            "Timeout",
            Cell::plain(format!("{}s", pick(defaults, &["default_timeout_seconds"]))),
        ),
        (
            "Allowed timeouts",
            Cell::plain(format!(
                "{}–{}s",
                pick(defaults, &["min_timeout_seconds"]),
                pick(defaults, &["max_timeout_seconds"])
            )),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_matches_by_id_then_name() {
        let existing = vec![
            json!({"id": "ac_1", "name": "slack", "endpoint": "C1"}),
            json!({"id": "ac_2", "name": "hook", "endpoint": "https://h"}),
            json!({"id": "ac_3", "name": "dup"}),
            json!({"id": "ac_4", "name": "dup"}),
        ];
        assert_eq!(
            plan(
                json!({"id": "ac_2", "name": "renamed", "enabled": false, "created_at": "x"}),
                &existing
            )
            .unwrap(),
            Plan::Update {
                id: "ac_2".into(),
                changes: json!({"name": "renamed", "enabled": false})
            }
        );
        assert_eq!(
            plan(json!({"name": "slack", "timeout_seconds": 30}), &existing).unwrap(),
            Plan::Update {
                id: "ac_1".into(),
                changes: json!({"name": "slack", "timeout_seconds": 30})
            }
        );
        assert_eq!(
            plan(
                json!({"name": "new", "endpoint": "https://n", "type": "webhook"}),
                &existing
            )
            .unwrap(),
            Plan::Create(json!({"name": "new", "endpoint": "https://n", "type": "webhook"}))
        );
        // An unknown id with a name falls back to the name.
        assert_eq!(
            plan(json!({"id": "ac_9", "name": "hook"}), &existing).unwrap(),
            Plan::Update {
                id: "ac_2".into(),
                changes: json!({"name": "hook"})
            }
        );
    }

    #[test]
    fn apply_refuses_ambiguity_and_incomplete_creates() {
        let existing = vec![
            json!({"id": "ac_3", "name": "dup"}),
            json!({"id": "ac_4", "name": "dup"}),
        ];
        for (document, expected) in [
            (json!({"name": "dup"}), "2 connectors are named \"dup\""),
            (json!({"name": "new"}), "needs endpoint"),
            (json!({"endpoint": "https://x"}), "needs an id or a name"),
            (json!({"id": "ac_9"}), "no connector has id \"ac_9\""),
            (json!("x"), "must be a YAML or JSON object"),
        ] {
            let error = plan(document.clone(), &existing).unwrap_err();
            assert!(error.contains(expected), "{document}: {error}");
        }
    }
}
