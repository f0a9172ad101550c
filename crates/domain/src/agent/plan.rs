//! Deploy planning: how the platform will run an agent, decided from its sources alone.
//!
//! Tier 1 (no custom code) runs in the platform's built-in tool loop. Tier 2 (a `handler()` or
//! an agent framework) runs in the Python runtime, in its own environment when it needs
//! packages beyond `runagents`. Only `.py` files are scanned: the runtime runs Python.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionMode {
    /// Tier 1: the platform's own tool-calling loop; no process per agent.
    NativeLoop,
    /// Tier 2: user code under the Python runtime.
    PythonRuntime,
    /// A pre-built container image (needs a container hosting backend).
    ContainerImage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildProfile {
    NativeLoop,
    /// The shared runtime environment; nothing to install.
    SharedRuntime,
    /// A per-agent Python environment built from the requirements.
    PythonEnvironment,
    PrebuiltImage,
}

/// What a deploy decided about running the agent; kept in the agent's spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub tier: u8,
    pub execution_mode: ExecutionMode,
    pub build_required: bool,
    pub build_profile: BuildProfile,
    pub decision_reason: String,
}

/// Code markers that make an agent Tier 2, and the framework each one implies.
const CODE_MARKERS: [(&str, Option<&str>); 6] = [
    ("def handler(", None),
    ("AgentExecutor", Some("langchain")),
    ("create_openai_tools_agent", Some("langchain")),
    ("StateGraph", Some("langgraph")),
    ("CompiledGraph", Some("langgraph")),
    ("@CrewBase", Some("crewai")),
];

/// Framework packages recognised by their imports, most specific first (LangGraph code
/// usually imports LangChain too).
const FRAMEWORKS: [&str; 4] = ["langgraph", "crewai", "autogen", "langchain"];

/// What the scan of the sources found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Detection {
    /// The first marker found and the file it is in.
    pub first: Option<(String, String)>,
    /// Frameworks found, in `FRAMEWORKS` order.
    pub frameworks: Vec<&'static str>,
}

impl Detection {
    pub fn custom_code(&self) -> bool {
        self.first.is_some()
    }

    /// The framework to record when the client named none.
    pub fn primary_framework(&self) -> Option<&'static str> {
        self.frameworks.first().copied()
    }
}

/// Scans the `.py` files for handler and framework markers.
pub fn detect(files: &BTreeMap<String, String>) -> Detection {
    let mut detection = Detection::default();
    let mut found = std::collections::BTreeSet::new();
    for (path, content) in files.iter().filter(|(path, _)| path.ends_with(".py")) {
        for (marker, framework) in CODE_MARKERS {
            if content.contains(marker) {
                detection
                    .first
                    .get_or_insert_with(|| (marker.to_owned(), path.clone()));
                found.extend(framework);
            }
        }
        for line in content.lines() {
            if let Some(framework) = imported_framework(line) {
                detection
                    .first
                    .get_or_insert_with(|| (format!("import of {framework}"), path.clone()));
                found.insert(framework);
            }
        }
    }
    detection.frameworks = FRAMEWORKS
        .into_iter()
        .filter(|framework| found.contains(framework))
        .collect();
    detection
}

/// `from langchain_openai import X` / `import crewai` → the framework.
fn imported_framework(line: &str) -> Option<&'static str> {
    let line = line.trim_start();
    let module = line
        .strip_prefix("from ")
        .or_else(|| line.strip_prefix("import "))?
        .trim_start();
    FRAMEWORKS
        .into_iter()
        .find(|framework| module.starts_with(framework))
}

/// Requirement lines that ask for more than `runagents` (option lines such as `-r` count).
pub fn extra_requirements(requirements: &str) -> Vec<String> {
    requirements
        .lines()
        .map(|line| line.split(" #").next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter(|line| {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .map(|c| match c {
                    '_' | '.' => '-',
                    c => c.to_ascii_lowercase(),
                })
                .collect();
            name != "runagents"
        })
        .map(str::to_owned)
        .collect()
}

/// The plan for a source deploy, from what `detect` found. `requirements` is the request's
/// text plus any `requirements.txt` among the files.
pub fn plan_sources(detection: &Detection, requirements: &str) -> Plan {
    let Some((marker, file)) = &detection.first else {
        return Plan {
            tier: 1,
            execution_mode: ExecutionMode::NativeLoop,
            build_required: false,
            build_profile: BuildProfile::NativeLoop,
            decision_reason: "No handler() or agent framework in the source files; the built-in \
                              tool loop runs the agent from its system prompt, tools and models"
                .to_owned(),
        };
    };
    let extra = extra_requirements(requirements);
    let found = match detection.frameworks.as_slice() {
        [] => format!("Found {marker} in {file}"),
        frameworks => format!("Found {marker} in {file} ({} code)", frameworks.join(", ")),
    };
    let build_required = !detection.frameworks.is_empty() || !extra.is_empty();
    let decision_reason = if build_required {
        let mut needs = Vec::new();
        if !detection.frameworks.is_empty() {
            needs.push("its framework packages".to_owned());
        }
        if !extra.is_empty() {
            needs.push(format!("{} requirement(s) beyond runagents", extra.len()));
        }
        format!(
            "{found}; a per-agent Python environment is built for {}",
            needs.join(" and ")
        )
    } else {
        format!(
            "{found} and no requirements beyond runagents; the shared Python runtime runs it without a build"
        )
    };
    Plan {
        tier: 2,
        execution_mode: ExecutionMode::PythonRuntime,
        build_required,
        build_profile: if build_required {
            BuildProfile::PythonEnvironment
        } else {
            BuildProfile::SharedRuntime
        },
        decision_reason,
    }
}

/// The plan for a pre-built image.
pub fn plan_image() -> Plan {
    Plan {
        tier: 2,
        execution_mode: ExecutionMode::ContainerImage,
        build_required: false,
        build_profile: BuildProfile::PrebuiltImage,
        decision_reason: "Pre-built image; no build needed".to_owned(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    Instant,
    PreparingRuntime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    High,
    Medium,
}

/// `POST /deploy/preview`'s answer: the plan in words for the console.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Preview {
    pub user_state: UserState,
    pub state_label: &'static str,
    pub eta_range: &'static str,
    pub confidence: Confidence,
    pub short_reason: &'static str,
    pub advanced_details: AdvancedDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdvancedDetails {
    pub execution_mode: ExecutionMode,
    pub build_required: bool,
    pub build_profile: BuildProfile,
    pub decision_reason: String,
    pub execution_kind: &'static str,
    pub support_level: &'static str,
}

impl Plan {
    pub fn preview(&self) -> Preview {
        let (user_state, state_label, eta_range, confidence, short_reason, execution_kind) =
            match (self.execution_mode, self.build_required) {
                (ExecutionMode::NativeLoop, _) => (
                    UserState::Instant,
                    "Ready instantly",
                    "under 5 seconds",
                    Confidence::High,
                    "Runs in the built-in tool loop; nothing to build",
                    "native_loop",
                ),
                (ExecutionMode::PythonRuntime, false) => (
                    UserState::Instant,
                    "Ready instantly",
                    "under 10 seconds",
                    Confidence::High,
                    "Your handler runs in the shared Python runtime; nothing to build",
                    "python_handler",
                ),
                (ExecutionMode::PythonRuntime, true) => (
                    UserState::PreparingRuntime,
                    "Preparing runtime",
                    "1-3 minutes",
                    Confidence::Medium,
                    "Your code needs packages installed in its own Python environment first",
                    "python_environment",
                ),
                (ExecutionMode::ContainerImage, _) => (
                    UserState::Instant,
                    "Ready once the image is pulled",
                    "under 1 minute",
                    Confidence::Medium,
                    "Runs the pre-built image as is",
                    "container_image",
                ),
            };
        Preview {
            user_state,
            state_label,
            eta_range,
            confidence,
            short_reason,
            advanced_details: AdvancedDetails {
                execution_mode: self.execution_mode,
                build_required: self.build_required,
                build_profile: self.build_profile,
                decision_reason: self.decision_reason.clone(),
                execution_kind,
                support_level: "supported",
            },
        }
    }
}

#[cfg(test)]
mod tests;
