//! The per-request envelope's start and finish: request and trace ids, processing time,
//! security headers, metrics and the one JSON log line. Every route and fallback goes through
//! it (see `envelope`), so errors, 404s and streams carry the same headers.

use crate::protocol::error::ApiError;
use crate::protocol::principal::Principal;
use crate::simulate::faults::FaultKind;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// The ids of this request.
#[derive(Debug, Clone)]
struct RequestIds {
    /// `X-Request-Id`: the caller's, or a new `req_` id.
    request_id: String,
    /// Whether `request_id` is ours (then it needs no redaction in the log).
    generated: bool,
    /// `X-Trace-Id`: the W3C trace id from `traceparent`, or a new one.
    trace_id: String,
}

const MAX_REQUEST_ID_LEN: usize = 200;

/// The caller's request id, if it is printable ASCII of sane length.
fn callers_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= MAX_REQUEST_ID_LEN
                && s.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned)
}

/// A new `req_` id (its capacity is its length, so it becomes a header value uncopied).
fn new_request_id() -> String {
    let mut id = String::with_capacity(36);
    id.push_str("req_");
    id.push_str(
        uuid::Uuid::new_v4()
            .simple()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
    id
}

/// The trace id of a valid `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), else a new one.
pub fn trace_id(headers: &HeaderMap) -> String {
    let from_parent = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| {
            let parts: Vec<&str> = s.trim().split('-').collect();
            let hex = |p: &str, n: usize| {
                p.len() == n
                    && p.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            };
            let ok = parts.len() >= 4
                && hex(parts[0], 2)
                && parts[0] != "ff"
                && hex(parts[1], 32)
                && parts[1].bytes().any(|b| b != b'0')
                && hex(parts[2], 16)
                && parts[2].bytes().any(|b| b != b'0')
                && hex(parts[3], 2);
            ok.then(|| parts[1].to_owned())
        });
    from_parent.unwrap_or_else(|| {
        uuid::Uuid::new_v4()
            .simple()
            .encode_lower(&mut uuid::Uuid::encode_buffer())
            .to_owned()
    })
}

/// What the envelope knows of a request before it is served.
pub struct Started {
    at: Instant,
    ids: RequestIds,
    span: tracing::Span,
}

impl Started {
    /// Notes the start of a request with these headers (ids, span, the in-flight gauge).
    pub fn now(state: &AppState, headers: &HeaderMap, method: &str, route: &str) -> Self {
        let at = Instant::now();
        let (span, span_trace) = crate::telemetry::request_span(headers, method, route);
        let callers = callers_request_id(headers);
        let generated = callers.is_none();
        let ids = RequestIds {
            request_id: callers.unwrap_or_else(new_request_id),
            generated,
            trace_id: span_trace.unwrap_or_else(|| trace_id(headers)),
        };
        state.metrics.start();
        Self { at, ids, span }
    }

    /// The request's span (disabled unless traces are exported).
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// When the request started.
    pub fn at(&self) -> Instant {
        self.at
    }
}

/// Finishes an answer: the ids, processing time and fixed headers, the metrics and the log
/// line.
pub fn finish(
    state: &AppState,
    started: Started,
    method: &str,
    route: &str,
    (principal, project): (&Principal, Option<&crate::protocol::project::Project>),
    fault: Option<FaultKind>,
    mut response: Response,
) -> Response {
    let request = Finished {
        method,
        route,
        principal,
        project,
        fault,
    };
    let (ids, elapsed) = ended(state, started, response.status(), &request);
    let headers = response.headers_mut();
    headers.reserve(10);
    // Logged first, so the ids can become the header values without a copy.
    set(headers, X_REQUEST_ID, ids.request_id);
    set(headers, X_TRACE_ID, ids.trace_id);
    let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    headers.insert(PROCESSING_MS, super::number(millis));
    for (name, value) in FIXED {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// What the metrics and the log line say of a finished request.
struct Finished<'a> {
    method: &'a str,
    route: &'a str,
    principal: &'a Principal,
    /// The project the request acted in, once auth admitted it.
    project: Option<&'a crate::protocol::project::Project>,
    fault: Option<FaultKind>,
}

/// Counts a finished request and writes its log line.
fn record(
    state: &AppState,
    ids: &RequestIds,
    elapsed: std::time::Duration,
    status: StatusCode,
    r: &Finished<'_>,
) {
    state
        .metrics
        .finish(r.route, r.method, status, elapsed.as_secs_f64());
    if state.config.request_logs {
        let request_id = if ids.generated {
            std::borrow::Cow::Borrowed(ids.request_id.as_str())
        } else {
            crate::telemetry::redact::redact(&ids.request_id)
        };
        crate::telemetry::logbuf::request(&crate::telemetry::logbuf::RequestLine {
            request_id: &request_id,
            trace_id: &ids.trace_id,
            method: r.method,
            route: r.route,
            status: status.as_u16(),
            latency_ms: elapsed.as_secs_f64() * 1000.0,
            principal: r.principal,
            project: r.project.map(crate::protocol::project::Project::as_str),
            fault: r.fault.map(FaultKind::name),
        });
    }
}

/// Finishes a request whose client went away before the answer: counted and logged with
/// status 499 (nginx's "client closed request"), so the in-flight gauge comes back down.
pub fn abandoned(
    state: &AppState,
    started: Started,
    method: &str,
    route: &str,
    principal: &Principal,
    fault: Option<FaultKind>,
) {
    let status = StatusCode::from_u16(CLIENT_CLOSED).unwrap_or(StatusCode::BAD_REQUEST);
    let request = Finished {
        method,
        route,
        principal,
        project: None,
        fault,
    };
    ended(state, started, status, &request);
}

/// Ends a request with `status`: its span, metrics and log line. Its ids and time are left
/// for the answer's headers.
fn ended(
    state: &AppState,
    started: Started,
    status: StatusCode,
    request: &Finished<'_>,
) -> (RequestIds, std::time::Duration) {
    let Started { at, ids, span } = started;
    span.record("http.response.status_code", status.as_u16());
    let elapsed = at.elapsed();
    record(state, &ids, elapsed, status, request);
    (ids, elapsed)
}

/// The status logged for a request whose client closed the connection before the answer.
const CLIENT_CLOSED: u16 = 499;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");
// Request headers are looked up by name constants: a `&str` name is parsed on every lookup.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const PROCESSING_MS: HeaderName = HeaderName::from_static("openai-processing-ms");
/// Headers every answer carries, built at compile time rather than parsed per request.
const FIXED: [(HeaderName, &str); 4] = [
    (HeaderName::from_static("openai-version"), "2020-10-01"),
    (HeaderName::from_static("x-content-type-options"), "nosniff"),
    (HeaderName::from_static("x-frame-options"), "DENY"),
    (HeaderName::from_static("referrer-policy"), "no-referrer"),
];

/// Whether `response` is an error that is not JSON, for [`enveloped`] to rewrite.
pub fn needs_envelope(response: &Response) -> bool {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    response.status().as_u16() >= 400 && !is_json
}

/// Rewrites an error response that is not JSON (an axum rejection we did not route through
/// `ApiError`, such as a bad path segment) into the envelope, keeping its status.
pub async fn enveloped(response: Response) -> Response {
    if !needs_envelope(&response) {
        return response;
    }
    let status = response.status();
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let mut rewritten = ApiError::from_status(status, &text).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten.extensions_mut().extend(parts.extensions);
    rewritten
}

/// Sets `name` to `value`, taking the string's buffer rather than copying it.
fn set(headers: &mut HeaderMap, name: HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
        headers.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            name,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn takes_the_trace_id_of_a_valid_traceparent() {
        let h = with(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        assert_eq!(trace_id(&h), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn ignores_an_invalid_traceparent() {
        let h = with(
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        );
        assert_ne!(trace_id(&h), "00000000000000000000000000000000");
        assert_eq!(trace_id(&h).len(), 32);
    }

    #[test]
    fn echoes_a_sane_request_id_only() {
        let id = |value| callers_request_id(&with("x-request-id", value));
        assert_eq!(id("abc-1").as_deref(), Some("abc-1"));
        assert_eq!(id("has space"), None);
        assert_eq!(id(""), None);
        assert_eq!(id(&"x".repeat(MAX_REQUEST_ID_LEN + 1)), None);
        let new = new_request_id();
        assert!(new.starts_with("req_") && new.len() == 36, "{new}");
        assert_eq!(new.capacity(), new.len(), "becomes a header value uncopied");
    }
}
