//! An agent project's `runagents.yaml` (written by `runagents init`, read by `runagents dev`):
//! a real YAML parser (yaml-rust2, through `input::parse_document`), so block lists, flow
//! lists, quoted strings and `model: {provider, model}` all read as written. Every error names
//! the file and the key.

use std::path::{Path, PathBuf};

use runagents_domain::ResourceName;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::input;

/// The file names `dev` looks for, in order.
pub const FILES: [&str; 2] = ["runagents.yaml", "runagents.yml"];

pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant.";
pub const DEFAULT_ENTRY_POINT: &str = "agent.py";

#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub name: String,
    pub tools: Vec<String>,
    /// `model.provider`; empty when not given.
    pub provider: String,
    /// `model.model`; empty when not given (the runtime's default then applies).
    pub model: String,
    pub system_prompt: String,
    /// The handler's file relative to the project directory; empty for none (the runtime's
    /// built-in loop).
    pub entry_point: String,
}

/// Finds and parses `runagents.yaml` (or `.yml`) in `dir`.
pub fn load(dir: &Path) -> Result<(PathBuf, Project)> {
    let Some(path) = FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
    else {
        return Err(Error::invalid(format!(
            "no runagents.yaml in {}: run `runagents dev` in an agent project, or create one with `runagents init NAME`",
            dir.display()
        )));
    };
    let text = input::read_text(&path)?;
    let project = parse(&text, dir).map_err(|message| Error::file(&path, message))?;
    Ok((path, project))
}

/// The project described by `text`; `dir` is where the entry point must exist.
pub fn parse(text: &str, dir: &Path) -> Result<Project, String> {
    let document = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        runagents_domain::document::parse(text)?
    };
    let Value::Object(fields) = document else {
        return Err(
            "expected a mapping with name, tools, model, system_prompt and entry_point".to_owned(),
        );
    };
    let name = match string(&fields, "name")? {
        None => "dev-agent".to_owned(),
        Some(name) => ResourceName::parse(&name)
            .map_err(|error| format!("name: {error}"))?
            .as_str()
            .to_owned(),
    };
    let tools = tools(fields.get("tools"))?;
    let (provider, model) = model(fields.get("model"))?;
    let system_prompt =
        string(&fields, "system_prompt")?.unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_owned());
    let entry_point = match string(&fields, "entry_point")? {
        Some(entry) => {
            let entry = entry.trim().to_owned();
            if !dir.join(&entry).is_file() {
                return Err(format!(
                    "entry_point: {entry} does not exist in {}",
                    dir.display()
                ));
            }
            entry
        }
        // Without the key, agent.py if there is one, else the runtime's built-in loop.
        None if dir.join(DEFAULT_ENTRY_POINT).is_file() => DEFAULT_ENTRY_POINT.to_owned(),
        None => String::new(),
    };
    Ok(Project {
        name,
        tools,
        provider,
        model,
        system_prompt,
        entry_point,
    })
}

/// A string value; `None` when absent or `null`. Numbers and booleans are refused rather than
/// guessed at (`name: 123` is more likely a mistake than a name).
fn string(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(format!("{key} must be a string, not {}", kind(other))),
    }
}

fn tools(value: Option<&Value>) -> Result<Vec<String>, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(format!(
                "tools must be a list of tool names (`- name` lines or `[a, b]`), not {}",
                kind(other)
            ));
        }
    };
    let mut tools: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Value::String(name) = item else {
            return Err(format!(
                "tools[{index}] must be a tool name, not {}",
                kind(item)
            ));
        };
        let name = ResourceName::parse(name)
            .map_err(|error| format!("tools[{index}]: {error}"))?
            .as_str()
            .to_owned();
        if !tools.contains(&name) {
            tools.push(name);
        }
    }
    Ok(tools)
}

/// `model: {provider, model}`, or the shorthand `model: provider/model` (or just `model`).
fn model(value: Option<&Value>) -> Result<(String, String), String> {
    match value {
        None | Some(Value::Null) => Ok((String::new(), String::new())),
        Some(Value::String(text)) => Ok(match text.trim().split_once('/') {
            Some((provider, model)) => (provider.trim().to_owned(), model.trim().to_owned()),
            None => (String::new(), text.trim().to_owned()),
        }),
        Some(Value::Object(fields)) => {
            let field = |key: &str| match fields.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(text)) => Ok(text.trim().to_owned()),
                Some(other) => Err(format!("model.{key} must be a string, not {}", kind(other))),
            };
            let (provider, model) = (field("provider")?, field("model")?);
            if model.is_empty() {
                return Err("model.model is required, e.g. gpt-4o-mini".to_owned());
            }
            Ok((provider, model))
        }
        Some(other) => Err(format!(
            "model must be a mapping with provider and model, not {}",
            kind(other)
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_agent() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agent.py"), "def handler(r, c): pass\n").unwrap();
        dir
    }

    #[test]
    fn block_and_flow_lists_quoted_strings_and_model_mappings() {
        let dir = dir_with_agent();
        let block = "\
name: billing
tools:
  - stripe-api
  - echo-tool   # a comment
model:
  provider: openai
  model: gpt-4o-mini
system_prompt: \"You help with billing: refunds, invoices.\"
entry_point: agent.py
";
        let project = parse(block, dir.path()).unwrap();
        assert_eq!(
            project,
            Project {
                name: "billing".into(),
                tools: vec!["stripe-api".into(), "echo-tool".into()],
                provider: "openai".into(),
                model: "gpt-4o-mini".into(),
                system_prompt: "You help with billing: refunds, invoices.".into(),
                entry_point: "agent.py".into(),
            }
        );
        let flow = "name: 'billing'\ntools: [stripe-api, \"echo-tool\"]\nmodel: {provider: openai, model: gpt-4o-mini}\nsystem_prompt: |\n  Line one.\n  Line two.\n";
        let project = parse(flow, dir.path()).unwrap();
        assert_eq!(project.tools, ["stripe-api", "echo-tool"]);
        assert_eq!(
            (project.provider.as_str(), project.model.as_str()),
            ("openai", "gpt-4o-mini")
        );
        assert_eq!(project.system_prompt, "Line one.\nLine two.\n");
        assert_eq!(project.entry_point, "agent.py", "agent.py when not named");
    }

    #[test]
    fn defaults_for_what_is_left_out() {
        let empty = tempfile::tempdir().unwrap();
        let project = parse("", empty.path()).unwrap();
        assert_eq!(project.name, "dev-agent");
        assert!(project.tools.is_empty() && project.model.is_empty());
        assert_eq!(project.system_prompt, DEFAULT_SYSTEM_PROMPT);
        assert_eq!(
            project.entry_point, "",
            "no agent.py: the runtime's own loop"
        );
        let project = parse("tools: []\nmodel: playground/playground\n", empty.path()).unwrap();
        assert!(project.tools.is_empty());
        assert_eq!(project.provider, "playground");
        let project = parse("tools:\nmodel: gpt-4o\n", empty.path()).unwrap();
        assert!(project.tools.is_empty());
        assert_eq!(
            (project.provider.as_str(), project.model.as_str()),
            ("", "gpt-4o")
        );
    }

    #[test]
    fn errors_say_which_key_is_wrong() {
        let dir = dir_with_agent();
        for (text, expected) in [
            ("- a\n- b\n", "expected a mapping"),
            ("name: Bad_Name\n", "name: invalid name \"Bad_Name\""),
            ("name: 12\n", "name must be a string, not a number"),
            ("tools: echo-tool\n", "tools must be a list of tool names"),
            (
                "tools:\n  - {name: x}\n",
                "tools[0] must be a tool name, not a mapping",
            ),
            ("tools: [ok, Not OK]\n", "tools[1]: invalid name"),
            ("model: [a]\n", "model must be a mapping"),
            ("model:\n  provider: openai\n", "model.model is required"),
            (
                "model: {provider: 1, model: x}\n",
                "model.provider must be a string",
            ),
            (
                "entry_point: main.py\n",
                "entry_point: main.py does not exist",
            ),
            ("name: [unclosed\n", "invalid YAML"),
        ] {
            let error = parse(text, dir.path()).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn load_names_the_file() {
        let dir = dir_with_agent();
        let error = load(dir.path()).unwrap_err();
        assert!(error.to_string().contains("no runagents.yaml"), "{error}");
        std::fs::write(dir.path().join("runagents.yml"), "tools: x\n").unwrap();
        let error = load(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("runagents.yml: tools must be a list"),
            "{error}"
        );
        std::fs::write(dir.path().join("runagents.yaml"), "name: a\n").unwrap();
        let (path, project) = load(dir.path()).unwrap();
        assert!(path.ends_with("runagents.yaml"));
        assert_eq!(project.name, "a");
    }
}
