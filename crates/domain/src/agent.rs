//! Agents: what a deploy asks for, the spec kept for each agent, and config updates.
//!
//! `DeployInput::parse` turns a `POST /deploy` body into a validated `AgentSpec` (with its
//! `Plan`) plus the tools to create; `ConfigUpdate::parse` does the same for the partial
//! `PUT /agents/{name}/config`. Whether referenced tools, policies and identity providers
//! exist is the engine's check: it needs the store.

pub mod plan;
pub mod spend;
pub mod toolset;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::tool::ToolInput;
use crate::{Invalid, ResourceName};
use plan::Plan;

/// What a model mapping is used for; `Default` is the agent's main model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Default,
    Chat,
    Embedding,
    Classify,
    Reranking,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Default => "default",
            Role::Chat => "chat",
            Role::Embedding => "embedding",
            Role::Classify => "classify",
            Role::Reranking => "reranking",
        }
    }

    fn parse(field: &str, raw: &str) -> Result<Role, Invalid> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "default" => Ok(Role::Default),
            "chat" => Ok(Role::Chat),
            "embedding" => Ok(Role::Embedding),
            "classify" => Ok(Role::Classify),
            "reranking" => Ok(Role::Reranking),
            _ => Err(Invalid(format!(
                "{field} {raw:?} is not a model role (default, chat, embedding, classify, reranking)"
            ))),
        }
    }
}

/// One model mapping of an agent, with its optional monthly budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmConfig {
    #[serde(default)]
    pub role: Role,
    /// The provider type, e.g. `openai`.
    #[serde(default)]
    pub provider: String,
    pub model: String,
    /// The registered model provider's name, when the mapping names one.
    #[serde(default)]
    pub model_provider: String,
    /// None means uncapped.
    #[serde(default)]
    pub monthly_budget_usd: Option<f64>,
}

impl LlmConfig {
    /// `{role}: {provider}/{model}`: how the mapping is shown, and its key in `Usage`.
    pub fn label(&self) -> String {
        let provider = if self.provider.is_empty() {
            &self.model_provider
        } else {
            &self.provider
        };
        if provider.is_empty() {
            format!("{}: {}", self.role.as_str(), self.model)
        } else {
            format!("{}: {provider}/{}", self.role.as_str(), self.model)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// Everything kept about an agent: what it runs and what it may use. Stored as the agent
/// document's `spec`; `policies` and `identityProvider` are read from there by other use cases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpec {
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub system_prompt: String,
    #[serde(default)]
    pub required_tools: Vec<String>,
    /// Detected URL → tool name, for the runtime's URL rewrites.
    #[serde(default)]
    pub tool_url_mappings: BTreeMap<String, String>,
    #[serde(default)]
    pub llm_configs: Vec<LlmConfig>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identity_provider: String,
    /// File name → content; needed to run the agent, never shown back.
    #[serde(default)]
    pub source_files: BTreeMap<String, String>,
    #[serde(default)]
    pub requirements: String,
    #[serde(default)]
    pub entry_point: String,
    #[serde(default)]
    pub framework: String,
    pub plan: Plan,
}

impl AgentSpec {
    /// The model mapping of the `default` role, else the first one.
    pub fn main_llm(&self) -> Option<&LlmConfig> {
        self.llm_configs
            .iter()
            .find(|config| config.role == Role::Default)
            .or_else(|| self.llm_configs.first())
    }

    /// The model mapping a gateway call of `model` through the provider named `provider` counts
    /// against: the first whose model matches and whose `model_provider` is that provider or
    /// unset.
    pub fn llm_config_for(&self, model: &str, provider: &str) -> Option<&LlmConfig> {
        self.llm_configs.iter().find(|config| {
            config.model == model
                && (config.model_provider.is_empty() || config.model_provider == provider)
        })
    }

    /// Every tool the spec refers to: required tools, then URL-mapping targets.
    pub fn referenced_tools(&self) -> Vec<&str> {
        let mut tools: Vec<&str> = Vec::new();
        for tool in self
            .required_tools
            .iter()
            .chain(self.tool_url_mappings.values())
        {
            if !tools.contains(&tool.as_str()) {
                tools.push(tool);
            }
        }
        tools
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentPhase {
    Pending,
    Running,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    pub phase: AgentPhase,
    #[serde(default)]
    pub message: String,
    /// The build a deploy asked for, when its plan needs one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub build_id: String,
}

impl AgentStatus {
    /// Recorded and valid, but nothing runs it yet.
    pub fn awaiting_host(build_id: String) -> Self {
        AgentStatus {
            phase: AgentPhase::Pending,
            message: "waiting for an agent host".to_owned(),
            build_id,
        }
    }

    /// The status a freshly deployed agent starts with: a Tier-1 agent runs at once in the
    /// platform's loop (if it has a model); others wait for their build and process.
    pub fn deployed(spec: &AgentSpec, build_id: String) -> Self {
        match spec.plan.execution_mode {
            plan::ExecutionMode::NativeLoop if spec.main_llm().is_some() => AgentStatus {
                phase: AgentPhase::Running,
                message: "runs in the platform's native tool loop".to_owned(),
                build_id,
            },
            plan::ExecutionMode::NativeLoop => AgentStatus {
                phase: AgentPhase::Pending,
                message: "needs a model: add an llm_configs entry".to_owned(),
                build_id,
            },
            _ => AgentStatus::awaiting_host(build_id),
        }
    }
}

/// A parsed, validated `POST /deploy` (or `/deploy/preview`) request.
#[derive(Debug)]
pub struct DeployInput {
    pub name: ResourceName,
    pub spec: AgentSpec,
    pub tools_to_create: Vec<ToolInput>,
}

/// Names the platform sets in an agent's environment; a deploy may not override them.
const RESERVED_ENV: [&str; 21] = [
    "SYSTEM_PROMPT",
    "LLM_GATEWAY_URL",
    "LLM_MODEL",
    "LLM_PROVIDER",
    "LLM_PROVIDER_NAME",
    "AGENT_NAME",
    "USER_ENTRY_POINT",
    "TOOL_NAMES",
    "TOOL_DEFINITIONS_JSON",
    "TOOL_ROUTES_JSON",
    "MAX_TOOL_ITERATIONS",
    "PORT",
    "GOVERNANCE_URL",
    "RUNAGENTS_OUTBOUND_MODE",
    "RUNAGENTS_USER_CODE_DIR",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_KEY",
    "PYTHONPATH",
];

/// Prefixes of platform-set names (`TOOL_URL_STRIPE_API`, `LLM_MODEL_EMBEDDING`, ...).
const RESERVED_ENV_PREFIXES: [&str; 3] = ["TOOL_URL_", "LLM_MODEL_", "LLM_PROVIDER_"];

const NO_SOURCE: &str = "provide exactly one deploy source: source_files or image";

impl DeployInput {
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        let mut doc = object(body)?;
        let name = match take_string(&mut doc, "agent_name")? {
            Some(name) if !name.trim().is_empty() => ResourceName::parse(&name)
                .map_err(|error| Invalid(format!("agent_name: {error}")))?,
            _ => return Err(Invalid::new("agent_name is required")),
        };

        let source_files = match doc.remove("source_files") {
            None | Some(Value::Null) => None,
            Some(Value::Object(files)) => Some(files),
            Some(_) => {
                return Err(Invalid::new(
                    "source_files must be an object of file name to content",
                ));
            }
        };
        let image = take_string(&mut doc, "image")?.filter(|s| !s.trim().is_empty());
        let artifact = take_string(&mut doc, "artifact_id")?.filter(|s| !s.trim().is_empty());
        let draft = take_string(&mut doc, "draft_id")?.filter(|s| !s.trim().is_empty());
        let sources = usize::from(source_files.is_some())
            + usize::from(image.is_some())
            + usize::from(artifact.is_some())
            + usize::from(draft.is_some());
        if sources != 1 {
            return Err(Invalid(format!("{NO_SOURCE} (got {sources})")));
        }
        if artifact.is_some() || draft.is_some() {
            return Err(Invalid::new(
                "artifact/draft sources are not supported by this server; send source_files or image",
            ));
        }
        let requirements = take_string(&mut doc, "requirements")?.unwrap_or_default();
        let entry_point = take_string(&mut doc, "entry_point")?.unwrap_or_default();
        let framework = take_string(&mut doc, "framework")?.unwrap_or_default();

        let mut spec = AgentSpec {
            image: String::new(),
            system_prompt: take_string(&mut doc, "system_prompt")?.unwrap_or_default(),
            required_tools: names("required_tools", take_array(&mut doc, "required_tools")?)?,
            tool_url_mappings: tool_url_mappings(doc.remove("tool_url_mappings"))?,
            llm_configs: llm_configs(take_array(&mut doc, "llm_configs")?)?,
            env: env(take_array(&mut doc, "env")?)?,
            policies: names("policies", take_array(&mut doc, "policies")?)?,
            identity_provider: identity_provider(take_string(&mut doc, "identity_provider")?)?,
            source_files: BTreeMap::new(),
            requirements: String::new(),
            entry_point: String::new(),
            framework: String::new(),
            // Source deploys replace this with the plan for their files, below.
            plan: plan::plan_image(),
        };
        if let Some(image) = image {
            for (field, value) in [
                ("requirements", &requirements),
                ("entry_point", &entry_point),
                ("framework", &framework),
            ] {
                if !value.trim().is_empty() {
                    return Err(Invalid(format!(
                        "{field} can only be used with source_files"
                    )));
                }
            }
            spec.image = image_reference(&image)?;
        } else if let Some(files) = source_files {
            let files = source(files)?;
            let detection = plan::detect(&files);
            let all_requirements = match files.get("requirements.txt") {
                Some(file) => format!("{requirements}\n{file}"),
                None => requirements.clone(),
            };
            spec.plan = plan::plan_sources(&detection, &all_requirements);
            spec.entry_point = entry_point_of(&files, &entry_point, &detection)?;
            spec.framework = match framework.trim() {
                "" => detection.primary_framework().unwrap_or_default().to_owned(),
                declared => short_word("framework", declared)?,
            };
            spec.requirements = requirements;
            spec.source_files = files;
        }

        let tools_to_create = tools_to_create(take_array(&mut doc, "tools_to_create")?)?;
        Ok(DeployInput {
            name,
            spec,
            tools_to_create,
        })
    }
}

/// A parsed `PUT /agents/{name}/config`: only the fields sent are changed.
#[derive(Debug, Default, PartialEq)]
pub struct ConfigUpdate {
    pub system_prompt: Option<String>,
    /// `Some("")` removes the identity provider.
    pub identity_provider: Option<String>,
    pub llm_configs: Option<Vec<LlmConfig>>,
    pub required_tools: Option<Vec<String>>,
    pub policies: Option<Vec<String>>,
}

impl ConfigUpdate {
    pub fn parse(body: Value) -> Result<Self, Invalid> {
        let mut doc = object(body)?;
        let update = ConfigUpdate {
            system_prompt: take_string(&mut doc, "system_prompt")?,
            identity_provider: take_string(&mut doc, "identity_provider")?
                .map(|raw| identity_provider(Some(raw)))
                .transpose()?,
            llm_configs: take_optional_array(&mut doc, "llm_configs")?
                .map(llm_configs)
                .transpose()?,
            required_tools: take_optional_array(&mut doc, "required_tools")?
                .map(|values| names("required_tools", values))
                .transpose()?,
            policies: take_optional_array(&mut doc, "policies")?
                .map(|values| names("policies", values))
                .transpose()?,
        };
        if update == ConfigUpdate::default() {
            return Err(Invalid::new(
                "nothing to update: send system_prompt, identity_provider, llm_configs, required_tools or policies",
            ));
        }
        Ok(update)
    }

    pub fn apply(self, spec: &mut AgentSpec) {
        if let Some(system_prompt) = self.system_prompt {
            spec.system_prompt = system_prompt;
        }
        if let Some(identity_provider) = self.identity_provider {
            spec.identity_provider = identity_provider;
        }
        if let Some(llm_configs) = self.llm_configs {
            spec.llm_configs = llm_configs;
        }
        if let Some(required_tools) = self.required_tools {
            spec.required_tools = required_tools;
        }
        if let Some(policies) = self.policies {
            spec.policies = policies;
        }
    }
}

fn object(body: Value) -> Result<Map<String, Value>, Invalid> {
    match body {
        Value::Object(doc) => Ok(doc),
        _ => Err(Invalid::new("request body must be a JSON object")),
    }
}

/// A string field; absent and `null` are `None`.
fn take_string(doc: &mut Map<String, Value>, key: &str) -> Result<Option<String>, Invalid> {
    match doc.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Invalid(format!("{key} must be a string"))),
    }
}

fn take_optional_array(
    doc: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<Value>>, Invalid> {
    match doc.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(Invalid(format!("{key} must be an array"))),
    }
}

fn take_array(doc: &mut Map<String, Value>, key: &str) -> Result<Vec<Value>, Invalid> {
    Ok(take_optional_array(doc, key)?.unwrap_or_default())
}

/// Resource names; blank entries are skipped and repeats dropped, order kept.
fn names(field: &str, values: Vec<Value>) -> Result<Vec<String>, Invalid> {
    let mut names: Vec<String> = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let Value::String(raw) = value else {
            return Err(Invalid(format!("{field}[{index}] must be a string")));
        };
        if raw.trim().is_empty() {
            continue;
        }
        let name = ResourceName::parse(&raw)
            .map_err(|error| Invalid(format!("{field}[{index}]: {error}")))?
            .to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

fn identity_provider(raw: Option<String>) -> Result<String, Invalid> {
    match raw {
        Some(raw) if !raw.trim().is_empty() => Ok(ResourceName::parse(&raw)
            .map_err(|error| Invalid(format!("identity_provider: {error}")))?
            .to_string()),
        _ => Ok(String::new()),
    }
}

fn tool_url_mappings(value: Option<Value>) -> Result<BTreeMap<String, String>, Invalid> {
    let map = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(Invalid::new(
                "tool_url_mappings must be an object of URL to tool name",
            ));
        }
    };
    map.into_iter()
        .map(|(url, tool)| {
            let url = crate::url::http_url("tool_url_mappings key", &url)?;
            let Value::String(tool) = tool else {
                return Err(Invalid(format!(
                    "tool_url_mappings[{url:?}] must be a tool name"
                )));
            };
            let tool = ResourceName::parse(&tool)
                .map_err(|error| Invalid(format!("tool_url_mappings[{url:?}]: {error}")))?;
            Ok((url, tool.to_string()))
        })
        .collect()
}

fn llm_configs(values: Vec<Value>) -> Result<Vec<LlmConfig>, Invalid> {
    let mut configs: Vec<LlmConfig> = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let field = format!("llm_configs[{index}]");
        let Value::Object(mut doc) = value else {
            return Err(Invalid(format!("{field} must be an object")));
        };
        let mut text = |key: &str| {
            take_string(&mut doc, key)
                .map(|value| value.unwrap_or_default().trim().to_owned())
                .map_err(|error| Invalid(format!("{field}.{error}")))
        };
        let role = Role::parse(&format!("{field}.role"), &text("role")?)?;
        let provider = text("provider")?;
        let model = text("model")?;
        let model_provider = text("model_provider")?;
        if model.is_empty() {
            return Err(Invalid(format!("{field}.model is required")));
        }
        if !model_provider.is_empty() {
            ResourceName::parse(&model_provider)
                .map_err(|error| Invalid(format!("{field}.model_provider: {error}")))?;
        }
        let monthly_budget_usd = match doc.remove("monthly_budget_usd") {
            None | Some(Value::Null) => None,
            Some(Value::Number(number)) => match number.as_f64() {
                Some(budget) if budget.is_finite() && budget >= 0.0 => Some(budget),
                _ => {
                    return Err(Invalid(format!(
                        "{field}.monthly_budget_usd must be a number >= 0"
                    )));
                }
            },
            Some(_) => {
                return Err(Invalid(format!(
                    "{field}.monthly_budget_usd must be a number >= 0 (or null for no budget)"
                )));
            }
        };
        if configs.iter().any(|config| config.role == role) {
            return Err(Invalid(format!(
                "{field}: role {:?} is mapped twice; give each role one model",
                role.as_str()
            )));
        }
        configs.push(LlmConfig {
            role,
            provider,
            model,
            model_provider,
            monthly_budget_usd,
        });
    }
    Ok(configs)
}

fn env(values: Vec<Value>) -> Result<Vec<EnvVar>, Invalid> {
    let mut vars: Vec<EnvVar> = Vec::new();
    for (index, value) in values.into_iter().enumerate() {
        let field = format!("env[{index}]");
        let Value::Object(mut doc) = value else {
            return Err(Invalid(format!(
                "{field} must be an object {{name, value}}"
            )));
        };
        let name = take_string(&mut doc, "name")
            .map_err(|error| Invalid(format!("{field}.{error}")))?
            .unwrap_or_default();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Invalid(format!(
                "{field}.name {name:?} is not an environment variable name (letters, digits, '_', not starting with a digit)"
            )));
        }
        let upper = name.to_ascii_uppercase();
        if RESERVED_ENV.contains(&upper.as_str())
            || RESERVED_ENV_PREFIXES
                .iter()
                .any(|prefix| upper.starts_with(prefix))
        {
            return Err(Invalid(format!(
                "{field}.name {name:?} is set by the platform and cannot be overridden"
            )));
        }
        if vars.iter().any(|var| var.name == name) {
            return Err(Invalid(format!("{field}.name {name:?} is set twice")));
        }
        let value = match doc.remove("value") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text,
            Some(scalar @ (Value::Number(_) | Value::Bool(_))) => scalar.to_string(),
            Some(_) => return Err(Invalid(format!("{field}.value must be a string"))),
        };
        if value.contains('\0') {
            return Err(Invalid(format!("{field}.value must not contain NUL")));
        }
        vars.push(EnvVar { name, value });
    }
    Ok(vars)
}

/// The source files, each a safe relative path with text content. An empty map is a valid
/// source: an agent with no code runs on the native loop (catalog templates send `{}`).
fn source(files: Map<String, Value>) -> Result<BTreeMap<String, String>, Invalid> {
    files
        .into_iter()
        .map(|(path, content)| {
            relative_path("source_files", &path)?;
            match content {
                Value::String(content) => Ok((path, content)),
                _ => Err(Invalid(format!(
                    "source_files[{path:?}] must be the file's text content"
                ))),
            }
        })
        .collect()
}

/// A path inside the project: relative, no `..`, `.` or empty segments, no NUL or backslash.
fn relative_path(field: &str, path: &str) -> Result<(), Invalid> {
    let unsafe_path = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || path.len() > 255
        || path
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..");
    if unsafe_path {
        return Err(Invalid(format!(
            "{field}: {path:?} must be a relative path inside the project (no '..', no leading '/', no '\\' or control characters)"
        )));
    }
    Ok(())
}

/// The file the Python runtime starts from: the one named, else for Tier 2 `agent.py` or
/// `main.py` when it holds custom code, else the first file that does.
fn entry_point_of(
    files: &BTreeMap<String, String>,
    declared: &str,
    detection: &plan::Detection,
) -> Result<String, Invalid> {
    let declared = declared.trim();
    if !declared.is_empty() {
        relative_path("entry_point", declared)?;
        if !files.contains_key(declared) {
            return Err(Invalid(format!(
                "entry_point {declared:?} is not one of the source_files"
            )));
        }
        return Ok(declared.to_owned());
    }
    let Some((_, first_file)) = &detection.first else {
        return Ok(String::new());
    };
    let conventional = ["agent.py", "main.py"].into_iter().find(|name| {
        files.get(*name).is_some_and(|content| {
            plan::detect(&BTreeMap::from([((*name).to_owned(), content.clone())])).custom_code()
        })
    });
    Ok(conventional.unwrap_or(first_file.as_str()).to_owned())
}

fn short_word(field: &str, raw: &str) -> Result<String, Invalid> {
    let word = raw.trim();
    if word.len() > 63 || word.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid(format!(
            "{field} {raw:?} must be a short word without spaces"
        )));
    }
    Ok(word.to_ascii_lowercase())
}

/// A container image reference: no whitespace or control characters.
fn image_reference(raw: &str) -> Result<String, Invalid> {
    let image = raw.trim();
    if image.len() > 512 || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid(format!("image {raw:?} is not an image reference")));
    }
    Ok(image.to_owned())
}

fn tools_to_create(values: Vec<Value>) -> Result<Vec<ToolInput>, Invalid> {
    let mut seen = HashSet::new();
    values
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let tool = ToolInput::parse(value)
                .map_err(|error| Invalid(format!("tools_to_create[{index}]: {error}")))?;
            if !seen.insert(tool.name.clone()) {
                return Err(Invalid(format!(
                    "tools_to_create[{index}]: tool {:?} is listed twice",
                    tool.name.as_str()
                )));
            }
            Ok(tool)
        })
        .collect()
}

#[cfg(test)]
mod tests;
