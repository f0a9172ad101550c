//! Server-sent events, parsed incrementally: bytes go in as the network delivers them (an event
//! or a line may be split anywhere, `\r\n` included), whole events come out.
//!
//! Follows the HTML spec's rules that providers rely on: `data:` lines accumulate (joined by
//! `\n`), `event:` names the event, lines starting with `:` are comments, one leading space
//! after the colon is dropped, a blank line dispatches, and an event without data is not one.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field; `None` for the default `message` type.
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct Parser {
    buffer: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl Parser {
    pub fn new() -> Self {
        Parser::default()
    }

    /// Adds bytes and appends every event they complete to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Event>) {
        self.buffer.extend_from_slice(bytes);
        let mut start = 0;
        let mut at = 0;
        while at < self.buffer.len() {
            match self.buffer[at] {
                b'\n' => {
                    let line = String::from_utf8_lossy(&self.buffer[start..at]).into_owned();
                    self.line(&line, out);
                    at += 1;
                    start = at;
                }
                b'\r' => {
                    // A `\r` at the end of what we have may be the first half of `\r\n`.
                    if at + 1 == self.buffer.len() {
                        break;
                    }
                    let line = String::from_utf8_lossy(&self.buffer[start..at]).into_owned();
                    self.line(&line, out);
                    at += if self.buffer[at + 1] == b'\n' { 2 } else { 1 };
                    start = at;
                }
                _ => at += 1,
            }
        }
        self.buffer.drain(..start);
    }

    /// The stream ended: a last event not followed by a blank line still counts.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if !self.buffer.is_empty() {
            let rest = std::mem::take(&mut self.buffer);
            let text = String::from_utf8_lossy(&rest).into_owned();
            for line in text.split(['\r', '\n']) {
                self.line(line, out);
            }
        }
        self.line("", out);
    }

    fn line(&mut self, line: &str, out: &mut Vec<Event>) {
        if line.is_empty() {
            if self.has_data {
                out.push(Event {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event = None;
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            // `id` and `retry` matter to reconnecting browsers, not to us.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &str, piece: usize) -> Vec<Event> {
        let mut parser = Parser::new();
        let mut out = Vec::new();
        for chunk in input.as_bytes().chunks(piece) {
            parser.feed(chunk, &mut out);
        }
        parser.finish(&mut out);
        out
    }

    fn event(event: Option<&str>, data: &str) -> Event {
        Event {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn events_survive_any_split() {
        let input = ": keep-alive\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: line one\ndata:line two\n\ndata: [DONE]\n\n";
        let expected = vec![
            event(Some("message_start"), "{\"a\":1}"),
            event(None, "line one\nline two"),
            event(None, "[DONE]"),
        ];
        for piece in 1..=input.len() {
            assert_eq!(
                parse_in_pieces(input, piece),
                expected,
                "split every {piece} bytes"
            );
        }
    }

    #[test]
    fn lone_carriage_returns_end_lines_and_multibyte_text_is_kept() {
        let input = "data: héllo ✓\r\rdata: x\n\n";
        for piece in 1..=input.len() {
            assert_eq!(
                parse_in_pieces(input, piece),
                vec![event(None, "héllo ✓"), event(None, "x")]
            );
        }
    }

    #[test]
    fn events_without_data_are_dropped_and_a_trailing_event_counts() {
        assert_eq!(parse_in_pieces("event: ping\n\n", 4), vec![]);
        assert_eq!(parse_in_pieces("data: last", 3), vec![event(None, "last")]);
        assert_eq!(parse_in_pieces("data\n\n", 100), vec![event(None, "")]);
    }
}
