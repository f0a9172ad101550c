//! The governed path's benchmarks, each against a baseline measured in the same run:
//!
//! - one policy decision with 1,000 policies bound (in process; indexed and linear);
//! - egress added latency: the same GET sent straight to a local upstream and through the agent
//!   plane (policy, API-key injection, X-End-User-ID, TOOL_REQUEST/TOOL_RESPONSE recorded) at a
//!   fixed open-loop rate, interleaved; beside it, open-source proxies that only forward (nginx,
//!   haproxy, when installed), measured the same way in the same run as the yardstick;
//! - the allow path's saturation throughput (closed loop, keep-alive connections), against the
//!   same loop straight at the upstream;
//! - approve API call → the replayed request arriving at the upstream;
//! - 10,000 paused runs (among as many running ones) listed by status and the approvals queue.
//!
//! `scripts/bench-egress` builds the release binary and runs this. See docs/benchmarks.md.

use std::collections::HashMap;
use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use runagents_domain::decision::{Call, PolicyIndex, decide, decide_indexed};
use runagents_domain::policy::PolicySpec;
use runagents_domain::tool::ToolInput;
use runagents_testkit::{Backend, ProcStat, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

const API_KEY: &str = "bench-upstream-key";

#[derive(Parser, Debug)]
#[command(about = "Egress, approval and run-listing benchmarks (see docs/benchmarks.md)")]
struct Options {
    /// Open-loop rate through egress (the direct baseline gets the same rate, interleaved).
    #[arg(long, default_value_t = 3000)]
    rate: u32,
    /// Seconds of open-loop load in each round.
    #[arg(long, default_value_t = 6)]
    seconds: u32,
    /// Rounds of the latency scenario; each round runs both cases (with and without events)
    /// one after the other, and the verdict is on the median round.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Keep-alive connections of the saturation loop.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds of each saturation loop.
    #[arg(long, default_value_t = 8)]
    saturate_secs: u64,
    /// Approvals timed from the approve call to the replay at the upstream.
    #[arg(long, default_value_t = 200)]
    approvals: usize,
    /// Paused runs to list (as many running runs are created beside them).
    #[arg(long, default_value_t = 10_000)]
    paused: usize,
    /// Reference proxies measured beside egress in the latency scenario, each forwarding to the
    /// same upstream with nothing else to do (haproxy, nginx: those of them installed; `none`).
    #[arg(long, value_delimiter = ',', default_value = "haproxy,nginx")]
    reference: Vec<String>,
    /// Only these scenarios (decision, latency, saturation, approvals, listing); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Appends every latency-scenario request to this file, one tab-separated line each: round,
    /// case, `direct` or `proxied`, when it was sent (CLOCK_MONOTONIC, ns: the clock of
    /// `perf record -k CLOCK_MONOTONIC`, to line the slowest calls up with a trace) and its
    /// latency in µs.
    #[arg(long)]
    latencies_to: Option<std::path::PathBuf>,
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

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Result<Duration, Error> {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// User plus system CPU time from the text of a `stat` file (a process's or a thread's).
fn stat_cpu(stat: &str) -> Result<Duration, Error> {
    Ok(ProcStat::parse(stat)
        .and_then(|stat| stat.cpu())
        .ok_or("bad stat")?)
}

/// The server's CPU time by group of threads: those that answer calls (the agent plane's own
/// threads, or the shared runtime's workers), the event journal's flusher, SQLite's connection
/// threads, everything else.
fn cpu_by_threads(pid: u32) -> Result<[Duration; 4], Error> {
    let mut groups = [Duration::ZERO; 4];
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path();
        // A thread that ended between the listing and the read counts for nothing.
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue;
        };
        let group = match name.trim() {
            name if name == "tokio-rt-worker" || name.starts_with("agent-plane-") => 0,
            "event-journal" => 1,
            name if name.starts_with("sqlx-sqlite") => 2,
            _ => 3,
        };
        groups[group] += stat_cpu(&stat)?;
    }
    Ok(groups)
}

/// CPU time of every process on the machine but this one, the server and the reference proxies
/// (kernel threads included), by pid with its name: what else took the cores during a round. On
/// 2 cores, a process holding one for a few milliseconds shows in every case's tail.
fn cpu_of_others(server: u32) -> Result<HashMap<u32, (String, Duration)>, Error> {
    let own = std::process::id();
    let mut others = HashMap::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own || pid == server {
            continue;
        }
        // A process that ended between the listing and the read counts for nothing.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let stat = ProcStat::parse(&stat).ok_or("bad stat")?;
        if stat.name == "haproxy" || stat.name == "nginx" {
            continue;
        }
        let cpu = stat.cpu().ok_or("bad stat")?;
        others.insert(pid, (stat.name, cpu));
    }
    Ok(others)
}

/// What other processes took between two readings of `cpu_of_others`: the total and the
/// largest share, with the process's name (a process started in between counts whole).
fn others_took(
    before: &HashMap<u32, (String, Duration)>,
    after: &HashMap<u32, (String, Duration)>,
) -> (Duration, Option<(String, Duration)>) {
    let mut total = Duration::ZERO;
    let mut largest: Option<(String, Duration)> = None;
    for (pid, (name, spent)) in after {
        let earlier = before.get(pid).map(|(_, spent)| *spent).unwrap_or_default();
        let took = spent.saturating_sub(earlier);
        total += took;
        if largest.as_ref().is_none_or(|(_, most)| took > *most) {
            largest = Some((name.clone(), took));
        }
    }
    (total, largest)
}

// ---------------------------------------------------------------------------------------------
// The upstream: a tiny HTTP server on its own thread, answering `{"ok":true}`, noting when
// each `/approved/{n}` request arrives.

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn start_upstream() -> Result<(String, Arrivals), Error> {
    let arrivals: Arrivals = Arc::default();
    let noted = arrivals.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
                let noted = noted.clone();
                async move {
                    let path = request.uri().path().to_owned();
                    if path.starts_with("/approved/")
                        && let Ok(mut map) = noted.lock()
                    {
                        map.insert(path, Instant::now());
                    }
                    ([("content-type", "application/json")], r#"{"ok":true}"#)
                }
            });
            let _ = axum::serve(listener, app).await;
        });
    });
    Ok((url, arrivals))
}

// ---------------------------------------------------------------------------------------------
// A minimal keep-alive HTTP/1.1 client for the closed loop (reqwest costs the shared machine
// several times more CPU per request).

struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: &str) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Sends a pre-built request and reads one response; its status.
    async fn exchange(&mut self, request: &[u8]) -> Result<u16, Error> {
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buffer[..head_end])?.to_ascii_lowercase();
        let status: u16 = head.get(9..12).ok_or("short status line")?.parse()?;
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map(|v| v.trim().parse::<usize>())
            .transpose()?;
        self.buffer.drain(..head_end);
        match length {
            Some(length) => {
                while self.buffer.len() < length {
                    self.fill().await?;
                }
                self.buffer.drain(..length);
            }
            None => loop {
                // Chunked: size line, data, CRLF; a zero size ends it.
                let line_end = loop {
                    if let Some(end) = find(&self.buffer, b"\r\n") {
                        break end;
                    }
                    self.fill().await?;
                };
                let size = usize::from_str_radix(
                    std::str::from_utf8(&self.buffer[..line_end])?.trim(),
                    16,
                )?;
                let total = line_end + 2 + size + 2;
                while self.buffer.len() < total {
                    self.fill().await?;
                }
                self.buffer.drain(..total);
                if size == 0 {
                    break;
                }
            },
        }
        Ok(status)
    }

    async fn fill(&mut self) -> Result<(), Error> {
        let mut chunk = [0u8; 8192];
        let read = self.stream.read(&mut chunk).await?;
        if read == 0 {
            return Err("connection closed".into());
        }
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// `GET` of `url` with extra headers, as bytes; and the `host:port` to connect to.
fn raw_get(url: &str, headers: &[(&str, &str)]) -> Result<(String, Vec<u8>), Error> {
    let parsed = reqwest::Url::parse(url)?;
    let addr = format!(
        "{}:{}",
        parsed.host_str().ok_or("no host")?,
        parsed.port_or_known_default().ok_or("no port")?
    );
    let mut path = parsed.path().to_owned();
    if let Some(query) = parsed.query() {
        path = format!("{path}?{query}");
    }
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    Ok((addr, request.into_bytes()))
}

/// A closed loop of `connections` keep-alive connections for `duration`: requests, errors.
async fn saturate(
    addr: &str,
    request: &[u8],
    connections: usize,
    duration: Duration,
) -> Result<(u64, u64), Error> {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let mut connection = Connection::open(addr).await?;
        let request = request.to_vec();
        tasks.push(tokio::spawn(async move {
            let (mut done, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                match connection.exchange(&request).await {
                    Ok(200) => done += 1,
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (done, errors)
        }));
    }
    let (mut done, mut errors) = (0, 0);
    for task in tasks {
        let (d, e) = task.await?;
        done += d;
        errors += e;
    }
    Ok((done, errors))
}

// ---------------------------------------------------------------------------------------------

struct Bench {
    server: TestServer,
    http: reqwest::Client,
    upstream: String,
    arrivals: Arrivals,
    tool_url: String,
    run_id: String,
}

impl Bench {
    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let mut request = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes())?,
                self.server.api(path),
            )
            .header("x-runagents-api-key", &self.server.admin_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{method} {path}: HTTP {status}: {body}").into());
        }
        Ok(body)
    }

    async fn new_run(&self) -> Result<String, Error> {
        let run = self
            .api(
                "POST",
                "/runs",
                Some(json!({"agent_id": "bench-agent", "user_id": "bench-user@example.com"})),
            )
            .await?;
        Ok(run["id"].as_str().ok_or("run without id")?.to_owned())
    }

    /// An egress POST that needs approval; the request id it raised.
    async fn blocked_write(&self, run_id: &str, n: usize) -> Result<String, Error> {
        let response = self
            .http
            .post(format!("{}/approved/{n}", self.tool_url))
            .header("x-run-id", run_id)
            .json(&json!({"n": n}))
            .send()
            .await?;
        let body: Value = response.json().await?;
        if body["code"] != "APPROVAL_REQUIRED" {
            return Err(format!("expected APPROVAL_REQUIRED, got {body}").into());
        }
        Ok(body["request_id"]
            .as_str()
            .ok_or("no request_id")?
            .to_owned())
    }
}

async fn setup() -> Result<Bench, Error> {
    let (upstream, arrivals) = start_upstream()?;
    let server = TestServer::start(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let mut bench = Bench {
        server,
        http,
        upstream: upstream.clone(),
        arrivals,
        tool_url: String::new(),
        run_id: String::new(),
    };
    bench
        .api("POST", "/tools", Some(json!({"name": "bench-api", "spec": {
            "connection": {"baseUrl": upstream, "authentication": {"type": "APIKey",
                "apiKeyConfig": {"in": "Header", "name": "X-Api-Key"}}},
            "capabilities": [{"name": "read", "method": "GET", "path": "/items/*"},
                             {"name": "write", "method": "POST", "path": "/approved/*", "riskTags": ["financial"]}]},
            "credentials": {"api_key": API_KEY}})))
        .await?;
    bench
        .api("POST", "/policies", Some(json!({"name": "bench-policy", "spec": {"policies": [
            {"permission": "allow", "operations": ["GET"], "resource": format!("{upstream}/items/*")},
            {"permission": "approval_required", "operations": ["POST"], "resource": format!("{upstream}/approved/*")},
            {"permission": "deny", "operations": ["DELETE"], "resource": format!("{upstream}/*")}]}})))
        .await?;
    bench
        .api(
            "POST",
            "/deploy",
            Some(json!({"agent_name": "bench-agent", "source_files": {},
            "required_tools": ["bench-api"], "policies": ["bench-policy"]})),
        )
        .await?;
    let credential = bench
        .api("POST", "/agents/bench-agent/credentials", None)
        .await?;
    bench.tool_url = credential["tool_urls"]["TOOL_URL_BENCH_API"]
        .as_str()
        .ok_or("no tool URL")?
        .to_owned();
    bench.run_id = bench.new_run().await?;
    Ok(bench)
}

// ---------------------------------------------------------------------------------------------

fn decision_bench() -> Result<(), Error> {
    let tool = ToolInput::parse(json!({"name": "svc", "spec": {
        "connection": {"baseUrl": "https://svc-500.example"},
        "capabilities": [{"name": "write", "method": "POST", "path": "/v1/*", "riskTags": ["financial"]},
                         {"name": "read", "method": "GET", "path": "/*"}]}}))?
    .spec;
    let policies_on = |host: &dyn Fn(usize) -> String| -> Result<Vec<(String, PolicySpec)>, Error> {
        (0..1000)
            .map(|i| {
                let spec: PolicySpec = serde_json::from_value(json!({"policies": [
                    {"permission": "allow", "operations": ["GET"], "resource": format!("{}/*", host(i))},
                    {"permission": "approval_required", "operations": ["POST"], "resource": format!("{}/v1/*", host(i)), "tags": ["financial"]},
                    {"permission": "deny", "operations": ["DELETE"], "resource": format!("{}/*", host(i))}]}))?;
                Ok((format!("policy-{i}"), spec))
            })
            .collect()
    };
    let call = Call {
        method: "POST",
        url: "https://svc-500.example/v1/charges",
        path: "/v1/charges",
        tool: &tool,
    };
    let time = |f: &dyn Fn() -> usize, iterations: u32| {
        for _ in 0..iterations / 10 {
            black_box(f());
        }
        let started = Instant::now();
        for _ in 0..iterations {
            black_box(f());
        }
        started.elapsed() / iterations
    };
    say("one policy decision, 1,000 policies bound (3,000 rules), POST matching policy 500:");
    let spread = policies_on(&|i| format!("https://svc-{i}.example"))?;
    let index = PolicyIndex::new(&spread);
    let expected = decide(&spread, &call);
    if decide_indexed(&spread, &index, &call) != expected {
        return Err("the indexed decision differs".into());
    }
    let indexed = time(
        &|| {
            let (decision, capability) =
                decide_indexed(black_box(&spread), black_box(&index), black_box(&call));
            usize::from(matches!(
                decision,
                runagents_domain::decision::Decision::Allow
            )) + capability.map_or(0, |c| c.len())
        },
        200_000,
    );
    let linear = time(
        &|| {
            let (decision, capability) = decide(black_box(&spread), black_box(&call));
            usize::from(matches!(
                decision,
                runagents_domain::decision::Decision::Allow
            )) + capability.map_or(0, |c| c.len())
        },
        2_000,
    );
    // Worst case for the index: every policy on the call's host.
    let same_host = policies_on(&|_| "https://svc-500.example".to_owned())?;
    let same_index = PolicyIndex::new(&same_host);
    let worst = time(
        &|| {
            let (decision, _) = decide_indexed(
                black_box(&same_host),
                black_box(&same_index),
                black_box(&call),
            );
            usize::from(matches!(
                decision,
                runagents_domain::decision::Decision::Allow
            ))
        },
        2_000,
    );
    let built = Instant::now();
    black_box(PolicyIndex::new(&spread));
    let build = built.elapsed();
    say(format!(
        "  indexed (what egress runs)      {:>9.3} µs   ratio to linear {:.4}",
        indexed.as_secs_f64() * 1e6,
        indexed.as_secs_f64() / linear.as_secs_f64()
    ));
    say(format!(
        "  linear scan (decide)            {:>9.3} µs",
        linear.as_secs_f64() * 1e6
    ));
    say(format!(
        "  indexed, all 1,000 on one host  {:>9.3} µs   (the index cannot narrow; degenerates to the scan)",
        worst.as_secs_f64() * 1e6
    ));
    say(format!(
        "  building the index (once per policy change) {:.3} ms",
        ms(build)
    ));
    say(format!(
        "  target <= 5 µs: {}",
        if indexed.as_secs_f64() * 1e6 <= 5.0 {
            "met"
        } else {
            "missed"
        }
    ));
    Ok(())
}

/// Idle keep-alive connections to one address, shared by the open loop's requests.
#[derive(Clone)]
struct Pool {
    addr: String,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Pool {
    fn new(addr: &str) -> Self {
        Pool {
            addr: addr.to_owned(),
            idle: Arc::default(),
        }
    }

    /// One request on an idle connection (a new one when none is idle).
    async fn exchange(&self, request: &[u8]) -> Result<u16, Error> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut connection = match idle {
            Some(connection) => connection,
            None => Connection::open(&self.addr).await?,
        };
        let status = connection.exchange(request).await?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
        Ok(status)
    }
}

/// One request of the open loop: when it was sent, and its latency.
type Sample = (Instant, Duration);

/// Open loop, `rate` a second to each target, interleaved; the samples per target, each
/// measured from when its request was sent (tokio's timer ticks by the millisecond, so
/// measuring from the tick would add up to a millisecond of timer lag to both targets).
async fn open_loop(
    targets: [(&Pool, &Arc<Vec<u8>>); 2],
    rate: u32,
    seconds: u32,
) -> Result<[Vec<Sample>; 2], Error> {
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / (rate * 2));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity((rate * seconds * 2) as usize);
    for sent in 0..rate * seconds * 2 {
        ticker.tick().await;
        let which = (sent % 2) as usize;
        let (pool, request) = targets[which];
        let (pool, request) = (pool.clone(), request.clone());
        tasks.push((
            which,
            tokio::spawn(async move {
                let sent = Instant::now();
                let status = pool
                    .exchange(&request)
                    .await
                    .map_err(|e| format!("{}: {e}", pool.addr))?;
                if status != 200 {
                    return Err(format!("{}: HTTP {status}", pool.addr));
                }
                Ok((sent, sent.elapsed()))
            }),
        ));
    }
    let mut samples = [Vec::new(), Vec::new()];
    for (which, task) in tasks {
        samples[which].push(task.await??);
    }
    Ok(samples)
}

fn sorted_latencies(samples: &[Sample]) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = samples.iter().map(|(_, latency)| *latency).collect();
    latencies.sort();
    latencies
}

/// Where `--latencies-to` writes, and the monotonic clock's reading at an instant, to turn the
/// samples' instants into that clock.
struct LatencyLog {
    file: std::fs::File,
    base: Instant,
    base_ns: u128,
}

impl LatencyLog {
    fn open(path: &Path) -> Result<Self, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let base = Instant::now();
        let base_ns = u128::try_from(now.tv_sec)? * 1_000_000_000 + u128::try_from(now.tv_nsec)?;
        Ok(LatencyLog {
            file,
            base,
            base_ns,
        })
    }

    fn write(&mut self, round: u32, case: &str, samples: &[Vec<Sample>; 2]) -> Result<(), Error> {
        use std::fmt::Write as _;
        use std::io::Write as _;
        let mut lines = String::new();
        for (target, list) in ["direct", "proxied"].into_iter().zip(samples) {
            for (sent, latency) in list {
                // Every sample is sent after the base was read.
                let at = self.base_ns + sent.saturating_duration_since(self.base).as_nanos();
                let _ = writeln!(
                    lines,
                    "{round}\t{case}\t{target}\t{at}\t{}",
                    latency.as_micros()
                );
            }
        }
        self.file.write_all(lines.as_bytes())?;
        Ok(())
    }
}

/// One round's added latency (proxied minus direct) at p50, p90, p99 and p99.9, in ms.
type Added = [f64; 4];

const ADDED_AT: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// An open-source proxy from the OS, forwarding every request to the upstream over keep-alive
/// connections and doing nothing else: what any proxy pays for the extra hop on this machine,
/// measured in the same run as egress. Stopped on drop.
struct ReferenceProxy {
    name: String,
    addr: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for ReferenceProxy {
    /// SIGTERM first: nginx's master stops its workers then (a SIGKILL left them running,
    /// listening, after every run), then SIGKILL if it is still there after two seconds.
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two workers, as the server has one per core; access logs off; idle keep-alive connections
/// kept for the whole run, as egress keeps them (the open loop's pool reuses a connection it
/// last used several rounds earlier: haproxy's usual 60 s closed one under it).
fn reference_config(name: &str, dir: &Path, listen: &str, upstream: &str) -> Option<String> {
    let dir = dir.display();
    match name {
        "haproxy" => Some(format!(
            "global\n  nbthread 2\n  maxconn 4096\n\
             defaults\n  mode http\n  timeout connect 5s\n  timeout client 600s\n  timeout server 600s\n  timeout http-keep-alive 600s\n  http-reuse always\n\
             frontend bench\n  bind {listen}\n  default_backend upstream\n\
             backend upstream\n  server upstream {upstream}\n"
        )),
        "nginx" => Some(format!(
            "daemon off;\nworker_processes 2;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir};\n  proxy_temp_path {dir};\n\
               fastcgi_temp_path {dir};\n  uwsgi_temp_path {dir};\n  scgi_temp_path {dir};\n\
               upstream bench {{ server {upstream}; keepalive 64; keepalive_requests 100000000; }}\n\
               server {{\n    listen {listen};\n    keepalive_requests 100000000;\n    keepalive_timeout 600s;\n    location / {{\n      proxy_pass http://bench;\n\
                     proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n"
        )),
        _ => None,
    }
}

/// The agent plane's priority the server runs with: it inherits the bench's environment
/// (`RUNAGENTS_AGENT_PLANE_PRIORITY=realtime scripts/bench-egress`).
fn agent_plane_priority() -> String {
    std::env::var("RUNAGENTS_AGENT_PLANE_PRIORITY").unwrap_or_else(|_| "normal".into())
}

/// Starts `name` (haproxy or nginx) in front of `upstream` (`host:port`); `None` when it is not
/// installed.
async fn start_reference(name: &str, upstream: &str) -> Result<Option<ReferenceProxy>, Error> {
    let dir = tempfile::tempdir()?;
    let listen = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.to_string()
    };
    // An unknown name is an error even where nothing by that name is installed.
    let config = reference_config(name, dir.path(), &listen, upstream)
        .ok_or_else(|| format!("unknown reference proxy {name:?} (haproxy, nginx)"))?;
    let Some(binary) = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists())
    else {
        return Ok(None);
    };
    let config_path = dir.path().join(format!("{name}.conf"));
    std::fs::write(&config_path, config)?;
    // At the agent plane's real-time priority the reference runs at the same one (its threads
    // and workers inherit it), so the ratios compare like with like.
    let mut command = if agent_plane_priority() == "realtime" {
        let mut chrt = std::process::Command::new("chrt");
        chrt.args(["--fifo", "1"]).arg(&binary);
        chrt
    } else {
        std::process::Command::new(&binary)
    };
    match name {
        "haproxy" => command.arg("-db").arg("-f").arg(&config_path),
        _ => command
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config_path),
    };
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let proxy = ReferenceProxy {
        name: name.to_owned(),
        addr: listen,
        child,
        _dir: dir,
    };
    // Ready once it answers a request (never a fixed sleep).
    let ready = Instant::now();
    loop {
        if let Ok(mut connection) = Connection::open(&proxy.addr).await {
            let (_, request) = raw_get(&format!("http://{}/items/1", proxy.addr), &[])?;
            if matches!(connection.exchange(&request).await, Ok(200)) {
                return Ok(Some(proxy));
            }
        }
        if ready.elapsed() > Duration::from_secs(10) {
            return Err(format!("{name} did not answer at {} within 10 s", proxy.addr).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What one case of the latency scenario sends, where, and whether it records events.
struct LatencyCase {
    name: String,
    pool: Pool,
    request: Arc<Vec<u8>>,
    events: bool,
}

async fn latency_bench(bench: &Bench, options: &Options) -> Result<(), Error> {
    let (direct_addr, direct) = raw_get(
        &format!("{}/items/1", bench.upstream),
        &[("x-api-key", API_KEY)],
    )?;
    let (egress_addr, egress) = raw_get(
        &format!("{}/items/1", bench.tool_url),
        &[("x-run-id", &bench.run_id)],
    )?;
    let (_, no_run) = raw_get(&format!("{}/items/1", bench.tool_url), &[])?;
    let (direct_pool, egress_pool) = (Pool::new(&direct_addr), Pool::new(&egress_addr));
    let direct = Arc::new(direct);
    let mut cases = vec![
        LatencyCase {
            name: "policy, API-key injection, events recorded (the target's case)".into(),
            pool: egress_pool.clone(),
            request: Arc::new(egress),
            events: true,
        },
        LatencyCase {
            name: "policy, API-key injection, no run given (no events)".into(),
            pool: egress_pool,
            request: Arc::new(no_run),
            events: false,
        },
    ];
    let mut references = Vec::new();
    for name in options.reference.iter().filter(|name| *name != "none") {
        match start_reference(name, &direct_addr).await? {
            Some(proxy) => {
                let (addr, request) = raw_get(
                    &format!("http://{}/items/1", proxy.addr),
                    &[("x-api-key", API_KEY)],
                )?;
                cases.push(LatencyCase {
                    name: format!("{} forwarding only (reference)", proxy.name),
                    pool: Pool::new(&addr),
                    request: Arc::new(request),
                    events: false,
                });
                references.push(proxy);
            }
            None => say(format!(
                "  ({name} is not installed: no reference measured with it)"
            )),
        }
    }
    say(format!(
        "egress added latency: GET at {} req/s through each proxy and {} req/s straight to the upstream, interleaved, {} rounds of {} s per case (open loop, keep-alive connections):",
        options.rate, options.rate, options.rounds, options.seconds
    ));
    for case in &cases {
        open_loop(
            [(&direct_pool, &direct), (&case.pool, &case.request)],
            options.rate,
            1,
        )
        .await?;
    }
    // Rounds alternate the cases, so a slow spell of the shared machine lands on all of them.
    let mut latency_log = options
        .latencies_to
        .as_deref()
        .map(LatencyLog::open)
        .transpose()?;
    let mut rounds: Vec<Vec<Added>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 1..=options.rounds {
        for (case, added_by_round) in cases.iter().zip(&mut rounds) {
            let targets = [(&direct_pool, &direct), (&case.pool, &case.request)];
            let events_before = bench.events().await?;
            let cpu_before = cpu_by_threads(bench.server.pid())?;
            let others_before = cpu_of_others(bench.server.pid())?;
            let samples = open_loop(targets, options.rate, options.seconds)
                .await
                .map_err(|e| {
                    format!(
                        "round {round}, {} (direct at {}): {e}",
                        case.name, direct_pool.addr
                    )
                })?;
            if let Some(log) = &mut latency_log {
                log.write(round, &case.name, &samples)?;
            }
            let [direct_latencies, proxied_latencies] = samples.map(|list| sorted_latencies(&list));
            let cpu_after = cpu_by_threads(bench.server.pid())?;
            let (others, largest) =
                others_took(&others_before, &cpu_of_others(bench.server.pid())?);
            let recorded = bench.events().await? - events_before;
            let expected = 2 * (options.rate * options.seconds) as usize;
            if case.events && recorded != expected {
                return Err(format!("{recorded} events recorded, {expected} expected").into());
            }
            let added = ADDED_AT.map(|p| {
                ms(percentile(&proxied_latencies, p)) - ms(percentile(&direct_latencies, p))
            });
            say(format!("  round {round}, {}:", case.name));
            latency_row("direct", &direct_latencies);
            latency_row("proxied", &proxied_latencies);
            say(format!(
                "    added   p50 {:+.3} ms  p90 {:+.3} ms  p99 {:+.3} ms  p99.9 {:+.3} ms{}",
                added[0],
                added[1],
                added[2],
                added[3],
                if case.events {
                    format!("  ({recorded} events recorded, 2 per call)")
                } else {
                    String::new()
                }
            ));
            if case.pool.addr == egress_addr {
                let calls = f64::from(options.rate * options.seconds);
                let per_call = |group: usize| {
                    cpu_after[group]
                        .saturating_sub(cpu_before[group])
                        .as_secs_f64()
                        * 1e6
                        / calls
                };
                say(format!(
                    "    server CPU per call: answering threads {:.0} µs, event journal {:.0} µs, SQLite threads {:.0} µs, other {:.0} µs",
                    per_call(0),
                    per_call(1),
                    per_call(2),
                    per_call(3)
                ));
            }
            say(format!(
                "    other processes' CPU during the round: {:.0} ms{}",
                ms(others),
                largest
                    .filter(|(_, took)| !took.is_zero())
                    .map(|(name, took)| format!(" (most: {name} {:.0} ms)", ms(took)))
                    .unwrap_or_default()
            ));
            added_by_round.push(added);
        }
    }
    let mut medians = Vec::new();
    for (case, mut added) in cases.iter().zip(rounds) {
        added.sort_by(|a, b| a[2].total_cmp(&b[2]));
        let Some(median) = added.get(added.len() / 2).copied() else {
            continue;
        };
        let p99s: Vec<String> = added.iter().map(|a| format!("{:+.3}", a[2])).collect();
        say(format!("  {}, median round:", case.name));
        say(format!(
            "    added   p50 {:+.3} ms  p90 {:+.3} ms  p99 {:+.3} ms  p99.9 {:+.3} ms | p99 added by round, sorted: {}",
            median[0],
            median[1],
            median[2],
            median[3],
            p99s.join(" ")
        ));
        medians.push((case, median));
    }
    let Some(&(_, ours)) = medians.iter().find(|(case, _)| case.events) else {
        return Ok(());
    };
    let priority = agent_plane_priority();
    say(format!(
        "  target p99 added <= 0.3 ms (median round, agent plane priority {priority}): {} ({:+.3} ms)",
        if ours[2] <= 0.3 { "met" } else { "missed" },
        ours[2]
    ));
    for (case, median) in medians
        .iter()
        .filter(|(case, _)| case.pool.addr != egress_addr)
    {
        say(format!(
            "  against {}: p99 added {:+.3} ms with everything against {:+.3} ms forwarding only (ratio {:.2}); p50 {:+.3} against {:+.3}",
            case.name,
            ours[2],
            median[2],
            ours[2] / median[2],
            ours[0],
            median[0]
        ));
    }
    drop(references);
    Ok(())
}

fn latency_row(label: &str, list: &[Duration]) {
    say(format!(
        "    {label:<7} p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms  ({} requests)",
        ms(percentile(list, 0.5)),
        ms(percentile(list, 0.9)),
        ms(percentile(list, 0.99)),
        ms(percentile(list, 0.999)),
        ms(percentile(list, 1.0)),
        list.len()
    ));
}

impl Bench {
    async fn events(&self) -> Result<usize, Error> {
        let events = self
            .api(
                "GET",
                &format!("/runs/{}/events?limit=1", self.run_id),
                None,
            )
            .await?;
        Ok(events[0]["seq"].as_u64().unwrap_or(0) as usize)
    }
}

async fn saturation_bench(bench: &Bench, options: &Options) -> Result<(), Error> {
    let duration = Duration::from_secs(options.saturate_secs);
    let (direct_addr, direct) = raw_get(
        &format!("{}/items/1", bench.upstream),
        &[("x-api-key", API_KEY)],
    )?;
    let (egress_addr, egress) = raw_get(
        &format!("{}/items/1", bench.tool_url),
        &[("x-run-id", &bench.run_id)],
    )?;
    let (_, no_run) = raw_get(&format!("{}/items/1", bench.tool_url), &[])?;
    say(format!(
        "allow-path saturation: closed loop, {} keep-alive connections, {} s each (load generator, upstream and server share the machine):",
        options.connections, options.saturate_secs
    ));
    saturate(
        &egress_addr,
        &egress,
        options.connections,
        Duration::from_secs(1),
    )
    .await?;
    let pid = bench.server.pid();
    let mut rates = Vec::new();
    for (name, addr, request) in [
        ("direct", &direct_addr, &direct),
        ("egress", &egress_addr, &egress),
        ("egress without a run (no events)", &egress_addr, &no_run),
    ] {
        let cpu_before = cpu_time(pid)?;
        let started = Instant::now();
        let (done, errors) = saturate(addr, request, options.connections, duration).await?;
        let elapsed = started.elapsed();
        let server_cpu = cpu_time(pid)?.saturating_sub(cpu_before);
        let rate = done as f64 / elapsed.as_secs_f64();
        rates.push(rate);
        let per_request = if name.starts_with("egress") && done > 0 {
            format!(
                "  platform CPU {:.0} µs/req, {:.2} cores",
                server_cpu.as_secs_f64() * 1e6 / done as f64,
                server_cpu.as_secs_f64() / elapsed.as_secs_f64()
            )
        } else {
            String::new()
        };
        say(format!(
            "  {name:<34} {rate:>9.0} req/s  errors {errors}{per_request}"
        ));
    }
    say(format!(
        "  ratio egress/direct {:.3}; target >= 14,000 req/s through egress: {}",
        rates[1] / rates[0],
        if rates[1] >= 14_000.0 {
            "met"
        } else {
            "missed"
        }
    ));
    Ok(())
}

async fn approvals_bench(bench: &Bench, options: &Options) -> Result<(), Error> {
    say(format!(
        "approve → replayed request at the upstream, {} approvals one after another:",
        options.approvals
    ));
    let mut to_upstream = Vec::new();
    let mut api_calls = Vec::new();
    for n in 0..options.approvals {
        let run_id = bench.new_run().await?;
        let request_id = bench.blocked_write(&run_id, n).await?;
        let path = format!("/approved/{n}");
        let started = Instant::now();
        bench
            .api(
                "POST",
                &format!("/approvals/requests/{request_id}/approve"),
                Some(json!({"scope": "once"})),
            )
            .await?;
        api_calls.push(started.elapsed());
        let arrived = loop {
            if let Some(at) = bench
                .arrivals
                .lock()
                .ok()
                .and_then(|m| m.get(&path).copied())
            {
                break at;
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("{path} never reached the upstream").into());
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        to_upstream.push(arrived.saturating_duration_since(started));
    }
    to_upstream.sort();
    api_calls.sort();
    say(format!(
        "  approve API call          p50 {:.2} ms  p99 {:.2} ms",
        ms(percentile(&api_calls, 0.5)),
        ms(percentile(&api_calls, 0.99))
    ));
    say(format!(
        "  approve → at the upstream p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(percentile(&to_upstream, 0.5)),
        ms(percentile(&to_upstream, 0.99)),
        ms(percentile(&to_upstream, 1.0))
    ));
    say(format!(
        "  target p99 <= 100 ms: {}",
        if ms(percentile(&to_upstream, 0.99)) <= 100.0 {
            "met"
        } else {
            "missed"
        }
    ));
    Ok(())
}

async fn listing_bench(bench: &Bench, options: &Options) -> Result<(), Error> {
    say(format!(
        "listing: {} paused runs (each blocked on an approval through egress) among {} running runs:",
        options.paused, options.paused
    ));
    let seeded = Instant::now();
    let bench_ref = &bench;
    let concurrency = 16;
    let per_worker = options.paused.div_ceil(concurrency);
    let workers = (0..concurrency).map(|w| async move {
        for i in w * per_worker..((w + 1) * per_worker).min(options.paused) {
            let run_id = bench_ref.new_run().await?;
            bench_ref.blocked_write(&run_id, 1_000_000 + i).await?;
            bench_ref.new_run().await?;
        }
        Ok::<_, Error>(())
    });
    for result in futures_util::future::join_all(workers).await {
        result?;
    }
    say(format!(
        "  seeded in {:.1} s",
        seeded.elapsed().as_secs_f64()
    ));
    // Timed to the answer's last byte; parsing it (what the bench did before) is shown apart:
    // for 10,000 requests it is the client's own work, tens of milliseconds.
    let time = |path: String| async move {
        let mut received = Vec::new();
        let mut parsed = Vec::new();
        let mut count = 0;
        for _ in 0..20 {
            let started = Instant::now();
            let answer = bench_ref
                .http
                .get(bench_ref.server.api(&path))
                .header("x-runagents-api-key", &bench_ref.server.admin_key)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            received.push(started.elapsed());
            let body: Value = serde_json::from_slice(&answer)?;
            parsed.push(started.elapsed());
            count = body.as_array().map_or(0, Vec::len);
        }
        received.sort();
        parsed.sort();
        Ok::<_, Error>((received, parsed, count))
    };
    let mut queue_p99 = Duration::ZERO;
    for (name, path) in [
        (
            "GET /runs?status=PAUSED_APPROVAL&limit=1000 (the API's page)",
            "/runs?status=PAUSED_APPROVAL&limit=1000".to_owned(),
        ),
        (
            "GET /approvals/requests (the whole queue)",
            "/approvals/requests".to_owned(),
        ),
    ] {
        let (times, parsed, count) = time(path).await?;
        if name.starts_with("GET /approvals") {
            queue_p99 = percentile(&times, 0.99);
        }
        say(format!(
            "  {name:<62} {count:>6} items  p50 {:.1} ms  p99 {:.1} ms  (parsed by the bench too: p50 {:.1} ms  p99 {:.1} ms)",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(percentile(&parsed, 0.5)),
            ms(percentile(&parsed, 0.99))
        ));
    }
    // All of them at once, from the store (the server's own database, read beside it).
    let key = std::fs::read_to_string(bench.server.data_dir.join("master.key"))?;
    let master = runagents_store::MasterKey::from_base64(key.trim())?;
    let store =
        runagents_store::SqliteStore::open(&bench.server.data_dir.join("runagents.db"), &master)
            .await?;
    use runagents_store::{ApprovalStore as _, RunStore as _};
    let filter = runagents_store::RunFilter {
        statuses: vec!["PAUSED_APPROVAL".into()],
        limit: u32::try_from(options.paused)?,
        ..Default::default()
    };
    let pending = ["PENDING".to_owned()];
    let (mut times, mut counts) = ([Vec::new(), Vec::new()], [0, 0]);
    for _ in 0..20 {
        let started = Instant::now();
        counts[0] = store.list_runs("default", &filter).await?.len();
        times[0].push(started.elapsed());
        let started = Instant::now();
        counts[1] = store.list_requests("default", &pending).await?.len();
        times[1].push(started.elapsed());
    }
    let mut worst = Duration::ZERO;
    let labels = [
        "store list_runs(status = PAUSED_APPROVAL, limit = all)",
        "store list_requests(status = PENDING), what the queue reads",
    ];
    for ((label, mut times), count) in labels.into_iter().zip(times).zip(counts) {
        times.sort();
        say(format!(
            "  {label:<62} {count:>6} items  p50 {:.1} ms  p99 {:.1} ms",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        ));
        worst = worst.max(percentile(&times, 0.99));
    }
    // How SQLite runs them: on an index in the lists' order, with no sort step.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        bench.server.data_dir.join("runagents.db").display()
    ))
    .await?;
    for (table, query) in [
        (
            "runs",
            "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE workspace = 'default' AND status IN ('PAUSED_APPROVAL') \
             ORDER BY updated_at DESC, id DESC LIMIT 10000",
        ),
        (
            "access_requests",
            "EXPLAIN QUERY PLAN SELECT id, workspace, action_id, run_id, payload_hash, status, body, expires_at, created_at, updated_at \
             FROM access_requests WHERE workspace = 'default' AND status IN ('PENDING') \
             ORDER BY created_at, id LIMIT 10000",
        ),
        (
            "ended windows, looked for before each listing",
            "EXPLAIN QUERY PLAN UPDATE access_requests SET status = 'EXPIRED', updated_at = 1 \
             WHERE status = 'APPROVED' AND expires_at IS NOT NULL AND expires_at <= 1 RETURNING workspace, id",
        ),
    ] {
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(query).fetch_all(&pool).await?;
        for (_, _, _, detail) in plan {
            say(format!("    plan ({table}): {detail}"));
        }
    }
    let verdict = |p99: Duration| if ms(p99) <= 100.0 { "met" } else { "missed" };
    say(format!(
        "  target p99 <= 100 ms for all {}: from the store {}, the approvals queue through the API {}",
        options.paused,
        verdict(worst),
        verdict(queue_p99)
    ));
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let options = Options::parse();
    let wanted = |name: &str| options.only.is_empty() || options.only.iter().any(|o| o == name);
    if wanted("decision") {
        decision_bench()?;
    }
    if !["latency", "saturation", "approvals", "listing"]
        .iter()
        .any(|name| wanted(name))
    {
        return Ok(());
    }
    let bench = setup().await?;
    let scenarios = async {
        if wanted("latency") {
            latency_bench(&bench, &options).await?;
        }
        if wanted("saturation") {
            saturation_bench(&bench, &options).await?;
        }
        if wanted("approvals") {
            approvals_bench(&bench, &options).await?;
        }
        if wanted("listing") {
            listing_bench(&bench, &options).await?;
        }
        Ok::<(), Error>(())
    };
    let outcome = scenarios.await;
    let output = bench.server.output();
    let warnings: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR") || line.contains("panicked"))
        .collect();
    say(format!(
        "server warnings and errors during the run: {}{}",
        warnings.len(),
        warnings
            .iter()
            .take(5)
            .map(|line| format!("\n  {line}"))
            .collect::<String>()
    ));
    outcome
}
