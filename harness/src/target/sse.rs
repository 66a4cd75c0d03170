//! An incremental Server-Sent Events reader that follows the WHATWG rules the SDKs use
//! (CR, LF or CRLF line ends; `:` comments; `event`, `data`, `id`, `retry` fields) and keeps
//! what a checker needs: each event's arrival time, its line counts, and anything unusual.

use std::time::Duration;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// How many `data:` lines the event had.
    pub data_lines: usize,
    /// The `id:` field, if any (the SDKs break on these).
    pub id: Option<String>,
    /// Time from the request to this event's arrival.
    pub at: Duration,
}

/// Reads chunks as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    id: Option<String>,
    saw_field: bool,
    last_was_cr: bool,
    /// Lines that are neither fields nor comments.
    pub odd_lines: Vec<String>,
    /// Comment lines seen (keep-alives).
    pub comments: usize,
    /// Blank lines that ended no event (empty events, which crash SDKs when `id` was set).
    pub empty_dispatches: usize,
}

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub fn push(&mut self, mut bytes: &[u8], at: Duration) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(&first) = bytes.first() {
            if std::mem::take(&mut self.last_was_cr) && first == b'\n' {
                // The LF of a CRLF pair: the line already ended at the CR.
                bytes = &bytes[1..];
                continue;
            }
            // Whole lines at a time: the framing costs little beside the JSON it carries.
            let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.pending.extend_from_slice(bytes);
                break;
            };
            self.last_was_cr = bytes[end] == b'\r';
            let event = if self.pending.is_empty() {
                self.line(&String::from_utf8_lossy(&bytes[..end]), at)
            } else {
                self.pending.extend_from_slice(&bytes[..end]);
                let line = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                self.line(&line, at)
            };
            out.extend(event);
            bytes = &bytes[end + 1..];
        }
        out
    }

    /// Ends the stream; an unterminated last event is returned (and is a framing fault).
    pub fn finish(&mut self, at: Duration) -> Option<SseEvent> {
        if !self.pending.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
            let _ = self.line(&line, at);
        }
        if self.saw_field {
            return self.dispatch(at);
        }
        None
    }

    /// Bytes of the line being read (not yet ended by a line break).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether bytes or fields are left without the blank line that ends an event.
    pub fn has_unterminated(&self) -> bool {
        !self.pending.is_empty() || self.saw_field
    }

    fn line(&mut self, line: &str, at: Duration) -> Option<SseEvent> {
        if line.is_empty() {
            if self.saw_field {
                return self.dispatch(at);
            }
            self.empty_dispatches += 1;
            return None;
        }
        if line.starts_with(':') {
            self.comments += 1;
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => self.data.push(value.to_owned()),
            "id" => self.id = Some(value.to_owned()),
            "retry" => {}
            _ => {
                // A few are enough to show; a hostile stream may send millions.
                if self.odd_lines.len() < 5 {
                    self.odd_lines.push(crate::target::excerpt(line, 200));
                }
                return None;
            }
        }
        self.saw_field = true;
        None
    }

    fn dispatch(&mut self, at: Duration) -> Option<SseEvent> {
        self.saw_field = false;
        let data_lines = self.data.len();
        let event = SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data).join("\n"),
            data_lines,
            id: self.id.take(),
            at,
        };
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (Vec<SseEvent>, SseParser) {
        let mut p = SseParser::default();
        let mut events = p.push(s.as_bytes(), Duration::ZERO);
        events.extend(p.finish(Duration::ZERO));
        (events, p)
    }

    #[test]
    fn reads_named_events_and_comments() {
        let (events, p) = parse(": keep-alive\n\nevent: a\ndata: {\"x\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event.as_deref(), Some("a"));
        assert_eq!(events[1].data, "[DONE]");
        assert_eq!(p.comments, 1);
    }

    #[test]
    fn handles_crlf_split_across_chunks() {
        let mut p = SseParser::default();
        let mut events = p.push(b"data: 1\r", Duration::ZERO);
        events.extend(p.push(b"\n\r\n", Duration::ZERO));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "1");
    }

    #[test]
    fn joins_multi_line_data_and_notes_odd_lines() {
        let (events, p) = parse("data: a\ndata: b\nbogus\n\n");
        assert_eq!(events[0].data, "a\nb");
        assert_eq!(events[0].data_lines, 2);
        assert_eq!(p.odd_lines, vec!["bogus"]);
    }

    proptest::proptest! {
        /// However a stream is cut into chunks (a CRLF or a multibyte character cut in two
        /// included), the events are those of reading it whole.
        #[test]
        fn chunking_never_changes_the_events(
            cuts in proptest::collection::vec(0usize..200, 0..12),
            ending in 0usize..3,
        ) {
            let eol = ["\n", "\r\n", "\r"][ending];
            let text = [": ping", "", "event: a", "data: {\"x\":\"é ✓\"}", "", "data: b", "id: 7",
                "data: c", "", "data: [DONE]", ""].join(eol) + eol;
            let bytes = text.as_bytes();
            let whole = parse(&text).0;
            let mut at: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            at.sort_unstable();
            let mut p = SseParser::default();
            let mut events = Vec::new();
            let mut from = 0;
            for cut in at.into_iter().chain([bytes.len()]) {
                events.extend(p.push(&bytes[from..cut], Duration::ZERO));
                from = cut;
            }
            events.extend(p.finish(Duration::ZERO));
            proptest::prop_assert_eq!(events.len(), 3);
            proptest::prop_assert_eq!(events, whole);
        }
    }

    #[test]
    fn an_unterminated_event_is_still_returned() {
        let (events, _) = parse("data: tail");
        assert_eq!(events[0].data, "tail");
    }
}
