//! Start, restart and shutdown of the server; files in the data directory.

use std::os::unix::fs::PermissionsExt;

use runagents_testkit::ProcStat;
use serde_json::json;

use crate::{postgres_server, server};

#[tokio::test]
async fn first_start_writes_private_key_files() {
    let server = server().await;
    for file in ["bootstrap-admin.key", "master.key"] {
        let mode = std::fs::metadata(server.data_dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // stdout and stderr are read separately, so the key may land just after "listening on".
    let mut printed = server.output();
    for _ in 0..100 {
        if printed.contains(&server.admin_key) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        printed = server.output();
    }
    assert!(
        printed.contains(&server.admin_key),
        "the bootstrap key is shown once on first start"
    );
    assert!(printed.contains("listening on"));
}

async fn data_survives_restart(
    server: runagents_testkit::TestServer,
) -> runagents_testkit::TestServer {
    let api = server.client();
    api.post(
        "/tools",
        json!({"name": "stripe-api", "base_url": "https://api.stripe.com", "auth_type": "APIKey",
        "credentials": {"api_key": "sk_test_restart_secret"}}),
    )
    .await;
    api.post(
        "/policies",
        json!({"name": "p", "spec": {"policies": [{"permission": "allow"}]}}),
    )
    .await;
    let key = server.admin_key.clone();
    let server = server.restart().await;
    assert_eq!(
        server.admin_key, key,
        "the bootstrap key file is not replaced"
    );
    assert!(
        !server.output().contains(&key),
        "the bootstrap key is printed only on first start"
    );
    let api = server.client();
    let (status, tool) = api.get("/tools/stripe-api").await;
    assert_eq!(status, 200, "{tool}");
    assert_eq!(tool["credentials_configured"], json!(["api_key"]));
    assert_eq!(api.get("/policies/p").await.0, 200);
    server
}

#[tokio::test]
async fn data_survives_restart_on_sqlite() {
    let server = server().await;
    let server = data_survives_restart(server).await;
    let data_dir = server.data_dir.clone();
    // Secrets are sealed: the database files never hold the plain value.
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(22).any(|w| w == b"sk_test_restart_secret"));
    }
}

#[tokio::test]
async fn data_survives_restart_on_postgres() {
    data_survives_restart(postgres_server().await).await;
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let server = server().await;
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn json_logs_on_request() {
    let server = runagents_testkit::TestServer::start_with(
        runagents_testkit::Backend::Sqlite,
        &["--log-format", "json"],
    )
    .await;
    let output = server.output();
    let logs: Vec<serde_json::Value> = output
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        logs.iter().any(|log| log["message"]
            .as_str()
            .is_some_and(|m| m.contains("operator API listening on"))),
        "{output}"
    );
    assert!(
        logs.iter()
            .all(|log| log["level"].is_string() && log["timestamp"].is_string())
    );
}

/// Name and scheduling policy (0 ordinary, 1 SCHED_FIFO) of each of a process's threads.
fn threads_of(pid: u32) -> Vec<(String, u32)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        // A thread that ended since the listing is left out.
        if let Some(stat) = ProcStat::read(task.unwrap().path().join("stat")) {
            let policy = stat.field(41).unwrap();
            threads.push((stat.name, policy));
        }
    }
    threads
}

/// Threads of the server process named `agent-plane-N`.
fn agent_plane_threads(pid: u32) -> usize {
    threads_of(pid)
        .iter()
        .filter(|(name, _)| name.starts_with("agent-plane-"))
        .count()
}

/// Whether this process may use real-time scheduling: through CAP_SYS_NICE, and through an
/// RLIMIT_RTPRIO above 0.
fn may_use_realtime() -> (bool, bool) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let capabilities = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .map(|caps| u64::from_str_radix(caps.trim(), 16).unwrap())
        .unwrap();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let rtprio = limits
        .lines()
        .find(|line| line.starts_with("Max realtime priority"))
        .and_then(|line| line.split_whitespace().nth(3))
        .is_some_and(|soft| soft != "0");
    (capabilities & (1 << 23) != 0, rtprio)
}

/// Runs `serve` with `args` on a fresh data directory (with every capability dropped, for it
/// and what it runs, when `unprivileged`), expecting it to fail; its stderr, and whether the
/// data directory was made.
fn serve_fails(args: &[&str], unprivileged: bool) -> (String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = if unprivileged {
        let mut setpriv = std::process::Command::new("setpriv");
        setpriv.args(["--inh-caps=-all", "--bounding-set=-all"]);
        setpriv.arg(runagents_testkit::TestServer::binary());
        setpriv
    } else {
        std::process::Command::new(runagents_testkit::TestServer::binary())
    };
    let output = command
        .args(runagents_testkit::TestServer::serve_args(
            &dir.path().join("data"),
        ))
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (stderr, dir.path().join("data").exists())
}

#[tokio::test]
async fn the_agent_plane_runs_at_real_time_priority_when_asked_or_the_server_does_not_start() {
    let realtime = ["--agent-threads", "2", "--agent-plane-priority", "realtime"];
    let (capability, rtprio) = may_use_realtime();
    if capability || rtprio {
        let server = runagents_testkit::TestServer::start_with(
            runagents_testkit::Backend::Sqlite,
            &realtime,
        )
        .await;
        let pid = server.pid();
        let s = crate::egress::setup_on(server).await;
        for n in 0..4 {
            let url = format!("{}/v1/customers/{n}", s.tool_url);
            let (status, _) = crate::egress::call("GET", &url, Some(&s.run_id), None).await;
            assert_eq!(status, 200);
        }
        // Only the agent plane's threads: what they started (connections' workers, blocking
        // threads) runs at ordinary priority.
        let threads = threads_of(pid);
        for (name, policy) in &threads {
            let expected = u32::from(name.starts_with("agent-plane-"));
            assert_eq!(*policy, expected, "{name}: {threads:?}");
        }
        assert_eq!(agent_plane_threads(pid), 2);
        if !rtprio {
            // Without the capability the start fails, saying what it needs.
            let (stderr, _) = serve_fails(&realtime, true);
            assert!(stderr.contains("CAP_SYS_NICE"), "{stderr}");
        }
    } else {
        let (stderr, _) = serve_fails(&realtime, false);
        assert!(stderr.contains("CAP_SYS_NICE"), "{stderr}");
    }
    // The shared runtime serves the operator API too: it is never given the priority, and
    // the start is refused before anything is written.
    let (stderr, made_data_dir) = serve_fails(
        &["--agent-threads", "0", "--agent-plane-priority", "realtime"],
        false,
    );
    assert!(stderr.contains("threads of its own"), "{stderr}");
    assert!(!made_data_dir);
}

#[tokio::test]
async fn the_agent_plane_runs_on_as_many_threads_as_asked_or_on_the_shared_runtime() {
    for threads in [3usize, 0] {
        let server = runagents_testkit::TestServer::start_with(
            runagents_testkit::Backend::Sqlite,
            &["--agent-threads", &threads.to_string()],
        )
        .await;
        assert_eq!(agent_plane_threads(server.pid()), threads);
        let s = crate::egress::setup_on(server).await;
        for n in 0..4 {
            let url = format!("{}/v1/customers/{n}", s.tool_url);
            let (status, body) = crate::egress::call("GET", &url, Some(&s.run_id), None).await;
            assert_eq!(
                (status, body),
                (200, json!({"ok": true})),
                "{threads} threads"
            );
        }
        assert_eq!(s.upstream.seen().len(), 4);
    }
    // On PostgreSQL the agent plane shares the main runtime unless asked.
    let server = postgres_server().await;
    assert_eq!(agent_plane_threads(server.pid()), 0);
}

#[tokio::test]
async fn sigterm_lets_a_tool_call_in_flight_finish_and_keeps_its_events() {
    let s = crate::egress::setup().await;
    let url = format!("{}/v1/slow", s.tool_url);
    let run_id = s.run_id.clone();
    let in_flight =
        tokio::spawn(async move { crate::egress::call("GET", &url, Some(&run_id), None).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s.upstream.seen().iter().any(|seen| seen.uri == "/v1/slow") {
        assert!(
            std::time::Instant::now() < deadline,
            "the call never reached the upstream"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &s.server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, body) = in_flight.await.unwrap();
    assert_eq!((status, body), (200, json!({"ok": true, "slow": true})));

    let server = s.server.restart().await;
    let (status, events) = server
        .client()
        .get(&format!("/runs/{}/events", s.run_id))
        .await;
    assert_eq!(status, 200, "{events}");
    let answered = events
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "TOOL_RESPONSE")
        .expect("the call's TOOL_RESPONSE survived the stop");
    assert_eq!(answered["data"]["status_code"], 200);
    assert!(
        answered["data"]["tool_url"]
            .as_str()
            .unwrap()
            .ends_with("/v1/slow")
    );
}

#[tokio::test]
async fn new_connections_are_handed_to_the_agent_plane_threads_in_turn() {
    let server = runagents_testkit::TestServer::start_with(
        runagents_testkit::Backend::Sqlite,
        &["--agent-threads", "2"],
    )
    .await;
    let s = crate::egress::setup_on(server).await;
    // Each call on a connection of its own: the acceptor hands them to the threads in turn.
    for n in 0..16 {
        let url = format!("{}/v1/customers/{n}", s.tool_url);
        let (status, _) = crate::egress::call("GET", &url, Some(&s.run_id), None).await;
        assert_eq!(status, 200);
    }
    // Each thread journals its calls' events to a file of its own (a lane): half the calls
    // each. (Threads accepting on the shared listener split them as they woke.)
    let mut calls_by_lane: Vec<usize> = std::fs::read_dir(&s.server.data_dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("runagents.db-events")
        })
        .map(|entry| {
            let lines = std::fs::read_to_string(entry.path()).unwrap();
            lines
                .lines()
                .filter(|line| line.contains("TOOL_REQUEST"))
                .count()
        })
        .filter(|calls| *calls > 0)
        .collect();
    calls_by_lane.sort();
    assert_eq!(calls_by_lane, [8, 8]);
}
