//! Pure text rendering for people: aligned tables and label/value blocks, ANSI colour (only
//! when asked), relative times, and reading loosely-shaped JSON fields. Nothing here writes;
//! `output` does.

use runagents_domain::Timestamp;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Bold,
    Dim,
    Good,
    Warn,
    Bad,
}

/// `text` wrapped in the style's ANSI codes when `color` is on.
pub fn paint(text: &str, style: Style, color: bool) -> String {
    let code = match style {
        Style::Plain => return text.to_owned(),
        _ if !color || text.is_empty() => return text.to_owned(),
        Style::Bold => "1",
        Style::Dim => "2",
        Style::Good => "32",
        Style::Warn => "33",
        Style::Bad => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The colour of a status word, whichever resource it comes from.
pub fn status_style(status: &str) -> Style {
    let status = status.trim().to_ascii_lowercase();
    match status.as_str() {
        "available" | "running" | "completed" | "healthy" | "ready" | "approved" | "active"
        | "succeeded" | "passed" | "provisioned" | "applied" | "valid" | "yes" | "true"
        | "reachable" | "enabled" => Style::Good,
        "pending" | "paused" | "paused_approval" | "paused_consent" | "building"
        | "near budget" | "blocked" | "skipped" | "in_progress" | "disabled" => Style::Warn,
        "failed" | "unreachable" | "unavailable" | "rejected" | "unhealthy" | "budget reached"
        | "expired" | "invalid" | "no" | "false" | "error" => Style::Bad,
        _ => Style::Plain,
    }
}

/// A cell with its style.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub text: String,
    pub style: Style,
}

impl Cell {
    pub fn plain(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            style: Style::Plain,
        }
    }

    /// Coloured by `status_style`.
    pub fn status(text: impl Into<String>) -> Self {
        let text = text.into();
        let style = status_style(&text);
        Cell { text, style }
    }

    pub fn dim(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            style: Style::Dim,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::plain(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::plain(text)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Columns padded to their widest cell, two spaces apart; the header in bold.
    pub fn render(&self, color: bool) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (index, cell) in row.iter().take(columns).enumerate() {
                widths[index] = widths[index].max(width(&cell.text));
            }
        }
        let mut out = String::new();
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell {
                text: h.clone(),
                style: Style::Bold,
            })
            .collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (index, cell) in row.iter().take(columns).enumerate() {
                let last = index + 1 == columns.min(row.len());
                line.push_str(&paint(&cell.text, cell.style, color));
                if !last {
                    let pad = widths[index] - width(&cell.text) + 2;
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// `Label:  value` lines with the values aligned; labels dim when coloured.
pub fn fields(pairs: &[(&str, Cell)], color: bool) -> String {
    let label_width = pairs
        .iter()
        .map(|(label, _)| width(label) + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        let label = format!("{label}:");
        let pad = label_width - width(&label) + 2;
        let value = if value.text.is_empty() {
            Cell::dim("-")
        } else {
            value.clone()
        };
        out.push_str(&paint(&label, Style::Bold, color));
        out.push_str(&" ".repeat(pad));
        out.push_str(&paint(&value.text, value.style, color));
        out.push('\n');
    }
    out
}

/// "just now", "42s ago", "3m ago", "5h ago", "2d ago", "in 10m"; older than 30 days, the date.
/// `-` for no time; the text itself if it is not RFC 3339.
pub fn relative_time(text: &str, now: Timestamp) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "-".to_owned();
    }
    let Some(at) = Timestamp::parse_rfc3339(text) else {
        return text.to_owned();
    };
    let seconds = (now.millis() - at.millis()) / 1000;
    let (amount, future) = (seconds.abs(), seconds < 0);
    if amount < 5 {
        return "just now".to_owned();
    }
    let span = match amount {
        0..60 => format!("{amount}s"),
        60..3_600 => format!("{}m", amount / 60),
        3_600..86_400 => format!("{}h", amount / 3_600),
        86_400..2_592_000 => format!("{}d", amount / 86_400),
        _ => return at.rfc3339()[..10].to_owned(),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A JSON value as table text: strings as they are, lists joined with ", ", `null` empty.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                // `[{name: x}]` lists (required tools, used_by) read best as their names.
                Value::Object(map) if map.contains_key("name") => text(&map["name"]),
                other => text(other),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => value.to_string(),
    }
}

/// The first of `paths` (dot-separated) that holds something non-empty, as text.
pub fn pick(value: &Value, paths: &[&str]) -> String {
    paths
        .iter()
        .map(|path| {
            path.split('.')
                .try_fold(value, |current, key| current.get(key))
                .map(text)
                .unwrap_or_default()
        })
        .find(|found| !found.is_empty())
        .unwrap_or_default()
}

/// A resource's status word: `status` may be a string or an object with `phase`.
pub fn status_word(value: &Value) -> String {
    match value.get("status") {
        Some(Value::Object(_)) => pick(value, &["status.phase", "status.state"]),
        Some(other) => text(other),
        None => String::new(),
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
