//! Connections, bounded against hostile clients: a connection that takes too long to send a
//! request head is closed (`header_read_timeout_seconds`, from its first byte, or from its
//! opening), an idle keep-alive connection is closed after `idle_timeout_seconds`, and at
//! most `max_connections` are open: past the cap, the oldest idle one is closed for each new
//! one, so legitimate clients get in while an attack lasts.
//!
//! Written here rather than taken from hyper: hyper's header read timeout also runs while a
//! keep-alive connection waits for its next request, so it cannot be 10 s for a head and 75 s
//! for an idle connection; and nothing in hyper or axum caps connections.

mod accept;
mod fds;
mod tracked;

pub use accept::serve;
pub use fds::raise_descriptor_limit;

use crate::telemetry::metrics::ConnectionCounters;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a connection was closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// No whole request head in time.
    HeaderTimeout,
    /// Idle past the keep-alive timeout.
    IdleTimeout,
    /// Closed to make room for a new connection at the cap.
    Evicted,
}

impl Closed {
    /// The label of the metric.
    pub fn name(self) -> &'static str {
        match self {
            Self::HeaderTimeout => "header_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::Evicted => "evicted",
        }
    }
}

/// The bounds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Time to send a whole request head.
    pub header: Duration,
    /// Idle time of a keep-alive connection.
    pub idle: Duration,
    /// Most open connections.
    pub max: usize,
}

/// The bounds `limits` sets; the cap, unless set, from the descriptor limit now in force.
pub fn bounds(limits: &crate::config::LimitsConfig) -> Bounds {
    Bounds {
        header: Duration::from_secs(limits.header_read_timeout_seconds),
        idle: Duration::from_secs(limits.idle_timeout_seconds),
        max: limits
            .max_connections
            .unwrap_or_else(|| fds::default_cap(fds::soft_limit())),
    }
}

/// Every open connection, in the order they were accepted.
pub struct Connections {
    bounds: Bounds,
    epoch: Instant,
    next: AtomicU64,
    open: AtomicUsize,
    live: Mutex<BTreeMap<u64, Arc<Conn>>>,
    counters: ConnectionCounters,
}

/// One connection's state, shared by its reads and writes, its requests and its watchdog.
pub struct Conn {
    id: u64,
    /// The epoch of [`Connections`], for timestamps.
    epoch: Instant,
    /// Milliseconds since the epoch of [`Connections`], when it was accepted.
    opened: u64,
    /// Requests being answered (up to their response head).
    active: AtomicU32,
    /// When a request head began arriving (ms + 1), 0 while none is.
    head_since: AtomicU64,
    /// Last read or write (ms).
    last: AtomicU64,
    /// A request was dispatched on it: quiet from then on is keep-alive idleness.
    served: AtomicBool,
    /// HTTP/2 (its frames are not request heads): no head timer.
    no_heads: AtomicBool,
    /// Upgraded to a WebSocket: bounded by the socket itself, never evicted.
    upgraded: AtomicBool,
    /// Told to close (eviction), and whether it was: the next eviction picks another.
    close: tokio::sync::Notify,
    closing: AtomicBool,
    /// Its deadline moved earlier than the watchdog's sleep (a head began, a request ended).
    changed: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Connections {
    /// No connections yet.
    pub fn new(bounds: Bounds, counters: ConnectionCounters) -> Self {
        Self {
            bounds,
            epoch: Instant::now(),
            next: AtomicU64::new(1),
            open: AtomicUsize::new(0),
            live: Mutex::new(BTreeMap::new()),
            counters,
        }
    }

    /// The bounds in force.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Milliseconds since the epoch.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Whether the cap is reached (readiness says not ready).
    pub fn at_cap(&self) -> bool {
        self.open.load(Ordering::Relaxed) >= self.bounds.max
    }

    /// Registers a new connection. At the cap, the oldest idle one is told to close first;
    /// with none idle, the new one is refused (`None`).
    pub fn admit(self: &Arc<Self>) -> Option<Registration> {
        if self.at_cap() && !self.evict_oldest_idle() {
            self.counters.refused.inc();
            return None;
        }
        let now = self.now();
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            epoch: self.epoch,
            opened: now,
            active: AtomicU32::new(0),
            head_since: AtomicU64::new(0),
            last: AtomicU64::new(now),
            served: AtomicBool::new(false),
            no_heads: AtomicBool::new(false),
            upgraded: AtomicBool::new(false),
            close: tokio::sync::Notify::new(),
            closing: AtomicBool::new(false),
            changed: tokio::sync::Notify::new(),
        });
        lock(&self.live).insert(conn.id, conn.clone());
        self.open.fetch_add(1, Ordering::Relaxed);
        self.counters.open.inc();
        Some(Registration {
            connections: self.clone(),
            conn,
        })
    }

    /// Tells the oldest connection with no request in flight to close; false if none.
    pub fn evict_oldest_idle(&self) -> bool {
        let victim = lock(&self.live)
            .values()
            .find(|c| {
                c.active.load(Ordering::Relaxed) == 0
                    && !c.is_upgraded()
                    && !c.closing.swap(true, Ordering::Relaxed)
            })
            .cloned();
        match victim {
            Some(conn) => {
                // Counted here: the victim's task only drops it.
                conn.close.notify_one();
                self.counters
                    .closed
                    .with_label_values(&[Closed::Evicted.name()])
                    .inc();
                true
            }
            None => false,
        }
    }

    /// Counts a connection closed for `why` (its watchdog decided it).
    fn closed(&self, why: Closed) {
        self.counters.closed.with_label_values(&[why.name()]).inc();
    }
}

/// A connection's place among the open ones; leaving drops it from the count. It lives in the
/// connection's I/O, so a connection upgraded to a WebSocket still counts.
pub struct Registration {
    connections: Arc<Connections>,
    conn: Arc<Conn>,
}

impl Registration {
    /// The connection's state.
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.connections.live).remove(&self.conn.id);
        self.connections.open.fetch_sub(1, Ordering::Relaxed);
        self.connections.counters.open.dec();
    }
}

impl Conn {
    /// Milliseconds since the epoch.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn is_upgraded(&self) -> bool {
        self.upgraded.load(Ordering::Relaxed)
    }

    /// HTTP is done with the socket; if it is still open, it became a WebSocket.
    pub fn upgraded(&self) {
        self.upgraded.store(true, Ordering::Relaxed);
    }

    /// A request on this connection starts: until its response head, nothing times out.
    pub fn dispatched(self: &Arc<Self>) -> Dispatch {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
        self.served.store(true, Ordering::Relaxed);
        Dispatch(self.clone())
    }

    /// The connection speaks HTTP/2: no request heads follow.
    fn no_more_heads(&self) {
        self.no_heads.store(true, Ordering::Relaxed);
    }

    /// Bytes arrived at `now`.
    fn read_at(&self, now: u64) {
        self.last.store(now, Ordering::Relaxed);
        if self.active.load(Ordering::Relaxed) == 0
            && !self.no_heads.load(Ordering::Relaxed)
            && self.head_since.load(Ordering::Relaxed) == 0
        {
            self.head_since.store(now + 1, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// Bytes left at `now`.
    fn wrote_at(&self, now: u64) {
        self.last.store(now, Ordering::Relaxed);
    }

    /// When to look again (ms), and what closes the connection then if nothing changed.
    fn deadline(&self, bounds: &Bounds, now: u64) -> (u64, Option<Closed>) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if self.active.load(Ordering::Relaxed) > 0 {
            // A request in flight is bounded by its own timeout; look again later.
            return (now.saturating_add(ms(bounds.header)), None);
        }
        let head = self.head_since.load(Ordering::Relaxed);
        if head > 0 {
            return (
                (head - 1).saturating_add(ms(bounds.header)),
                Some(Closed::HeaderTimeout),
            );
        }
        if !self.served.load(Ordering::Relaxed) && !self.no_heads.load(Ordering::Relaxed) {
            return (
                self.opened.saturating_add(ms(bounds.header)),
                Some(Closed::HeaderTimeout),
            );
        }
        (
            self.last
                .load(Ordering::Relaxed)
                .saturating_add(ms(bounds.idle)),
            Some(Closed::IdleTimeout),
        )
    }
}

/// A request in flight on a connection; its end makes the connection idle again.
pub struct Dispatch(Arc<Conn>);

impl Drop for Dispatch {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
        // Idle from now: the response's body, if any, is written after this.
        self.0.wrote_at(self.0.now());
        self.0.changed.notify_one();
    }
}

/// Waits until the connection must close, and says why.
pub async fn watch(connections: &Connections, conn: &Conn) -> Closed {
    loop {
        let now = connections.now();
        let (at, why) = conn.deadline(&connections.bounds, now);
        if let (Some(why), true) = (why, at <= now) {
            connections.closed(why);
            return why;
        }
        let wait = Duration::from_millis(at.saturating_sub(now).max(1));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = conn.changed.notified() => {}
            () = conn.close.notified() => return Closed::Evicted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> ConnectionCounters {
        ConnectionCounters {
            open: prometheus::IntGauge::new("open", "o").unwrap_or_else(|_| unreachable!()),
            closed: prometheus::IntCounterVec::new(
                prometheus::Opts::new("closed", "c"),
                &["reason"],
            )
            .unwrap_or_else(|_| unreachable!()),
            refused: prometheus::IntCounter::new("refused", "r").unwrap_or_else(|_| unreachable!()),
        }
    }

    fn bounds(max: usize) -> Bounds {
        Bounds {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(75),
            max,
        }
    }

    #[test]
    fn deadlines_follow_the_connections_state() {
        let c = Arc::new(Connections::new(bounds(8), counters()));
        let reg = c.admit().unwrap_or_else(|| unreachable!());
        let conn = reg.conn().clone();
        let t0 = conn.opened;
        // Fresh: a head is due 10 s after opening.
        assert_eq!(
            conn.deadline(&c.bounds, t0),
            (t0 + 10_000, Some(Closed::HeaderTimeout))
        );
        // A first byte at +5 s: due 10 s after it.
        conn.read_at(t0 + 5_000);
        assert_eq!(conn.deadline(&c.bounds, t0 + 5_000).0, t0 + 15_000);
        // A request in flight: nothing due.
        let d = conn.dispatched();
        assert_eq!(conn.deadline(&c.bounds, t0 + 6_000).1, None);
        drop(d);
        // Served and quiet: idle, 75 s after the last byte.
        conn.wrote_at(t0 + 7_000);
        assert_eq!(
            conn.deadline(&c.bounds, t0 + 7_000),
            (t0 + 82_000, Some(Closed::IdleTimeout))
        );
        // The next request's first byte: a head is due again.
        conn.read_at(t0 + 80_000);
        assert_eq!(
            conn.deadline(&c.bounds, t0 + 80_000),
            (t0 + 90_000, Some(Closed::HeaderTimeout))
        );
    }

    #[test]
    fn at_the_cap_the_oldest_idle_one_goes_or_the_new_one_is_refused() {
        let c = Arc::new(Connections::new(bounds(2), counters()));
        let a = c.admit().unwrap_or_else(|| unreachable!());
        let b = c.admit().unwrap_or_else(|| unreachable!());
        let busy = a.conn().dispatched();
        assert!(c.at_cap());
        // b is the oldest idle one: told to close, and the new one gets in.
        let new = c.admit();
        assert!(new.is_some());
        assert_eq!(c.counters.closed.with_label_values(&["evicted"]).get(), 1);
        drop(b);
        let _b_busy = new.as_ref().map(|r| r.conn().dispatched());
        // Both busy: refused.
        assert!(c.admit().is_none());
        assert_eq!(c.counters.refused.get(), 1);
        drop(busy);
        drop(new);
        drop(a);
        assert_eq!(c.counters.open.get(), 0);
    }
}
