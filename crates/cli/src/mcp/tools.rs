//! The MCP tools: the public server's 43 (same names and parameters) plus `list_approvals`,
//! each described for a model, with a hand-written input schema, and run through the CLI's API
//! client and the same request builders as the CLI commands.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::client::{Body, Client, query, segment};
use crate::commands::{
    approvals, catalog, connectors, identity_providers, items, policies, runs, workspace,
};
use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ty {
    Str,
    Int,
    Bool,
    Obj,
    StrList,
    ObjList,
    /// `{name: text}`.
    StrMap,
}

#[derive(Clone, Copy, Debug)]
enum Preset {
    None,
    Int(i64),
    Str(&'static str),
}

#[derive(Debug)]
struct Param {
    name: &'static str,
    ty: Ty,
    required: bool,
    default: Preset,
    description: &'static str,
}

const fn req(name: &'static str, ty: Ty, description: &'static str) -> Param {
    Param {
        name,
        ty,
        required: true,
        default: Preset::None,
        description,
    }
}

const fn opt(name: &'static str, ty: Ty, description: &'static str) -> Param {
    Param {
        name,
        ty,
        required: false,
        default: Preset::None,
        description,
    }
}

const fn int(name: &'static str, default: i64, description: &'static str) -> Param {
    Param {
        name,
        ty: Ty::Int,
        required: false,
        default: Preset::Int(default),
        description,
    }
}

const fn text(name: &'static str, default: &'static str, description: &'static str) -> Param {
    Param {
        name,
        ty: Ty::Str,
        required: false,
        default: Preset::Str(default),
        description,
    }
}

/// What a tool does to the platform, for the client's annotations.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Effect {
    Read,
    Write,
    Delete,
}

#[derive(Debug)]
pub(crate) struct Tool {
    pub(crate) name: &'static str,
    effect: Effect,
    description: &'static str,
    params: &'static [Param],
}

const RUN_ID: Param = req("run_id", Ty::Str, "The run's id, as list_runs shows it.");
const AGENT_NAME: Param = req(
    "name",
    Ty::Str,
    "The agent's name, as list_agents shows it.",
);

/// Every tool, in the public server's order, `list_approvals` after the read tools.
pub(crate) const TOOLS: &[Tool] = &[
    Tool {
        name: "list_agents",
        effect: Effect::Read,
        description: "List the agents deployed in the workspace, with status, model, tools and policies. Use it to find an agent's exact name. Returns a JSON array of agents.",
        params: &[],
    },
    Tool {
        name: "get_agent",
        effect: Effect::Read,
        description: "Show one deployed agent: status and status message, execution mode, entry point, model, tools, bound policies, identity provider and system prompt. Returns the agent as JSON; an error if no agent has that name.",
        params: &[AGENT_NAME],
    },
    Tool {
        name: "get_agent_config",
        effect: Effect::Read,
        description: "Show an agent's editable configuration (system prompt, model mappings with monthly budgets, tools, policies, identity provider) and this month's model usage. Read it before update_agent_config. Returns JSON.",
        params: &[AGENT_NAME],
    },
    Tool {
        name: "list_tools",
        effect: Effect::Read,
        description: "List the tools registered in the workspace: the external HTTP APIs agents may call, with base URL, authentication type, access mode and health. deploy_agent's required_tools and policies refer to these names. Returns a JSON array.",
        params: &[],
    },
    Tool {
        name: "list_models",
        effect: Effect::Read,
        description: "List the model providers (LLM backends) registered in the workspace and the models each serves. An agent's llm_configs must name one of these models. Returns a JSON array.",
        params: &[],
    },
    Tool {
        name: "get_model_spend",
        effect: Effect::Read,
        description: "Show this month's LLM usage and spend per agent and model, the configured budgets, and warnings for budgets nearly used up. Returns JSON.",
        params: &[],
    },
    Tool {
        name: "list_runs",
        effect: Effect::Read,
        description: "List agent runs, newest first, optionally only one agent's, one status's (RUNNING, PAUSED_APPROVAL, PAUSED_CONSENT, COMPLETED, FAILED), one end user's or one conversation's. Use it to find a run id for get_run, get_run_timeline or wait_for_run. Returns a JSON array of runs.",
        params: &[
            text("agent", "", "Only this agent's runs (its name)."),
            text(
                "status",
                "",
                "Only runs in this status, e.g. PAUSED_APPROVAL.",
            ),
            text("user", "", "Only this end user's runs (their user id)."),
            text("conversation", "", "Only this conversation's runs."),
            int("limit", 20, "At most this many runs; 0 for all."),
        ],
    },
    Tool {
        name: "get_run",
        effect: Effect::Read,
        description: "Show one run: agent, status, end user, the blocked action while it waits for approval, timestamps. Never fails because the platform is slow: then the result says timed_out: true. Returns the run as JSON.",
        params: &[RUN_ID],
    },
    Tool {
        name: "get_run_events",
        effect: Effect::Read,
        description: "List a run's events in order (RUN_CREATED, TOOL_REQUEST, TOOL_RESPONSE, APPROVAL_REQUIRED, APPROVED, REJECTED, TOOL_CALLED, RESUMED, COMPLETED, …), each with its data: what the agent called, what the policy decided, who approved. Returns a JSON array.",
        params: &[
            RUN_ID,
            text(
                "event_type",
                "",
                "Only events of this type (any case), e.g. APPROVAL_REQUIRED.",
            ),
            int("limit", 0, "Only the last N events; 0 for all."),
        ],
    },
    Tool {
        name: "get_run_timeline",
        effect: Effect::Read,
        description: "A run's story, one line per event (sequence, time, type, actor, summary). Prefer it to get_run_events to explain what happened in a run. Returns {run, timeline}.",
        params: &[RUN_ID],
    },
    Tool {
        name: "wait_for_run",
        effect: Effect::Read,
        description: "Wait until a run finishes (COMPLETED or FAILED), checking every interval_seconds for at most timeout_seconds. A run paused for approval (PAUSED_APPROVAL) only goes on once someone decides its request (list_approvals). Never fails on timeout: returns {timed_out: true, status, run} when time is up, {timed_out: false, status, run} when the run finished.",
        params: &[
            RUN_ID,
            int(
                "timeout_seconds",
                300,
                "Give up waiting after this many seconds.",
            ),
            int(
                "interval_seconds",
                2,
                "Seconds between checks (at least 1).",
            ),
        ],
    },
    Tool {
        name: "export_run",
        effect: Effect::Read,
        description: "The run, all its events and its timeline as one JSON document {run, events, timeline}, for an audit record or a bug report.",
        params: &[RUN_ID],
    },
    Tool {
        name: "list_catalog_agents",
        effect: Effect::Read,
        description: "Browse the catalog of ready-made agents, by text and filters. Returns {items, page, page_size, total}; deploy one with deploy_catalog_agent.",
        params: &[
            text("search", "", "Words to look for in names and summaries."),
            opt(
                "categories",
                Ty::StrList,
                "Only agents in these categories.",
            ),
            opt("tags", Ty::StrList, "Only agents with these tags."),
            opt(
                "integrations",
                Ty::StrList,
                "Only agents using these integrations, e.g. slack.",
            ),
            opt(
                "governance",
                Ty::StrList,
                "Only agents with these governance traits.",
            ),
            int("page", 1, "Page number, from 1."),
            int("page_size", 24, "Agents per page."),
        ],
    },
    Tool {
        name: "get_catalog_agent",
        effect: Effect::Read,
        description: "Show a catalog agent's manifest: summary, default model, required integrations and tools, governance traits and deployment template. Returns JSON.",
        params: &[
            req(
                "agent_id",
                Ty::Str,
                "The catalog agent's id, as list_catalog_agents shows it.",
            ),
            text("version", "", "A published version; empty for the latest."),
        ],
    },
    Tool {
        name: "list_catalog_versions",
        effect: Effect::Read,
        description: "List the published versions of a catalog agent. Returns JSON.",
        params: &[req("agent_id", Ty::Str, "The catalog agent's id.")],
    },
    Tool {
        name: "list_policies",
        effect: Effect::Read,
        description: "List the governance policies: their rules (allow, deny or approval_required by HTTP method and URL pattern), approval routes, and the agents using each. Returns a JSON array.",
        params: &[],
    },
    Tool {
        name: "get_policy",
        effect: Effect::Read,
        description: "Show one policy: rules, approval routes, readiness and the agents bound to it. Returns JSON.",
        params: &[req("name", Ty::Str, "The policy's name.")],
    },
    Tool {
        name: "translate_policy",
        effect: Effect::Read,
        description: "Draft policy rules from a plain-language intent, e.g. \"reads from api.stripe.com are fine, refunds need approval\". Saves nothing: review the rules, then save them with apply_policy. Returns {rules: [...]}.",
        params: &[req(
            "text",
            Ty::Str,
            "What the policy should allow, deny or hold for approval.",
        )],
    },
    Tool {
        name: "list_approval_connectors",
        effect: Effect::Read,
        description: "List the approval connectors: where access requests are delivered for a human decision (Slack, Microsoft Teams, Jira, PagerDuty, webhooks). Header values are masked. Returns a JSON array.",
        params: &[],
    },
    Tool {
        name: "get_approval_connector",
        effect: Effect::Read,
        description: "Show one approval connector (header values masked). Returns JSON.",
        params: &[req(
            "connector_id",
            Ty::Str,
            "The connector's id, as list_approval_connectors shows it.",
        )],
    },
    Tool {
        name: "get_approval_connector_defaults",
        effect: Effect::Read,
        description: "Show the workspace's defaults for delivering access requests: delivery mode (first_success or all), whether requests also show in the console when delivery fails, and the delivery timeout. Returns JSON.",
        params: &[],
    },
    Tool {
        name: "list_approval_connector_activity",
        effect: Effect::Read,
        description: "List recent deliveries of access requests and decisions coming back (each attempt with its connector, HTTP status and message), newest first. Use it to find out why a request did not reach Slack or a webhook. Returns a JSON array.",
        params: &[int("limit", 50, "At most this many entries.")],
    },
    Tool {
        name: "list_identity_providers",
        effect: Effect::Read,
        description: "List the identity providers that authenticate agents' end users (OIDC issuer, JWKS URI, user id claim, allowed domains). Returns a JSON array.",
        params: &[],
    },
    Tool {
        name: "get_identity_provider",
        effect: Effect::Read,
        description: "Show one identity provider. Returns JSON.",
        params: &[req("name", Ty::Str, "The identity provider's name.")],
    },
    Tool {
        name: "export_context",
        effect: Effect::Read,
        description: "Everything in the workspace as one JSON document (agents, tools, model providers, policies, identity providers, approval connectors, access requests, deploy drafts), never a secret. Use it to see the whole workspace in one call; resources that could not be read are listed under errors.",
        params: &[],
    },
    Tool {
        name: "analyze_code",
        effect: Effect::Read,
        description: "Analyze agent source code without deploying it: the HTTP APIs it calls (candidate tools), the LLM providers and models it uses, the secrets it reads and its requirements. Returns the analysis as JSON.",
        params: &[req(
            "files",
            Ty::StrMap,
            "File name → file contents, e.g. {\"agent.py\": \"import openai\\n...\"}.",
        )],
    },
    Tool {
        name: "list_approvals",
        effect: Effect::Read,
        description: "List access requests: tool calls a policy held for a human decision, each with its id, agent, tool, the call (method and URL), run, end user and status. Decide a PENDING one with approve_request or reject_request. Returns a JSON array.",
        params: &[text(
            "status",
            "",
            "Only requests in this status: PENDING, APPROVED, REJECTED or EXPIRED; empty for all.",
        )],
    },
    Tool {
        name: "deploy_agent",
        effect: Effect::Write,
        description: "Deploy an agent, or update the agent of that name. Give one source: source_files, image, draft_id or artifact_id; or only system_prompt (with required_tools) for an agent without code that the platform runs itself. Tools and policies named must exist (list_tools, list_policies). Returns the deployment: execution mode, status and whether a build is needed.",
        params: &[
            req(
                "agent_name",
                Ty::Str,
                "The agent's name: lowercase letters, digits and '-'.",
            ),
            opt(
                "source_files",
                Ty::StrMap,
                "File name → source code, e.g. {\"agent.py\": \"...\"}.",
            ),
            opt(
                "image",
                Ty::Str,
                "A container image to run instead of source files.",
            ),
            text("system_prompt", "", "The agent's system prompt."),
            opt(
                "required_tools",
                Ty::StrList,
                "Names of registered tools the agent may call.",
            ),
            opt(
                "tools_to_create",
                Ty::ObjList,
                "Tools to register with the deploy: [{name, base_url, description, auth_type}].",
            ),
            opt(
                "llm_configs",
                Ty::ObjList,
                "Models: [{provider, model, role}], e.g. [{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"role\": \"default\"}].",
            ),
            text(
                "requirements",
                "",
                "requirements.txt contents (with source_files only).",
            ),
            text(
                "entry_point",
                "",
                "The file that holds the handler, e.g. agent.py (with source_files only).",
            ),
            text(
                "framework",
                "",
                "A framework hint, e.g. langgraph (with source_files only).",
            ),
            opt(
                "policies",
                Ty::StrList,
                "Names of policies to bind to the agent.",
            ),
            text(
                "identity_provider",
                "",
                "The identity provider that authenticates the agent's end users.",
            ),
            text("draft_id", "", "Deploy from this deploy draft."),
            text("artifact_id", "", "Deploy from this uploaded artifact."),
        ],
    },
    Tool {
        name: "deploy_catalog_agent",
        effect: Effect::Write,
        description: "Deploy a catalog agent from its published manifest; the arguments given replace the manifest's defaults. Returns the deployment.",
        params: &[
            req("agent_id", Ty::Str, "The catalog agent's id."),
            text("version", "", "A published version; empty for the latest."),
            text(
                "name",
                "",
                "The deployed agent's name; default from the manifest.",
            ),
            opt(
                "tools",
                Ty::StrList,
                "Registered tools to use instead of the manifest's.",
            ),
            text(
                "model",
                "",
                "provider/model to use instead of the manifest's default model.",
            ),
            opt(
                "policies",
                Ty::StrList,
                "Policies to bind instead of the manifest's.",
            ),
            text(
                "identity_provider",
                "",
                "The identity provider for the agent's end users.",
            ),
        ],
    },
    Tool {
        name: "create_tool",
        effect: Effect::Write,
        description: "Register a tool (an external HTTP API agents may call), or replace the tool of that name. Agents' calls to it are then decided by their policies. Returns the tool. For credentials or capabilities use apply_plan or `runagents tools create -f`.",
        params: &[
            req(
                "name",
                Ty::Str,
                "The tool's name: lowercase letters, digits and '-', e.g. stripe-api.",
            ),
            req(
                "base_url",
                Ty::Str,
                "The API's base URL, e.g. https://api.stripe.com.",
            ),
            text(
                "description",
                "",
                "What the API does, for people and models.",
            ),
            text("auth_type", "None", "None, APIKey or OAuth2."),
            int("port", 443, "The API's port."),
            text("scheme", "HTTPS", "HTTPS or HTTP."),
        ],
    },
    Tool {
        name: "validate_plan",
        effect: Effect::Read,
        description: "Check an action plan without changing anything. A plan is {plan_id?, continue_on_error?, actions: [{type, ...}]} creating or updating tools, policies, model providers, agents and more. Returns each action's result and errors.",
        params: &[req("plan", Ty::Obj, "The action plan.")],
    },
    Tool {
        name: "apply_plan",
        effect: Effect::Write,
        description: "Apply an action plan: its actions run in order (validate it first with validate_plan). Returns each action's result; continue_on_error in the plan decides whether a failure stops the rest.",
        params: &[req("plan", Ty::Obj, "The action plan.")],
    },
    Tool {
        name: "update_agent_config",
        effect: Effect::Write,
        description: "Change part of an agent's configuration: only the keys given in config change. Returns the new configuration.",
        params: &[
            AGENT_NAME,
            req(
                "config",
                Ty::Obj,
                "Any of: system_prompt (text), identity_provider (name; empty removes it), llm_configs ([{provider, model, role, monthly_budget_usd}]), required_tools ([names]), policies ([names]).",
            ),
        ],
    },
    Tool {
        name: "approve_request",
        effect: Effect::Write,
        description: "Approve a pending access request: the platform then makes the held call itself and the run goes on. Returns the decided request.",
        params: &[
            req(
                "request_id",
                Ty::Str,
                "The request's id, as list_approvals shows it.",
            ),
            text(
                "scope",
                "",
                "once (only this call; the default), run (the rest of this run) or window (this agent, user and tool for duration).",
            ),
            text(
                "duration",
                "",
                "How long a window approval lasts, e.g. 1h or 4h (implies scope window).",
            ),
            text("reason", "", "Why, for the audit trail."),
        ],
    },
    Tool {
        name: "reject_request",
        effect: Effect::Write,
        description: "Reject a pending access request: the held call is never made and the run fails. Returns the decided request.",
        params: &[
            req(
                "request_id",
                Ty::Str,
                "The request's id, as list_approvals shows it.",
            ),
            text("reason", "", "Why, for the audit trail."),
        ],
    },
    Tool {
        name: "apply_policy",
        effect: Effect::Write,
        description: "Create or replace a policy. A rule is {permission: allow|deny|approval_required, operations: [GET, POST, …] (all when left out), resource: URL pattern with *, e.g. https://api.stripe.com/v1/refunds*}; a call no rule allows is denied. Bind the policy to agents with update_agent_config. Returns the policy.",
        params: &[
            req(
                "policy",
                Ty::Obj,
                "{name, spec: {policies: [rules], approvals: [routes]}}, or a bare spec {policies: [rules]} with name given.",
            ),
            text(
                "name",
                "",
                "The policy's name, when policy does not hold one (or to override it).",
            ),
        ],
    },
    Tool {
        name: "delete_policy",
        effect: Effect::Delete,
        description: "Delete a policy. A policy bound to an agent cannot be deleted: unbind it first with update_agent_config.",
        params: &[req("name", Ty::Str, "The policy's name.")],
    },
    Tool {
        name: "apply_approval_connector",
        effect: Effect::Write,
        description: "Create an approval connector, or update the one with the same id (else the same name). Returns the connector.",
        params: &[req(
            "connector",
            Ty::Obj,
            "{id?, name, type (webhook, slack, teams, jira, pagerduty), endpoint, headers?, enabled?, timeout_seconds?, ...}; a new connector needs name and endpoint.",
        )],
    },
    Tool {
        name: "apply_identity_provider",
        effect: Effect::Write,
        description: "Create or replace an identity provider that authenticates agents' end users. Returns it.",
        params: &[
            req(
                "identity_provider",
                Ty::Obj,
                "{name, spec: {host, identityProvider: {issuer, jwksUri, audiences?}, userIDClaim, allowedDomains?}}.",
            ),
            text(
                "name",
                "",
                "The name, when identity_provider does not hold one (or to override it).",
            ),
        ],
    },
    Tool {
        name: "delete_identity_provider",
        effect: Effect::Delete,
        description: "Delete an identity provider, by name. Agents that name it (get_agent_config) should be changed first.",
        params: &[req("name", Ty::Str, "The identity provider's name.")],
    },
    Tool {
        name: "delete_approval_connector",
        effect: Effect::Delete,
        description: "Delete an approval connector; requests are no longer delivered through it.",
        params: &[req("connector_id", Ty::Str, "The connector's id.")],
    },
    Tool {
        name: "test_approval_connector",
        effect: Effect::Read,
        description: "Check an approval connector: its configuration, credentials and whether its endpoint answers. Returns a report whose status is healthy or says what is wrong.",
        params: &[req("connector_id", Ty::Str, "The connector's id.")],
    },
    Tool {
        name: "set_approval_connector_defaults",
        effect: Effect::Write,
        description: "Change the workspace's defaults for delivering access requests; only the arguments given change. Returns the new defaults.",
        params: &[
            opt(
                "delivery_mode",
                Ty::Str,
                "first_success (stop at the first connector that takes it) or all.",
            ),
            opt(
                "fallback_to_ui",
                Ty::Bool,
                "Also show requests in the console when delivery fails.",
            ),
            opt("timeout_seconds", Ty::Int, "How long a delivery may take."),
        ],
    },
    Tool {
        name: "seed_starter_kit",
        effect: Effect::Write,
        description: "Create the demo resources: the echo-tool tool and the playground-llm model provider, whose offline model is named playground. Safe to call again: existing ones are kept. Returns what was created.",
        params: &[],
    },
];

pub(crate) fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|tool| tool.name == name)
}

/// `tools/list`'s entries.
pub(crate) fn list() -> Vec<Value> {
    TOOLS.iter().map(definition).collect()
}

fn definition(tool: &Tool) -> Value {
    let mut properties = Map::new();
    for param in tool.params {
        let mut schema = match param.ty {
            Ty::Str => json!({"type": "string"}),
            Ty::Int => json!({"type": "integer"}),
            Ty::Bool => json!({"type": "boolean"}),
            Ty::Obj => json!({"type": "object"}),
            Ty::StrList => json!({"type": "array", "items": {"type": "string"}}),
            Ty::ObjList => json!({"type": "array", "items": {"type": "object"}}),
            Ty::StrMap => json!({"type": "object", "additionalProperties": {"type": "string"}}),
        };
        schema["description"] = json!(param.description);
        match param.default {
            Preset::None => {}
            Preset::Int(value) => schema["default"] = json!(value),
            Preset::Str(value) => schema["default"] = json!(value),
        }
        properties.insert(param.name.to_owned(), schema);
    }
    let required: Vec<&str> = tool
        .params
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name)
        .collect();
    json!({
        "name": tool.name,
        "title": title(tool.name),
        "description": tool.description,
        "inputSchema": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        },
        "annotations": {
            "readOnlyHint": tool.effect == Effect::Read,
            "destructiveHint": tool.effect == Effect::Delete,
            "openWorldHint": false,
        },
    })
}

/// `list_agents` → `List agents`.
fn title(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut chars = words.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// What went wrong, for the model: `{"error", "status"?, "hint"?}`.
type Failure = Value;

fn failed(error: &Error) -> Failure {
    let mut failure = json!({"error": error.to_string()});
    if let Some(status) = error.status() {
        failure["status"] = json!(status);
    }
    if let Some(hint) = error.hint() {
        failure["hint"] = json!(hint);
    }
    failure
}

fn invalid(message: impl Into<String>) -> Failure {
    json!({"error": message.into()})
}

/// A tool's arguments, checked against its parameters.
struct Args<'a> {
    tool: &'static Tool,
    values: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    fn check(tool: &'static Tool, values: &'a Map<String, Value>) -> Result<Self, Failure> {
        let names = || {
            let names: Vec<&str> = tool.params.iter().map(|p| p.name).collect();
            if names.is_empty() {
                "this tool takes no arguments".to_owned()
            } else {
                format!("this tool takes: {}", names.join(", "))
            }
        };
        for (name, value) in values {
            let Some(param) = tool.params.iter().find(|p| p.name == name) else {
                return Err(invalid(format!("unknown argument {name:?}; {}", names())));
            };
            if !value.is_null() && !fits(param.ty, value) {
                return Err(invalid(format!(
                    "argument {name:?} must be {}",
                    match param.ty {
                        Ty::Str => "a string",
                        Ty::Int => "an integer",
                        Ty::Bool => "true or false",
                        Ty::Obj => "a JSON object",
                        Ty::StrList => "a list of strings",
                        Ty::ObjList => "a list of JSON objects",
                        Ty::StrMap => "an object whose values are strings",
                    }
                )));
            }
        }
        for param in tool.params.iter().filter(|p| p.required) {
            let missing = match values.get(param.name) {
                None | Some(Value::Null) => true,
                Some(Value::String(text)) => text.trim().is_empty(),
                Some(_) => false,
            };
            if missing {
                return Err(invalid(format!(
                    "argument {:?} is required; {}",
                    param.name,
                    names()
                )));
            }
        }
        Ok(Args { tool, values })
    }

    fn param(&self, name: &str) -> Option<&'static Param> {
        self.tool.params.iter().find(|p| p.name == name)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.values.get(name).filter(|v| !v.is_null())
    }

    /// A string argument, trimmed; its default (or `""`) when not given.
    fn text(&self, name: &str) -> String {
        match self.get(name) {
            Some(Value::String(text)) => text.trim().to_owned(),
            _ => match self.param(name).map(|p| p.default) {
                Some(Preset::Str(value)) => value.to_owned(),
                _ => String::new(),
            },
        }
    }

    fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(value) => as_int(value),
            None => match self.param(name).map(|p| p.default) {
                Some(Preset::Int(value)) => Some(value),
                _ => None,
            },
        }
    }

    fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(|value| match value {
            Value::Bool(flag) => Some(*flag),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        })
    }

    /// A list of names, trimmed, empty ones dropped.
    fn names(&self, name: &str) -> Vec<String> {
        items(self.get(name).unwrap_or(&Value::Null))
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn value(&self, name: &str) -> Option<Value> {
        self.get(name).cloned()
    }
}

/// Integers, also as integral floats or digit strings (models send all three).
fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn fits(ty: Ty, value: &Value) -> bool {
    match ty {
        Ty::Str => value.is_string(),
        Ty::Int => as_int(value).is_some(),
        Ty::Bool => {
            value.is_boolean() || matches!(value.as_str().map(str::trim), Some("true" | "false"))
        }
        Ty::Obj => value.is_object(),
        Ty::StrList => value
            .as_array()
            .is_some_and(|list| list.iter().all(Value::is_string)),
        Ty::ObjList => value
            .as_array()
            .is_some_and(|list| list.iter().all(Value::is_object)),
        Ty::StrMap => value
            .as_object()
            .is_some_and(|map| map.values().all(Value::is_string)),
    }
}

/// Runs one tool: its JSON result, or what went wrong.
pub(crate) async fn call(
    api: &Client,
    tool: &'static Tool,
    values: &Map<String, Value>,
) -> Result<Value, Failure> {
    let args = Args::check(tool, values)?;
    run(api, tool.name, &args).await
}

async fn run(api: &Client, name: &str, args: &Args<'_>) -> Result<Value, Failure> {
    let get = |path: String| async move { api.get(&path).await.map_err(|e| failed(&e)) };
    let named = |prefix: &str, key: &str| format!("{prefix}/{}", segment(&args.text(key)));
    match name {
        "list_agents" => get("/agents".into()).await,
        "get_agent" => get(named("/agents", "name")).await,
        "get_agent_config" => get(format!("{}/config", named("/agents", "name"))).await,
        "list_tools" => get("/tools".into()).await,
        "list_models" => get("/model-providers".into()).await,
        "get_model_spend" => get("/model-spend".into()).await,
        "list_runs" => {
            let path = format!(
                "/runs{}",
                query(&[
                    ("agent_id", args.text("agent")),
                    ("status", args.text("status").to_ascii_uppercase()),
                ])
            );
            let listed = get(path).await?;
            let limit = usize::try_from(args.int("limit").unwrap_or(20).max(0)).unwrap_or(0);
            let user = args.text("user");
            let conversation = args.text("conversation");
            Ok(Value::Array(runs::select_runs(
                items(&listed),
                Some(&user),
                Some(&conversation),
                limit,
            )))
        }
        "get_run" => get_run(api, &args.text("run_id")).await,
        "get_run_events" => {
            let events = get(format!("{}/events", named("/runs", "run_id"))).await?;
            let kind = args.text("event_type");
            let limit = usize::try_from(args.int("limit").unwrap_or(0).max(0)).unwrap_or(0);
            Ok(Value::Array(runs::select_events(
                items(&events),
                Some(&kind),
                limit,
            )))
        }
        "get_run_timeline" | "export_run" => {
            let run = get(named("/runs", "run_id")).await?;
            let events = get(format!("{}/events", named("/runs", "run_id"))).await?;
            let events = runs::select_events(items(&events), None, 0);
            let timeline = runs::timeline(&run, &events);
            Ok(if name == "export_run" {
                json!({"run": run, "events": events, "timeline": timeline})
            } else {
                json!({"run": run, "timeline": timeline})
            })
        }
        "wait_for_run" => {
            let timeout = args.int("timeout_seconds").unwrap_or(300).clamp(0, 86_400);
            let interval = args.int("interval_seconds").unwrap_or(2).clamp(1, 3_600);
            wait_for_run(
                api,
                &args.text("run_id"),
                Duration::from_secs(timeout.unsigned_abs()),
                Duration::from_secs(interval.unsigned_abs()),
            )
            .await
        }
        "list_catalog_agents" => {
            let mut pairs: Vec<(&str, String)> = vec![("search", args.text("search"))];
            for (key, param) in [
                ("category", "categories"),
                ("tag", "tags"),
                ("integration", "integrations"),
                ("governance", "governance"),
            ] {
                pairs.extend(args.names(param).into_iter().map(|value| (key, value)));
            }
            pairs.push(("page", args.int("page").unwrap_or(1).max(1).to_string()));
            pairs.push((
                "page_size",
                args.int("page_size").unwrap_or(24).max(1).to_string(),
            ));
            get(format!("/catalog{}", query(&pairs))).await
        }
        "get_catalog_agent" => {
            let version = args.text("version");
            catalog::manifest(api, &args.text("agent_id"), Some(&version))
                .await
                .map_err(|e| failed(&e))
        }
        "list_catalog_versions" => get(format!("{}/versions", named("/catalog", "agent_id"))).await,
        "list_policies" => get("/policies".into()).await,
        "get_policy" => get(named("/policies", "name")).await,
        "translate_policy" => {
            let answer = api
                .post("/policies/translate", json!({"text": args.text("text")}))
                .await
                .map_err(|e| failed(&e))?;
            Ok(if answer.get("rules").is_some() {
                answer
            } else {
                json!({"rules": answer})
            })
        }
        "list_approval_connectors" => get("/approval-connectors".into()).await,
        "get_approval_connector" => get(named("/approval-connectors", "connector_id")).await,
        "get_approval_connector_defaults" => get("/approval-connectors/defaults".into()).await,
        "list_approval_connector_activity" => {
            let limit = args.int("limit").unwrap_or(50).max(1).to_string();
            get(format!(
                "/approval-connectors/activity{}",
                query(&[("limit", limit)])
            ))
            .await
        }
        "list_identity_providers" => get("/identity-providers".into()).await,
        "get_identity_provider" => get(named("/identity-providers", "name")).await,
        "export_context" => workspace::export(api, false).await.map_err(|e| failed(&e)),
        "analyze_code" => post(api, "/analyze", json!({"files": args.value("files")})).await,
        "list_approvals" => {
            let status = args.text("status").to_ascii_uppercase();
            get(format!(
                "/approvals/requests{}",
                query(&[("status", status)])
            ))
            .await
        }
        "deploy_agent" => post(api, "/deploy", deploy_payload(args)?).await,
        "deploy_catalog_agent" => {
            let id = args.text("agent_id");
            let version = args.text("version");
            let manifest = catalog::manifest(api, &id, Some(&version))
                .await
                .map_err(|e| failed(&e))?;
            let given = |key: &str| Some(args.text(key)).filter(|v| !v.is_empty());
            let overrides = catalog::Overrides {
                name: given("name"),
                tools: args.names("tools"),
                model: given("model"),
                policies: args.names("policies"),
                identity_provider: given("identity_provider"),
            };
            let payload =
                catalog::deploy_payload(&id, &manifest, overrides).map_err(|e| failed(&e))?;
            post(api, "/deploy", payload).await
        }
        "create_tool" => {
            let body = json!({
                "name": args.text("name"),
                "base_url": args.text("base_url"),
                "description": args.text("description"),
                "auth_type": args.text("auth_type"),
                "port": args.int("port").unwrap_or(443),
                "scheme": args.text("scheme"),
            });
            post(api, "/tools", body).await
        }
        "validate_plan" | "apply_plan" => {
            let path = if name == "apply_plan" {
                "/actions/apply"
            } else {
                "/actions/validate"
            };
            let plan = args.value("plan").unwrap_or_else(|| json!({}));
            let (status, report) = api.post_report(path, plan).await.map_err(|e| failed(&e))?;
            if status == 400 {
                // The plan's report says which actions failed: an error the model can read.
                return Err(report);
            }
            Ok(report)
        }
        "update_agent_config" => {
            let config = args.value("config").unwrap_or_else(|| json!({}));
            let mut changes = Map::new();
            for key in [
                "system_prompt",
                "identity_provider",
                "llm_configs",
                "required_tools",
                "policies",
            ] {
                if let Some(value) = config.get(key).filter(|v| !v.is_null()) {
                    changes.insert(key.into(), value.clone());
                }
            }
            if changes.is_empty() {
                return Err(invalid(
                    "config must hold at least one of system_prompt, identity_provider, llm_configs, required_tools, policies",
                ));
            }
            let path = format!("{}/config", named("/agents", "name"));
            api.put(&path, Value::Object(changes))
                .await
                .map_err(|e| failed(&e))
        }
        "approve_request" => {
            let (scope, duration, reason) = (
                args.text("scope"),
                args.text("duration"),
                args.text("reason"),
            );
            let decision =
                approvals::approval_decision(Some(&scope), Some(&duration), Some(&reason))
                    .map_err(|e| failed(&e))?;
            let path = format!("{}/approve", named("/approvals/requests", "request_id"));
            api.send(reqwest::Method::POST, &path, Body::Json(decision))
                .await
                .map_err(|e| failed(&e))
        }
        "reject_request" => {
            let path = format!("{}/reject", named("/approvals/requests", "request_id"));
            let reason = args.text("reason");
            let answer = if reason.is_empty() {
                api.post_empty(&path).await
            } else {
                api.post(&path, json!({"reason": reason})).await
            };
            answer.map_err(|e| failed(&e))
        }
        "apply_policy" => {
            let document = args.value("policy").unwrap_or_else(|| json!({}));
            let name = args.text("name");
            let (name, body) =
                policies::policy_document(document, Some(name.as_str()).filter(|n| !n.is_empty()))
                    .map_err(invalid)?;
            let path = format!("/policies/{}", segment(&name));
            let existing = api.get_optional(&path).await.map_err(|e| failed(&e))?;
            match existing {
                Some(_) => api.put(&path, body).await,
                None => api.post("/policies", body).await,
            }
            .map_err(|e| failed(&e))
        }
        "delete_policy" => delete(api, named("/policies", "name")).await,
        "apply_approval_connector" => {
            let document = args.value("connector").unwrap_or_else(|| json!({}));
            let existing = get("/approval-connectors".into()).await?;
            match connectors::plan(document, items(&existing)).map_err(invalid)? {
                connectors::Plan::Create(body) => post(api, "/approval-connectors", body).await,
                connectors::Plan::Update { id, changes } => api
                    .patch(&format!("/approval-connectors/{}", segment(&id)), changes)
                    .await
                    .map_err(|e| failed(&e)),
            }
        }
        "apply_identity_provider" => {
            let document = args.value("identity_provider").unwrap_or_else(|| json!({}));
            let name = args.text("name");
            let (_, body) = identity_providers::identity_document(
                document,
                Some(name.as_str()).filter(|n| !n.is_empty()),
            )
            .map_err(|e| failed(&e))?;
            post(api, "/identity-providers", body).await
        }
        "delete_identity_provider" => delete(api, named("/identity-providers", "name")).await,
        "delete_approval_connector" => {
            delete(api, named("/approval-connectors", "connector_id")).await
        }
        "test_approval_connector" => connectors::test(api, &args.text("connector_id"))
            .await
            .map_err(|e| failed(&e)),
        "set_approval_connector_defaults" => {
            let mut changes = Map::new();
            let mode = args.text("delivery_mode");
            if !mode.is_empty() {
                changes.insert("default_delivery_mode".into(), json!(mode));
            }
            if let Some(fallback) = args.bool("fallback_to_ui") {
                changes.insert("default_fallback_to_ui".into(), json!(fallback));
            }
            if let Some(seconds) = args.int("timeout_seconds") {
                changes.insert("default_timeout_seconds".into(), json!(seconds));
            }
            if changes.is_empty() {
                return Err(invalid(
                    "nothing to change: give delivery_mode, fallback_to_ui or timeout_seconds",
                ));
            }
            api.put("/approval-connectors/defaults", Value::Object(changes))
                .await
                .map_err(|e| failed(&e))
        }
        "seed_starter_kit" => api.post_empty("/starter-kit").await.map_err(|e| failed(&e)),
        other => Err(invalid(format!("tool {other} is not implemented"))),
    }
}

async fn post(api: &Client, path: &str, body: Value) -> Result<Value, Failure> {
    api.post(path, body).await.map_err(|e| failed(&e))
}

async fn delete(api: &Client, path: String) -> Result<Value, Failure> {
    api.delete(&path).await.map_err(|e| failed(&e))
}

/// `get_run`, answering a timeout with a result rather than an error.
async fn get_run(api: &Client, id: &str) -> Result<Value, Failure> {
    match api.get(&format!("/runs/{}", segment(id))).await {
        Ok(run) => Ok(run),
        Err(Error::TimedOut(message)) => Ok(json!({
            "timed_out": true,
            "run_id": id,
            "message": format!("the platform did not answer in time ({message}); try again"),
        })),
        Err(error) => Err(failed(&error)),
    }
}

/// Polls until the run is COMPLETED or FAILED or the time is up; a slow answer counts as a
/// poll that saw nothing new.
async fn wait_for_run(
    api: &Client,
    id: &str,
    timeout: Duration,
    interval: Duration,
) -> Result<Value, Failure> {
    let started = Instant::now();
    let path = format!("/runs/{}", segment(id));
    let mut last = Value::Null;
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        let answer = if left.is_zero() && !last.is_null() {
            None
        } else {
            // Never wait on one request past the deadline (but always make the first).
            let budget = left.max(Duration::from_secs(1)).min(crate::client::TIMEOUT);
            match tokio::time::timeout(budget, api.get(&path)).await {
                Ok(Ok(run)) => Some(run),
                Ok(Err(Error::TimedOut(_))) | Err(_) => None,
                Ok(Err(error)) => return Err(failed(&error)),
            }
        };
        if let Some(run) = answer {
            let status = runs_status(&run);
            if runs::is_terminal(&status) {
                return Ok(json!({"timed_out": false, "status": status, "run": run}));
            }
            last = run;
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            let status = runs_status(&last);
            let waiting = if status.eq_ignore_ascii_case("PAUSED_APPROVAL") {
                " It is waiting for a human decision: see list_approvals, then approve_request or reject_request."
            } else {
                ""
            };
            return Ok(json!({
                "timed_out": true,
                "run_id": id,
                "status": status,
                "run": last,
                "waited_seconds": timeout.as_secs(),
                "message": format!(
                    "run {id} had not finished after {}s (status {}).{waiting} Call wait_for_run again to keep waiting.",
                    timeout.as_secs(),
                    if status.is_empty() { "unknown" } else { &status },
                ),
            }));
        }
        tokio::time::sleep(interval.min(left)).await;
    }
}

fn runs_status(run: &Value) -> String {
    run["status"].as_str().unwrap_or_default().to_owned()
}

/// The `POST /deploy` body: the public client's rules (one source; requirements, entry point
/// and framework only with source files), plus the CLI's agent of prompt and tools only.
fn deploy_payload(args: &Args<'_>) -> Result<Value, Failure> {
    let name = args.text("agent_name");
    let files = args
        .value("source_files")
        .filter(|f| f.as_object().is_some_and(|m| !m.is_empty()));
    let image = args.text("image");
    let draft = args.text("draft_id");
    let artifact = args.text("artifact_id");
    let sources = [
        files.is_some(),
        !image.is_empty(),
        !draft.is_empty(),
        !artifact.is_empty(),
    ];
    if sources.iter().filter(|given| **given).count() > 1 {
        return Err(invalid(
            "give one source: source_files, image, draft_id or artifact_id",
        ));
    }
    let mut body = Map::new();
    body.insert("agent_name".into(), json!(name));
    let system_prompt = args
        .get("system_prompt")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(files) = files {
        body.insert("source_files".into(), files);
        for key in ["requirements", "entry_point", "framework"] {
            let value = args.text(key);
            if !value.is_empty() {
                body.insert(key.into(), json!(value));
            }
        }
    } else {
        for key in ["requirements", "entry_point", "framework"] {
            if !args.text(key).is_empty() {
                return Err(invalid(format!("{key} can only be used with source_files")));
            }
        }
        if !image.is_empty() {
            body.insert("image".into(), json!(image));
        } else if !draft.is_empty() {
            body.insert("draft_id".into(), json!(draft));
        } else if !artifact.is_empty() {
            body.insert("artifact_id".into(), json!(artifact));
        } else if !system_prompt.trim().is_empty() {
            body.insert("source_files".into(), json!({}));
        } else {
            return Err(invalid(
                "nothing to deploy: give source_files, image, draft_id or artifact_id, or a system_prompt for an agent without code",
            ));
        }
    }
    if !system_prompt.trim().is_empty() {
        body.insert("system_prompt".into(), json!(system_prompt));
    }
    for key in ["required_tools", "policies"] {
        let names = args.names(key);
        if !names.is_empty() {
            body.insert(key.into(), json!(names));
        }
    }
    for key in ["tools_to_create", "llm_configs"] {
        if let Some(list) = args.value(key).filter(|v| !items(v).is_empty()) {
            body.insert(key.into(), list);
        }
    }
    let identity = args.text("identity_provider");
    if !identity.is_empty() {
        body.insert("identity_provider".into(), json!(identity));
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public server's tools (runagents 1.4.2, `runagents/mcp/server.py`) and their
    /// parameters, in order.
    const PUBLIC: &[(&str, &[&str])] = &[
        ("list_agents", &[]),
        ("get_agent", &["name"]),
        ("get_agent_config", &["name"]),
        ("list_tools", &[]),
        ("list_models", &[]),
        ("get_model_spend", &[]),
        (
            "list_runs",
            &["agent", "status", "user", "conversation", "limit"],
        ),
        ("get_run", &["run_id"]),
        ("get_run_events", &["run_id", "event_type", "limit"]),
        ("get_run_timeline", &["run_id"]),
        (
            "wait_for_run",
            &["run_id", "timeout_seconds", "interval_seconds"],
        ),
        ("export_run", &["run_id"]),
        (
            "list_catalog_agents",
            &[
                "search",
                "categories",
                "tags",
                "integrations",
                "governance",
                "page",
                "page_size",
            ],
        ),
        ("get_catalog_agent", &["agent_id", "version"]),
        ("list_catalog_versions", &["agent_id"]),
        ("list_policies", &[]),
        ("get_policy", &["name"]),
        ("translate_policy", &["text"]),
        ("list_approval_connectors", &[]),
        ("get_approval_connector", &["connector_id"]),
        ("get_approval_connector_defaults", &[]),
        ("list_approval_connector_activity", &["limit"]),
        ("list_identity_providers", &[]),
        ("get_identity_provider", &["name"]),
        ("export_context", &[]),
        ("analyze_code", &["files"]),
        (
            "deploy_agent",
            &[
                "agent_name",
                "source_files",
                "image",
                "system_prompt",
                "required_tools",
                "tools_to_create",
                "llm_configs",
                "requirements",
                "entry_point",
                "framework",
                "policies",
                "identity_provider",
                "draft_id",
                "artifact_id",
            ],
        ),
        (
            "deploy_catalog_agent",
            &[
                "agent_id",
                "version",
                "name",
                "tools",
                "model",
                "policies",
                "identity_provider",
            ],
        ),
        (
            "create_tool",
            &[
                "name",
                "base_url",
                "description",
                "auth_type",
                "port",
                "scheme",
            ],
        ),
        ("validate_plan", &["plan"]),
        ("apply_plan", &["plan"]),
        ("update_agent_config", &["name", "config"]),
        ("approve_request", &["request_id", "scope", "duration"]),
        ("reject_request", &["request_id"]),
        ("apply_policy", &["policy", "name"]),
        ("delete_policy", &["name"]),
        ("apply_approval_connector", &["connector"]),
        ("apply_identity_provider", &["identity_provider", "name"]),
        ("delete_identity_provider", &["name"]),
        ("delete_approval_connector", &["connector_id"]),
        ("test_approval_connector", &["connector_id"]),
        (
            "set_approval_connector_defaults",
            &["delivery_mode", "fallback_to_ui", "timeout_seconds"],
        ),
        ("seed_starter_kit", &[]),
    ];

    #[test]
    fn every_public_tool_with_its_parameters_plus_list_approvals() {
        assert_eq!(PUBLIC.len(), 43);
        assert_eq!(TOOLS.len(), 44);
        for (name, params) in PUBLIC {
            let tool = find(name).unwrap_or_else(|| panic!("{name} is missing"));
            let ours: Vec<&str> = tool.params.iter().map(|p| p.name).collect();
            // The public parameters, in order; ours may add optional ones after them.
            assert_eq!(&ours[..params.len()], *params, "{name}");
            for extra in &tool.params[params.len()..] {
                assert!(!extra.required, "{name}: {} must be optional", extra.name);
            }
        }
        assert!(find("list_approvals").is_some());
        let mut names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOOLS.len(), "a name is listed twice");
    }

    #[test]
    fn definitions_are_valid_schemas_with_descriptions() {
        for definition in list() {
            let name = definition["name"].as_str().unwrap();
            assert!(
                definition["description"].as_str().unwrap().len() > 30,
                "{name}"
            );
            let schema = &definition["inputSchema"];
            assert_eq!(schema["type"], "object");
            for (param, property) in schema["properties"].as_object().unwrap() {
                assert!(property["type"].is_string(), "{name}.{param}");
                assert!(
                    property["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{name}.{param}"
                );
            }
            for required in schema["required"].as_array().unwrap() {
                assert!(
                    schema["properties"]
                        .get(required.as_str().unwrap())
                        .is_some()
                );
            }
        }
        let wait = list()
            .into_iter()
            .find(|d| d["name"] == "wait_for_run")
            .unwrap();
        assert_eq!(
            wait["inputSchema"]["properties"]["timeout_seconds"]["default"],
            300
        );
        assert_eq!(wait["inputSchema"]["required"], json!(["run_id"]));
        assert_eq!(wait["annotations"]["readOnlyHint"], true);
        let delete = list()
            .into_iter()
            .find(|d| d["name"] == "delete_policy")
            .unwrap();
        assert_eq!(delete["annotations"]["destructiveHint"], true);
        assert_eq!(title("list_agents"), "List agents");
    }

    fn checked(tool: &str, arguments: Value) -> Result<(), String> {
        let Value::Object(map) = arguments else {
            unreachable!()
        };
        Args::check(find(tool).unwrap(), &map)
            .map(|_| ())
            .map_err(|f| f["error"].as_str().unwrap().to_owned())
    }

    #[test]
    fn arguments_are_checked_with_messages_a_model_can_act_on() {
        assert!(checked("list_runs", json!({"limit": "5", "agent": "bot"})).is_ok());
        assert!(checked("list_runs", json!({"limit": 5.0, "status": null})).is_ok());
        let error = checked("get_agent", json!({})).unwrap_err();
        assert_eq!(
            error,
            "argument \"name\" is required; this tool takes: name"
        );
        let error = checked("get_agent", json!({"agent_name": "x"})).unwrap_err();
        assert!(
            error.starts_with("unknown argument \"agent_name\""),
            "{error}"
        );
        let error = checked("list_runs", json!({"limit": "many"})).unwrap_err();
        assert_eq!(error, "argument \"limit\" must be an integer");
        let error = checked("analyze_code", json!({"files": {"a.py": 1}})).unwrap_err();
        assert!(error.contains("values are strings"), "{error}");
        let error = checked("list_agents", json!({"x": 1})).unwrap_err();
        assert!(error.contains("takes no arguments"), "{error}");
    }

    fn payload(arguments: Value) -> Result<Value, String> {
        let Value::Object(map) = arguments else {
            unreachable!()
        };
        let args = Args::check(find("deploy_agent").unwrap(), &map).map_err(|f| f.to_string())?;
        deploy_payload(&args).map_err(|f| f["error"].as_str().unwrap().to_owned())
    }

    #[test]
    fn deploy_payloads_follow_the_public_rules() {
        assert_eq!(
            payload(json!({"agent_name": "bot", "source_files": {"agent.py": "x"}, "entry_point": "agent.py",
                "required_tools": [" echo-tool ", ""], "llm_configs": [{"provider": "openai", "model": "m"}]}))
            .unwrap(),
            json!({"agent_name": "bot", "source_files": {"agent.py": "x"}, "entry_point": "agent.py",
                "required_tools": ["echo-tool"], "llm_configs": [{"provider": "openai", "model": "m"}]})
        );
        assert_eq!(
            payload(
                json!({"agent_name": "bot", "system_prompt": "Help.", "required_tools": ["t"]})
            )
            .unwrap(),
            json!({"agent_name": "bot", "source_files": {}, "system_prompt": "Help.", "required_tools": ["t"]})
        );
        assert_eq!(
            payload(json!({"agent_name": "bot", "image": "img:1"})).unwrap(),
            json!({"agent_name": "bot", "image": "img:1"})
        );
        for (arguments, expected) in [
            (json!({"agent_name": "bot"}), "nothing to deploy"),
            (
                json!({"agent_name": "bot", "image": "i", "draft_id": "d"}),
                "give one source",
            ),
            (
                json!({"agent_name": "bot", "image": "i", "entry_point": "a.py"}),
                "entry_point can only be used with source_files",
            ),
        ] {
            let error = payload(arguments).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }
}
