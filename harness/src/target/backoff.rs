//! How long to wait before asking a target again: what it asked for (`retry-after-ms`,
//! `Retry-After` in seconds or as an HTTP date, `x-ratelimit-reset-requests` as a Go
//! duration), else full jitter over an exponential ceiling. Shared by `run` and `eval`.

use super::Exchange;
use std::time::Duration;

/// What the answer asks the client to wait, if it says.
pub fn asked(ex: &Exchange) -> Option<Duration> {
    let seconds = |v: &str| {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
    };
    if let Some(ms) = ex.header("retry-after-ms").and_then(seconds) {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    if let Some(v) = ex.header("retry-after") {
        if let Some(s) = seconds(v) {
            return Some(Duration::from_secs_f64(s));
        }
        // An HTTP date: the wait is until then (nothing when it has passed).
        if let Ok(at) = chrono::DateTime::parse_from_rfc2822(v.trim()) {
            let left = at.signed_duration_since(chrono::Utc::now());
            return Some(left.to_std().unwrap_or_default());
        }
    }
    ex.header("x-ratelimit-reset-requests")
        .and_then(go_duration)
}

/// The wait before retry number `retry` (from 0): what the answer asks, capped at `max`, or
/// full jitter over 250 ms, 500 ms, … up to 8 s (and `max`).
pub fn wait(retry: u32, ex: &Exchange, max: Duration) -> Duration {
    if let Some(asked) = asked(ex) {
        // A little jitter above what was asked, so clients told the same instant spread out.
        let spread = asked
            .mul_f64(0.1 * fastrand::f64())
            .min(Duration::from_millis(500));
        return (asked + spread).min(max);
    }
    let ceiling = Duration::from_millis(250) * (1u32 << retry.min(5));
    ceiling.mul_f64(fastrand::f64()).min(max)
}

/// A Go duration as OpenAI's rate-limit headers write it: `6m0s`, `1.5s`, `20ms`, `1h2m`.
pub fn go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    total.is_finite().then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::RequestRecord;
    use bytes::Bytes;
    use http::HeaderMap;

    fn answer(headers: &[(&'static str, &str)]) -> Exchange {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap_or(http::HeaderValue::from_static("")));
        }
        Exchange {
            request: RequestRecord {
                method: "GET".into(),
                url: "http://h/v1/models".into(),
                headers: vec![],
                body: None,
                redirect: None,
            },
            status: 429,
            headers: map,
            body: Bytes::new(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn go_durations_as_openai_writes_them() {
        for (text, seconds) in [
            ("6m0s", 360.0),
            ("1.5s", 1.5),
            ("20ms", 0.02),
            ("1h2m3s", 3723.0),
        ] {
            assert_eq!(
                go_duration(text),
                Some(Duration::from_secs_f64(seconds)),
                "{text}"
            );
        }
        for bad in ["", "s", "5", "5x", "m5"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_most_precise_header_wins() {
        let both = answer(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(asked(&both), Some(Duration::from_millis(1500)));
        assert_eq!(
            asked(&answer(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        let reset = answer(&[("x-ratelimit-reset-requests", "250ms")]);
        assert_eq!(asked(&reset), Some(Duration::from_millis(250)));
        let past = answer(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(asked(&past), Some(Duration::ZERO));
        assert_eq!(asked(&answer(&[])), None);
    }

    #[test]
    fn waits_are_what_was_asked_plus_a_little_and_never_past_the_cap() {
        let ex = answer(&[("retry-after", "2")]);
        for _ in 0..50 {
            let w = wait(0, &ex, Duration::from_secs(60));
            assert!(
                w >= Duration::from_secs(2) && w <= Duration::from_millis(2200),
                "{w:?}"
            );
            assert_eq!(wait(0, &ex, Duration::from_secs(1)), Duration::from_secs(1));
        }
        let silent = answer(&[]);
        for retry in 0..8 {
            assert!(wait(retry, &silent, Duration::from_secs(60)) <= Duration::from_secs(8));
        }
    }
}
