//! Prometheus metrics: requests by route, method and status, a latency histogram and the
//! number of requests in flight. One registry per app, so tests can run apps side by side.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The app's metrics.
pub struct Metrics {
    /// Which app's metrics these are, for the handles a thread keeps (see [`Recent`]).
    id: u64,
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    rate_limited: IntCounterVec,
    replays: prometheus::IntCounter,
    executions: prometheus::IntCounter,
    faults: IntCounterVec,
    connections: ConnectionCounters,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests served, by route, method and status.",
            ),
            &["route", "method", "status"],
        );
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request to response headers, by route and method.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route", "method"],
        );
        let in_flight = IntGauge::new("http_requests_in_flight", "Requests being served now.");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rate_limited_requests_total",
                "Requests refused with 429 by the rate limiter, by route.",
            ),
            &["route"],
        );
        let replays = prometheus::IntCounter::new(
            "idempotent_replays_total",
            "Responses replayed for a repeated Idempotency-Key.",
        );
        let executions = prometheus::IntCounter::new(
            "idempotent_executions_total",
            "Requests with an Idempotency-Key that ran (their key's first use, or a retry after it was forgotten).",
        );
        let faults = IntCounterVec::new(
            Opts::new(
                "injected_faults_total",
                "Faults injected on purpose (fault schedules and scenario headers), by kind.",
            ),
            &["kind"],
        );
        let open = IntGauge::new("open_connections", "Client connections open now.");
        let closed = IntCounterVec::new(
            Opts::new(
                "connections_closed_total",
                "Connections the server closed: no request head in time (header_timeout), idle past the keep-alive timeout (idle_timeout), or closed for a new one at the cap (evicted).",
            ),
            &["reason"],
        );
        let refused = IntCounter::new(
            "connections_refused_total",
            "Connections refused at the cap, with none idle to close for them.",
        );
        let (Ok(open), Ok(closed), Ok(refused)) = (open, closed, refused) else {
            unreachable!("metric definitions are constant and valid")
        };
        for reason in ["header_timeout", "idle_timeout", "evicted"] {
            // Shown at 0 from the start, so a dashboard sees the series before the first close.
            closed.with_label_values(&[reason]);
        }
        for collector in [
            Box::new(open.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(closed.clone()),
            Box::new(refused.clone()),
        ] {
            let _ = registry.register(collector);
        }
        // Construction only fails on invalid names, which these constants never are.
        let (
            Ok(requests),
            Ok(latency),
            Ok(in_flight),
            Ok(rate_limited),
            Ok(replays),
            Ok(executions),
            Ok(faults),
        ) = (
            requests,
            latency,
            in_flight,
            rate_limited,
            replays,
            executions,
            faults,
        )
        else {
            unreachable!("metric definitions are constant and valid")
        };
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(rate_limited.clone()),
            Box::new(replays.clone()),
            Box::new(executions.clone()),
            Box::new(faults.clone()),
        ] {
            let _ = registry.register(collector);
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            registry,
            requests,
            latency,
            in_flight,
            rate_limited,
            replays,
            executions,
            faults,
            connections: ConnectionCounters {
                open,
                closed,
                refused,
            },
        }
    }

    /// Adds another part's collectors (the shared store's) to `/metrics`.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        let _ = self.registry.register(collector);
    }

    /// The connection counters, for the accept loop.
    pub fn connection_counters(&self) -> ConnectionCounters {
        self.connections.clone()
    }

    /// Counts an injected fault of `kind`.
    pub fn injected_fault(&self, kind: &str) {
        self.faults.with_label_values(&[kind]).inc();
    }

    /// Counts a 429 from the rate limiter.
    pub fn rate_limited(&self, route: &str) {
        self.rate_limited.with_label_values(&[route]).inc();
    }

    /// Counts an idempotent replay.
    pub fn idempotent_replay(&self) {
        self.replays.inc();
    }

    /// Counts a keyed request that runs.
    pub fn idempotent_execution(&self) {
        self.executions.inc();
    }

    /// Marks a request as started.
    pub fn start(&self) {
        self.in_flight.inc();
    }

    /// Records a finished request.
    pub fn finish(&self, route: &str, method: &str, status: http::StatusCode, seconds: f64) {
        self.in_flight.dec();
        RECENT.with_borrow_mut(|recent| {
            let handles = recent.get_or_insert(self, route, method, status);
            handles.requests.inc();
            handles.latency.observe(seconds);
        });
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The counter and histogram of one label set, as `with_label_values` gives them (they share
/// the registry's state).
struct Handles {
    owner: u64,
    status: u16,
    route: Box<str>,
    method: Box<str>,
    requests: IntCounter,
    latency: Histogram,
}

/// The handles of the label sets a thread counted last. `with_label_values` hashes every
/// label and takes the vector's lock on each call; a server counts the same few sets again
/// and again. Label sets are never removed from the vectors, so a kept handle stays live.
#[derive(Default)]
struct Recent(Vec<Handles>);

/// Label sets kept per thread.
const RECENT_SETS: usize = 8;

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::new(Recent::default());
}

impl Recent {
    fn get_or_insert(
        &mut self,
        metrics: &Metrics,
        route: &str,
        method: &str,
        status: http::StatusCode,
    ) -> &Handles {
        let code = status.as_u16();
        let found = self.0.iter().position(|h| {
            h.owner == metrics.id && h.status == code && *h.route == *route && *h.method == *method
        });
        let at = match found {
            Some(at) => at,
            None => {
                if self.0.len() >= RECENT_SETS {
                    self.0.pop();
                }
                let handles = Handles {
                    owner: metrics.id,
                    status: code,
                    route: route.into(),
                    method: method.into(),
                    requests: metrics
                        .requests
                        .with_label_values(&[route, method, status.as_str()]),
                    latency: metrics.latency.with_label_values(&[route, method]),
                };
                self.0.insert(0, handles);
                0
            }
        };
        &self.0[at]
    }
}

/// The connection counters `/metrics` shows (the accept loop keeps them).
#[derive(Clone)]
pub struct ConnectionCounters {
    /// Open connections.
    pub open: prometheus::IntGauge,
    /// Connections the server closed, by reason (`crate::connections::Closed`).
    pub closed: prometheus::IntCounterVec,
    /// Connections refused at the cap (none idle to close).
    pub refused: prometheus::IntCounter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_by_route_and_status() {
        let m = Metrics::new();
        m.start();
        m.finish("/v1/models", "GET", http::StatusCode::OK, 0.001);
        let text = m.render();
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/v1/models",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains("http_request_duration_seconds_bucket"));
    }

    #[test]
    fn kept_handles_count_for_their_own_app_and_label_set() {
        let (a, b) = (Metrics::new(), Metrics::new());
        // More label sets than a thread keeps, twice over, in two apps side by side.
        for round in 0..2 {
            for i in 0..(RECENT_SETS + 3) {
                let route = format!("/r{i}");
                a.finish(&route, "GET", http::StatusCode::OK, 0.001);
                if round == 0 {
                    b.finish(&route, "GET", http::StatusCode::OK, 0.001);
                }
            }
        }
        a.finish("/r0", "GET", http::StatusCode::CREATED, 0.001);
        let (a, b) = (a.render(), b.render());
        for i in 0..(RECENT_SETS + 3) {
            let line = |m: &str, s: &str, n: u32| {
                format!(r#"http_requests_total{{method="{m}",route="/r{i}",status="{s}"}} {n}"#)
            };
            assert!(a.contains(&line("GET", "200", 2)), "{a}");
            // The same label set in another app is counted there, not here.
            assert!(b.contains(&line("GET", "200", 1)), "{b}");
        }
        assert!(a.contains(r#"route="/r0",status="201"} 1"#), "{a}");
        let count = r#"http_request_duration_seconds_count{method="GET",route="/r1"} 2"#;
        assert!(a.contains(count), "{a}");
    }
}
