//! A hosted runtime's output: the last lines in memory, everything in `{log_dir}/agent.log`.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// Lines kept in memory per hosted agent.
pub(crate) const RING_LINES: usize = 2_000;
/// `agent.log` is rotated to `agent.log.1` past this size.
pub(crate) const ROTATE_BYTES: u64 = 5 * 1024 * 1024;

/// One line of a hosted runtime's output, or a note from the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Unix milliseconds when the line was read.
    pub at_millis: i64,
    /// `stdout`, `stderr` or `supervisor`.
    pub stream: &'static str,
    pub line: String,
}

/// Where one agent's lines go. The ring outlives a restart and a replacement of the process;
/// the file follows the current spec's `log_dir`.
#[derive(Default)]
pub(crate) struct Sink {
    ring: Mutex<VecDeque<LogLine>>,
    file: Mutex<Option<LogFile>>,
    redact: Mutex<Vec<String>>,
}

struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
}

impl Sink {
    /// From now on: lines go to `{log_dir}/agent.log` (without a writable file, to the ring
    /// only) and every non-empty string of `redact` in them becomes `[redacted]`.
    pub(crate) fn configure(&self, log_dir: &Path, redact: &[String]) {
        if let Ok(mut secrets) = self.redact.lock() {
            *secrets = redact.iter().filter(|s| !s.is_empty()).cloned().collect();
            // Longest first, so a secret that contains another is replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        self.open_file(log_dir);
    }

    fn open_file(&self, log_dir: &Path) {
        let path = log_dir.join("agent.log");
        let opened = std::fs::create_dir_all(log_dir).and_then(|()| {
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            let size = file.metadata()?.len();
            Ok(LogFile {
                path: path.clone(),
                file,
                size,
            })
        });
        let opened = match opened {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open the agent log");
                None
            }
        };
        if let Ok(mut slot) = self.file.lock() {
            *slot = opened;
        }
    }

    pub(crate) fn push(&self, stream: &'static str, mut line: String) {
        let at_millis = now_millis();
        if let Ok(secrets) = self.redact.lock() {
            for secret in secrets.iter() {
                if line.contains(secret.as_str()) {
                    line = line.replace(secret.as_str(), "[redacted]");
                }
            }
        }
        if let Ok(mut slot) = self.file.lock()
            && let Some(file) = slot.as_mut()
        {
            // Blocking, but a single buffered append of one line to a local file.
            file.append(&format!("{at_millis} {stream} {line}\n"));
        }
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() == RING_LINES {
                ring.pop_front();
            }
            ring.push_back(LogLine {
                at_millis,
                stream,
                line,
            });
        }
    }

    pub(crate) fn tail(&self, n: usize) -> Vec<LogLine> {
        self.ring.lock().map_or_else(
            |_| Vec::new(),
            |ring| {
                ring.iter()
                    .skip(ring.len().saturating_sub(n))
                    .cloned()
                    .collect()
            },
        )
    }
}

impl LogFile {
    fn append(&mut self, text: &str) {
        if self.size + text.len() as u64 > ROTATE_BYTES && self.size > 0 {
            let rotated = self.path.with_extension("log.1");
            let reopened = std::fs::rename(&self.path, &rotated).and_then(|()| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
            });
            match reopened {
                Ok(file) => {
                    self.file = file;
                    self.size = 0;
                }
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot rotate the agent log");
                }
            }
        }
        if self.file.write_all(text.as_bytes()).is_ok() {
            self.size += text.len() as u64;
        }
    }
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_last_lines() {
        let sink = Sink::default();
        for i in 0..RING_LINES + 10 {
            sink.push("stdout", format!("{i}"));
        }
        let tail = sink.tail(3);
        assert_eq!(
            tail.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
            ["2007", "2008", "2009"]
        );
        assert_eq!(sink.tail(usize::MAX).len(), RING_LINES);
    }

    #[test]
    fn secrets_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::default();
        sink.configure(
            dir.path(),
            &["tok".to_owned(), String::new(), "tok-123".to_owned()],
        );
        sink.push("stderr", "url http://h/a/tok-123/v1 and tok".to_owned());
        assert_eq!(
            sink.tail(1)[0].line,
            "url http://h/a/[redacted]/v1 and [redacted]"
        );
        let file = std::fs::read_to_string(dir.path().join("agent.log")).unwrap();
        assert!(!file.contains("tok"), "{file}");
    }

    #[test]
    fn file_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::default();
        sink.configure(dir.path(), &[]);
        let line = "x".repeat(1024 * 1024);
        for _ in 0..6 {
            sink.push("stderr", line.clone());
        }
        let current = std::fs::metadata(dir.path().join("agent.log"))
            .unwrap()
            .len();
        let rotated = std::fs::metadata(dir.path().join("agent.log.1"))
            .unwrap()
            .len();
        assert!(current > 0 && current <= ROTATE_BYTES);
        assert!(rotated > 0 && rotated <= ROTATE_BYTES);
        assert_eq!(current + rotated, 6 * (line.len() as u64 + 22));
    }
}
