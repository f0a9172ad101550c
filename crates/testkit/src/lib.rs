#![expect(
    clippy::expect_used,
    reason = "test support: a failed setup should stop the test loudly"
)]
//! Test support: a private PostgreSQL built with the machine's PostgreSQL binaries, and a
//! helper that runs the real `runagents` binary and waits for it to say it is listening, and
//! fake upstreams (an LLM provider speaking the OpenAI and Anthropic wire formats).

pub mod fake_llm;
pub mod postgres;
pub mod server;

pub use server::{Backend, TestServer};

/// A process's resident memory, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// VmRSS.
    pub rss_kib: u64,
    /// VmHWM: the peak of VmRSS.
    pub peak_kib: u64,
}

/// VmRSS and VmHWM (peak RSS) of a process, from `/proc/<pid>/status`.
pub fn memory(pid: u32) -> Result<Memory, Box<dyn std::error::Error + Send + Sync>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
        let line = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line.trim().trim_end_matches("kB").trim().parse()?)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}
