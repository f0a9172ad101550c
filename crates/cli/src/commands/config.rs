//! `runagents config set|get`: the settings file. Only what is typed is saved (unlike the Go
//! CLI, environment overrides are not copied into the file), and the key is shown masked.

use clap::Subcommand;
use serde_json::json;

use crate::Ctx;
use crate::error::{Error, Result};
use crate::render::{Cell, Style};
use crate::settings::{ConfigFile, KEYS, Source, mask};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Save a setting: endpoint, api-key, workspace or assistant-mode (an empty value removes it)
    Set { key: String, value: String },
    /// Show the settings in effect and where each comes from (the API key masked)
    Get {
        /// Only this setting's value
        key: Option<String>,
    },
}

pub(crate) fn run(cmd: Cmd, ctx: &Ctx) -> Result<()> {
    let Some(path) = &ctx.config_path else {
        return Err(ConfigFile::default_path()
            .err()
            .unwrap_or_else(|| Error::invalid("no config file")));
    };
    match cmd {
        Cmd::Set { key, value } => {
            let mut file = ConfigFile::load(path)?;
            file.set(&key, &value)?;
            file.save(path)?;
            let (name, file_key) = canonical(&key)?;
            let shown = match (file_key, file.get(file_key)) {
                (_, None) => "(removed)".to_owned(),
                ("api_key", Some(key)) => mask(key),
                (_, Some(value)) => value.to_owned(),
            };
            ctx.out.either(
                &json!({"key": name, "value": shown, "config_file": path.display().to_string()}),
                |out| out.done(&format!("{name} = {shown} (saved to {})", path.display())),
            )
        }
        Cmd::Get { key } => {
            let settings = &ctx.settings;
            let key_shown = mask(&settings.api_key.0);
            let workspace = settings.workspace.0.clone().unwrap_or_default();
            let base = settings
                .base_url()
                .unwrap_or_else(|error| error.to_string());
            let values = [
                ("endpoint", settings.endpoint.0.clone(), settings.endpoint.1),
                ("api-key", key_shown, settings.api_key.1),
                ("workspace", workspace, settings.workspace.1),
                (
                    "assistant-mode",
                    settings.assistant_mode.0.clone(),
                    settings.assistant_mode.1,
                ),
            ];
            if let Some(key) = key {
                let (name, _) = canonical(&key)?;
                let value = values
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .map(|(_, value, _)| value.clone())
                    .unwrap_or_default();
                return ctx.out.line(&value);
            }
            let document = json!({
                "endpoint": settings.endpoint.0,
                "base_url": base,
                "api_key": Some(&values[1].1).filter(|key| !key.is_empty()),
                "workspace": settings.workspace.0,
                "assistant_mode": settings.assistant_mode.0,
                "config_file": path.display().to_string(),
                "sources": values.iter().map(|(name, _, source)| (name.to_string(), json!(source.to_string()))).collect::<serde_json::Map<_, _>>(),
            });
            ctx.out.either(&document, |out| {
                let mut pairs: Vec<(&str, Cell)> = values
                    .iter()
                    .map(|(name, value, source)| {
                        let text = match (value.is_empty(), source) {
                            (true, _) => "-".to_owned(),
                            (false, Source::Default) => format!("{value} (default)"),
                            (false, source) => format!("{value} ({source})"),
                        };
                        (*name, Cell::plain(text))
                    })
                    .collect();
                pairs.push((
                    "base URL",
                    Cell {
                        text: base.clone(),
                        style: Style::Plain,
                    },
                ));
                pairs.push(("config file", Cell::plain(path.display().to_string())));
                out.fields(&pairs)
            })
        }
    }
}

/// `(command-line name, file key)` of a setting, accepting either spelling.
fn canonical(key: &str) -> Result<(&'static str, &'static str)> {
    KEYS.iter()
        .find(|(name, file_key)| *name == key || *file_key == key)
        .copied()
        .ok_or_else(|| {
            let names: Vec<&str> = KEYS.iter().map(|(name, _)| *name).collect();
            Error::invalid(format!(
                "unknown config key {key:?}; use one of: {}",
                names.join(", ")
            ))
        })
}
