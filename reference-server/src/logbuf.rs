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
#[derive(serde::Serialize)]
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
    /// The principal (a token's hash, or an address), printed without an extra allocation.
    #[serde(serialize_with = "display")]
    pub principal: &'a crate::principal::Principal,
}

fn display<S: serde::Serializer>(
    value: &&crate::principal::Principal,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// Writes a request's line, in the shape of the `tracing` JSON lines beside it
/// (`timestamp`, `level`, `fields` with `message`, `target`). Formatting it directly costs a
/// fraction of an event through the subscriber, on every request.
pub fn request(line: &RequestLine<'_>) {
    #[derive(serde::Serialize)]
    struct Event<'a> {
        timestamp: String,
        level: &'static str,
        fields: Fields<'a>,
        target: &'static str,
    }
    #[derive(serde::Serialize)]
    struct Fields<'a> {
        message: &'static str,
        #[serde(flatten)]
        line: &'a RequestLine<'a>,
    }
    let Some(shared) = SINK.get() else { return };
    let event = Event {
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        level: "INFO",
        fields: Fields {
            message: "request",
            line,
        },
        target: "request",
    };
    let Ok(mut bytes) = serde_json::to_vec(&event) else {
        return;
    };
    bytes.push(b'\n');
    let _ = Line(shared.clone()).write(&bytes);
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
        let mut pending = self.0.lock();
        pending.extend_from_slice(bytes);
        if pending.len() > MAX_PENDING {
            let batch = std::mem::take(&mut *pending);
            drop(pending);
            std::io::stderr().lock().write_all(&batch)?;
        }
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
