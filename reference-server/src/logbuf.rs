//! The log writer: lines are appended to a shared buffer and a writer thread writes the buffer
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
