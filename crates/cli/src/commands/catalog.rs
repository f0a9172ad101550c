//! `runagents catalog list|show|versions|deploy`: ready-made agents.

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::items;
use crate::Ctx;
use crate::client::{Client, query, segment};
use crate::error::{Error, Result};
use crate::render::{Cell, Table, pick, text};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Browse the catalog
    List {
        #[arg(long)]
        search: Option<String>,
        /// Filter by category (repeatable)
        #[arg(long)]
        category: Vec<String>,
        /// Filter by tag (repeatable)
        #[arg(long)]
        tag: Vec<String>,
        /// Filter by required integration (repeatable)
        #[arg(long)]
        integration: Vec<String>,
        /// Filter by governance trait (repeatable)
        #[arg(long)]
        governance: Vec<String>,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 24)]
        page_size: u32,
    },
    /// Show an agent's manifest
    Show {
        id: String,
        #[arg(long)]
        version: Option<String>,
    },
    /// An agent's published versions
    Versions { id: String },
    /// Deploy a catalog agent
    Deploy {
        id: String,
        #[arg(long)]
        version: Option<String>,
        /// The deployed agent's name (default: the manifest's)
        #[arg(long)]
        name: Option<String>,
        /// A tool the agent may call (repeatable; default: the manifest's)
        #[arg(long = "tool")]
        tools: Vec<String>,
        /// provider/model (default: the manifest's)
        #[arg(long)]
        model: Option<String>,
        /// A policy to bind (repeatable; default: the manifest's)
        #[arg(long = "policy")]
        policies: Vec<String>,
        #[arg(long)]
        identity_provider: Option<String>,
        /// Print the deploy request instead of sending it
        #[arg(long)]
        dry_run: bool,
    },
}

pub(crate) async fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let api = ctx.api()?;
    match cmd {
        Cmd::List {
            search,
            category,
            tag,
            integration,
            governance,
            page,
            page_size,
        } => {
            let mut pairs: Vec<(&str, String)> = vec![("search", search.unwrap_or_default())];
            for (key, values) in [
                ("category", category),
                ("tag", tag),
                ("integration", integration),
                ("governance", governance),
            ] {
                pairs.extend(values.into_iter().map(|value| (key, value)));
            }
            pairs.push(("page", page.to_string()));
            pairs.push(("page_size", page_size.to_string()));
            let listing = api.get(&format!("/catalog{}", query(&pairs))).await?;
            ctx.out.either(&listing, |out| {
                let mut table = Table::new(&["ID", "NAME", "CATEGORY", "VERSION", "SUMMARY"]);
                for entry in items(&listing["items"]) {
                    table.row(vec![
                        pick(entry, &["id"]).into(),
                        pick(entry, &["name"]).into(),
                        pick(entry, &["category"]).into(),
                        pick(entry, &["latest_version"]).into(),
                        pick(entry, &["summary"]).into(),
                    ]);
                }
                out.table(&table, "No catalog agents match.")?;
                out.line(&format!(
                    "\npage {} · {} per page · {} in all",
                    pick(&listing, &["page"]),
                    pick(&listing, &["page_size"]),
                    pick(&listing, &["total"])
                ))
            })
        }
        Cmd::Show { id, version } => {
            let manifest = manifest(api, &id, version.as_deref()).await?;
            ctx.out.either(&manifest, |out| {
                out.fields(&[
                    ("ID", Cell::plain(pick(&manifest, &["id"]))),
                    ("Name", Cell::plain(pick(&manifest, &["name"]))),
                    ("Version", Cell::plain(pick(&manifest, &["version"]))),
                    ("Summary", Cell::plain(pick(&manifest, &["summary"]))),
                    ("Model", Cell::plain(pick(&manifest, &["defaultModel"]))),
                    (
                        "Integrations",
                        Cell::plain(pick(&manifest, &["requiredIntegrations"])),
                    ),
                    (
                        "Governance",
                        Cell::plain(pick(&manifest, &["governanceTraits"])),
                    ),
                    (
                        "Tools",
                        Cell::plain(pick(&manifest, &["deploymentTemplate.requiredTools"])),
                    ),
                    (
                        "Policies",
                        Cell::plain(pick(&manifest, &["deploymentTemplate.policies"])),
                    ),
                ])
            })
        }
        Cmd::Versions { id } => {
            let versions = api
                .get(&format!("/catalog/{}/versions", segment(&id)))
                .await?;
            ctx.out.either(&versions, |out| {
                let mut table = Table::new(&["VERSION", "PUBLISHED", "SUMMARY"]);
                for version in items(&versions["versions"]) {
                    table.row(vec![
                        pick(version, &["version"]).into(),
                        out.time(&pick(version, &["published_at"])),
                        pick(version, &["summary"]).into(),
                    ]);
                }
                out.table(&table, "No published versions.")
            })
        }
        Cmd::Deploy {
            id,
            version,
            name,
            tools,
            model,
            policies,
            identity_provider,
            dry_run,
        } => {
            let manifest = manifest(api, &id, version.as_deref()).await?;
            let overrides = Overrides {
                name,
                tools,
                model,
                policies,
                identity_provider,
            };
            let payload = deploy_payload(&id, &manifest, overrides)?;
            if dry_run {
                return ctx.out.json(&payload);
            }
            let agent = pick(&payload, &["agent_name"]);
            let deployed = ctx
                .out
                .progress(&format!("deploying {agent}"), api.post("/deploy", payload))
                .await?;
            ctx.out.either(&deployed, |out| {
                out.done(&format!("catalog agent {id} deployed as {agent:?}"))
            })
        }
    }
}

pub(crate) async fn manifest(api: &Client, id: &str, version: Option<&str>) -> Result<Value> {
    let version = version.unwrap_or_default().to_owned();
    api.get(&format!(
        "/catalog/{}{}",
        segment(id),
        query(&[("version", version)])
    ))
    .await
}

pub(crate) struct Overrides {
    pub(crate) name: Option<String>,
    pub(crate) tools: Vec<String>,
    pub(crate) model: Option<String>,
    pub(crate) policies: Vec<String>,
    pub(crate) identity_provider: Option<String>,
}

/// The deploy request for a manifest: flags win over the manifest's deployment template.
pub(crate) fn deploy_payload(id: &str, manifest: &Value, flags: Overrides) -> Result<Value> {
    let template = &manifest["deploymentTemplate"];
    let files = template["sourceFiles"].clone();
    if files.as_object().is_none_or(|f| f.is_empty()) {
        return Err(Error::invalid(format!(
            "catalog agent {id} has no source files to deploy"
        )));
    }
    let strings = |value: &Value| -> Vec<String> {
        items(value)
            .iter()
            .map(text)
            .filter(|s| !s.is_empty())
            .collect()
    };
    let name = flags
        .name
        .or_else(|| Some(pick(template, &["agentName"])).filter(|n| !n.is_empty()))
        .unwrap_or_else(|| id.to_owned());
    let model = flags
        .model
        .or_else(|| Some(pick(manifest, &["defaultModel"])).filter(|m| !m.is_empty()));
    let mut body = Map::new();
    body.insert("agent_name".into(), json!(name));
    body.insert("source_files".into(), files);
    let prompt = pick(template, &["systemPrompt"]);
    if !prompt.is_empty() {
        body.insert("system_prompt".into(), json!(prompt));
    }
    let tools = if flags.tools.is_empty() {
        strings(&template["requiredTools"])
    } else {
        flags.tools
    };
    let policies = if flags.policies.is_empty() {
        strings(&template["policies"])
    } else {
        flags.policies
    };
    body.insert("required_tools".into(), json!(tools));
    body.insert("policies".into(), json!(policies));
    let identity = flags
        .identity_provider
        .unwrap_or_else(|| pick(template, &["identityProvider"]));
    if !identity.is_empty() {
        body.insert("identity_provider".into(), json!(identity));
    }
    if let Some(model) = model {
        let (provider, model) = model.split_once('/').unwrap_or(("openai", model.as_str()));
        body.insert(
            "llm_configs".into(),
            json!([{"provider": provider, "model": model, "role": "default"}]),
        );
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Overrides {
        Overrides {
            name: None,
            tools: vec![],
            model: None,
            policies: vec![],
            identity_provider: None,
        }
    }

    #[test]
    fn deploy_payload_takes_the_template_then_flags() {
        let manifest = json!({"id": "crm-agent", "defaultModel": "gpt-4o-mini", "deploymentTemplate": {
            "agentName": "crm", "systemPrompt": "Help.", "requiredTools": ["crm-api"], "policies": ["crm-read"],
            "sourceFiles": {"src/agent.py": "x"}}});
        assert_eq!(
            deploy_payload("crm-agent", &manifest, none()).unwrap(),
            json!({"agent_name": "crm", "source_files": {"src/agent.py": "x"}, "system_prompt": "Help.",
                "required_tools": ["crm-api"], "policies": ["crm-read"],
                "llm_configs": [{"provider": "openai", "model": "gpt-4o-mini", "role": "default"}]})
        );
        let flags = Overrides {
            name: Some("mine".into()),
            tools: vec!["t".into()],
            model: Some("anthropic/claude".into()),
            policies: vec![],
            identity_provider: Some("idp".into()),
        };
        let payload = deploy_payload("crm-agent", &manifest, flags).unwrap();
        assert_eq!(payload["agent_name"], "mine");
        assert_eq!(payload["required_tools"], json!(["t"]));
        assert_eq!(payload["llm_configs"][0]["provider"], "anthropic");
        assert_eq!(payload["identity_provider"], "idp");
        let error = deploy_payload("x", &json!({"deploymentTemplate": {}}), none()).unwrap_err();
        assert!(error.to_string().contains("no source files"));
    }
}
