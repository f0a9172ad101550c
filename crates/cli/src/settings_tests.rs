use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn file(value: serde_json::Value) -> ConfigFile {
    match value {
        Value::Object(map) => ConfigFile(map),
        _ => unreachable!(),
    }
}

#[test]
fn defaults_when_nothing_is_set() {
    let settings = Settings::resolve(&Overrides::default(), &env(&[]), &ConfigFile::default());
    assert_eq!(
        settings.endpoint,
        ("http://localhost:8092".to_owned(), Source::Default)
    );
    assert_eq!(settings.api_key, (String::new(), Source::Default));
    assert_eq!(settings.workspace, (None, Source::Default));
    assert_eq!(settings.base_url().unwrap(), "http://localhost:8092/api/v1");
}

#[test]
fn flags_beat_env_beat_file_beat_defaults() {
    let config =
        file(json!({"endpoint": "http://file:1", "api_key": "ra_ws_file", "workspace": "file-ws"}));
    let all_env = env(&[
        ("RUNAGENTS_ENDPOINT", "http://env:2"),
        ("RUNAGENTS_API_KEY", "ra_ws_env"),
        ("RUNAGENTS_NAMESPACE", "env-ws"),
    ]);
    let flags = Overrides {
        endpoint: Some("http://flag:3".into()),
        api_key: Some("ra_ws_flag".into()),
        workspace: Some("flag-ws".into()),
    };

    let settings = Settings::resolve(&flags, &all_env, &config);
    assert_eq!(settings.endpoint, ("http://flag:3".into(), Source::Flag));
    assert_eq!(settings.api_key, ("ra_ws_flag".into(), Source::Flag));
    assert_eq!(settings.workspace, (Some("flag-ws".into()), Source::Flag));
    assert_eq!(
        settings.base_url().unwrap(),
        "http://flag:3/api/v1/workspaces/flag-ws"
    );

    let settings = Settings::resolve(&Overrides::default(), &all_env, &config);
    assert_eq!(
        settings.endpoint,
        ("http://env:2".into(), Source::Env("RUNAGENTS_ENDPOINT"))
    );
    assert_eq!(settings.api_key.1, Source::Env("RUNAGENTS_API_KEY"));
    assert_eq!(
        settings.workspace,
        (Some("env-ws".into()), Source::Env("RUNAGENTS_NAMESPACE"))
    );

    let settings = Settings::resolve(&Overrides::default(), &env(&[]), &config);
    assert_eq!(settings.endpoint, ("http://file:1".into(), Source::File));
    assert_eq!(settings.api_key, ("ra_ws_file".into(), Source::File));
    assert_eq!(settings.workspace, (Some("file-ws".into()), Source::File));
}

#[test]
fn empty_values_count_as_unset() {
    let config = file(json!({"endpoint": "", "api_key": "  ", "assistant_mode": 3}));
    let blank_env = env(&[
        ("RUNAGENTS_ENDPOINT", ""),
        ("RUNAGENTS_API_KEY", "ra_ws_env"),
    ]);
    let flags = Overrides {
        endpoint: Some(" ".into()),
        ..Overrides::default()
    };
    let settings = Settings::resolve(&flags, &blank_env, &config);
    assert_eq!(settings.endpoint.1, Source::Default);
    assert_eq!(
        settings.api_key,
        ("ra_ws_env".into(), Source::Env("RUNAGENTS_API_KEY"))
    );
    assert_eq!(
        settings.assistant_mode,
        ("external".into(), Source::Default)
    );
}

#[test]
fn endpoint_in_file_is_normalised_and_workspace_replaces_one_in_it() {
    let config = file(json!({"endpoint": "https://acme.example.com/workspaces/sales/"}));
    let settings = Settings::resolve(&Overrides::default(), &env(&[]), &config);
    assert_eq!(
        settings.base_url().unwrap(),
        "https://acme.example.com/api/v1/workspaces/sales"
    );
    let flags = Overrides {
        workspace: Some("revops".into()),
        ..Overrides::default()
    };
    let settings = Settings::resolve(&flags, &env(&[]), &config);
    assert_eq!(
        settings.base_url().unwrap(),
        "https://acme.example.com/api/v1/workspaces/revops"
    );
}

#[test]
fn bad_endpoint_or_workspace_is_a_clear_error() {
    let flags = Overrides {
        endpoint: Some("localhost:8092".into()),
        ..Overrides::default()
    };
    let error = Settings::resolve(&flags, &env(&[]), &ConfigFile::default())
        .base_url()
        .unwrap_err();
    assert!(
        error.to_string().contains("not an http:// or https:// URL"),
        "{error}"
    );
    assert!(error.to_string().contains("from flag"), "{error}");
    let settings = Settings::resolve(
        &Overrides::default(),
        &env(&[("RUNAGENTS_NAMESPACE", "a/b")]),
        &ConfigFile::default(),
    );
    let error = settings.base_url().unwrap_err();
    assert!(error.to_string().contains("RUNAGENTS_NAMESPACE"), "{error}");
}

#[test]
fn masks_keys() {
    assert_eq!(mask(""), "");
    assert_eq!(mask("short"), "*****");
    assert_eq!(mask("12345678"), "********");
    assert_eq!(mask("ra_ws_abcdefgh1234"), "ra_w**********1234");
    assert_eq!(mask("ra_ws_abcdefgh1234").len(), "ra_ws_abcdefgh1234".len());
}

#[test]
fn set_checks_keys_and_values() {
    let mut config = ConfigFile::default();
    config.set("api-key", " ra_ws_x ").unwrap();
    config.set("endpoint", "http://h:1").unwrap();
    config.set("assistant-mode", " RunAgents ").unwrap();
    config.set("workspace", "revops").unwrap();
    assert_eq!(
        Value::Object(config.0.clone()),
        json!({"api_key": "ra_ws_x", "endpoint": "http://h:1", "assistant_mode": "runagents", "workspace": "revops"})
    );
    assert!(
        config
            .set("colour", "x")
            .unwrap_err()
            .to_string()
            .contains("api-key")
    );
    assert!(config.set("assistant-mode", "loud").is_err());
    assert!(config.set("workspace", "a b").is_err());
    // An empty value removes the key.
    config.set("workspace", "").unwrap();
    assert!(config.get("workspace").is_none());
}

#[test]
fn save_is_private_and_keeps_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".runagents").join("config.json");
    assert_eq!(ConfigFile::load(&path).unwrap(), ConfigFile::default());
    let mut config = file(json!({"copilot_session": "kept"}));
    config.set("api-key", "ra_ws_secret").unwrap();
    config.save(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let loaded = ConfigFile::load(&path).unwrap();
    assert_eq!(loaded.get("copilot_session"), Some("kept"));
    assert_eq!(loaded.get("api_key"), Some("ra_ws_secret"));

    std::fs::write(&path, "{not json").unwrap();
    let error = ConfigFile::load(&path).unwrap_err();
    assert!(error.to_string().contains("fix or delete it"), "{error}");
}
