//! What the server tells its operators: the log writer and request log line (`logbuf`), with
//! caller text redacted (`redact`); Prometheus metrics (`metrics`); and the tracing setup for
//! the binary: JSON log lines on stderr, and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, one
//! OTLP span per request exported over HTTP (protobuf), parented on the caller's W3C
//! `traceparent`.

pub(crate) mod logbuf;
pub(crate) mod metrics;
pub(crate) mod redact;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Whether spans are exported; without an exporter no request span is made at all, since
/// building one costs 10-15% of the throughput of the cheapest routes.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Keeps the log writer and the exporter alive; `shutdown` flushes what they still buffer.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    _logs: crate::telemetry::logbuf::Guard,
}

impl Telemetry {
    /// Flushes and stops the exporter; the log lines still queued are written when this
    /// value is dropped.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. Only reads `OTEL_EXPORTER_OTLP_ENDPOINT` to decide whether
/// to export; the OTLP crate reads the rest of the `OTEL_*` variables itself.
pub fn init() -> Result<Telemetry, String> {
    // Lines are batched and written every few milliseconds (see `logbuf`).
    let (writer, guard) = crate::telemetry::logbuf::batched();
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(writer)
        // The request log is at info; the libraries' trace chatter (one line per connection
        // from axum::serve) stays out unless RUST_LOG asks for it.
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    let export = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").is_ok_and(|v| !v.trim().is_empty());
    if !export {
        tracing_subscriber::registry()
            .with(logs)
            .try_init()
            .map_err(|e| e.to_string())?;
        return Ok(Telemetry {
            provider: None,
            _logs: guard,
        });
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("cannot build the OTLP exporter: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("reference-server")
                .build(),
        )
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("reference-server"));
    tracing_subscriber::registry()
        .with(logs)
        .with(layer)
        .try_init()
        .map_err(|e| e.to_string())?;
    EXPORTING.store(true, Ordering::Relaxed);
    Ok(Telemetry {
        provider: Some(provider),
        _logs: guard,
    })
}

struct Headers<'a>(&'a axum::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// A span for one request, parented on its `traceparent`; with its trace id when an
/// exporter is installed (so `X-Trace-Id`, logs and traces agree), else `None`.
pub fn request_span(
    headers: &axum::http::HeaderMap,
    method: &str,
    route: &str,
) -> (tracing::Span, Option<String>) {
    if !EXPORTING.load(Ordering::Relaxed) {
        return (tracing::Span::none(), None);
    }
    let span = tracing::info_span!("request", otel.name = %format!("{method} {route}"), http.request.method = %method, http.route = %route, http.response.status_code = tracing::field::Empty);
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(parent);
    let trace_id = span.context().span().span_context().trace_id();
    let known = trace_id != opentelemetry::trace::TraceId::INVALID;
    (span, known.then(|| format!("{trace_id:032x}")))
}
