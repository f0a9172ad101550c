use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use runagents_hosting::{BuildRequest, Built, Hosting};

/// Environments shared by every test (and kept across runs): `RUNAGENTS_TEST_ENV_CACHE`, or a
/// directory under the target directory. Tests that must install start from an empty one.
pub fn shared() -> &'static Hosting {
    static HOSTING: OnceLock<Hosting> = OnceLock::new();
    HOSTING.get_or_init(|| {
        let dir = std::env::var_os("RUNAGENTS_TEST_ENV_CACHE").map_or_else(
            || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hosting-envs"),
            PathBuf::from,
        );
        Hosting::new(dir)
    })
}

pub const HANDLER: &str =
    "def handler(request, ctx):\n    return {\"response\": \"hi \" + request[\"message\"]}\n";

pub fn sources(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
        .collect()
}

/// The environment with nothing but the runtime, from the shared cache.
pub async fn runtime_env() -> Built {
    shared()
        .build(&BuildRequest {
            requirements: String::new(),
            source_files: sources(&[("agent.py", HANDLER)]),
            entry_point: String::new(),
        })
        .await
        .unwrap_or_else(|failure| panic!("{failure}\n{}", failure.log))
}

/// Polls `done` every 20 ms until it holds; panics with `what` after `timeout`.
pub async fn until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `pid` is a live process (a zombie waiting for a parent that never reaps, as PID 1
/// in some containers, counts as dead).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

pub fn entries(dir: &std::path::Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}
