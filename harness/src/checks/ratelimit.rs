//! Rate limiting as the facade promises it: both header families on every `/v1` response,
//! values that move, and (opt-in, since it sends a burst) a 429 with `Retry-After`.

use super::*;
use futures::StreamExt;

pub fn checks() -> Vec<Check> {
    vec![
        check!("ratelimit.headers", Facade, "X-RateLimit-* and x-ratelimit-*-requests are present, well-formed, and remaining decreases", headers),
        check!("ratelimit.burst", Facade, "A burst past the limit gets 429 rate_limit_exceeded with Retry-After (opt-in: --aggressive)", burst, last),
    ]
}

/// Whether `s` is a Go duration such as `20ms`, `1s`, `9.816s`, `6m0s`, `1h2m3s`.
pub fn is_go_duration(s: &str) -> bool {
    let mut rest = s;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 || rest[..digits].parse::<f64>().is_err() {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "us", "µs", "ns", "h", "m", "s"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
        parts += 1;
    }
    parts > 0
}

const INTEGER_HEADERS: [&str; 5] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
];

async fn headers(ctx: &Ctx) -> Verdict {
    let mut remaining = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let ex = ctx.send(Req::get("/v1/models")).await?;
        for h in INTEGER_HEADERS {
            let v = ex.header(h);
            ensure(
                v.is_some_and(|v| v.parse::<u64>().is_ok()),
                format!("{h}: <integer>"),
                format!("{v:?}"),
                &ex,
            )?;
        }
        let reset = ex.header("x-ratelimit-reset-requests");
        ensure(
            reset.is_some_and(is_go_duration),
            "x-ratelimit-reset-requests as a Go duration (e.g. 1s, 6m0s, 20ms)",
            format!("{reset:?}"),
            &ex,
        )?;
        let n = |h: &str| {
            ex.header(h)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ensure(
            n("x-ratelimit-remaining") <= n("x-ratelimit-limit"),
            "remaining <= limit",
            format!(
                "remaining {} of {}",
                n("x-ratelimit-remaining"),
                n("x-ratelimit-limit")
            ),
            &ex,
        )?;
        ensure(
            n("x-ratelimit-remaining") == n("x-ratelimit-remaining-requests"),
            "both families agree on remaining",
            format!(
                "{} vs {}",
                n("x-ratelimit-remaining"),
                n("x-ratelimit-remaining-requests")
            ),
            &ex,
        )?;
        remaining.push(n("x-ratelimit-remaining"));
        last = Some(ex);
    }
    if let Some(ex) = last {
        // A bucket may refill between requests, so ask for one decrease, not a monotone run.
        ensure(
            remaining.windows(2).any(|w| w[1] < w[0]),
            "x-ratelimit-remaining to decrease between consecutive requests",
            format!("{remaining:?}"),
            &ex,
        )?;
    }
    pass_with(format!("remaining {remaining:?}"))
}

async fn burst(ctx: &Ctx) -> Verdict {
    if !ctx.options.aggressive {
        return Err(skip(
            "sends a burst of requests to the target; pass --aggressive to run it",
        ));
    }
    let max = ctx.options.burst_max as usize;
    let mut sent = 0;
    let mut requests = futures::stream::iter(0..max)
        .map(|_| ctx.send(Req::get("/v1/models").raw_rate_limits()))
        .buffered(8);
    while let Some(ex) = requests.next().await {
        let ex = ex?;
        sent += 1;
        if ex.status != 429 {
            continue;
        }
        let body = expect_envelope(ctx, &ex, &[429])?;
        let limited =
            body["error"]["code"] == "rate_limit_exceeded" || body["error"]["type"] == "requests";
        ensure(
            limited,
            "error.code \"rate_limit_exceeded\" (type \"requests\")",
            show(&body["error"]),
            &ex,
        )?;
        let retry = ex.header("retry-after");
        ensure(
            retry.is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s >= 1)),
            "Retry-After: <integer seconds >= 1>",
            format!("{retry:?}"),
            &ex,
        )?;
        return pass_with(format!("429 after {sent} requests"));
    }
    Err(fail(
        format!("a 429 within {max} requests (--burst-max)"),
        format!("{sent} requests, none limited"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_go_durations() {
        for ok in ["1s", "6m0s", "20ms", "9.816s", "1h2m3s", "0s"] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "1", "s", "1.5", "10 s", "1sx", "-1s"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }
}
