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

/// A process's or a thread's `/proc/…/stat` line: its name and its numbered fields.
#[derive(Clone, Debug)]
pub struct ProcStat {
    pub name: String,
    /// The fields after the name, from field 3 (the state) on.
    fields: Vec<String>,
}

impl ProcStat {
    /// Reads and parses a `stat` file; `None` if it is gone (a thread that ended) or not one.
    pub fn read(path: impl AsRef<std::path::Path>) -> Option<ProcStat> {
        ProcStat::parse(&std::fs::read_to_string(path).ok()?)
    }

    /// Parses the text of a `stat` file; `None` if it is not one.
    pub fn parse(stat: &str) -> Option<ProcStat> {
        // `pid (name) state …`: the name may hold spaces and parentheses; the fields after the
        // last `)` are fixed.
        let (head, rest) = stat.rsplit_once(')')?;
        let (_, name) = head.split_once('(')?;
        Some(ProcStat {
            name: name.to_owned(),
            fields: rest.split_whitespace().map(str::to_owned).collect(),
        })
    }

    /// Field `number` as proc(5) numbers them (1 the pid, 2 the name, 3 the state, 19 the
    /// nice value, 41 the scheduling policy); `None` if there is none or it does not parse.
    pub fn field<T: std::str::FromStr>(&self, number: usize) -> Option<T> {
        self.fields.get(number.checked_sub(3)?)?.parse().ok()
    }

    /// User plus system CPU time (fields 14 and 15, in USER_HZ: 100 a second on every
    /// architecture Linux supports).
    pub fn cpu(&self) -> Option<std::time::Duration> {
        let ticks = self.field::<u64>(14)? + self.field::<u64>(15)?;
        Some(std::time::Duration::from_millis(ticks * 10))
    }
}

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

#[cfg(test)]
mod tests {
    use super::ProcStat;

    #[test]
    fn a_stat_line_is_read_by_proc5_field_numbers_whatever_the_name_holds() {
        let line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 -5 3 0 \
                    7 1000 50 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 1 1 0 0 0";
        let stat = ProcStat::parse(line).expect("a stat line");
        assert_eq!(stat.name, "a (b) c");
        assert_eq!(stat.field::<String>(3).as_deref(), Some("S"));
        assert_eq!(stat.field::<i32>(19), Some(-5));
        assert_eq!(stat.field::<u32>(41), Some(1));
        assert_eq!(stat.field::<u32>(2), None);
        assert_eq!(stat.field::<u32>(60), None);
        assert_eq!(stat.cpu(), Some(std::time::Duration::from_millis(3_250)));
        assert!(ProcStat::parse("no name here").is_none());
    }
}
