use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use runagents_hosting::{Phase, ProcessSpec, Supervisor};

use crate::common::{HANDLER, alive, runtime_env, shared, sources, until};

const READY: Duration = Duration::from_secs(30);
/// Stands for the agent-plane credential the engine puts in the gateway URL.
const CREDENTIAL: &str = "ra_agent_secret_0123456789";

fn spec(key: &str, python: &Path, root: &Path) -> ProcessSpec {
    ProcessSpec {
        key: key.to_owned(),
        python: python.to_owned(),
        code_dir: root.join("code"),
        env: vec![
            ("USER_ENTRY_POINT".to_owned(), "agent.py".to_owned()),
            ("AGENT_NAME".to_owned(), key.replace('/', "-")),
            (
                "LLM_GATEWAY_URL".to_owned(),
                format!("http://127.0.0.1:9/a/{CREDENTIAL}/v1/chat/completions"),
            ),
        ],
        log_dir: root.join("logs"),
        redact: vec![CREDENTIAL.to_owned()],
    }
}

async fn invoke(url: &str, message: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{url}/invoke"))
        .json(&serde_json::json!({ "message": message }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let body: serde_json::Value = response.json().await.unwrap();
    body["response"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn serves_comes_back_after_a_kill_and_stops() {
    let built = runtime_env().await;
    let root = tempfile::tempdir().unwrap();
    let spec = spec("ws/hello", &built.python, root.path());
    shared()
        .write_code(&spec.code_dir, &sources(&[("agent.py", HANDLER)]))
        .unwrap();
    let supervisor = Supervisor::new();
    supervisor.start(spec.clone()).await;
    let running = supervisor.wait_running("ws/hello", READY).await.unwrap();
    assert_eq!(running.phase, Phase::Running);
    assert_eq!(running.message, "running");
    assert_eq!(running.restarts, 0);
    let url = running.url.clone().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"));
    assert_eq!(invoke(&url, "x").await, "hi x");

    let logs = supervisor.logs("ws/hello", 2_000);
    let text: Vec<String> = logs
        .iter()
        .map(|l| format!("{} {}", l.stream, l.line))
        .collect();
    assert!(
        text.iter()
            .any(|l| l.starts_with("stderr ") && l.contains("user_handler_discovered")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|l| l.contains("runtime_starting")),
        "{text:#?}"
    );
    assert!(text.iter().any(|l| l.starts_with("supervisor started pid")));
    assert_eq!(supervisor.logs("ws/hello", 1).len(), 1);
    let pid = running.pid.unwrap();
    let pid_file = spec.log_dir.join("pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );

    // Killed outright: noticed, restarted, healthy again on a new process.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    until("a restart", Duration::from_secs(10), || {
        supervisor.status("ws/hello").unwrap().restarts >= 1
    })
    .await;
    let again = supervisor.wait_running("ws/hello", READY).await.unwrap();
    assert_eq!(again.restarts, 1);
    assert_ne!(again.pid, Some(pid));
    assert!(!alive(pid));
    assert_eq!(invoke(again.url.as_deref().unwrap(), "y").await, "hi y");
    assert!(
        supervisor
            .logs("ws/hello", 2_000)
            .iter()
            .any(|l| l.stream == "supervisor"
                && l.line == "exited with signal 9; restarting in 0.5s"),
        "{:#?}",
        supervisor.logs("ws/hello", 20)
    );

    // Replaced with new code: the old process goes first, the log carries over.
    shared()
        .write_code(
            &spec.code_dir,
            &sources(&[(
                "agent.py",
                "def handler(request, ctx):\n    return {\"response\": \"bye \" + request[\"message\"]}\n",
            )]),
        )
        .unwrap();
    let old = again.pid.unwrap();
    supervisor.start(spec.clone()).await;
    assert!(!alive(old));
    let third = supervisor.wait_running("ws/hello", READY).await.unwrap();
    assert_eq!(third.restarts, 0);
    assert_eq!(invoke(third.url.as_deref().unwrap(), "z").await, "bye z");
    assert!(
        supervisor
            .logs("ws/hello", 2_000)
            .iter()
            .any(|l| l.line == "exited with signal 9; restarting in 0.5s")
    );

    let log_file = std::fs::read_to_string(spec.log_dir.join("agent.log")).unwrap();
    assert!(log_file.contains("user_handler_discovered"));
    // The runtime prints its gateway URL; the credential in it is redacted everywhere.
    assert!(
        log_file.contains("http://127.0.0.1:9/a/[redacted]/v1"),
        "{log_file}"
    );
    assert!(!log_file.contains(CREDENTIAL));
    assert!(
        !supervisor
            .logs("ws/hello", 2_000)
            .iter()
            .any(|l| l.line.contains(CREDENTIAL))
    );

    let last = third.pid.unwrap();
    supervisor.stop("ws/hello").await;
    assert!(!alive(last));
    assert!(supervisor.status("ws/hello").is_none());
    assert!(supervisor.logs("ws/hello", 10).is_empty());
    assert!(!pid_file.exists());
    assert!(supervisor.wait_running("ws/hello", READY).await.is_none());
}

#[tokio::test]
async fn a_runtime_that_exits_is_failed_and_retried_with_backoff() {
    let root = tempfile::tempdir().unwrap();
    let script = root.path().join("python");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"starting $PORT\"\necho 'boom: no runtime here' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = spec("ws/broken", &script, root.path());
    std::fs::create_dir_all(&spec.code_dir).unwrap();
    let supervisor = Supervisor::new();
    supervisor.start(spec).await;
    until("two restarts", Duration::from_secs(10), || {
        supervisor.status("ws/broken").unwrap().restarts >= 2
    })
    .await;
    let status = supervisor.status("ws/broken").unwrap();
    assert_eq!(status.phase, Phase::Failed);
    assert_eq!(status.url, None);
    // 0.5 s after the first failure, doubling: 1 s after the second, 2 s after the third.
    let backoff = 0.5 * f64::from(1u32 << (status.restarts - 1));
    assert_eq!(
        status.message,
        format!("exited with status 1: boom: no runtime here; restarting in {backoff}s")
    );
    let logs = supervisor.logs("ws/broken", 100);
    assert!(
        logs.iter()
            .any(|l| l.stream == "stdout" && l.line.starts_with("starting "))
    );
    assert!(
        logs.iter()
            .any(|l| l.stream == "stderr" && l.line == "boom: no runtime here")
    );
    assert!(
        supervisor
            .wait_running("ws/broken", Duration::from_millis(200))
            .await
            .is_none()
    );
    supervisor.stop("ws/broken").await;
    assert!(supervisor.status("ws/broken").is_none());
}

#[tokio::test]
async fn shutdown_stops_all_and_import_failures_are_reported() {
    let built = runtime_env().await;
    let root = tempfile::tempdir().unwrap();
    let good = spec("ws/good", &built.python, &root.path().join("good"));
    let bad = spec("ws/bad", &built.python, &root.path().join("bad"));
    shared()
        .write_code(&good.code_dir, &sources(&[("agent.py", HANDLER)]))
        .unwrap();
    shared()
        .write_code(
            &bad.code_dir,
            &sources(&[("agent.py", "import does_not_exist_xyz\n")]),
        )
        .unwrap();
    let supervisor = Supervisor::new();
    supervisor.start(good).await;
    supervisor.start(bad).await;
    let good = supervisor.wait_running("ws/good", READY).await.unwrap();
    let bad = supervisor.wait_running("ws/bad", READY).await.unwrap();
    assert_eq!(good.message, "running");
    // The runtime falls back to its built-in loop when the entry point does not import.
    assert_eq!(
        bad.message,
        "running without user code: agent.py did not import (see the logs)"
    );
    assert!(
        supervisor
            .logs("ws/bad", 100)
            .iter()
            .any(|l| l.line.contains("does_not_exist_xyz"))
    );
    supervisor.shutdown().await;
    assert!(!alive(good.pid.unwrap()));
    assert!(!alive(bad.pid.unwrap()));
    assert!(supervisor.status("ws/good").is_none());
    assert!(supervisor.status("ws/bad").is_none());
}

#[tokio::test]
async fn a_runtime_left_by_a_dead_platform_is_killed_and_drop_kills_too() {
    let built = runtime_env().await;
    let root = tempfile::tempdir().unwrap();
    let spec = spec("ws/orphan", &built.python, root.path());
    shared()
        .write_code(&spec.code_dir, &sources(&[("agent.py", HANDLER)]))
        .unwrap();
    // A runtime as a previous platform process would have left it: running, its pid on file.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut leftover = std::process::Command::new(&built.python)
        .args(["-m", "runagents.runtime"])
        .current_dir(&spec.code_dir)
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::fs::create_dir_all(&spec.log_dir).unwrap();
    std::fs::write(spec.log_dir.join("pid"), format!("{}\n", leftover.id())).unwrap();
    until("the leftover runtime", Duration::from_secs(10), || {
        std::fs::read(format!("/proc/{}/cmdline", leftover.id()))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("runagents.runtime"))
    })
    .await;

    let supervisor = Supervisor::new();
    supervisor.start(spec).await;
    let running = supervisor.wait_running("ws/orphan", READY).await.unwrap();
    let status = leftover
        .try_wait()
        .unwrap()
        .expect("the leftover was killed");
    assert!(!status.success());
    assert!(
        supervisor
            .logs("ws/orphan", 100)
            .iter()
            .any(|l| l.line.starts_with("killing runtime pid"))
    );

    // Dropping the supervisor kills what it runs.
    let pid = running.pid.unwrap();
    drop(supervisor);
    until(
        "the runtime to die with its supervisor",
        Duration::from_secs(10),
        || !alive(pid),
    )
    .await;
}

#[tokio::test]
async fn stop_kills_the_whole_group_even_when_sigterm_is_ignored() {
    let root = tempfile::tempdir().unwrap();
    let script = root.path().join("python");
    // Never healthy, ignores SIGTERM, and has a child of its own in its process group.
    std::fs::write(
        &script,
        "#!/bin/sh\ntrap '' TERM\nsleep 1000 &\necho $! > \"$RUNAGENTS_USER_CODE_DIR/child.pid\"\nwhile true; do sleep 1; done\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = spec("ws/stubborn", &script, root.path());
    std::fs::create_dir_all(&spec.code_dir).unwrap();
    let child_pid = spec.code_dir.join("child.pid");
    let supervisor = Supervisor::new();
    supervisor.start(spec).await;
    until("the grandchild", Duration::from_secs(10), || {
        std::fs::read_to_string(&child_pid).is_ok_and(|s| s.ends_with('\n'))
    })
    .await;
    let status = supervisor.status("ws/stubborn").unwrap();
    assert_eq!(status.phase, Phase::Pending);
    assert_eq!(status.message, "starting");
    let pid = status.pid.unwrap();
    let grandchild: u32 = std::fs::read_to_string(&child_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid) && alive(grandchild));

    let started = std::time::Instant::now();
    supervisor.stop("ws/stubborn").await;
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert!(!alive(pid));
    until("the grandchild to die", Duration::from_secs(5), || {
        !alive(grandchild)
    })
    .await;
}
