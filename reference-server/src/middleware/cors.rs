//! CORS, for web pages on other origins (a playground, the official JS SDK in a browser), as
//! Prism, vLLM's `--allowed-origins` and Ollama's `OLLAMA_ORIGINS` offer it. Off by default.
//! A preflight is answered before authentication and rate limiting (a browser never sends
//! credentials on it); every answer to an allowed origin says so, and exposes the headers a
//! page wants to read (request id, rate limits, processing time).

use crate::config::CorsConfig;
use axum::body::Body;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;

/// The methods the API serves.
const METHODS: HeaderValue = HeaderValue::from_static("GET, POST, DELETE, OPTIONS");
/// What a page may send when it does not say (a preflight always says).
const HEADERS: HeaderValue = HeaderValue::from_static(
    "authorization, content-type, idempotency-key, openai-organization, openai-project, x-request-id, traceparent",
);
/// The answer headers a page may read beyond the CORS-safelisted ones.
const EXPOSED: HeaderValue = HeaderValue::from_static(
    "x-request-id, x-trace-id, openai-processing-ms, openai-version, retry-after, retry-after-ms, \
     x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, x-ratelimit-limit-requests, \
     x-ratelimit-remaining-requests, x-ratelimit-reset-requests, idempotent-replayed, \
     x-refserver-fault",
);

/// The `Access-Control-Allow-Origin` value for a request's `Origin`, if the origin is allowed:
/// `*` when every origin is, else the origin itself.
pub fn allowed(config: &CorsConfig, headers: &HeaderMap) -> Option<HeaderValue> {
    if config.allow_origins.is_empty() {
        return None;
    }
    let origin = headers.get(ORIGIN)?;
    if config.allow_origins.iter().any(|o| o == "*") {
        return Some(HeaderValue::from_static("*"));
    }
    let text = origin.to_str().ok()?;
    config
        .allow_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

/// The answer to a preflight from an allowed origin: 204 with what it may do. `None` for
/// anything else (not an `OPTIONS` with `Access-Control-Request-Method`, or an origin not
/// allowed), which is served like any request (an `OPTIONS` is then 405 with `Allow`).
pub fn preflight(config: &CorsConfig, method: &Method, headers: &HeaderMap) -> Option<Response> {
    if method != Method::OPTIONS || !headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
        return None;
    }
    let origin = allowed(config, headers)?;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let out = response.headers_mut();
    out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    out.insert(ACCESS_CONTROL_ALLOW_METHODS, METHODS);
    // The headers asked for, echoed: `*` would not cover `Authorization` (Fetch standard).
    let asked = headers.get(ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    out.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.unwrap_or(HEADERS));
    out.insert(
        ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(config.max_age_seconds),
    );
    vary(out);
    Some(response)
}

/// Marks an answer to an allowed origin (`origin` from [`allowed`]) as readable by it.
pub fn expose(response: &mut Response, origin: HeaderValue) {
    let out = response.headers_mut();
    out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
    vary(out);
}

/// The answer depends on the request's `Origin` (and a preflight's asked method and headers),
/// so a cache keeps one per origin.
fn vary(out: &mut HeaderMap) {
    out.append(
        VARY,
        HeaderValue::from_static(
            "origin, access-control-request-method, access-control-request-headers",
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origins: &[&str]) -> CorsConfig {
        CorsConfig {
            allow_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..CorsConfig::default()
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_listed_origins_are_allowed_and_star_allows_all() {
        let from = headers(&[("origin", "https://app.example")]);
        assert_eq!(
            allowed(&config(&["https://app.example"]), &from),
            Some(HeaderValue::from_static("https://app.example"))
        );
        assert_eq!(allowed(&config(&["https://other.example"]), &from), None);
        assert_eq!(allowed(&config(&[]), &from), None, "off by default");
        assert_eq!(
            allowed(&config(&["*"]), &from),
            Some(HeaderValue::from_static("*"))
        );
        assert_eq!(allowed(&config(&["*"]), &headers(&[])), None, "no Origin");
    }

    #[test]
    fn a_preflight_echoes_the_asked_headers_and_anything_else_is_not_one() {
        let c = config(&["https://app.example"]);
        let asked = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ]);
        let Some(r) = preflight(&c, &Method::OPTIONS, &asked) else {
            panic!("a preflight from an allowed origin is answered")
        };
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let h = r.headers();
        assert_eq!(
            h[ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization, content-type"
        );
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "600");
        assert!(preflight(&c, &Method::GET, &asked).is_none());
        let plain = headers(&[("origin", "https://app.example")]);
        assert!(preflight(&c, &Method::OPTIONS, &plain).is_none());
        let foreign = headers(&[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ]);
        assert!(preflight(&c, &Method::OPTIONS, &foreign).is_none());
    }
}
