//! Verdicts that hold on a slow, rate-limited or flaky deployment. A 429 is backpressure, not
//! a verdict: the request is asked again after what the target asks (with jitter), at most
//! `max_retries` times, each wait at most `max_wait`, all waits of the run within `budget`;
//! past those bounds the check is errored (no usable answer), never failed. A 5xx to a
//! request that can be repeated (a GET, a generation) is asked again, up to twice (one repeat
//! would leave a 3% fault rate failing a quarter of whole runs): when a repeat succeeds, the
//! check is judged on it and reported as flaky; a 5xx that persists stays.
//! Requests marked raw (the rate-limit checks') see every 429 as it came.

use crate::result::{errored, Problem};
pub use crate::result::{FlakyRequest, RetrySummary};
use crate::target::{backoff, Exchange, Req, TransportError};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// How many times a request that got a 5xx is asked again.
const TRANSIENT_REPEATS: u32 = 2;

/// How a run rides out backpressure and transient errors.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Off (`--no-retry`): every answer is judged as it came.
    pub enabled: bool,
    /// Most retries of one request on 429.
    pub max_retries: u32,
    /// Longest single wait, whatever the target asks.
    pub max_wait: Duration,
    /// All waits of the run together.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_retries: 6,
            max_wait: Duration::from_secs(30),
            budget: Duration::from_secs(300),
        }
    }
}

/// The run's retries: its policy and what happened.
#[derive(Debug, Default)]
pub struct Retries {
    policy: RetryPolicy,
    summary: Mutex<RetrySummary>,
}

/// What a send gives back: an answer with its exchange.
pub trait Answered {
    /// The exchange (status, headers) of the answer.
    fn exchange(&self) -> &Exchange;
}

impl Answered for Exchange {
    fn exchange(&self) -> &Exchange {
        self
    }
}

impl Answered for crate::target::StreamExchange {
    fn exchange(&self) -> &Exchange {
        &self.exchange
    }
}

impl Retries {
    /// Retries under `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            summary: Mutex::default(),
        }
    }

    /// What happened so far.
    pub fn summary(&self) -> RetrySummary {
        self.summary.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The flaky requests of `check`, as a note ("flaky: HTTP 500 then 200").
    pub fn note_for(&self, check: &str) -> Option<String> {
        let summary = self.summary.lock().ok()?;
        let seen: Vec<String> = summary
            .flaky
            .iter()
            .filter(|f| f.check == check)
            .map(|f| format!("HTTP {} then {}", f.first, f.then))
            .collect();
        (!seen.is_empty()).then(|| format!("flaky: {}", seen.join(", ")))
    }

    /// Takes `wait` from the budget, if it is there.
    fn take(&self, wait: Duration) -> bool {
        let Ok(mut s) = self.summary.lock() else {
            return false;
        };
        let spent = Duration::from_secs_f64(s.waited_ms / 1000.0);
        if spent + wait > self.policy.budget {
            s.budget_exhausted = true;
            return false;
        }
        s.waited_ms += wait.as_secs_f64() * 1000.0;
        true
    }

    fn record(&self, f: impl FnOnce(&mut RetrySummary)) {
        if let Ok(mut s) = self.summary.lock() {
            f(&mut s);
        }
    }

    /// Sends `req` through `send`, riding out 429s and one transient 5xx as the policy says.
    /// `check` is the running check's id (for the counts).
    pub async fn send<T, F, Fut>(&self, check: &str, req: Req, mut send: F) -> Result<T, Problem>
    where
        T: Answered,
        F: FnMut(Req) -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        let mut waited_out = 0u32;
        let mut first_5xx: Option<u16> = None;
        let mut repeats = 0u32;
        loop {
            let answer = send(req.clone()).await?;
            let ex = answer.exchange();
            if !self.policy.enabled {
                return Ok(answer);
            }
            if ex.status == 429 && req.waits_out_rate_limits() {
                if waited_out >= self.policy.max_retries {
                    return Err(errored(
                        "an answer once the target stopped rate-limiting",
                        format!(
                            "HTTP 429 after {waited_out} retries (--max-retries): {}",
                            ex.excerpt()
                        ),
                    )
                    .at(&ex.request));
                }
                let wait = backoff::wait(waited_out, ex, self.policy.max_wait);
                if !self.take(wait) {
                    return Err(errored(
                        "an answer within the run's retry budget",
                        format!(
                            "HTTP 429 and the retry budget ({:.0} s, --retry-budget) is spent: {}",
                            self.policy.budget.as_secs_f64(),
                            ex.excerpt()
                        ),
                    )
                    .at(&ex.request));
                }
                self.record(|s| {
                    s.rate_limited += 1;
                    *s.by_check.entry(check.to_owned()).or_default() += 1;
                });
                tokio::time::sleep(wait).await;
                waited_out += 1;
                continue;
            }
            if ex.status >= 500 && repeats < TRANSIENT_REPEATS && req.repeatable() {
                first_5xx.get_or_insert(ex.status);
                let wait = backoff::wait(repeats, ex, Duration::from_millis(500));
                tokio::time::sleep(wait).await;
                repeats += 1;
                continue;
            }
            if let Some(first) = first_5xx.filter(|_| ex.status < 500) {
                let flaky = FlakyRequest {
                    check: check.to_owned(),
                    request: format!("{} {}", ex.request.method, ex.request.url),
                    first,
                    then: ex.status,
                };
                self.record(|s| s.flaky.push(flaky));
            }
            return Ok(answer);
        }
    }
}
