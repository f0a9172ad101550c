//! `runagents init NAME`: a new agent project whose `agent.py` works on the first `/invoke`
//! under the public runtime (`runagents==1.4.2`): it calls the LLM gateway itself instead of
//! the runtime's broken `Agent.chat`, and its guidance claims no `ctx.chat`/`ctx.call_tool`.

use std::path::{Path, PathBuf};

use runagents_domain::ResourceName;
use serde_json::json;

use crate::Ctx;
use crate::error::{Error, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The project's directory and the agent's name (lowercase letters, digits and '-')
    pub name: String,
    /// A tool the agent may call (repeatable), listed in runagents.yaml
    #[arg(long = "tool", value_name = "NAME")]
    pub tools: Vec<String>,
    /// The agent's model as provider/model [default: playground/playground, the platform's
    /// offline model that `runagents starter-kit` registers]
    #[arg(long, value_name = "PROVIDER/MODEL")]
    pub model: Option<String>,
}

const AGENT_PY: &str = include_str!("init/agent.py");
const TOOL_EXAMPLE: &str = include_str!("init/tool_example.py");
const RUNAGENTS_YAML: &str = include_str!("init/runagents.yaml");
const REQUIREMENTS: &str = include_str!("init/requirements.txt");
const AGENTS_MD: &str = include_str!("init/AGENTS.md");
const GITIGNORE: &str = include_str!("init/gitignore");
const MCP_JSON: &str = include_str!("init/mcp.json");

pub(crate) fn run(args: Args, ctx: &Ctx) -> Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::invalid(format!("no current directory: {e}")))?;
    let files = render(&args)?;
    let dir = cwd.join(&args.name);
    create(&dir, &files)?;
    let out = &ctx.out;
    if out.json_mode() {
        let names: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
        return out
            .json(&json!({"name": args.name, "path": dir.display().to_string(), "files": names}));
    }
    out.done(&format!("created agent project {}/", args.name))?;
    for (name, _) in &files {
        out.line(&format!("  {name}"))?;
    }
    out.line(&format!(
        "\nNext:\n  cd {}\n  python3 -m venv .venv && .venv/bin/pip install -r requirements.txt\n  runagents starter-kit    # the playground model, once per workspace\n  runagents dev\n  curl -s localhost:8080/invoke -d '{{\"message\": \"hello\"}}'",
        args.name
    ))
}

/// Every file of the project: (name, contents).
pub(crate) fn render(args: &Args) -> Result<Vec<(&'static str, String)>> {
    let name = valid_name(&args.name, "project name")?;
    let mut tools: Vec<String> = Vec::new();
    for tool in &args.tools {
        let tool = valid_name(tool, "--tool")?;
        if !tools.contains(&tool) {
            tools.push(tool);
        }
    }
    let (provider, model) = match args.model.as_deref().map(str::trim) {
        None | Some("") => ("playground".to_owned(), "playground".to_owned()),
        Some(text) => match text.split_once('/') {
            Some((provider, model)) if plain(provider) && plain(model) => {
                (provider.to_owned(), model.to_owned())
            }
            _ => {
                return Err(Error::invalid(format!(
                    "--model {text:?}: use provider/model, e.g. openai/gpt-4o-mini"
                )));
            }
        },
    };
    let tool_example = match tools.first() {
        Some(tool) => TOOL_EXAMPLE
            .replace("{{tool}}", tool)
            .replace("{{TOOL_ENV}}", &tool.to_ascii_uppercase().replace('-', "_")),
        None => String::new(),
    };
    let tools_yaml = if tools.is_empty() {
        " []".to_owned()
    } else {
        tools.iter().map(|tool| format!("\n  - {tool}")).collect()
    };
    let deploy_tools: String = tools.iter().map(|tool| format!(" --tool {tool}")).collect();
    let fill = |template: &str| {
        template
            .replace("{{name}}", &name)
            .replace("{{provider}}", &provider)
            .replace("{{model}}", &model)
            .replace("{{tools}}", &tools_yaml)
            .replace("{{deploy_tools}}", &deploy_tools)
            .replace("{{tool_example}}", &tool_example)
    };
    Ok(vec![
        ("agent.py", fill(AGENT_PY)),
        ("runagents.yaml", fill(RUNAGENTS_YAML)),
        ("requirements.txt", REQUIREMENTS.to_owned()),
        ("AGENTS.md", fill(AGENTS_MD)),
        (".gitignore", GITIGNORE.to_owned()),
        (".mcp.json", MCP_JSON.to_owned()),
    ])
}

/// A model or provider name that needs no quoting in YAML or a shell.
fn plain(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
}

fn valid_name(name: &str, what: &str) -> Result<String> {
    match ResourceName::parse(name) {
        Ok(parsed) if parsed.as_str() == name => Ok(name.to_owned()),
        Ok(_) => Err(Error::invalid(format!(
            "invalid {what} {name:?}: no spaces around it"
        ))),
        Err(error) => Err(Error::invalid(format!("{what}: {error}"))),
    }
}

/// Creates `dir` (which must not exist) and writes the files; on a failure half-way, what was
/// created is removed again.
fn create(dir: &Path, files: &[(&str, String)]) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::invalid(format!(
                "{} already exists; choose another name or remove it",
                dir.display()
            )));
        }
        Err(error) => return Err(Error::file(dir, error)),
    }
    let written = files.iter().try_for_each(|(name, text)| {
        let path: PathBuf = dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::file(&path, e))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(dir);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project;

    fn args(name: &str, tools: &[&str], model: Option<&str>) -> Args {
        Args {
            name: name.to_owned(),
            tools: tools.iter().map(|t| (*t).to_owned()).collect(),
            model: model.map(str::to_owned),
        }
    }

    fn file<'a>(files: &'a [(&str, String)], name: &str) -> &'a str {
        files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.as_str())
            .unwrap()
    }

    #[test]
    fn the_project_reads_back_as_written() {
        let files = render(&args("billing-bot", &["echo-tool", "stripe-api"], None)).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "agent.py",
                "runagents.yaml",
                "requirements.txt",
                "AGENTS.md",
                ".gitignore",
                ".mcp.json"
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agent.py"), file(&files, "agent.py")).unwrap();
        let parsed = project::parse(file(&files, "runagents.yaml"), dir.path()).unwrap();
        assert_eq!(parsed.name, "billing-bot");
        assert_eq!(parsed.tools, ["echo-tool", "stripe-api"]);
        assert_eq!(
            (parsed.provider.as_str(), parsed.model.as_str()),
            ("playground", "playground")
        );
        assert_eq!(parsed.system_prompt, "You are a helpful assistant.");
        assert_eq!(parsed.entry_point, "agent.py");
        assert!(file(&files, "runagents.yaml").contains("tools:\n  - echo-tool\n  - stripe-api\n"));

        let agent = file(&files, "agent.py");
        assert!(agent.contains("def handler(request, ctx):"));
        assert!(agent.contains("/chat/completions"));
        assert!(agent.contains("Agent().call_tool(\"echo-tool\""));
        assert!(agent.contains("TOOL_URL_ECHO_TOOL"));
        assert!(!agent.contains("{{"), "{agent}");
        assert!(!agent.contains(".chat(") && !agent.contains("ctx.call_tool"));
        assert_eq!(file(&files, "requirements.txt"), "runagents==1.4.2\n");
        let guide = file(&files, "AGENTS.md");
        assert!(!guide.contains("{{"), "{guide}");
        assert!(guide.contains("--tool echo-tool --tool stripe-api"));
        let mcp: serde_json::Value = serde_json::from_str(file(&files, ".mcp.json")).unwrap();
        assert_eq!(
            mcp["mcpServers"]["runagents"],
            json!({"command": "runagents", "args": ["mcp"]})
        );
    }

    #[test]
    fn no_tools_is_an_empty_list_and_no_example() {
        let files = render(&args("plain", &[], Some("openai/gpt-4o-mini"))).unwrap();
        let yaml = file(&files, "runagents.yaml");
        assert!(yaml.contains("tools: []\n"), "{yaml}");
        assert!(
            yaml.contains("  provider: openai\n  model: gpt-4o-mini\n"),
            "{yaml}"
        );
        assert!(!file(&files, "agent.py").contains("Agent()"));
    }

    #[test]
    fn names_and_models_are_checked() {
        for (args, expected) in [
            (args("My_Agent", &[], None), "project name: invalid name"),
            (args("-x", &[], None), "project name: invalid name"),
            (args("ok", &["Bad Tool"], None), "--tool: invalid name"),
            (args("ok", &[], Some("gpt-4o")), "use provider/model"),
            (args("ok", &[], Some("a/b c")), "use provider/model"),
        ] {
            let error = render(&args).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn an_existing_directory_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep.txt"), "mine").unwrap();
        let error = create(&target, &[("agent.py", String::new())]).unwrap_err();
        assert!(error.to_string().contains("already exists"), "{error}");
        assert!(!target.join("agent.py").exists());
        assert_eq!(
            std::fs::read_to_string(target.join("keep.txt")).unwrap(),
            "mine"
        );
    }
}
