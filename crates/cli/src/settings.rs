//! Where the CLI points and with which key: `~/.runagents/config.json` (the public CLI's file,
//! mode 0600 in a 0700 directory), `RUNAGENTS_*` variables and flags. Precedence: flags, then
//! the environment, then the file, then defaults; an empty value counts as unset.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::endpoint;
use crate::error::{Error, Result};

/// Keys `config set` accepts, as typed on the command line, and their key in the file.
pub const KEYS: [(&str, &str); 4] = [
    ("endpoint", "endpoint"),
    ("api-key", "api_key"),
    ("workspace", "workspace"),
    ("assistant-mode", "assistant_mode"),
];

/// The config file's contents. Keys this CLI does not know are kept as they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigFile(pub Map<String, Value>);

impl ConfigFile {
    /// `~/.runagents/config.json`.
    pub fn default_path() -> Result<PathBuf> {
        match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => {
                Ok(PathBuf::from(home).join(".runagents").join("config.json"))
            }
            _ => Err(Error::invalid(
                "HOME is not set, so there is no ~/.runagents/config.json",
            )),
        }
    }

    /// The file's contents, or an empty config if there is no file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(error) => return Err(Error::file(path, error)),
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Ok(ConfigFile(map)),
            Ok(_) => Err(Error::file(path, "not a JSON object; fix or delete it")),
            Err(error) => Err(Error::file(
                path,
                format!("not valid JSON ({error}); fix or delete it"),
            )),
        }
    }

    /// Writes the file with mode 0600 (its directory 0700), replacing it atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::file(dir, e))?;
        let mut text =
            serde_json::to_string_pretty(&self.0).map_err(|e| Error::Unexpected(e.to_string()))?;
        text.push('\n');
        let temp = path.with_extension("json.tmp");
        let _ = std::fs::remove_file(&temp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| Error::file(&temp, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::file(&temp, e))?;
        // The rename keeps the new file's mode, even if an old file was more open.
        std::fs::rename(&temp, path).map_err(|e| Error::file(path, e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::file(path, e))
    }

    /// A non-empty string value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .filter(|value| !value.trim().is_empty())
    }

    /// Sets a key given as on the command line (`api-key`), checking its value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let Some((_, file_key)) = KEYS
            .iter()
            .find(|(name, file_key)| *name == key || *file_key == key)
        else {
            let names: Vec<&str> = KEYS.iter().map(|(name, _)| *name).collect();
            return Err(Error::invalid(format!(
                "unknown config key {key:?}; use one of: {}",
                names.join(", ")
            )));
        };
        let value = value.trim();
        let value = match *file_key {
            "assistant_mode" => assistant_mode(value)?,
            "workspace" if !value.is_empty() && !endpoint::valid_workspace(value) => {
                return Err(Error::invalid(format!(
                    "invalid workspace {value:?}: use letters, digits, '-', '_' or '.'"
                )));
            }
            _ => value.to_owned(),
        };
        if value.is_empty() {
            self.0.remove(*file_key);
        } else {
            self.0.insert((*file_key).to_owned(), Value::String(value));
        }
        Ok(())
    }
}

/// `external` (the default), `runagents` or `off`, lower-cased and trimmed.
fn assistant_mode(value: &str) -> Result<String> {
    let mode = value.trim().to_ascii_lowercase();
    match mode.as_str() {
        "" | "external" | "runagents" | "off" => Ok(mode),
        _ => Err(Error::invalid(format!(
            "invalid assistant mode {value:?}: use external, runagents or off"
        ))),
    }
}

/// Where a setting came from, shown by `config get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    File,
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::File => f.write_str("config file"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// The values given as flags, before the environment and the file are consulted.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub endpoint: Option<String>,
    pub api_key: Option<String>,
    pub workspace: Option<String>,
}

/// The settings a command runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// As given, before normalisation.
    pub endpoint: (String, Source),
    pub api_key: (String, Source),
    pub workspace: (Option<String>, Source),
    pub assistant_mode: (String, Source),
}

impl Settings {
    /// Flags, then `env`, then `file`, then defaults. `env` is a lookup so tests can fake it.
    pub fn resolve(
        flags: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
        file: &ConfigFile,
    ) -> Settings {
        let pick = |flag: &Option<String>, variable: &'static str, key: &str| {
            let non_empty = |value: &String| !value.trim().is_empty();
            if let Some(value) = flag.as_ref().filter(|v| non_empty(v)) {
                Some((value.trim().to_owned(), Source::Flag))
            } else if let Some(value) = env(variable).filter(non_empty) {
                Some((value.trim().to_owned(), Source::Env(variable)))
            } else {
                file.get(key)
                    .map(|value| (value.trim().to_owned(), Source::File))
            }
        };
        let endpoint = pick(&flags.endpoint, "RUNAGENTS_ENDPOINT", "endpoint")
            .unwrap_or_else(|| (endpoint::DEFAULT_ENDPOINT.to_owned(), Source::Default));
        let api_key = pick(&flags.api_key, "RUNAGENTS_API_KEY", "api_key")
            .unwrap_or((String::new(), Source::Default));
        let workspace = match pick(&flags.workspace, "RUNAGENTS_NAMESPACE", "workspace") {
            Some((name, source)) => (Some(name), source),
            None => (None, Source::Default),
        };
        let assistant_mode = pick(&None, "RUNAGENTS_ASSISTANT_MODE", "assistant_mode")
            .unwrap_or_else(|| ("external".to_owned(), Source::Default));
        Settings {
            endpoint,
            api_key,
            workspace,
            assistant_mode,
        }
    }

    /// The URL every API path is appended to.
    pub fn base_url(&self) -> Result<String> {
        let base = endpoint::normalize(&self.endpoint.0);
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::invalid(format!(
                "endpoint {:?} (from {}) is not an http:// or https:// URL",
                self.endpoint.0, self.endpoint.1
            )));
        }
        match &self.workspace.0 {
            None => Ok(base),
            Some(workspace) if endpoint::valid_workspace(workspace) => {
                Ok(endpoint::with_workspace(&base, workspace))
            }
            Some(workspace) => Err(Error::invalid(format!(
                "invalid workspace {workspace:?} (from {}): use letters, digits, '-', '_' or '.'",
                self.workspace.1
            ))),
        }
    }
}

/// An API key for display: the first and last 4 characters, the rest as `*`; a key of 8
/// characters or fewer is all `*`.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
