use std::fs;

use serde_json::json;

use super::*;

fn args(name: &str) -> Args {
    Args {
        name: name.to_owned(),
        timeout: "10m".to_owned(),
        ..Args::default()
    }
}

#[test]
fn payload_from_files_and_flags() {
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    fs::create_dir_all(root.join("lib/__pycache__")).unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::write(root.join("agent.py"), "print('hi')\n").unwrap();
    fs::write(root.join("lib/helpers.py"), "X = 1\n").unwrap();
    fs::write(root.join("lib/__pycache__/helpers.pyc"), "junk").unwrap();
    fs::write(root.join(".git/HEAD"), "ref").unwrap();
    fs::write(root.join("requirements.txt"), "langgraph>=0.2\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("prompt.md"), "Be brief.").unwrap();

    let mut deploy = args("bot");
    deploy.files = vec![
        "agent.py".into(),
        "lib".into(),
        outside.path().join("prompt.md"),
    ];
    deploy.tools = vec!["echo-tool".into(), "crm".into()];
    deploy.policies = vec!["allow-all".into()];
    deploy.model = Some("openai/gpt-4o-mini".into());
    deploy.identity_provider = Some("google-oidc".into());
    deploy.requirements = Some(root.join("requirements.txt"));
    deploy.entry_point = Some("agent.py".into());
    deploy.framework = Some("langgraph".into());
    deploy.system_prompt = Some("You help.".into());

    let payload = build_payload(&deploy, root).unwrap();
    assert_eq!(
        payload,
        json!({
            "agent_name": "bot",
            "source_files": {"agent.py": "print('hi')\n", "lib/helpers.py": "X = 1\n", "prompt.md": "Be brief."},
            "requirements": "langgraph>=0.2\n",
            "entry_point": "agent.py",
            "framework": "langgraph",
            "identity_provider": "google-oidc",
            "system_prompt": "You help.",
            "required_tools": ["echo-tool", "crm"],
            "policies": ["allow-all"],
            "llm_configs": [{"provider": "openai", "model": "gpt-4o-mini"}],
        })
    );
}

#[test]
fn other_sources_and_prompt_only_agents() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = args("img");
    image.image = Some("ghcr.io/acme/agent:1".into());
    assert_eq!(
        build_payload(&image, dir.path()).unwrap(),
        json!({"agent_name": "img", "image": "ghcr.io/acme/agent:1"})
    );
    let mut draft = args("d");
    draft.draft_id = Some("draft-1".into());
    assert_eq!(
        build_payload(&draft, dir.path()).unwrap()["draft_id"],
        "draft-1"
    );
    let mut prompt = args("helper");
    prompt.system_prompt = Some("You help.".into());
    prompt.tools = vec!["echo-tool".into()];
    assert_eq!(
        build_payload(&prompt, dir.path()).unwrap(),
        json!({"agent_name": "helper", "source_files": {}, "system_prompt": "You help.", "required_tools": ["echo-tool"]})
    );
}

#[test]
fn refuses_contradictions_and_collisions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("a")).unwrap();
    fs::write(root.join("agent.py"), "x").unwrap();
    fs::write(root.join("bin.dat"), [0xff, 0xfe, 0x00]).unwrap();
    let other = tempfile::tempdir().unwrap();
    fs::write(other.path().join("agent.py"), "y").unwrap();

    let cases: Vec<(Args, &str)> = vec![
        (args(" "), "--name is required"),
        (args("x"), "nothing to deploy"),
        (
            Args {
                files: vec!["agent.py".into()],
                image: Some("i:1".into()),
                ..args("x")
            },
            "give one source",
        ),
        (
            Args {
                image: Some("i:1".into()),
                entry_point: Some("a.py".into()),
                ..args("x")
            },
            "--entry-point needs --file",
        ),
        (
            Args {
                files: vec!["agent.py".into()],
                model: Some("gpt-4o".into()),
                ..args("x")
            },
            "use provider/model",
        ),
        (
            Args {
                files: vec!["agent.py".into(), other.path().join("agent.py")],
                ..args("x")
            },
            "two files would be uploaded as \"agent.py\"",
        ),
        (
            Args {
                files: vec!["missing.py".into()],
                ..args("x")
            },
            "missing.py",
        ),
        (
            Args {
                files: vec!["bin.dat".into()],
                ..args("x")
            },
            "not UTF-8",
        ),
    ];
    for (deploy, expected) in cases {
        let error = build_payload(&deploy, root).unwrap_err();
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
}
