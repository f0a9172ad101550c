//! Tier-1 hosting cost: what 1,000 deployed native-loop agents add to the platform's memory.
//!
//! Starts a release `runagents serve` on a temporary SQLite directory, seeds the starter kit,
//! reads the server's RSS (the baseline of this run), deploys N Tier-1 agents (each with the
//! echo tool, the playground model and the starter kit's policy), invokes every one of them
//! once (a tool call through egress and two model calls through the gateway, so every
//! per-agent cache is filled), lets the server settle and reads RSS again. Reports the added
//! memory, its ratio to the baseline and to the 50 MB target, and the invoke latency.
//! `scripts/bench-agents` builds the release binary and runs this.
//!
//! Usage: bench-agents [AGENTS]   (default 1000)

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use runagents_testkit::{Backend, TestServer, memory};
use serde_json::json;

type Error = Box<dyn std::error::Error + Send + Sync>;

const TARGET_ADDED_MB: f64 = 50.0;
/// Invokes in flight at once.
const CONCURRENCY: usize = 8;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn run(agents: usize) -> Result<bool, Error> {
    let mut err = std::io::stderr();
    let server = TestServer::start(Backend::Sqlite).await;
    let api = server.client();
    let (status, seeded) = api.send("POST", "/starter-kit", None).await;
    if status != 201 {
        return Err(format!("starter kit: {status} {seeded}").into());
    }
    let pid = server.pid();
    // Warm the paths once with one agent, so the baseline includes what any first call loads.
    let deploy = |name: String| {
        json!({"agent_name": name, "source_files": {}, "required_tools": ["echo-tool"],
               "llm_configs": [{"provider": "playground", "model": "playground"}],
               "policies": ["echo-tool-allow"]})
    };
    api.post("/deploy", deploy("warmup".into())).await;
    api.post("/agents/warmup/invoke", json!({"message": "echo warm"}))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = memory(pid)?;
    writeln!(err, "baseline RSS: {:.1} MiB", mib(baseline.rss_kib))?;

    let started = Instant::now();
    for index in 0..agents {
        let (status, body) = api.post("/deploy", deploy(format!("agent-{index}"))).await;
        if status != 201 {
            return Err(format!("deploy agent-{index}: {status} {body}").into());
        }
    }
    writeln!(
        err,
        "deployed {agents} agents in {:.1} s",
        started.elapsed().as_secs_f64()
    )?;
    let after_deploy = memory(pid)?;

    let mut latencies = Vec::with_capacity(agents);
    let http = reqwest::Client::new();
    let started = Instant::now();
    for chunk in (0..agents).collect::<Vec<_>>().chunks(CONCURRENCY) {
        let calls = chunk.iter().map(|index| {
            let request = http
                .post(server.api(&format!("/agents/agent-{index}/invoke")))
                .header("X-RunAgents-API-Key", &server.admin_key)
                .json(&json!({"message": format!("echo hello {index}")}));
            async move {
                let began = Instant::now();
                let response = request.send().await?;
                let status = response.status();
                let body: serde_json::Value = response.json().await?;
                if status != 200 || body["status"] != "COMPLETED" {
                    return Err::<Duration, Error>(format!("invoke: {status} {body}").into());
                }
                Ok(began.elapsed())
            }
        });
        for latency in futures_util::future::join_all(calls).await {
            latencies.push(latency?);
        }
    }
    writeln!(
        err,
        "invoked each once in {:.1} s",
        started.elapsed().as_secs_f64()
    )?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = memory(pid)?;
    latencies.sort();

    let added = mib(after.rss_kib.saturating_sub(baseline.rss_kib));
    let met = added < TARGET_ADDED_MB;
    writeln!(
        err,
        "\nRSS: baseline {:.1} MiB, after deploys {:.1} MiB, after invokes {:.1} MiB (peak {:.1} MiB)",
        mib(baseline.rss_kib),
        mib(after_deploy.rss_kib),
        mib(after.rss_kib),
        mib(after.peak_kib)
    )?;
    writeln!(
        err,
        "added by {agents} Tier-1 agents: {added:.1} MiB = {:.2}x the baseline; target < {TARGET_ADDED_MB} MB: {}",
        added / mib(baseline.rss_kib),
        if met { "met" } else { "NOT met" }
    )?;
    writeln!(
        err,
        "invoke latency (tool call + 2 model calls): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    )?;
    Ok(met)
}

fn main() -> ExitCode {
    let agents = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(1000);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "bench-agents: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(agents)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "bench-agents: {error}");
            ExitCode::FAILURE
        }
    }
}
