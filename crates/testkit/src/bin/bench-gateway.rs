//! Gateway overhead: the same Chat Completions requests sent straight to a fake OpenAI
//! provider and through `runagents serve`'s gateway, in one run, at a fixed open-loop rate.
//! Prints p50/p99 latency of each, the added latency and the ratio, and the added time to the
//! first streamed byte. `scripts/bench-gateway` builds the release binary and runs this.
//!
//! Usage: bench-gateway [RATE_PER_SEC] [SECONDS]   (defaults 500 and 10)

use std::io::Write as _;
use std::time::{Duration, Instant};

use runagents_testkit::fake_llm::FakeLlm;
use runagents_testkit::{Backend, TestServer};
use serde_json::{Value, json};

const KEY: &str = "sk-bench-0123456789";

struct Target {
    url: String,
    headers: Vec<(&'static str, String)>,
}

impl Target {
    fn post(&self, http: &reqwest::Client, body: &Value) -> reqwest::RequestBuilder {
        let mut request = http.post(&self.url).json(body);
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Sends `rate` requests a second to each target for `seconds`, alternating between them so
/// both see the same machine (noise on a shared box hits both alike). Open loop: each request
/// is its own task, so a slow answer does not delay the next. Returns sorted latencies per
/// target.
async fn load(
    http: &reqwest::Client,
    targets: [&Target; 2],
    body: &Value,
    rate: u32,
    seconds: u32,
) -> Result<[Vec<Duration>; 2], String> {
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / (rate * 2));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for sent in 0..rate * seconds * 2 {
        ticker.tick().await;
        let which = (sent % 2) as usize;
        let request = targets[which].post(http, body);
        tasks.push((
            which,
            tokio::spawn(async move {
                let started = Instant::now();
                let response = request.send().await.map_err(|e| e.to_string())?;
                let status = response.status();
                response.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("HTTP {status}"));
                }
                Ok(started.elapsed())
            }),
        ));
    }
    let mut latencies = [Vec::new(), Vec::new()];
    for (which, task) in tasks {
        latencies[which].push(task.await.map_err(|e| e.to_string())??);
    }
    for list in &mut latencies {
        list.sort();
    }
    Ok(latencies)
}

/// Time to the first byte of a streamed answer, `count` requests to each target, alternating.
async fn first_bytes(
    http: &reqwest::Client,
    targets: [&Target; 2],
    body: &Value,
    count: u32,
) -> Result<[Vec<Duration>; 2], String> {
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..count {
        for (which, target) in targets.iter().enumerate() {
            let started = Instant::now();
            let mut response = target
                .post(http, body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            response.chunk().await.map_err(|e| e.to_string())?;
            times[which].push(started.elapsed());
            while response.chunk().await.map_err(|e| e.to_string())?.is_some() {}
        }
    }
    for list in &mut times {
        list.sort();
    }
    Ok(times)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let rate: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let seconds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let mut out = std::io::stdout();

    let fake = FakeLlm::start(KEY).await;
    let server = TestServer::start(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let admin = [("x-runagents-api-key", server.admin_key.clone())];
    let provider = json!({"name": "bench", "spec": {"provider": "openai", "endpoint": fake.openai_base(),
        "models": ["gpt-4o"], "pricing": {"gpt-4o": {"input_per_million": 2.5, "output_per_million": 10}}},
        "credentials": {"api_key": KEY}});
    let agent = json!({"agent_name": "bench-agent", "source_files": {},
        "llm_configs": [{"provider": "openai", "model": "gpt-4o", "monthly_budget_usd": 1_000_000}]});
    for (path, body) in [("/model-providers", provider), ("/deploy", agent)] {
        let response = http
            .post(server.api(path))
            .header(admin[0].0, &admin[0].1)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("{path}: HTTP {}", response.status()));
        }
    }

    let direct = Target {
        url: format!("{}/chat/completions", fake.openai_base()),
        headers: vec![("authorization", format!("Bearer {KEY}"))],
    };
    let gateway = Target {
        url: format!("{}/v1/chat/completions", server.url),
        headers: vec![("x-runagents-api-key", server.admin_key.clone())],
    };
    let budgeted = Target {
        url: gateway.url.clone(),
        headers: vec![
            ("x-runagents-api-key", server.admin_key.clone()),
            ("x-runagents-agent", "bench-agent".to_owned()),
        ],
    };
    let body = json!({"model": "gpt-4o", "max_tokens": 64,
        "messages": [{"role": "system", "content": "You are a benchmark."}, {"role": "user", "content": "Say something short."}]});
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);

    writeln!(
        out,
        "gateway overhead: {rate} req/s to each of two targets, interleaved, for {seconds}s (fake OpenAI provider on loopback)"
    )
    .map_err(|e| e.to_string())?;
    // Warm every connection pool and cache first.
    load(&http, [&direct, &gateway], &body, rate, 1).await?;
    load(&http, [&direct, &budgeted], &body, rate, 1).await?;

    let mut added = Vec::new();
    for (name, target) in [
        ("through gateway", &gateway),
        ("through gateway, budgeted", &budgeted),
    ] {
        let [direct_latencies, latencies] =
            load(&http, [&direct, target], &body, rate, seconds).await?;
        let (d50, d99) = (
            percentile(&direct_latencies, 0.5),
            percentile(&direct_latencies, 0.99),
        );
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        writeln!(
            out,
            "{name:<26} p50 {:.3} ms  p99 {:.3} ms | direct p50 {:.3} ms  p99 {:.3} ms | added p50 {:+.3} ms  p99 {:+.3} ms | ratio p50 {:.2}x  p99 {:.2}x",
            ms(p50),
            ms(p99),
            ms(d50),
            ms(d99),
            ms(p50) - ms(d50),
            ms(p99) - ms(d99),
            ms(p50) / ms(d50),
            ms(p99) / ms(d99),
        )
        .map_err(|e| e.to_string())?;
        added.push((ms(p50) - ms(d50), ms(p99) - ms(d99)));
    }
    let (added50, added99) = added[0];

    let [direct_ttfb, gateway_ttfb] =
        first_bytes(&http, [&direct, &gateway], &streamed, 300).await?;
    let (t_direct, t_gateway) = (
        percentile(&direct_ttfb, 0.5),
        percentile(&gateway_ttfb, 0.5),
    );
    let ttfb_added = ms(t_gateway) - ms(t_direct);
    writeln!(
        out,
        "{:<26} p50 {:.3} ms | direct p50 {:.3} ms | added {:+.3} ms | ratio {:.2}x",
        "first streamed byte",
        ms(t_gateway),
        ms(t_direct),
        ttfb_added,
        ms(t_gateway) / ms(t_direct)
    )
    .map_err(|e| e.to_string())?;
    let verdict = |ok: bool| if ok { "met" } else { "missed" };
    writeln!(
        out,
        "targets: p50 added <= 0.3 ms {}; p99 added <= 1 ms {}; first byte added <= 1 ms {}",
        verdict(added50 <= 0.3),
        verdict(added99 <= 1.0),
        verdict(ttfb_added <= 1.0)
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}
