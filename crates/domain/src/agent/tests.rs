use super::*;
use plan::{BuildProfile, ExecutionMode};
use serde_json::json;

fn deploy(body: Value) -> DeployInput {
    DeployInput::parse(body).unwrap()
}

fn error(body: Value) -> String {
    DeployInput::parse(body)
        .map(|input| format!("accepted: {input:?}"))
        .unwrap_or_else(|error| error.0)
}

#[test]
fn full_source_deploy() {
    let input = deploy(json!({
        "agent_name": "support-bot",
        "source_files": {"agent.py": "def handler(request, context):\n    return 'ok'\n", "lib/util.py": "X = 1"},
        "requirements": "runagents\nrequests",
        "system_prompt": "Be brief.",
        "required_tools": [" stripe-api ", "echo-tool", "stripe-api", ""],
        "tool_url_mappings": {"https://api.stripe.com/": "stripe-api"},
        "tools_to_create": [{"name": "echo-tool", "base_url": "https://echo.example.com", "description": "Echo", "auth_type": "None", "port": 443, "scheme": "HTTPS"}],
        "llm_configs": [{"provider": "openai", "model": "gpt-4o-mini"}, {"provider": "openai", "model": "text-embedding-3-small", "role": "Embedding", "monthly_budget_usd": 5}],
        "env": [{"name": "FEATURE_FLAG", "value": "on"}, {"name": "RETRIES", "value": 3}],
        "policies": ["stripe-read"],
        "identity_provider": "google-oidc",
        "unknown_extra": true,
    }));
    assert_eq!(input.name.as_str(), "support-bot");
    let spec = &input.spec;
    assert_eq!(spec.required_tools, vec!["stripe-api", "echo-tool"]);
    assert_eq!(
        spec.tool_url_mappings["https://api.stripe.com"],
        "stripe-api"
    );
    assert_eq!(spec.referenced_tools(), vec!["stripe-api", "echo-tool"]);
    assert_eq!(spec.llm_configs[0].role, Role::Default);
    assert_eq!(spec.llm_configs[1].role, Role::Embedding);
    assert_eq!(spec.llm_configs[1].monthly_budget_usd, Some(5.0));
    assert_eq!(spec.main_llm().unwrap().model, "gpt-4o-mini");
    assert_eq!(
        spec.env[1],
        EnvVar {
            name: "RETRIES".into(),
            value: "3".into()
        }
    );
    assert_eq!(spec.policies, vec!["stripe-read"]);
    assert_eq!(spec.identity_provider, "google-oidc");
    assert_eq!(spec.entry_point, "agent.py");
    assert_eq!(spec.requirements, "runagents\nrequests");
    assert_eq!(spec.plan.tier, 2);
    assert!(spec.plan.build_required, "requests is beyond runagents");
    assert_eq!(input.tools_to_create.len(), 1);
    assert_eq!(input.tools_to_create[0].name.as_str(), "echo-tool");

    let stored = serde_json::to_value(spec).unwrap();
    assert_eq!(stored["policies"], json!(["stripe-read"]));
    assert_eq!(stored["identityProvider"], "google-oidc");
    assert_eq!(stored["plan"]["executionMode"], "PYTHON_RUNTIME");
    let back: AgentSpec = serde_json::from_value(stored).unwrap();
    assert_eq!(&back, spec);
}

#[test]
fn prompt_only_files_are_tier_one() {
    let input = deploy(
        json!({"agent_name": "helper", "source_files": {"README.md": "# helper"}, "system_prompt": "Help."}),
    );
    assert_eq!(input.spec.plan.tier, 1);
    assert_eq!(input.spec.plan.execution_mode, ExecutionMode::NativeLoop);
    assert_eq!(input.spec.entry_point, "");
    assert_eq!(input.spec.framework, "");
    let stored = serde_json::to_value(&input.spec).unwrap();
    assert!(stored.get("identityProvider").is_none(), "no IdP, no key");
}

#[test]
fn requirements_txt_among_files_counts() {
    let input = deploy(
        json!({"agent_name": "a", "source_files": {"agent.py": "def handler(r): pass", "requirements.txt": "runagents\nhttpx\n"}}),
    );
    assert!(input.spec.plan.build_required);
    let bare = deploy(
        json!({"agent_name": "a", "source_files": {"agent.py": "def handler(r): pass", "requirements.txt": "runagents\n"}}),
    );
    assert!(!bare.spec.plan.build_required);
    assert_eq!(bare.spec.plan.build_profile, BuildProfile::SharedRuntime);
}

#[test]
fn framework_is_detected_or_declared_and_entry_point_checked() {
    let detected = deploy(
        json!({"agent_name": "g", "source_files": {"graph.py": "from langgraph.graph import StateGraph", "helpers.py": "x = 1"}}),
    );
    assert_eq!(detected.spec.framework, "langgraph");
    assert_eq!(detected.spec.entry_point, "graph.py");
    let declared = deploy(
        json!({"agent_name": "g", "source_files": {"src/main.py": "def handler(r): pass"}, "entry_point": "src/main.py", "framework": " Custom "}),
    );
    assert_eq!(declared.spec.framework, "custom");
    assert_eq!(declared.spec.entry_point, "src/main.py");
    assert!(
        error(json!({"agent_name": "g", "source_files": {"a.py": "x"}, "entry_point": "b.py"}))
            .contains("not one of the source_files")
    );
}

#[test]
fn image_deploys_parse_and_keep_no_source_options() {
    let input = deploy(json!({"agent_name": "img", "image": " ghcr.io/acme/agent:1 "}));
    assert_eq!(input.spec.image, "ghcr.io/acme/agent:1");
    assert_eq!(
        input.spec.plan.execution_mode,
        ExecutionMode::ContainerImage
    );
    for field in ["requirements", "entry_point", "framework"] {
        let mut body = json!({"agent_name": "img", "image": "x:1"});
        body[field] = json!("something");
        assert_eq!(
            error(body),
            format!("{field} can only be used with source_files")
        );
    }
}

#[test]
fn sources_must_be_exactly_one_and_supported() {
    assert!(error(json!({"agent_name": "a"})).starts_with("provide exactly one deploy source"));
    assert!(error(json!({"agent_name": "a", "image": " "})).contains("(got 0)"));
    assert!(
        error(json!({"agent_name": "a", "image": "x", "source_files": {"a.py": ""}}))
            .contains("(got 2)")
    );
    for source in ["artifact_id", "draft_id"] {
        let mut body = json!({"agent_name": "a"});
        body[source] = json!("abc");
        assert_eq!(
            error(body),
            "artifact/draft sources are not supported by this server; send source_files or image"
        );
    }
    assert!(
        error(json!({"agent_name": "a", "source_files": ["a.py"]})).contains("must be an object")
    );
    assert!(
        error(json!({"agent_name": "a", "source_files": {"a.py": 1}})).contains("text content")
    );
}

#[test]
fn source_paths_must_stay_inside_the_project() {
    for path in [
        "../evil.py",
        "/etc/passwd",
        "a/../../b.py",
        "a//b.py",
        "./a.py",
        "a\\b.py",
        "nul\0.py",
        "",
        "dir/",
    ] {
        let body = json!({"agent_name": "a", "source_files": {path: "x"}});
        assert!(
            error(body).contains("must be a relative path inside the project"),
            "{path:?}"
        );
    }
    deploy(
        json!({"agent_name": "a", "source_files": {"src/pkg/mod.py": "x", ".env.example": "x", "a..b.py": "x"}}),
    );
}

#[test]
fn rejects_bad_fields_with_reasons() {
    let base = || json!({"agent_name": "a", "source_files": {"a.py": "x"}});
    let with = |key: &str, value: Value| {
        let mut body = base();
        body[key] = value;
        error(body)
    };
    let cases = [
        (
            json!({"source_files": {"a.py": "x"}}),
            "agent_name is required".to_owned(),
        ),
        (
            json!({"agent_name": "Bad_Name", "source_files": {"a.py": "x"}}),
            "agent_name: invalid name".to_owned(),
        ),
        (json!([1]), "request body must be a JSON object".to_owned()),
    ];
    for (body, expected) in cases {
        assert!(
            error(body.clone()).contains(&expected),
            "{body}: {}",
            error(body.clone())
        );
    }
    for (key, value, expected) in [
        (
            "required_tools",
            json!(["Stripe API"]),
            "required_tools[0]: invalid name",
        ),
        (
            "required_tools",
            json!("stripe"),
            "required_tools must be an array",
        ),
        ("policies", json!([1]), "policies[0] must be a string"),
        (
            "identity_provider",
            json!("Google OIDC"),
            "identity_provider: invalid name",
        ),
        (
            "tool_url_mappings",
            json!({"stripe": "stripe-api"}),
            "tool_url_mappings key",
        ),
        (
            "tool_url_mappings",
            json!({"https://x.com": "X"}),
            "invalid name",
        ),
        (
            "tools_to_create",
            json!([{"name": "t"}]),
            "tools_to_create[0]: base_url is required",
        ),
        (
            "tools_to_create",
            json!([{"name": "t", "base_url": "https://t"}, {"name": "t", "base_url": "https://u"}]),
            "listed twice",
        ),
        (
            "llm_configs",
            json!([{"provider": "openai"}]),
            "llm_configs[0].model is required",
        ),
        (
            "llm_configs",
            json!([{"model": "m", "role": "boss"}]),
            "is not a model role",
        ),
        (
            "llm_configs",
            json!([{"model": "m", "monthly_budget_usd": -1}]),
            "must be a number >= 0",
        ),
        (
            "llm_configs",
            json!([{"model": "m", "monthly_budget_usd": "5"}]),
            "must be a number >= 0",
        ),
        (
            "llm_configs",
            json!([{"model": "m"}, {"model": "n", "role": "default"}]),
            "mapped twice",
        ),
        (
            "llm_configs",
            json!([{"model": "m", "model_provider": "Not Valid"}]),
            "model_provider",
        ),
        (
            "env",
            json!([{"name": "1BAD", "value": "x"}]),
            "not an environment variable name",
        ),
        (
            "env",
            json!([{"name": "A-B", "value": "x"}]),
            "not an environment variable name",
        ),
        (
            "env",
            json!([{"name": "SYSTEM_PROMPT", "value": "x"}]),
            "set by the platform",
        ),
        (
            "env",
            json!([{"name": "llm_gateway_url", "value": "x"}]),
            "set by the platform",
        ),
        (
            "env",
            json!([{"name": "TOOL_URL_STRIPE", "value": "x"}]),
            "set by the platform",
        ),
        (
            "env",
            json!([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
            "set twice",
        ),
        (
            "env",
            json!([{"name": "A", "value": {"x": 1}}]),
            "value must be a string",
        ),
        ("system_prompt", json!(42), "system_prompt must be a string"),
    ] {
        let message = with(key, value.clone());
        assert!(message.contains(expected), "{key}={value}: {message}");
    }
}

#[test]
fn config_update_is_partial() {
    let mut spec = deploy(json!({"agent_name": "a", "source_files": {"a.py": "x"}, "system_prompt": "old", "policies": ["p"], "identity_provider": "idp"})).spec;
    let update = ConfigUpdate::parse(json!({"llm_configs": [{"role": "chat", "provider": "anthropic", "model": "claude", "monthly_budget_usd": 12.5}], "identity_provider": ""})).unwrap();
    update.apply(&mut spec);
    assert_eq!(spec.system_prompt, "old");
    assert_eq!(spec.policies, vec!["p"]);
    assert_eq!(spec.identity_provider, "");
    assert_eq!(spec.llm_configs[0].role, Role::Chat);
    assert_eq!(spec.llm_configs[0].label(), "chat: anthropic/claude");
    ConfigUpdate::parse(json!({"policies": [], "system_prompt": "new"}))
        .unwrap()
        .apply(&mut spec);
    assert!(spec.policies.is_empty());
    assert_eq!(spec.system_prompt, "new");
}

#[test]
fn config_update_needs_something_valid() {
    for body in [
        json!({}),
        json!({"system_prompt": null}),
        json!({"image": "x"}),
    ] {
        assert!(
            ConfigUpdate::parse(body.clone())
                .unwrap_err()
                .0
                .starts_with("nothing to update"),
            "{body}"
        );
    }
    for (body, expected) in [
        (json!({"policies": "p"}), "policies must be an array"),
        (json!({"required_tools": ["A B"]}), "required_tools[0]"),
        (json!({"llm_configs": [{"model": ""}]}), "model is required"),
        (
            json!({"llm_configs": [{"model": "m", "monthly_budget_usd": -0.01}]}),
            ">= 0",
        ),
        (json!({"system_prompt": 1}), "must be a string"),
    ] {
        let message = ConfigUpdate::parse(body.clone()).unwrap_err().0;
        assert!(message.contains(expected), "{body}: {message}");
    }
}

#[test]
fn labels_fall_back_to_model_provider_then_model() {
    let mut config = LlmConfig {
        role: Role::Default,
        provider: String::new(),
        model: "m".into(),
        model_provider: "playground-llm".into(),
        monthly_budget_usd: None,
    };
    assert_eq!(config.label(), "default: playground-llm/m");
    config.model_provider.clear();
    assert_eq!(config.label(), "default: m");
}

#[test]
fn empty_source_files_is_an_agent_without_code() {
    let input =
        deploy(json!({"agent_name": "templated", "source_files": {}, "system_prompt": "Help."}));
    assert!(input.spec.source_files.is_empty());
    assert!(!plan::detect(&input.spec.source_files).custom_code());
}

#[test]
fn the_mapping_a_gateway_call_counts_against() {
    let mapping = |model: &str, model_provider: &str| LlmConfig {
        role: Role::Default,
        provider: "openai".to_owned(),
        model: model.to_owned(),
        model_provider: model_provider.to_owned(),
        monthly_budget_usd: Some(1.0),
    };
    let mut spec: AgentSpec =
        serde_json::from_value(serde_json::json!({"plan": plan::plan_image()})).unwrap();
    spec.llm_configs = vec![
        mapping("gpt-4o", "eu-openai"),
        mapping("gpt-4o", ""),
        mapping("mini", ""),
    ];
    assert_eq!(
        spec.llm_config_for("gpt-4o", "eu-openai")
            .unwrap()
            .model_provider,
        "eu-openai"
    );
    assert_eq!(
        spec.llm_config_for("gpt-4o", "us-openai")
            .unwrap()
            .model_provider,
        ""
    );
    assert_eq!(
        spec.llm_config_for("mini", "anything").unwrap().model,
        "mini"
    );
    assert!(spec.llm_config_for("claude", "x").is_none());
}
