//! The log writer, and the request log line. Lines are appended to a shared buffer and a writer thread writes the buffer
//! to stderr every few milliseconds, in one write. A request never waits on stderr and never
//! wakes another thread (a wake-up per line, with its context switch, cost more than the line
//! itself). Nothing is dropped: past `MAX_PENDING` bytes a request writes the buffer itself.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the writer thread writes what has accumulated.
const INTERVAL: Duration = Duration::from_millis(20);
/// Bytes held before a request writes them itself (stderr is blocked or very slow).
const MAX_PENDING: usize = 4 * 1024 * 1024;

struct Shared {
    pending: Mutex<Vec<u8>>,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // The buffer is plain bytes; a panic mid-append leaves at worst a partial line.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends to the buffer with `write`; past `MAX_PENDING` writes the buffer itself.
    fn append(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut pending = self.lock();
        write(&mut pending);
        if pending.len() > MAX_PENDING {
            let batch = std::mem::take(&mut *pending);
            drop(pending);
            let _ = std::io::stderr().lock().write_all(&batch);
        }
    }

    fn flush(&self) {
        let batch = std::mem::take(&mut *self.lock());
        if !batch.is_empty() {
            let _ = std::io::stderr().lock().write_all(&batch);
        }
    }
}

/// A `MakeWriter` for `tracing_subscriber` that appends to the shared buffer.
#[derive(Clone)]
pub struct Batched(Arc<Shared>);

/// Writes what is still buffered and stops the writer thread when dropped.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        self.shared.flush();
    }
}

/// The buffer request lines go to, once the binary has set up logging (a server embedded in
/// another program, such as the harness, writes none).
static SINK: std::sync::OnceLock<Arc<Shared>> = std::sync::OnceLock::new();

/// The fields of the one log line per request.
pub struct RequestLine<'a> {
    /// `X-Request-Id`, redacted.
    pub request_id: &'a str,
    /// `X-Trace-Id`.
    pub trace_id: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// The matched route (`/v1/models/{*model}`), not the path.
    pub route: &'a str,
    /// HTTP status.
    pub status: u16,
    /// Time to the response head.
    pub latency_ms: f64,
    /// The principal (a token's hash, or an address).
    pub principal: &'a crate::protocol::principal::Principal,
    /// The project's hash, for a request auth admitted.
    pub project: Option<&'a str>,
    /// The fault injected on purpose, if any (`429`, `hang`, `cut`, …).
    pub fault: Option<&'static str>,
}

/// Writes a request's line, in the shape of the `tracing` JSON lines beside it
/// (`timestamp`, `level`, `fields` with `message`, `target`). It is written by hand, straight
/// into the shared buffer: through the subscriber, or even through a derived `Serialize` with
/// a flattened struct, it cost several times more, on every request.
pub fn request(line: &RequestLine<'_>) {
    let Some(shared) = SINK.get() else { return };
    let now = Timestamp(chrono::Utc::now());
    shared.append(|buffer| {
        let start = buffer.len();
        if write_line(buffer, &now, line).is_err() {
            buffer.truncate(start);
        }
    });
}

fn write_line(out: &mut Vec<u8>, now: &Timestamp, line: &RequestLine<'_>) -> std::io::Result<()> {
    // Plain appends rather than `write!`: the formatting machinery was most of this line's
    // cost, and the line is written on every request.
    out.extend_from_slice(b"{\"timestamp\":\"");
    now.write_to(out);
    out.extend_from_slice(
        b"\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\"request_id\":",
    );
    json_str(out, line.request_id)?;
    // A trace id is hex, a method an HTTP token and a route one of ours: nothing to escape.
    out.extend_from_slice(b",\"trace_id\":");
    json_plain(out, line.trace_id);
    out.extend_from_slice(b",\"method\":");
    json_plain(out, line.method);
    out.extend_from_slice(b",\"route\":");
    json_plain(out, line.route);
    out.extend_from_slice(b",\"status\":");
    serde_json::to_writer(&mut *out, &line.status)?;
    out.extend_from_slice(b",\"latency_ms\":");
    serde_json::to_writer(&mut *out, &line.latency_ms)?;
    // Principals are hex digits, an IP address or `anonymous`, and fault names are fixed
    // words: nothing to escape.
    out.extend_from_slice(b",\"principal\":\"");
    match line.principal {
        crate::protocol::principal::Principal::Token(hash) => {
            out.extend_from_slice(hash.as_bytes())
        }
        other => write!(out, "{other}")?,
    }
    out.push(b'"');
    // A project is named by hex digits: nothing to escape.
    if let Some(project) = line.project {
        out.extend_from_slice(b",\"project\":\"");
        out.extend_from_slice(project.as_bytes());
        out.push(b'"');
    }
    if let Some(fault) = line.fault {
        out.extend_from_slice(b",\"fault\":\"");
        out.extend_from_slice(fault.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"},\"target\":\"request\"}\n");
    Ok(())
}

/// Appends `text` as a JSON string. A request id almost never holds a byte that needs
/// escaping: it is copied as it is, after one pass that checks it.
fn json_str(out: &mut Vec<u8>, text: &str) -> std::io::Result<()> {
    // Without an early exit, so that the check is vectorised.
    if text.bytes().fold(false, |any, b| any | escaped(b)) {
        return serde_json::to_writer(&mut *out, text).map_err(std::io::Error::from);
    }
    json_plain(out, text);
    Ok(())
}

/// Whether JSON escapes `b` in a string.
fn escaped(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// Appends `text`, which holds nothing to escape, as a JSON string.
fn json_plain(out: &mut Vec<u8>, text: &str) {
    debug_assert!(!text.bytes().any(escaped), "{text:?} needs escaping");
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// A UTC time as RFC 3339 with microseconds, as `tracing_subscriber` prints it. The part up to
/// the second is formatted once per second per thread, not once per line.
struct Timestamp(chrono::DateTime<chrono::Utc>);

impl Timestamp {
    /// Appends `2025-11-29T23:11:52.000005Z`.
    fn write_to(&self, out: &mut Vec<u8>) {
        use std::cell::RefCell;
        thread_local! {
            static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
        }
        let second = self.0.timestamp();
        SECOND.with_borrow_mut(|(cached, prefix)| {
            if *cached != second {
                *prefix = self.0.format("%Y-%m-%dT%H:%M:%S").to_string();
                *cached = second;
            }
            out.extend_from_slice(prefix.as_bytes());
        });
        let mut micros = self.0.timestamp_subsec_micros() % 1_000_000;
        let mut digits = *b".000000Z";
        for d in digits[1..7].iter_mut().rev() {
            *d = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        out.extend_from_slice(&digits);
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::with_capacity(27);
        self.write_to(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

/// The writer and the guard that owns its thread.
pub fn batched() -> (Batched, Guard) {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(64 * 1024)),
        stop: AtomicBool::new(false),
    });
    let worker = shared.clone();
    let thread = std::thread::Builder::new()
        .name("reference-server-logs".into())
        .spawn(move || {
            while !worker.stop.load(Ordering::SeqCst) {
                std::thread::park_timeout(INTERVAL);
                worker.flush();
            }
        })
        .ok();
    // The first writer made is the one request lines use (the binary makes one).
    let _ = SINK.set(shared.clone());
    (Batched(shared.clone()), Guard { shared, thread })
}

/// One line's writer.
pub struct Line(Arc<Shared>);

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(|buffer| buffer.extend_from_slice(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Batched {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for text in [
            "",
            "req_0123abcd",
            "/v1/models/{*model}",
            "say \"hi\"",
            "back\\slash",
            "tab\tnew\nline\u{1}\u{1f}",
            "del\u{7f} é ✓ 🦀",
        ] {
            let mut ours = Vec::new();
            assert!(json_str(&mut ours, text).is_ok());
            assert_eq!(
                ours,
                serde_json::to_vec(text).unwrap_or_default(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_request_line_is_one_json_object_in_the_tracing_shape() {
        let principal = crate::protocol::principal::Principal::Token("0123abcd".into());
        let line = RequestLine {
            request_id: "id \"quoted\" \\ done",
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            method: "POST",
            route: "/v1/embeddings",
            status: 200,
            latency_ms: 0.25,
            principal: &principal,
            project: Some("fedcba9876543210"),
            fault: None,
        };
        let Some(t) = chrono::Utc.timestamp_opt(1_764_457_912, 5_000).single() else {
            panic!("valid time")
        };
        let mut out = Vec::new();
        assert!(write_line(&mut out, &Timestamp(t), &line).is_ok());
        assert_eq!(out.last(), Some(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(
            value,
            serde_json::json!({
                "timestamp": "2025-11-29T23:11:52.000005Z",
                "level": "INFO",
                "fields": {
                    "message": "request",
                    "request_id": "id \"quoted\" \\ done",
                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "method": "POST",
                    "route": "/v1/embeddings",
                    "status": 200,
                    "latency_ms": 0.25,
                    "principal": "0123abcd",
                    "project": "fedcba9876543210"
                },
                "target": "request"
            })
        );
    }

    #[test]
    fn an_injected_fault_is_named_in_the_line() {
        let principal = crate::protocol::principal::Principal::Anonymous;
        let line = RequestLine {
            request_id: "r",
            trace_id: "t",
            method: "POST",
            route: "/v1/responses",
            status: 429,
            latency_ms: 1.0,
            principal: &principal,
            project: None,
            fault: Some("429"),
        };
        let mut out = Vec::new();
        assert!(write_line(&mut out, &Timestamp(chrono::Utc::now()), &line).is_ok());
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(value["fields"]["fault"], "429");
        assert_eq!(value["fields"]["status"], 429);
    }

    #[test]
    fn timestamps_print_as_rfc3339_with_microseconds() {
        for (secs, nanos) in [(1_764_457_912, 5_000), (1_764_457_912, 999_999_999), (0, 0)] {
            let Some(t) = chrono::Utc.timestamp_opt(secs, nanos).single() else {
                panic!("valid time")
            };
            assert_eq!(
                Timestamp(t).to_string(),
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
        }
    }
}
