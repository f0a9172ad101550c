//! Child-process plumbing shared by the builder and the supervisor: the cleared environment,
//! process-group signals, bounded line reading and one build step with a timeout.

use std::ffi::OsString;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

/// Platform variables a build step may see: the search path, locale, home (pip's cache lives
/// there), temporary directory, proxies and certificates, pip's and pyenv's own settings.
/// Everything else (the platform's master key, database URL, provider keys) stays out.
pub(crate) fn build_env() -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(name, _)| {
            let Some(name) = name.to_str() else {
                return false;
            };
            matches!(
                name,
                "PATH"
                    | "HOME"
                    | "LANG"
                    | "LC_ALL"
                    | "TMPDIR"
                    | "XDG_CACHE_HOME"
                    | "SSL_CERT_FILE"
                    | "SSL_CERT_DIR"
                    | "REQUESTS_CA_BUNDLE"
                    | "http_proxy"
                    | "https_proxy"
                    | "no_proxy"
                    | "HTTP_PROXY"
                    | "HTTPS_PROXY"
                    | "NO_PROXY"
            ) || name.starts_with("PIP_")
                || name.starts_with("PYENV")
        })
        .collect()
}

/// Sends `signal` to the process group led by `pgid`. A group that is already gone is fine.
pub(crate) fn signal_group(pgid: u32, signal: rustix::process::Signal) {
    let Some(pid) = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // Never signal our own group (or every process we may signal, for pid 1).
    if pid == rustix::process::Pid::INIT || pid == rustix::process::getpgrp() {
        return;
    }
    if let Err(e) = rustix::process::kill_process_group(pid, signal)
        && e != rustix::io::Errno::SRCH
    {
        tracing::warn!(pgid, error = %e, "could not signal process group");
    }
}

/// Kills a process group when dropped.
pub(crate) struct KillGroupOnDrop(pub(crate) u32);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        signal_group(self.0, rustix::process::Signal::KILL);
    }
}

/// One line at most this long is kept; the rest of it is dropped.
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// Reads `reader` line by line (lossy UTF-8, lines capped at [`MAX_LINE`]) until end of file.
pub(crate) async fn for_each_line(reader: impl AsyncRead + Unpin, mut each: impl FnMut(String)) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (taken, complete) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..taken.min(room)]);
        reader.consume(taken);
        if complete {
            each(finish_line(&mut line));
        }
    }
    if !line.is_empty() {
        each(finish_line(&mut line));
    }
}

fn finish_line(line: &mut Vec<u8>) -> String {
    let text = String::from_utf8_lossy(line)
        .trim_end_matches(['\n', '\r'])
        .to_owned();
    line.clear();
    text
}

/// A build log that keeps its last [`BuildLog::CAP`] bytes.
#[derive(Default)]
pub(crate) struct BuildLog {
    text: String,
    truncated: bool,
}

impl BuildLog {
    pub(crate) const CAP: usize = 256 * 1024;

    pub(crate) fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        if self.text.len() > Self::CAP {
            let mut cut = self.text.len() - Self::CAP;
            // Cut at a line start (or at least a character boundary).
            match self.text[cut..].find('\n') {
                Some(i) if i + 1 < self.text.len() - cut => cut += i + 1,
                _ => {
                    while !self.text.is_char_boundary(cut) {
                        cut += 1;
                    }
                }
            }
            self.text.drain(..cut);
            self.truncated = true;
        }
    }

    pub(crate) fn into_string(self) -> String {
        if self.truncated {
            format!("[earlier output truncated]\n{}", self.text)
        } else {
            self.text
        }
    }
}

/// How one build step ended, when it ran at all.
pub(crate) enum StepEnd {
    Exited {
        status: ExitStatus,
        stdout: Vec<String>,
        stderr: Vec<String>,
    },
    TimedOut,
    /// It could not be started; the text says why.
    NotStarted(String),
}

/// Runs one build step: a cleared environment plus [`build_env`], its own process group (so a
/// timeout kills what it spawned too), stdout and stderr into `log` as they come, `stdin` fed
/// and closed. The command line (never the environment) heads the step in the log.
pub(crate) async fn run_step(
    mut command: Command,
    display: &str,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    log: &Mutex<BuildLog>,
) -> StepEnd {
    push(log, &format!("$ {display}"));
    command
        .env_clear()
        .envs(build_env())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            push(log, &format!("could not start: {e}"));
            return StepEnd::NotStarted(e.to_string());
        }
    };
    let pgid = child.id();
    // Whether the step ends, times out or its caller gives up on the build: its whole group
    // goes (`kill_on_drop` alone would reach only the step's own process).
    let _group = pgid.map(KillGroupOnDrop);
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return StepEnd::NotStarted("no pipes".to_owned());
    };
    let input = child.stdin.take();
    let feed = async move {
        if let (Some(mut pipe), Some(bytes)) = (input, stdin) {
            use tokio::io::AsyncWriteExt;
            // A child that exits without reading all of it is reported by its status.
            let _ = pipe.write_all(&bytes).await;
        }
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let run = async {
        let ((), (), (), status) = tokio::join!(
            feed,
            for_each_line(out, |line| {
                push(log, &line);
                stdout.push(line);
            }),
            for_each_line(err, |line| {
                push(log, &line);
                stderr.push(line);
            }),
            async {
                let status = child.wait().await;
                // Whatever it left running would hold the pipes open.
                if let Some(pgid) = pgid {
                    signal_group(pgid, rustix::process::Signal::KILL);
                }
                status
            },
        );
        status
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(status)) => StepEnd::Exited {
            status,
            stdout,
            stderr,
        },
        Ok(Err(e)) => StepEnd::NotStarted(e.to_string()),
        Err(_) => {
            push(log, &format!("timed out after {}s", timeout.as_secs()));
            StepEnd::TimedOut
        }
    }
}

fn push(log: &Mutex<BuildLog>, line: &str) {
    if let Ok(mut log) = log.lock() {
        log.line(line);
    }
}

/// `status 1`, or `signal 9` for a process that was killed.
pub(crate) fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("status {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_log_keeps_the_tail() {
        let mut log = BuildLog::default();
        for i in 0..100_000 {
            log.line(&format!("line {i}"));
        }
        let text = log.into_string();
        assert!(text.len() <= BuildLog::CAP + 64);
        assert!(text.starts_with("[earlier output truncated]\nline "));
        assert!(text.ends_with("line 99999\n"));
    }

    #[tokio::test]
    async fn lines_are_split_and_capped() {
        let input = format!("a\r\nb\n{}\nlast", "x".repeat(MAX_LINE * 2));
        let mut lines = Vec::new();
        for_each_line(input.as_bytes(), |l| lines.push(l)).await;
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "a");
        assert_eq!(lines[1], "b");
        assert_eq!(lines[2].len(), MAX_LINE);
        assert_eq!(lines[3], "last");
    }
}
