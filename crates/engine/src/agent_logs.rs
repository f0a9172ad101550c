//! What the platform says about each agent's turns, kept in memory per agent (the last
//! `MAX_LINES`) and served with the agent's process output by `GET /agents/{name}/logs`. Lines
//! name tools, functions, statuses and run ids; never arguments, bodies or credentials.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use runagents_domain::Timestamp;

const MAX_LINES: usize = 2_000;

/// One line of an agent's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub at: Timestamp,
    /// `platform` for the platform's own lines; `stdout` / `stderr` / `supervisor` for a
    /// hosted process.
    pub stream: String,
    pub message: String,
}

#[derive(Default)]
pub(crate) struct AgentLogs {
    lines: Mutex<HashMap<String, VecDeque<LogLine>>>,
}

impl AgentLogs {
    pub(crate) fn push(&self, agent_key: &str, message: String) {
        let Ok(mut lines) = self.lines.lock() else {
            return;
        };
        let ring = lines.entry(agent_key.to_owned()).or_default();
        if ring.len() == MAX_LINES {
            ring.pop_front();
        }
        ring.push_back(LogLine {
            at: Timestamp::now(),
            stream: "platform".to_owned(),
            message,
        });
    }

    /// The last `tail` lines, oldest first.
    pub(crate) fn tail(&self, agent_key: &str, tail: usize) -> Vec<LogLine> {
        let Ok(lines) = self.lines.lock() else {
            return Vec::new();
        };
        lines.get(agent_key).map_or_else(Vec::new, |ring| {
            ring.iter()
                .skip(ring.len().saturating_sub(tail))
                .cloned()
                .collect()
        })
    }

    pub(crate) fn forget(&self, agent_key: &str) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.remove(agent_key);
        }
    }
}

impl crate::Engine {
    /// Adds a line to the agent's log.
    pub(crate) fn log_agent(&self, workspace: &str, agent: &str, message: String) {
        self.agent_logs
            .push(&crate::gateway::agent_key(workspace, agent), message);
    }

    /// The last `tail` lines of the agent's log, oldest first.
    pub async fn agent_log(
        &self,
        workspace: &str,
        agent: &str,
        tail: usize,
    ) -> crate::Result<Vec<LogLine>> {
        self.get_agent(workspace, agent).await?;
        let key = crate::gateway::agent_key(workspace, agent);
        let mut lines = self.agent_logs.tail(&key, tail);
        // A hosted agent's process output joins the platform's lines, in time order.
        lines.extend(self.process_log(&key, tail));
        lines.sort_by_key(|line| line.at);
        let skip = lines.len().saturating_sub(tail);
        Ok(lines.split_off(skip))
    }

    pub(crate) fn forget_agent_log(&self, workspace: &str, agent: &str) {
        self.agent_logs
            .forget(&crate::gateway::agent_key(workspace, agent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_per_agent() {
        let logs = AgentLogs::default();
        for n in 0..MAX_LINES + 5 {
            logs.push("ws/a", format!("line {n}"));
        }
        logs.push("ws/b", "other".into());
        let tail = logs.tail("ws/a", 3);
        let messages: Vec<&str> = tail.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                format!("line {}", MAX_LINES + 2),
                format!("line {}", MAX_LINES + 3),
                format!("line {}", MAX_LINES + 4)
            ]
        );
        assert_eq!(logs.tail("ws/a", usize::MAX).len(), MAX_LINES);
        logs.forget("ws/a");
        assert!(logs.tail("ws/a", 10).is_empty());
        assert_eq!(logs.tail("ws/b", 10).len(), 1);
    }
}
