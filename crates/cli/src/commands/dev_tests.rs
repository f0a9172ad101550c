use std::collections::HashMap;

use serde_json::json;

use super::*;
use crate::settings::{ConfigFile, Overrides};

fn settings(pairs: &[(&str, &str)]) -> Settings {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::resolve(
        &Overrides::default(),
        &move |name| map.get(name).cloned(),
        &ConfigFile::default(),
    )
}

fn project(tools: &[&str]) -> Project {
    Project {
        name: "billing".into(),
        tools: tools.iter().map(|t| (*t).to_owned()).collect(),
        provider: "playground".into(),
        model: "playground".into(),
        system_prompt: "Be brief.".into(),
        entry_point: "agent.py".into(),
    }
}

#[test]
fn the_root_drops_api_v1_and_the_workspace() {
    assert_eq!(
        platform_root("http://localhost:8092/api/v1"),
        "http://localhost:8092"
    );
    assert_eq!(
        platform_root("https://h/base/api/v1/workspaces/revops"),
        "https://h/base"
    );
}

#[test]
fn local_runs_use_the_mock_and_the_configured_gateway() {
    let no_env = |_: &str| None;
    let configured = settings(&[
        (
            "RUNAGENTS_ENDPOINT",
            "http://127.0.0.1:7000/workspaces/revops",
        ),
        ("RUNAGENTS_API_KEY", "ra_ws_secret"),
    ]);
    let targets = local_targets(
        &configured,
        &no_env,
        &project(&["echo-tool", "stripe"]),
        9191,
    )
    .unwrap();
    assert_eq!(
        targets.tool_urls,
        [
            (
                "TOOL_URL_ECHO_TOOL".to_owned(),
                "http://127.0.0.1:9191".to_owned()
            ),
            (
                "TOOL_URL_STRIPE".to_owned(),
                "http://127.0.0.1:9191".to_owned()
            ),
        ]
    );
    assert_eq!(
        targets.llm_gateway_url,
        "http://127.0.0.1:7000/v1/chat/completions"
    );
    assert_eq!(targets.governance_url, "http://127.0.0.1:7000");
    assert_eq!(targets.llm_api_key.as_deref(), Some("ra_ws_secret"));
    assert_eq!(targets.secrets, ["ra_ws_secret"]);

    // OpenAI directly only when no endpoint is configured.
    let openai = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
    let targets = local_targets(&settings(&[]), &openai, &project(&[]), 9090).unwrap();
    assert_eq!(
        targets.llm_gateway_url,
        "https://api.openai.com/v1/chat/completions"
    );
    assert_eq!(targets.llm_api_key.as_deref(), Some("sk-test"));
    assert_eq!(targets.governance_url, "http://localhost:8092");
    let targets = local_targets(&configured, &openai, &project(&[]), 9090).unwrap();
    assert_eq!(
        targets.llm_gateway_url,
        "http://127.0.0.1:7000/v1/chat/completions"
    );

    let targets = local_targets(&settings(&[]), &no_env, &project(&[]), 9090).unwrap();
    assert_eq!(
        targets.llm_gateway_url,
        "http://localhost:8092/v1/chat/completions"
    );
    assert_eq!(targets.llm_api_key, None);
}

#[test]
fn platform_runs_use_the_credential_urls() {
    let answer = json!({
        "agent": "billing", "credential": "cred-1",
        "agent_plane_url": "http://127.0.0.1:8093/a/cred-1",
        "governance_url": "http://127.0.0.1:8093/a/cred-1",
        "llm_gateway_url": "http://127.0.0.1:8093/a/cred-1/v1",
        "tool_urls": {"TOOL_URL_STRIPE": "http://127.0.0.1:8093/a/cred-1/tools/stripe",
                      "TOOL_URL_ECHO_TOOL": "http://127.0.0.1:8093/a/cred-1/tools/echo-tool"},
    });
    let targets = credential_targets(&answer).unwrap();
    assert_eq!(
        targets.llm_gateway_url,
        "http://127.0.0.1:8093/a/cred-1/v1/chat/completions"
    );
    assert_eq!(targets.governance_url, "http://127.0.0.1:8093/a/cred-1");
    assert_eq!(targets.tool_urls[0].0, "TOOL_URL_ECHO_TOOL");
    assert_eq!(targets.llm_api_key, None);
    assert!(
        !targets.tools_via.contains("cred-1"),
        "{}",
        targets.tools_via
    );
    assert_eq!(
        targets.tools_via,
        "echo-tool, stripe → the platform's agent plane (governed)"
    );
    assert_eq!(targets.secrets, ["cred-1"]);
    let error = credential_targets(&json!({"tool_urls": {}})).unwrap_err();
    assert!(error.to_string().contains("llm_gateway_url"), "{error}");
}

#[test]
fn the_whole_environment_is_set() {
    let targets = Targets {
        tool_urls: vec![("TOOL_URL_ECHO_TOOL".into(), "http://127.0.0.1:9090".into())],
        llm_gateway_url: "http://h/v1/chat/completions".into(),
        governance_url: "http://h".into(),
        llm_api_key: Some("k".into()),
        tools_via: String::new(),
        secrets: Vec::new(),
    };
    let env: HashMap<String, String> = agent_env(
        &project(&["echo-tool"]),
        &targets,
        8181,
        Path::new("/work/p"),
    )
    .into_iter()
    .collect();
    for (name, value) in [
        ("PORT", "8181"),
        ("AGENT_NAME", "billing"),
        ("SYSTEM_PROMPT", "Be brief."),
        ("LLM_MODEL", "playground"),
        ("LLM_PROVIDER", "playground"),
        ("USER_ENTRY_POINT", "agent.py"),
        ("RUNAGENTS_USER_CODE_DIR", "/work/p"),
        ("TOOL_URL_ECHO_TOOL", "http://127.0.0.1:9090"),
        ("TOOL_NAMES", "echo-tool"),
        ("TOOL_DEFINITIONS_JSON", "[]"),
        ("TOOL_ROUTES_JSON", "{}"),
        ("LLM_GATEWAY_URL", "http://h/v1/chat/completions"),
        ("GOVERNANCE_URL", "http://h"),
        ("LLM_API_KEY", "k"),
    ] {
        assert_eq!(env.get(name).map(String::as_str), Some(value), "{name}");
    }
}

#[test]
fn forwarded_output_never_shows_a_secret() {
    let secrets = vec!["rag_credential_1234".to_owned(), "short".to_owned()];
    assert_eq!(
        redact("llm http://h/a/rag_credential_1234/v1 short", &secrets),
        "llm http://h/a/<redacted>/v1 short"
    );
}

#[test]
fn the_runtime_status_is_ours() {
    use std::os::unix::process::ExitStatusExt;
    assert!(finish(ExitStatus::from_raw(0)).is_ok());
    let error = finish(ExitStatus::from_raw(3 << 8)).unwrap_err();
    assert_eq!(error.exit_code(), 3);
    assert_eq!(error.to_string(), "the agent runtime exited with status 3");
    let error = finish(ExitStatus::from_raw(15)).unwrap_err();
    assert_eq!(error.exit_code(), 143);
    assert_eq!(
        error.to_string(),
        "the agent runtime was stopped by signal 15"
    );
}
