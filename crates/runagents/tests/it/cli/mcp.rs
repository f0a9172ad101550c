//! `runagents mcp` over a pipe: the JSON-RPC exchange as a client sees it, calls answered
//! concurrently (a ping is not held up by a long `wait_for_run`), and end of input ends the
//! server. The official Python client drives it too: `tests/compat/test_mcp.py`.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use super::Shell;
use crate::server;

#[tokio::test]
async fn answers_concurrently_and_waits_without_raising() {
    let server = server().await;
    let api = server.client();
    let (status, body) = api
        .post(
            "/deploy",
            json!({"agent_name": "bot", "source_files": {}, "system_prompt": "Help."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, run) = api
        .post(
            "/runs",
            json!({"agent_id": "bot", "user_id": "u@example.com"}),
        )
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();

    let shell = Shell::new(&server);
    let mut child = shell
        .command_in("", &["mcp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (lines_tx, lines) = mpsc::channel::<Value>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(serde_json::from_str(&line).unwrap());
        }
    });
    let mut send = |message: Value| {
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    };
    let next = || lines.recv_timeout(Duration::from_secs(20)).unwrap();

    send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "it", "version": "0"}}}));
    let init = next();
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26", "{init}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "wait_for_run", "arguments": {"run_id": run_id, "timeout_seconds": 2, "interval_seconds": 1}}}));
    send(json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}));
    send(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "list_agents", "arguments": {}}}));
    // The ping and the list come back while the wait is still waiting.
    let first = next();
    let second = next();
    let ids = [first["id"].clone(), second["id"].clone()];
    assert!(
        ids.contains(&json!(3)) && ids.contains(&json!(4)),
        "{ids:?}"
    );
    let listed = if first["id"] == 4 { &first } else { &second };
    let agents: Value =
        serde_json::from_str(listed["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(agents[0]["name"], "bot");

    let waited = next();
    assert_eq!(waited["id"], 2);
    assert_eq!(waited["result"]["isError"], false, "{waited}");
    let waited: Value =
        serde_json::from_str(waited["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(waited["timed_out"], true, "{waited}");
    assert_eq!(waited["run_id"], run_id.as_str());
    assert_eq!(waited["waited_seconds"], 2);

    send(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "get_run", "arguments": {"run_id": "no-such-run"}}}));
    let missing = next();
    assert_eq!(missing["result"]["isError"], true, "{missing}");
    send(json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
        "params": {"name": "no_such_tool", "arguments": {}}}));
    assert_eq!(next()["error"]["code"], -32602);

    // End of input ends the server, cleanly.
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
