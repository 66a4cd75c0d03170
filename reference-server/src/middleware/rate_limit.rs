//! Token-bucket rate limiting per route and principal. A bucket holds `requests` tokens and
//! refills completely in `per_seconds`; each request takes one. One mutex guards all buckets,
//! which keeps the count exact under concurrency (N concurrent requests against a limit of N:
//! all pass, the next is refused).

use crate::config::{RateLimitConfig, RateLimitKeying};
use crate::error::ApiError;
use crate::middleware::auth::principal;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets past this count are pruned of full (idle) ones.
const PRUNE_ABOVE: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The limiter's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The bucket's capacity.
    pub limit: u32,
    /// Whole tokens left after this request.
    pub remaining: u32,
    /// Time until the bucket is full again.
    pub reset: Duration,
    /// Time until one token is available (zero when allowed).
    pub retry_after: Duration,
}

/// All buckets.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl RateLimiter {
    /// A limiter with `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether limiting is on.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Takes a token for (`route`, `principal`) at `now`.
    pub fn check(&self, route: &str, principal: &str, now: Instant) -> Decision {
        let budget = self.config.budget(route);
        let capacity = f64::from(budget.requests);
        let rate = capacity / f64::from(budget.per_seconds);
        let principal = match self.config.keying {
            RateLimitKeying::RoutePrincipal => principal,
            RateLimitKeying::RouteOnly => "*",
        };
        // A poisoned lock only means another request panicked mid-update of a plain number.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < capacity
            });
        }
        let bucket = buckets
            .entry((route.to_owned(), principal.to_owned()))
            .or_insert(Bucket {
                tokens: capacity,
                updated: now,
            });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let retry_after = if allowed {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - bucket.tokens) / rate)
        };
        Decision {
            allowed,
            limit: budget.requests,
            remaining: bucket.tokens.floor().max(0.0) as u32,
            reset: Duration::from_secs_f64((capacity - bucket.tokens) / rate),
            retry_after,
        }
    }
}

/// A duration as Go prints it (`20ms`, `1s`, `9.816s`, `6m0s`, `1h0m0s`), the format of
/// OpenAI's `x-ratelimit-reset-*` headers.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let hours = ms / 3_600_000;
    let minutes = (ms / 60_000) % 60;
    let seconds = (ms % 60_000) as f64 / 1000.0;
    let secs = format!("{seconds:.3}");
    let secs = secs.trim_end_matches('0').trim_end_matches('.');
    match (hours, minutes) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Writes both header families for `d`.
fn headers(headers: &mut HeaderMap, d: &Decision) {
    let reset_secs = d.reset.as_secs_f64().ceil() as u64;
    set(headers, "x-ratelimit-limit", d.limit.to_string());
    set(headers, "x-ratelimit-remaining", d.remaining.to_string());
    set(headers, "x-ratelimit-reset", reset_secs.to_string());
    set(headers, "x-ratelimit-limit-requests", d.limit.to_string());
    set(
        headers,
        "x-ratelimit-remaining-requests",
        d.remaining.to_string(),
    );
    set(headers, "x-ratelimit-reset-requests", go_duration(d.reset));
}

/// Takes a token for `req` on `route`: the decision to put in the answer's headers, or the
/// 429 to send instead. `None` when limiting is off.
pub fn admit(
    state: &AppState,
    route: &str,
    req: &mut Request,
) -> Option<Result<Decision, Response>> {
    if !state.limiter.enabled() {
        return None;
    }
    let decision = state.limiter.check(route, &principal(req), Instant::now());
    if decision.allowed {
        return Some(Ok(decision));
    }
    state.metrics.rate_limited(route);
    let wait = go_duration(decision.retry_after.max(Duration::from_millis(1)));
    let mut error = ApiError::invalid_param(
        "",
        format!(
            "Rate limit reached for requests on {route}: limit {} per window. Please try again in {wait}.",
            decision.limit
        ),
    )
    .with_code("rate_limit_exceeded");
    error.status = StatusCode::TOO_MANY_REQUESTS;
    error.kind = "requests";
    error.param = None;
    let mut response = error.into_response();
    let h = response.headers_mut();
    headers(h, &decision);
    set(
        h,
        "retry-after",
        (decision.retry_after.as_secs_f64().ceil() as u64)
            .max(1)
            .to_string(),
    );
    set(
        h,
        "retry-after-ms",
        (decision.retry_after.as_millis() as u64).max(1).to_string(),
    );
    Some(Err(response))
}

/// Puts the decision's headers on an answer.
pub fn stamp(response: &mut Response, decision: &Decision) {
    headers(response.headers_mut(), decision);
}

/// The middleware function.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    match admit(&state, &route, &mut req) {
        None => next.run(req).await,
        Some(Err(refused)) => refused,
        Some(Ok(decision)) => {
            let mut response = next.run(req).await;
            stamp(&mut response, &decision);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RateBudget;

    fn limiter(requests: u32, per_seconds: u32) -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            default: RateBudget {
                requests,
                per_seconds,
            },
            ..RateLimitConfig::default()
        })
    }

    #[test]
    fn allows_the_capacity_then_refuses() {
        let l = limiter(3, 60);
        let now = Instant::now();
        let d: Vec<Decision> = (0..4).map(|_| l.check("/r", "p", now)).collect();
        assert_eq!(
            d.iter().map(|d| d.allowed).collect::<Vec<_>>(),
            [true, true, true, false]
        );
        assert_eq!(
            d.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert_eq!(d[3].retry_after, Duration::from_secs(20));
        assert_eq!(d[2].reset, Duration::from_secs(60));
    }

    #[test]
    fn refills_over_time_and_keys_by_principal() {
        let l = limiter(2, 2);
        let t0 = Instant::now();
        assert!(l.check("/r", "a", t0).allowed);
        assert!(l.check("/r", "a", t0).allowed);
        assert!(!l.check("/r", "a", t0).allowed);
        assert!(
            l.check("/r", "b", t0).allowed,
            "another principal has its own bucket"
        );
        assert!(
            l.check("/r", "a", t0 + Duration::from_secs(1)).allowed,
            "one token back after 1s"
        );
    }

    #[test]
    fn route_only_keying_shares_the_bucket() {
        let l = RateLimiter::new(RateLimitConfig {
            keying: RateLimitKeying::RouteOnly,
            default: RateBudget {
                requests: 1,
                per_seconds: 60,
            },
            ..RateLimitConfig::default()
        });
        let now = Instant::now();
        assert!(l.check("/r", "a", now).allowed);
        assert!(!l.check("/r", "b", now).allowed);
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(9816)), "9.816s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
