//! The only place the CLI writes: results to stdout (tables, text, JSON), errors and the
//! progress spinner to stderr. Colour only on a terminal without `NO_COLOR`; the spinner only
//! when stderr is a terminal, so scripts and pipes get clean output.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use runagents_domain::Timestamp;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::render::{self, Cell, Style, Table};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

impl Format {
    /// `json` is JSON; anything else is a table, as in the public CLI.
    pub fn parse(text: Option<&str>) -> Self {
        match text.map(|t| t.trim().to_ascii_lowercase()) {
            Some(t) if t == "json" => Format::Json,
            _ => Format::Table,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Output {
    pub format: Format,
    /// ANSI colour on stdout.
    pub color: bool,
    color_stderr: bool,
    spinner: bool,
    pub now: Timestamp,
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl Output {
    pub fn new(format: Format) -> Self {
        Output {
            format,
            color: std::io::stdout().is_terminal() && !no_color(),
            color_stderr: std::io::stderr().is_terminal() && !no_color(),
            spinner: std::io::stderr().is_terminal(),
            now: Timestamp::now(),
        }
    }

    pub fn json_mode(&self) -> bool {
        self.format == Format::Json
    }

    fn write(&self, text: &str) -> Result<()> {
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            // The reader went away (`runagents tools list | head -1`): nothing left to say.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(error) => Err(Error::File {
                path: "stdout".into(),
                message: error.to_string(),
            }),
            Ok(()) => Ok(()),
        }
    }

    /// One line of text.
    pub fn line(&self, text: &str) -> Result<()> {
        self.write(&format!("{text}\n"))
    }

    /// Pretty JSON (two-space indent, keys sorted), one trailing newline.
    pub fn json(&self, value: &Value) -> Result<()> {
        let text =
            serde_json::to_string_pretty(value).map_err(|e| Error::Unexpected(e.to_string()))?;
        self.line(&text)
    }

    /// A table; `empty` is said instead when it has no rows.
    pub fn table(&self, table: &Table, empty: &str) -> Result<()> {
        if table.rows.is_empty() {
            return self.line(&render::paint(empty, Style::Dim, self.color));
        }
        self.write(&table.render(self.color))
    }

    pub fn fields(&self, pairs: &[(&str, Cell)]) -> Result<()> {
        self.write(&render::fields(pairs, self.color))
    }

    /// A line with a leading word coloured (`✓ created`), for confirmations.
    pub fn done(&self, text: &str) -> Result<()> {
        self.line(&format!(
            "{} {text}",
            render::paint("✓", Style::Good, self.color)
        ))
    }

    /// In JSON mode the value; otherwise whatever `table` writes.
    pub fn either(&self, value: &Value, table: impl FnOnce(&Self) -> Result<()>) -> Result<()> {
        if self.json_mode() {
            self.json(value)
        } else {
            table(self)
        }
    }

    pub fn time(&self, text: &str) -> Cell {
        Cell::dim(render::relative_time(text, self.now))
    }

    /// `error: …` and, if there is one, `hint: …`, on stderr.
    pub fn error(&self, error: &Error) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(
            stderr,
            "{} {error}",
            render::paint("error:", Style::Bad, self.color_stderr)
        );
        if let Some(hint) = error.hint() {
            let _ = writeln!(
                stderr,
                "{} {hint}",
                render::paint("hint:", Style::Dim, self.color_stderr)
            );
        }
    }

    /// A remark for the person at the terminal, on stderr so it never mixes into results.
    pub fn note(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }

    pub fn spinner(&self) -> Spinner {
        Spinner {
            enabled: self.spinner,
            frame: 0,
            started: Instant::now(),
            drawn: false,
        }
    }

    /// Awaits `future` with a spinner and `label` on stderr.
    pub async fn progress<F: Future>(&self, label: &str, future: F) -> F::Output {
        let mut spinner = self.spinner();
        let output = spinner.run(label, future).await;
        spinner.clear();
        output
    }
}

/// A one-line spinner on stderr: `⠹ building agent bot (12s)`. Invisible off a terminal.
pub struct Spinner {
    enabled: bool,
    frame: usize,
    started: Instant,
    drawn: bool,
}

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const TICK: Duration = Duration::from_millis(120);
const FIRST_FRAME: Duration = Duration::from_millis(300);

impl Spinner {
    pub fn draw(&mut self, label: &str) {
        if !self.enabled {
            return;
        }
        let frame = FRAMES[self.frame % FRAMES.len()];
        self.frame += 1;
        let seconds = self.started.elapsed().as_secs();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K{frame} {label} ({seconds}s)");
        let _ = stderr.flush();
        self.drawn = true;
    }

    /// Awaits `future`, redrawing every tick.
    pub async fn run<F: Future>(&mut self, label: &str, future: F) -> F::Output {
        if !self.enabled {
            return future.await;
        }
        let future = std::pin::pin!(future);
        let mut future = future;
        // The first frame only after a moment, so quick answers never flash a spinner.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_FRAME, TICK);
        loop {
            tokio::select! {
                output = &mut future => return output,
                _ = ticks.tick() => self.draw(label),
            }
        }
    }

    /// Sleeps for `duration`, still spinning.
    pub async fn sleep(&mut self, label: &str, duration: Duration) {
        self.run(label, tokio::time::sleep(duration)).await;
    }

    pub fn clear(&mut self) {
        if self.drawn {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
            self.drawn = false;
        }
    }
}
