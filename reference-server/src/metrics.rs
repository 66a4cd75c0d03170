//! Prometheus metrics: requests by route, method and status, a latency histogram and the
//! number of requests in flight. One registry per app, so tests can run apps side by side.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The app's metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    rate_limited: IntCounterVec,
    replays: prometheus::IntCounter,
    faults: IntCounterVec,
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
        let faults = IntCounterVec::new(
            Opts::new(
                "injected_faults_total",
                "Faults injected on purpose (fault schedules and scenario headers), by kind.",
            ),
            &["kind"],
        );
        // Construction only fails on invalid names, which these constants never are.
        let (Ok(requests), Ok(latency), Ok(in_flight), Ok(rate_limited), Ok(replays), Ok(faults)) =
            (requests, latency, in_flight, rate_limited, replays, faults)
        else {
            unreachable!("metric definitions are constant and valid")
        };
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(rate_limited.clone()),
            Box::new(replays.clone()),
            Box::new(faults.clone()),
        ] {
            let _ = registry.register(collector);
        }
        Self {
            registry,
            requests,
            latency,
            in_flight,
            rate_limited,
            replays,
            faults,
        }
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

    /// Marks a request as started.
    pub fn start(&self) {
        self.in_flight.inc();
    }

    /// Records a finished request.
    pub fn finish(&self, route: &str, method: &str, status: http::StatusCode, seconds: f64) {
        self.in_flight.dec();
        self.requests
            .with_label_values(&[route, method, status.as_str()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
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
}
