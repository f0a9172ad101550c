//! `bench`: read throughput, latency and memory of a release `runagents serve` on SQLite.
//!
//! Starts the server on a temporary data directory, seeds 20 tools, then drives closed-loop
//! load over keep-alive HTTP/1.1 connections against a baseline (`GET /healthz`: no auth, no
//! database) and the tools read endpoints, and reports each scenario as a ratio of the baseline
//! measured in the same run. The load generator runs on the same machine as the server, so
//! the figures are what one box does with both; run it through `scripts/bench`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use runagents_testkit::memory;
use runagents_testkit::{Backend, ProcStat, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The acceptance targets the report checks.
const TARGET_TOOLS_RPS: f64 = 5_000.0;
const TARGET_TOOLS_P99_MS: f64 = 5.0;
const TARGET_IDLE_RSS_MB: f64 = 30.0;
/// How long the server is left alone before its idle memory is read.
const SETTLE: Duration = Duration::from_secs(1);
/// One request taking longer than this counts as an error and ends its connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound on requests per connection per scenario, whatever the duration.
const MAX_REQUESTS_PER_CONNECTION: u64 = 10_000_000;
/// Largest response accepted, so a broken server cannot make the client grow without bound.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

#[derive(Parser, Debug)]
#[command(about = "Load-test a release runagents server on SQLite (set RUNAGENTS_BIN)")]
struct Options {
    /// Concurrent keep-alive connections per scenario.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Unmeasured seconds before each scenario's measurement.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Threads of the load generator's runtime (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Write the figures as JSON to stdout (the human report goes to stderr).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let options = Options::parse();
    if options.connections == 0 || options.duration_secs == 0 || options.client_threads == 0 {
        let _ = writeln!(
            std::io::stderr(),
            "bench: --connections, --duration-secs and --client-threads must be at least 1"
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.client_threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&options)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; `Ok(false)` when some request failed (the figures are then suspect). A
/// missed target is not a failure: the report says PASS or FAIL and the exit code stays 0.
async fn run(options: &Options) -> Result<bool, Error> {
    let binary = TestServer::binary();
    if !binary.exists() {
        return Err(format!(
            "{} does not exist; build it first (scripts/bench does)",
            binary.display()
        )
        .into());
    }
    progress(&format!("starting {} serve (SQLite)", binary.display()));
    let server = TestServer::start(Backend::Sqlite).await;
    let pid = server.pid();
    let started_rss = memory(pid)?.rss_kib;

    let tools = seed_tools();
    progress(&format!("seeding {} tools", tools.len()));
    let api = server.client();
    let mut names = Vec::new();
    for tool in tools {
        let (status, body) = api.post("/tools", tool).await;
        if status != 201 {
            return Err(format!("seeding a tool answered {status}: {body}").into());
        }
        names.push(body["name"].as_str().unwrap_or_default().to_owned());
    }
    let (status, list) = api.get("/tools").await;
    let listed = list.as_array().map_or(0, Vec::len);
    if status != 200 || listed != names.len() {
        return Err(format!("GET /api/v1/tools answered {status} with {listed} tools").into());
    }

    tokio::time::sleep(SETTLE).await;
    let idle_rss = memory(pid)?.rss_kib;

    let address: SocketAddr = server.url.trim_start_matches("http://").parse()?;
    let key = server.admin_key.clone();
    let scenarios = [
        Scenario {
            name: "baseline",
            label: "GET /healthz",
            requests: vec![request(address, "/healthz", None)],
        },
        Scenario {
            name: "tools_list",
            label: "GET /api/v1/tools",
            requests: vec![request(address, "/api/v1/tools", Some(&key))],
        },
        Scenario {
            name: "tool_get",
            label: "GET /api/v1/tools/{name}",
            requests: names
                .iter()
                .map(|name| request(address, &format!("/api/v1/tools/{name}"), Some(&key)))
                .collect(),
        },
    ];
    let mut results = Vec::new();
    for scenario in &scenarios {
        progress(&format!(
            "{}: {} connections, {} s warm-up + {} s measured",
            scenario.label, options.connections, options.warmup_secs, options.duration_secs
        ));
        results.push(load(address, pid, scenario, options).await?);
    }

    tokio::time::sleep(SETTLE).await;
    let after = memory(pid)?;
    let report = Report {
        options,
        tools: names.len(),
        started_rss,
        idle_rss,
        after_rss: after.rss_kib,
        peak_rss: after.peak_kib,
        scenarios: scenarios.iter().zip(results).collect(),
    };
    let mut stdout = std::io::stdout().lock();
    if options.json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&report.json())?)?;
        report.print(&mut std::io::stderr().lock())?;
    } else {
        report.print(&mut stdout)?;
    }
    let failed: u64 = report
        .scenarios
        .iter()
        .map(|(_, measured)| measured.errors + measured.warmup_errors)
        .sum();
    if failed > 0 {
        progress(&format!(
            "{failed} requests failed, so these figures do not describe a healthy server"
        ));
    }
    Ok(failed == 0)
}

fn progress(message: &str) {
    let _ = writeln!(std::io::stderr(), "bench: {message}");
}

/// Twenty tools of the shapes clients send: the SDK's flat keys and the `spec` document, with
/// capabilities, risk tags, access modes and some stored credentials.
fn seed_tools() -> Vec<Value> {
    const TOOLS: [(&str, &str, &str); 20] = [
        ("stripe-api", "https://api.stripe.com", "payments"),
        ("github", "https://api.github.com", "source control"),
        ("slack", "https://slack.com/api", "messaging"),
        ("jira", "https://example.atlassian.net/rest/api/3", "issues"),
        ("salesforce", "https://example.my.salesforce.com", "CRM"),
        ("zendesk", "https://example.zendesk.com/api/v2", "support"),
        ("hubspot", "https://api.hubapi.com", "marketing"),
        ("pagerduty", "https://api.pagerduty.com", "incidents"),
        ("datadog", "https://api.datadoghq.com", "monitoring"),
        ("sendgrid", "https://api.sendgrid.com", "email"),
        ("twilio", "https://api.twilio.com", "SMS"),
        ("notion", "https://api.notion.com", "documents"),
        ("linear", "https://api.linear.app", "issues"),
        ("asana", "https://app.asana.com/api/1.0", "projects"),
        (
            "shopify",
            "https://example.myshopify.com/admin/api",
            "commerce",
        ),
        ("intercom", "https://api.intercom.io", "support"),
        ("confluence", "https://example.atlassian.net/wiki", "wiki"),
        ("gitlab", "https://gitlab.com/api/v4", "source control"),
        ("billing-internal", "http://billing.internal", "billing"),
        ("crm-internal", "http://crm.internal", "CRM"),
    ];
    let risk = ["read", "write", "financial", "pii", "destructive"];
    TOOLS
        .iter()
        .enumerate()
        .map(|(index, (name, base_url, area))| {
            let internal = base_url.starts_with("http://");
            let capabilities: Vec<Value> = (0..3 + index % 4)
                .map(|n| {
                    let (method, verb) = match n % 4 {
                        0 => ("GET", "list"),
                        1 => ("GET", "read"),
                        2 => ("POST", "create"),
                        _ => ("DELETE", "delete"),
                    };
                    json!({
                        "name": format!("{verb}-{n}"),
                        "method": method,
                        "path": format!("/v1/{area}/{verb}/*").replace(' ', "-"),
                        "description": format!("{verb} {area} records"),
                        "riskTags": [risk[n % risk.len()], risk[(n + index) % risk.len()]],
                    })
                })
                .collect();
            let description = format!("{area} API used by the agents");
            let access_mode = ["Open", "Restricted", "Critical"][index % 3];
            if index % 2 == 0 {
                let mut flat = json!({
                    "name": name,
                    "base_url": base_url,
                    "description": description,
                    "auth_type": if internal { "None" } else { "APIKey" },
                    "port": if internal { 80 } else { 443 },
                    "scheme": if internal { "HTTP" } else { "HTTPS" },
                    "access_mode": access_mode,
                    "capabilities": capabilities,
                });
                if !internal {
                    flat["credentials"] = json!({"api_key": format!("sk_bench_{name}_0123456789")});
                }
                flat
            } else {
                let oauth2 = index % 3 == 0;
                let mut nested = json!({
                    "name": name,
                    "spec": {
                        "description": description,
                        "connection": {
                            "topology": if internal { "Internal" } else { "External" },
                            "baseUrl": base_url,
                            "authentication": if oauth2 {
                                json!({"type": "OAuth2", "oauth2Config": {
                                    "authUrl": format!("{base_url}/oauth/authorize"),
                                    "tokenUrl": format!("{base_url}/oauth/token"),
                                    "scopes": ["read", "write"],
                                    "grantType": "client_credentials"}})
                            } else {
                                json!({"type": "APIKey", "apiKeyConfig": {
                                    "in": "Header", "name": "Authorization", "valuePrefix": "Bearer "}})
                            },
                        },
                        "governance": {"accessControl": {"mode": "Restricted"}},
                        "capabilities": capabilities,
                        "riskTags": [risk[index % risk.len()]],
                    },
                });
                nested["credentials"] = if oauth2 {
                    json!({"client_id": format!("{name}-client"), "client_secret": format!("cs_bench_{name}")})
                } else {
                    json!({"api_key": format!("sk_bench_{name}_0123456789")})
                };
                nested
            }
        })
        .collect()
}

struct Scenario {
    name: &'static str,
    label: &'static str,
    /// Pre-built requests; each connection cycles through them.
    requests: Vec<Vec<u8>>,
}

fn request(address: SocketAddr, path: &str, key: Option<&str>) -> Vec<u8> {
    let key = key
        .map(|key| format!("X-RunAgents-API-Key: {key}\r\n"))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\n{key}\r\n")
        .into_bytes()
}

#[derive(Default)]
struct Outcome {
    latencies: Histogram,
    /// Non-200 answers, I/O failures and timeouts within the measured window.
    errors: u64,
    /// Failures during warm-up, reported separately.
    warmup_errors: u64,
    /// When the last measured request completed.
    last: Option<Instant>,
    /// Body size of the last answer, for the report.
    body_bytes: usize,
}

struct Measured {
    requests: u64,
    elapsed: Duration,
    latencies: Histogram,
    errors: u64,
    warmup_errors: u64,
    body_bytes: usize,
    /// CPU time the server and this process used while measuring, and over how long.
    server_cpu: Duration,
    client_cpu: Duration,
    cpu_window: Duration,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Server CPU time per request, in microseconds: steadier than req/s on a shared machine.
    fn server_cpu_per_request_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / (self.requests.max(1) as f64)
    }

    /// Average number of cores busy in a process during the measurement.
    fn cores(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() / self.cpu_window.as_secs_f64().max(f64::EPSILON)
    }
}

/// Closed loop: each connection sends its next request as soon as the previous answer is in.
async fn load(
    address: SocketAddr,
    pid: u32,
    scenario: &Scenario,
    options: &Options,
) -> Result<Measured, Error> {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(options.warmup_secs);
    let measure_until = measure_from + Duration::from_secs(options.duration_secs);
    let requests: Arc<[Vec<u8>]> = scenario.requests.clone().into();
    let mut tasks = Vec::new();
    for connection in 0..options.connections {
        let requests = requests.clone();
        tasks.push(tokio::spawn(async move {
            drive(address, &requests, connection, measure_from, measure_until).await
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_from = (
        Instant::now(),
        cpu_time(pid)?,
        cpu_time(std::process::id())?,
    );
    let mut total = Outcome::default();
    for task in tasks {
        let outcome = task.await??;
        total.latencies.merge(&outcome.latencies);
        total.errors += outcome.errors;
        total.warmup_errors += outcome.warmup_errors;
        total.last = total.last.max(outcome.last);
        total.body_bytes = total.body_bytes.max(outcome.body_bytes);
    }
    let cpu_until = (
        Instant::now(),
        cpu_time(pid)?,
        cpu_time(std::process::id())?,
    );
    let elapsed = total
        .last
        .map_or(Duration::ZERO, |last| last.duration_since(measure_from));
    Ok(Measured {
        requests: total.latencies.count(),
        elapsed,
        latencies: total.latencies,
        errors: total.errors,
        warmup_errors: total.warmup_errors,
        body_bytes: total.body_bytes,
        server_cpu: cpu_until.1.saturating_sub(cpu_from.1),
        client_cpu: cpu_until.2.saturating_sub(cpu_from.2),
        cpu_window: cpu_until.0.duration_since(cpu_from.0),
    })
}

async fn drive(
    address: SocketAddr,
    requests: &[Vec<u8>],
    connection: usize,
    measure_from: Instant,
    measure_until: Instant,
) -> Result<Outcome, Error> {
    let mut outcome = Outcome::default();
    let mut stream: Option<TcpStream> = None;
    let mut buffer = Vec::with_capacity(64 * 1024);
    for sent_count in 0..MAX_REQUESTS_PER_CONNECTION {
        let request = &requests[(connection + sent_count as usize) % requests.len()];
        let sent = Instant::now();
        if sent >= measure_until {
            break;
        }
        let conn = match &mut stream {
            Some(conn) => conn,
            None => {
                let conn = TcpStream::connect(address).await?;
                conn.set_nodelay(true)?;
                stream.insert(conn)
            }
        };
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, exchange(conn, request, &mut buffer))
            .await
            .unwrap_or_else(|_| Err("request timed out".into()));
        let done = Instant::now();
        let measured = sent >= measure_from;
        match answer {
            Ok(response) => {
                if measured {
                    outcome.latencies.record(done.duration_since(sent));
                    outcome.last = Some(done);
                }
                if response.status != 200 {
                    *errors(&mut outcome, measured) += 1;
                }
                outcome.body_bytes = response.body_bytes;
                if response.close {
                    stream = None;
                }
            }
            Err(error) => {
                *errors(&mut outcome, measured) += 1;
                if outcome.errors + outcome.warmup_errors == 1 {
                    progress(&format!("connection {connection}: {error}"));
                }
                stream = None;
                buffer.clear();
            }
        }
    }
    Ok(outcome)
}

fn errors(outcome: &mut Outcome, measured: bool) -> &mut u64 {
    if measured {
        &mut outcome.errors
    } else {
        &mut outcome.warmup_errors
    }
}

struct Response {
    status: u16,
    body_bytes: usize,
    close: bool,
}

/// Writes one request and reads its response: headers, then exactly Content-Length bytes.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<Response, Error> {
    stream.write_all(request).await?;
    buffer.clear();
    let (head_len, status, content_length, close) = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            let (status, length, close) = parse_head(&buffer[..end])?;
            break (end + 4, status, length, close);
        }
        read_more(stream, buffer).await?;
    };
    let total = head_len + content_length;
    if total > MAX_RESPONSE {
        return Err(format!("response of {total} bytes is larger than the limit").into());
    }
    while buffer.len() < total {
        read_more(stream, buffer).await?;
    }
    if buffer.len() > total {
        return Err("bytes after the response: the server answered more than asked".into());
    }
    Ok(Response {
        status,
        body_bytes: content_length,
        close,
    })
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), Error> {
    if buffer.len() == buffer.capacity() {
        buffer.reserve(buffer.capacity().max(4096));
    }
    let read = stream.read_buf(buffer).await?;
    if read == 0 {
        return Err("connection closed mid-response".into());
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The status code, Content-Length, and whether the server will close the connection.
fn parse_head(head: &[u8]) -> Result<(u16, usize, bool), Error> {
    let head = std::str::from_utf8(head)?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let (mut length, mut close) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(
                format!("Transfer-Encoding {value} is not supported by this client").into(),
            );
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let length = length.ok_or("the response has no Content-Length")?;
    Ok((status, length, close))
}

/// Latencies in microseconds: exact below 1,024 µs, then 512 buckets per power of two
/// (0.2 % resolution) up to about a minute. Fixed size, so recording never allocates.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
}

const EXACT: u64 = 1024;
const SUB_BUCKETS: usize = 512;
const MAX_SHIFT: usize = 17;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; (MAX_SHIFT + 2) * SUB_BUCKETS],
        }
    }
}

impl Histogram {
    fn index(micros: u64) -> usize {
        if micros < EXACT {
            return micros as usize;
        }
        let shift = (63 - micros.leading_zeros() as usize - 9).min(MAX_SHIFT);
        let top = ((micros >> shift) as usize).min(2 * SUB_BUCKETS - 1);
        shift * SUB_BUCKETS + top
    }

    /// The largest value a bucket holds, in microseconds.
    fn upper(index: usize) -> u64 {
        if index < EXACT as usize {
            return index as u64;
        }
        let shift = index / SUB_BUCKETS - 1;
        let top = (index % SUB_BUCKETS + SUB_BUCKETS) as u64;
        ((top + 1) << shift) - 1
    }

    fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::index(micros)] += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The latency below which `quantile` of the requests completed, in milliseconds.
    fn quantile_ms(&self, quantile: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::upper(index) as f64 / 1000.0;
            }
        }
        0.0
    }
}

/// User plus system CPU time of a process (all its threads), from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Result<Duration, Error> {
    Ok(ProcStat::read(format!("/proc/{pid}/stat"))
        .and_then(|stat| stat.cpu())
        .ok_or_else(|| format!("no CPU time in /proc/{pid}/stat"))?)
}

/// Megabytes of 10^6 bytes, the stricter reading of "30 MB".
fn megabytes(kib: u64) -> f64 {
    (kib * 1024) as f64 / 1e6
}

struct Report<'a> {
    options: &'a Options,
    tools: usize,
    started_rss: u64,
    idle_rss: u64,
    after_rss: u64,
    peak_rss: u64,
    scenarios: Vec<(&'a Scenario, Measured)>,
}

struct Check {
    name: &'static str,
    pass: bool,
    detail: String,
}

impl Report<'_> {
    fn baseline_rate(&self) -> f64 {
        self.scenarios
            .first()
            .map_or(0.0, |(_, measured)| measured.rate())
    }

    fn scenario(&self, name: &str) -> Option<&Measured> {
        self.scenarios
            .iter()
            .find(|(scenario, _)| scenario.name == name)
            .map(|(_, measured)| measured)
    }

    fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        if let Some(list) = self.scenario("tools_list") {
            let (rate, p99) = (list.rate(), list.latencies.quantile_ms(0.99));
            checks.push(Check {
                name: "tools_list_throughput",
                pass: rate >= TARGET_TOOLS_RPS,
                detail: format!(
                    "GET /api/v1/tools {rate:.0} req/s (target >= {TARGET_TOOLS_RPS:.0})"
                ),
            });
            checks.push(Check {
                name: "tools_list_p99",
                pass: p99 < TARGET_TOOLS_P99_MS,
                detail: format!(
                    "GET /api/v1/tools p99 {p99:.2} ms (target < {TARGET_TOOLS_P99_MS:.0} ms)"
                ),
            });
        }
        let idle = megabytes(self.idle_rss);
        checks.push(Check {
            name: "idle_rss",
            pass: idle < TARGET_IDLE_RSS_MB,
            detail: format!("idle RSS {idle:.1} MB (target < {TARGET_IDLE_RSS_MB:.0} MB)"),
        });
        checks
    }

    fn print(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let options = self.options;
        writeln!(
            out,
            "runagents read benchmark (SQLite, {} tools seeded)",
            self.tools
        )?;
        writeln!(
            out,
            "machine: {} CPUs, shared by the server and this load generator ({} client thread(s)); loopback only",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            options.client_threads
        )?;
        writeln!(
            out,
            "load: closed loop, {} keep-alive HTTP/1.1 connections, {} s warm-up + {} s measured per scenario",
            options.connections, options.warmup_secs, options.duration_secs
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<26} {:>9} {:>7} {:>7} {:>8} {:>7} {:>6} {:>7} {:>6} {:>7} {:>6} {:>6}",
            "scenario",
            "req/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "errors",
            "ratio",
            "bytes",
            "cpu µs",
            "server",
            "client",
        )?;
        let baseline = self.baseline_rate();
        for (scenario, measured) in &self.scenarios {
            let latencies = &measured.latencies;
            writeln!(
                out,
                "{:<26} {:>9.0} {:>7.2} {:>7.2} {:>8.2} {:>7.1} {:>6} {:>7.4} {:>6} {:>7.0} {:>6.2} {:>6.2}",
                scenario.label,
                measured.rate(),
                latencies.quantile_ms(0.50),
                latencies.quantile_ms(0.99),
                latencies.quantile_ms(0.999),
                latencies.quantile_ms(1.0),
                measured.errors,
                measured.rate() / baseline.max(f64::EPSILON),
                measured.body_bytes,
                measured.server_cpu_per_request_us(),
                measured.cores(measured.server_cpu),
                measured.cores(measured.client_cpu),
            )?;
            if measured.warmup_errors > 0 {
                writeln!(
                    out,
                    "    ({} errors during warm-up)",
                    measured.warmup_errors
                )?;
            }
        }
        writeln!(
            out,
            "ratio: req/s over the GET /healthz baseline's; bytes: response body; cpu µs: server\n\
             CPU time per request; server, client: cores busy in each process while measuring"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "server RSS: {:.1} MB at start, {:.1} MB idle after seeding, {:.1} MB after load, {:.1} MB peak",
            megabytes(self.started_rss),
            megabytes(self.idle_rss),
            megabytes(self.after_rss),
            megabytes(self.peak_rss)
        )?;
        writeln!(out)?;
        for check in self.checks() {
            let verdict = if check.pass { "PASS" } else { "FAIL" };
            writeln!(out, "{verdict} {}", check.detail)?;
        }
        Ok(())
    }

    fn json(&self) -> Value {
        let baseline = self.baseline_rate();
        let options = self.options;
        let scenarios: Vec<Value> = self
            .scenarios
            .iter()
            .map(|(scenario, measured)| {
                let latencies = &measured.latencies;
                json!({
                    "name": scenario.name,
                    "request": scenario.label,
                    "requests": measured.requests,
                    "seconds": measured.elapsed.as_secs_f64(),
                    "rps": measured.rate(),
                    "p50_ms": latencies.quantile_ms(0.50),
                    "p99_ms": latencies.quantile_ms(0.99),
                    "p999_ms": latencies.quantile_ms(0.999),
                    "max_ms": latencies.quantile_ms(1.0),
                    "errors": measured.errors,
                    "warmup_errors": measured.warmup_errors,
                    "ratio_to_baseline": measured.rate() / baseline.max(f64::EPSILON),
                    "body_bytes": measured.body_bytes,
                    "server_cpu_us_per_request": measured.server_cpu_per_request_us(),
                    "server_cores": measured.cores(measured.server_cpu),
                    "client_cores": measured.cores(measured.client_cpu),
                })
            })
            .collect();
        let checks: serde_json::Map<String, Value> = self
            .checks()
            .into_iter()
            .map(|check| (check.name.to_owned(), Value::Bool(check.pass)))
            .collect();
        json!({
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "connections": options.connections,
            "client_threads": options.client_threads,
            "warmup_secs": options.warmup_secs,
            "duration_secs": options.duration_secs,
            "tools": self.tools,
            "scenarios": scenarios,
            "rss_mb": {
                "start": megabytes(self.started_rss),
                "idle": megabytes(self.idle_rss),
                "after_load": megabytes(self.after_rss),
                "peak": megabytes(self.peak_rss),
            },
            "pass": checks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_contiguous_and_bound_their_values() {
        let mut previous = 0;
        for micros in [
            0, 1, 1023, 1024, 1025, 2047, 2048, 5_000, 123_456, 60_000_000,
        ] {
            let index = Histogram::index(micros);
            assert!(index >= previous);
            assert!(Histogram::upper(index) >= micros);
            assert!(Histogram::upper(index) as f64 <= micros as f64 * 1.002 + 1.0);
            previous = index;
        }
        assert_eq!(Histogram::index(1023) + 1, Histogram::index(1024));
        assert!(Histogram::index(u64::MAX) < Histogram::default().counts.len());
    }

    #[test]
    fn quantiles() {
        let mut histogram = Histogram::default();
        for micros in 1..=1000 {
            histogram.record(Duration::from_micros(micros));
        }
        assert_eq!(histogram.quantile_ms(0.5), 0.5);
        assert_eq!(histogram.quantile_ms(0.99), 0.99);
        assert_eq!(histogram.quantile_ms(1.0), 1.0);
    }

    #[test]
    fn parses_a_response_head() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 42";
        assert_eq!(parse_head(head).unwrap(), (200, 42, false));
        let head = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close";
        assert_eq!(parse_head(head).unwrap(), (401, 0, true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked").is_err());
    }
}
