//! Rate limiting per route and principal (or per route alone), on the token buckets of the
//! stores. Answers carry both header families OpenAI uses; a refused request gets 429 with
//! `Retry-After` and `Retry-After-Ms`.

use crate::config::{RateLimitConfig, RateLimitKeying};
use crate::protocol::error::ApiError;
use crate::protocol::principal::Principal;
use crate::protocol::project::Project;
use crate::state::AppState;
use crate::store::{Budget, Taken};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// A duration as Go prints it (`20ms`, `1s`, `9.816s`, `6m0s`, `1h0m0s`), the format of
/// OpenAI's `x-ratelimit-reset-*` headers.
pub fn go_duration(d: Duration) -> String {
    use std::fmt::Write;
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::with_capacity(16);
    if ms < 1000 {
        let _ = write!(out, "{ms}ms");
        return out;
    }
    // Integer arithmetic: no float is printed and trimmed per request.
    let (hours, minutes) = (ms / 3_600_000, (ms / 60_000) % 60);
    let (seconds, millis) = ((ms / 1000) % 60, ms % 1000);
    if hours > 0 {
        let _ = write!(out, "{hours}h{minutes}m");
    } else if minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let _ = write!(out, "{seconds}");
    if millis > 0 {
        let _ = write!(out, ".{millis:03}");
        while out.ends_with('0') {
            out.pop();
        }
    }
    out.push('s');
    out
}

fn number(n: impl Into<u64>) -> HeaderValue {
    super::number(n.into())
}

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
const REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
const RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Writes both header families for `t`.
fn headers(headers: &mut HeaderMap, t: &Taken) {
    // Room for these and the envelope's headers at once, instead of growing twice.
    headers.reserve(16);
    let reset_secs = t.reset.as_secs_f64().ceil() as u64;
    // Each family carries the same numbers: one value each, shared by both headers.
    let limit = limit_value(t.limit);
    let remaining = number(t.remaining);
    headers.insert(LIMIT, limit.clone());
    headers.insert(REMAINING, remaining.clone());
    headers.insert(RESET, number(reset_secs));
    headers.insert(LIMIT_REQUESTS, limit);
    headers.insert(REMAINING_REQUESTS, remaining);
    if let Some(v) = reset_value(t.reset) {
        headers.insert(RESET_REQUESTS, v);
    }
}

/// The header value of a limit. Limits are few and fixed, so a thread keeps the last one it
/// made: a limit of 1,000 or more is not formatted and allocated again on every request.
fn limit_value(limit: u32) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(u32, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((n, value)) if *n == limit => value.clone(),
        _ => {
            let value = number(limit);
            *last = Some((limit, value.clone()));
            value
        }
    })
}

/// `d` as Go prints it, as a header value. Below a second (a bucket that refills fast, or is
/// nearly full) the text is one of a thousand made once; above, it is not copied again.
fn reset_value(d: Duration) -> Option<HeaderValue> {
    static SUBSECOND: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let ms = d.as_millis();
    if ms < 1000 {
        let table = SUBSECOND.get_or_init(|| {
            (0..1000u64)
                .map(|ms| &*Box::leak(go_duration(Duration::from_millis(ms)).into_boxed_str()))
                .collect()
        });
        let text = usize::try_from(ms).ok().and_then(|i| table.get(i))?;
        return Some(HeaderValue::from_static(text));
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(go_duration(d))).ok()
}

/// The bucket key of a request: route and principal, route and project (a request without a
/// known key: its principal), or route alone; written into `out` (a per-thread buffer, so
/// looking up a bucket allocates nothing).
fn key(
    out: &mut String,
    config: &RateLimitConfig,
    route: &str,
    principal: &Principal,
    project: Option<&Project>,
) {
    use std::fmt::Write;
    out.clear();
    out.push_str(route);
    if config.keying == RateLimitKeying::Project {
        if let Some(project) = project {
            // Marked: a project's bucket is never a principal's.
            out.push_str(" project:");
            out.push_str(project.as_str());
            return;
        }
    }
    if config.keying != RateLimitKeying::RouteOnly {
        out.push(' ');
        // A token's hash is text already: no formatting machinery on every request.
        match principal {
            Principal::Token(hash) => out.push_str(hash),
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }
}

/// Takes a token for a request by `principal` (acting in `project`, when keyed by project) on
/// `route`: what to put in the answer's headers, or the 429 to send instead (a 503 when the
/// shared store cannot be asked). `None` when limiting is off.
pub async fn admit(
    state: &AppState,
    route: &str,
    principal: &Principal,
    project: Option<&Project>,
) -> Option<Result<Taken, Response>> {
    let config = &state.config.rate_limit;
    if !config.enabled {
        return None;
    }
    thread_local! {
        static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    let budget = config.budget(route);
    let budget = Budget {
        capacity: budget.requests,
        refill: Duration::from_secs(u64::from(budget.per_seconds)),
    };
    let pending = KEY.with_borrow_mut(|buffer| {
        key(buffer, config, route, principal, project);
        state.stores.buckets.take(buffer, budget)
    });
    let taken = match pending.await {
        Ok(taken) => taken,
        // Not admitted as if the bucket were full: without the shared count there is no limit.
        Err(e) => return Some(Err(ApiError::from(e).into_response())),
    };
    if taken.allowed {
        return Some(Ok(taken));
    }
    state.metrics.rate_limited(route);
    let wait = go_duration(taken.retry_after.max(Duration::from_millis(1)));
    let mut response = ApiError::rate_limited(route, taken.limit, &wait).into_response();
    let h = response.headers_mut();
    headers(h, &taken);
    let secs = (taken.retry_after.as_secs_f64().ceil() as u64).max(1);
    h.insert(RETRY_AFTER, number(secs));
    let ms = (taken.retry_after.as_millis() as u64).max(1);
    h.insert(RETRY_AFTER_MS, number(ms));
    Some(Err(response))
}

/// Puts the limiter's headers on an answer.
pub fn stamp(response: &mut Response, taken: &Taken) {
    headers(response.headers_mut(), taken);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(9816)), "9.816s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(9800)), "9.8s");
        assert_eq!(go_duration(Duration::from_millis(60_050)), "1m0.05s");
        assert_eq!(go_duration(Duration::from_millis(3_723_004)), "1h2m3.004s");
        assert_eq!(go_duration(Duration::from_micros(999)), "0s");
    }

    #[test]
    fn header_values_are_the_texts_they_stand_for() {
        for ms in [0, 1, 20, 999, 1000, 9816, 60_050, 3_723_004] {
            let d = Duration::from_millis(ms) + Duration::from_micros(400);
            let value = reset_value(d).and_then(|v| v.to_str().ok().map(str::to_owned));
            assert_eq!(value, Some(go_duration(d)), "{ms} ms");
        }
        // The kept limit is the one asked for, whichever came before it.
        for limit in [600, 1_000_000_000, 600, 7, 7, 4_000_000_000] {
            assert_eq!(
                limit_value(limit).to_str().ok(),
                Some(limit.to_string().as_str())
            );
        }
    }

    #[test]
    fn keys_by_route_and_principal_unless_told_otherwise() {
        let mut c = RateLimitConfig::default();
        let p = Principal::Anonymous;
        let mut out = String::from("stale");
        key(&mut out, &c, "/r", &p, None);
        assert_eq!(out, "/r anonymous");
        c.keying = RateLimitKeying::RouteOnly;
        key(&mut out, &c, "/r", &p, None);
        assert_eq!(out, "/r");
        c.keying = RateLimitKeying::Project;
        key(&mut out, &c, "/r", &p, None);
        assert_eq!(out, "/r anonymous", "no known key: the principal");
        let alice = Project::named("alice");
        key(&mut out, &c, "/r", &p, Some(&alice));
        assert_eq!(out, format!("/r project:{alice}"));
    }
}
