//! `runagents policies list|get|apply|delete|translate`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{deleted, items};
use crate::Ctx;
use crate::client::segment;
use crate::error::{Error, Result};
use crate::input;
use crate::output::Output;
use crate::render::{Cell, Table, pick};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List policies and the agents using them
    List,
    /// Show one policy's rules and approval routes
    Get { name: String },
    /// Create or replace a policy from YAML or JSON: a whole {name, spec} document, or a bare
    /// spec with --name
    Apply {
        #[arg(short = 'f', long, value_name = "FILE")]
        file: PathBuf,
        /// The policy's name (overrides the document's)
        #[arg(long)]
        name: Option<String>,
    },
    /// Delete a policy (refused while an agent uses it)
    Delete { name: String },
    /// Draft rules from a sentence, e.g. "allow reads and require approval for writes"
    Translate {
        #[arg(long, value_name = "TEXT")]
        from: String,
    },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    match cmd {
        Cmd::List => {
            let policies = api.get("/policies").await?;
            ctx.out.either(&policies, |out| {
                let mut table = Table::new(&["NAME", "READY", "RULES", "APPROVALS", "USED BY"]);
                for policy in items(&policies) {
                    table.row(vec![
                        pick(policy, &["name"]).into(),
                        Cell::status(pick(policy, &["status.ready"])),
                        items(&policy["spec"]["policies"]).len().to_string().into(),
                        items(&policy["spec"]["approvals"]).len().to_string().into(),
                        pick(policy, &["used_by"]).into(),
                    ]);
                }
                out.table(
                    &table,
                    "No policies. Apply one with `runagents policies apply -f policy.yaml`.",
                )
            })
        }
        Cmd::Get { name } => {
            let policy = api.get(&format!("/policies/{}", segment(&name))).await?;
            ctx.out.either(&policy, |out| show(out, &policy))
        }
        Cmd::Apply { file, name } => {
            let document = input::read_document(&file)?;
            let (name, body) = policy_document(document, name.as_deref())
                .map_err(|message| Error::file(&file, message))?;
            let path = format!("/policies/{}", segment(&name));
            // The public CLI's rule: 200 → replace, 404 → create, anything else stops.
            let (policy, verb) = match api.get_optional(&path).await? {
                Some(_) => (api.put(&path, body).await?, "updated"),
                None => (api.post("/policies", body).await?, "created"),
            };
            ctx.out
                .either(&policy, |out| out.done(&format!("policy {name:?} {verb}")))
        }
        Cmd::Delete { name } => {
            let answer = api.delete(&format!("/policies/{}", segment(&name))).await?;
            deleted(ctx, "policy", &name, &answer)
        }
        Cmd::Translate { from } => {
            let rules = api
                .post("/policies/translate", json!({"text": from}))
                .await?;
            ctx.out.either(&rules, |out| {
                out.table(&rules_table(items(&rules["rules"])), "No rules could be drafted.")?;
                out.line("\nReview the rules, then save them in a file for `runagents policies apply -f`.")
            })
        }
    }
}

/// `(name, {name, spec})` from a whole document (`{name, spec}`, or the CRD's
/// `{metadata: {name}, spec}`) or a bare spec (`{policies, approvals}`) named by `--name`.
pub(crate) fn policy_document(
    document: Value,
    name_flag: Option<&str>,
) -> Result<(String, Value), String> {
    let Value::Object(mut document) = document else {
        return Err("a policy must be a YAML or JSON object".to_owned());
    };
    let document_name = document
        .get("name")
        .or_else(|| document.get("metadata").and_then(|m| m.get("name")))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let spec = match document.remove("spec") {
        Some(spec @ Value::Object(_)) => spec,
        Some(_) => return Err("spec must be an object".to_owned()),
        None if document.contains_key("policies") || document.contains_key("approvals") => {
            document.remove("name");
            Value::Object(document)
        }
        None => {
            return Err(
                "expected a {name, spec} document or a bare spec with `policies`".to_owned(),
            );
        }
    };
    let name = name_flag
        .map(str::to_owned)
        .or(document_name)
        .filter(|name| !name.trim().is_empty())
        .ok_or("the policy needs a name: put `name:` in the file or pass --name")?;
    if items(&spec["policies"]).is_empty() {
        return Err("the policy needs at least one rule in spec.policies".to_owned());
    }
    Ok((name.clone(), json!({"name": name, "spec": spec})))
}

fn rules_table(rules: &[Value]) -> Table {
    let mut table = Table::new(&["PERMISSION", "OPERATIONS", "RESOURCE", "TAGS"]);
    for rule in rules {
        let operations = pick(rule, &["operations"]);
        table.row(vec![
            pick(rule, &["permission"]).into(),
            (if operations.is_empty() {
                "*".to_owned()
            } else {
                operations
            })
            .into(),
            pick(rule, &["resource"]).into(),
            pick(rule, &["tags"]).into(),
        ]);
    }
    table
}

fn show(out: &Output, policy: &Value) -> Result<()> {
    out.fields(&[
        ("Name", Cell::plain(pick(policy, &["name"]))),
        ("Workspace", Cell::plain(pick(policy, &["namespace"]))),
        ("Ready", Cell::status(pick(policy, &["status.ready"]))),
        ("Status", Cell::plain(pick(policy, &["status.message"]))),
        ("Used by", Cell::plain(pick(policy, &["used_by"]))),
        ("Updated", out.time(&pick(policy, &["updated_at"]))),
    ])?;
    out.line("\nRules:")?;
    out.table(&rules_table(items(&policy["spec"]["policies"])), "(none)")?;
    let approvals = items(&policy["spec"]["approvals"]);
    if !approvals.is_empty() {
        out.line("\nApproval routes:")?;
        let mut table = Table::new(&["NAME", "TOOLS", "APPROVERS", "DURATION", "CONNECTORS"]);
        for route in approvals {
            table.row(vec![
                pick(route, &["name"]).into(),
                pick(route, &["toolIds"]).into(),
                pick(route, &["approvers.groups"]).into(),
                pick(route, &["defaultDuration"]).into(),
                pick(route, &["delivery.connectors"]).into(),
            ]);
        }
        out.table(&table, "")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_documents_bare_specs_and_crds() {
        let rules = json!([{"permission": "allow", "resource": "*"}]);
        let (name, body) =
            policy_document(json!({"name": "p", "spec": {"policies": rules}}), None).unwrap();
        assert_eq!(
            (name.as_str(), &body),
            ("p", &json!({"name": "p", "spec": {"policies": rules}}))
        );

        let (name, body) = policy_document(json!({"policies": rules}), Some("bare")).unwrap();
        assert_eq!(name, "bare");
        assert_eq!(body, json!({"name": "bare", "spec": {"policies": rules}}));

        let crd = json!({"apiVersion": "platform.ai/v1alpha1", "kind": "Policy",
            "metadata": {"name": "crd"}, "spec": {"policies": rules, "approvals": []}});
        let (name, body) = policy_document(crd, None).unwrap();
        assert_eq!(name, "crd");
        assert_eq!(body["spec"]["approvals"], json!([]));

        // --name wins over the document's name.
        let (name, _) =
            policy_document(json!({"name": "p", "spec": {"policies": rules}}), Some("q")).unwrap();
        assert_eq!(name, "q");
    }

    #[test]
    fn refuses_what_cannot_be_a_policy() {
        let rules = json!([{"permission": "allow"}]);
        for (document, flag, expected) in [
            (json!({"policies": rules}), None, "needs a name"),
            (
                json!({"name": "p", "spec": {"policies": []}}),
                None,
                "at least one rule",
            ),
            (json!({"name": "p", "spec": {}}), None, "at least one rule"),
            (json!({"name": "p"}), None, "expected a {name, spec}"),
            (
                json!({"name": "p", "spec": "x"}),
                None,
                "spec must be an object",
            ),
            (json!([1]), Some("p"), "must be a YAML or JSON object"),
        ] {
            let error = policy_document(document.clone(), flag).unwrap_err();
            assert!(error.contains(expected), "{document}: {error}");
        }
    }
}
