//! The load generator: a closed loop (N requests in flight, each sent when the last ended)
//! or an open loop (requests due at a constant or Poisson rate, whatever the server does).
//!
//! In the open loop every time is measured from the request's *intended* start, so a server
//! that stalls cannot hide the queue it causes (coordinated omission); if the generator itself
//! falls behind its schedule, it says so (`Lag`) instead of quietly sending fewer requests.

use super::probe::{Prepared, Sample};
use super::stats::Tally;
use hdrhistogram::Histogram;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How requests are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// `concurrency` requests in flight at all times.
    Closed {
        /// Requests in flight.
        concurrency: usize,
    },
    /// `rate` requests per second, due on a schedule.
    Open {
        /// Requests per second.
        rate: f64,
        /// Exponential gaps (Poisson arrivals) rather than equal ones.
        poisson: bool,
        /// Most requests in flight; past it the generator waits (and reports its lag).
        max_in_flight: usize,
    },
}

/// When to stop, and what not to count.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// Measured time after the warm-up (or until `requests`).
    pub duration: Option<Duration>,
    /// Requests counted after the warm-up.
    pub requests: Option<u64>,
    /// Sent and measured first, but not counted.
    pub warmup: Duration,
    /// Seeds the Poisson gaps.
    pub seed: u64,
}

/// What the generator knows of its own timing (open loop).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Lag {
    /// Requests sent more than 2 ms after they were due (timers tick every millisecond).
    pub late: u64,
    /// The longest such delay, in ms.
    pub max_ms: f64,
    /// The 99th percentile of the delay, in ms.
    pub p99_ms: f64,
}

/// The scenarios as the generator sends them.
pub struct Mix {
    /// One prepared request per scenario.
    pub requests: Vec<Prepared>,
    /// Scenario of request `n` is `order[n % order.len()]`: the weights, interleaved.
    order: Vec<usize>,
    /// Requests sent per scenario, to send its bodies in turn.
    sent: Vec<AtomicU64>,
}

impl Mix {
    /// The mix of `requests` with these weights (smooth weighted round robin, so a 3:1 mix
    /// goes a,a,b,a and not a,a,a,b).
    pub fn new(requests: Vec<Prepared>, weights: &[u32]) -> Self {
        let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
        let cycle = usize::try_from(total.clamp(1, 10_000)).unwrap_or(1);
        let mut current = vec![0i64; weights.len()];
        let mut order = Vec::with_capacity(cycle);
        for _ in 0..cycle {
            for (c, w) in current.iter_mut().zip(weights) {
                *c += i64::from(*w);
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
                .unwrap_or((0, &0));
            current[best] -= total;
            order.push(best);
        }
        let sent = requests.iter().map(|_| AtomicU64::new(0)).collect();
        Self {
            requests,
            order,
            sent,
        }
    }

    fn scenario(&self, n: u64) -> usize {
        self.order[(n % self.order.len() as u64) as usize]
    }
}

/// What a run leaves: the tallies, how long the counted part lasted, and the lag.
pub struct Outcome {
    /// Per scenario.
    pub tallies: Vec<Tally>,
    /// Seconds from the end of the warm-up to the last counted answer.
    pub seconds: f64,
    /// Open loop only.
    pub lag: Option<Lag>,
}

/// Shared between the generator's tasks.
struct Shared {
    mix: Mix,
    tallies: Mutex<Vec<Tally>>,
    /// Requests claimed so far (all, warm-up included).
    claimed: AtomicU64,
    /// Counted requests claimed so far.
    counted: AtomicU64,
    start: Instant,
    warm_until: Instant,
    span: Span,
    /// When the generator stopped sending: the end of the measured window.
    stopped: std::sync::OnceLock<Instant>,
    /// Where every request is written as a JSON line, if asked.
    samples: Option<Mutex<Box<dyn std::io::Write + Send>>>,
    /// Scenario names, for the sample lines.
    names: Vec<String>,
}

impl Shared {
    /// Claims the next request: its number and whether it is warm-up, or `None` to stop.
    fn claim(&self, now: Instant) -> Option<(u64, bool)> {
        let warm = now < self.warm_until;
        if !warm {
            let over = self
                .span
                .duration
                .is_some_and(|d| now >= self.warm_until + d)
                || self
                    .span
                    .requests
                    .is_some_and(|max| self.counted.fetch_add(1, Ordering::Relaxed) >= max);
            if over {
                let _ = self.stopped.set(now.max(self.warm_until));
                return None;
            }
        }
        Some((self.claimed.fetch_add(1, Ordering::Relaxed), warm))
    }

    async fn one(&self, n: u64, warm: bool, due: Instant) {
        let scenario = self.mix.scenario(n);
        let body = self.mix.sent[scenario].fetch_add(1, Ordering::Relaxed);
        let sample: Sample = self.mix.requests[scenario]
            .send(usize::try_from(body).unwrap_or(0), due)
            .await;
        if let Ok(mut tallies) = self.tallies.lock() {
            tallies[scenario].record(&sample, warm);
        }
        if let Some(out) = &self.samples {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let line = serde_json::json!({
                "n": n,
                "scenario": self.names.get(scenario),
                "warmup": warm,
                "due_ms": ms(due.saturating_duration_since(self.start)),
                "latency_ms": ms(sample.latency),
                "ttft_ms": sample.ttft.map(ms),
                "itl_ms": sample.itl.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
                "output_tokens": sample.tokens.map(|(t, _)| t),
                "error": sample.error,
            });
            if let Ok(mut out) = out.lock() {
                let _ = writeln!(out, "{line}");
            }
        }
    }

    /// A snapshot for the progress line: counted requests, errors, and p95 (ms) so far.
    fn progress(&self) -> (u64, u64, Option<f64>) {
        let Ok(tallies) = self.tallies.lock() else {
            return (0, 0, None);
        };
        let mut all = tallies.first().cloned();
        if let Some(all) = &mut all {
            for t in tallies.iter().skip(1) {
                all.merge(t);
            }
        }
        all.map_or((0, 0, None), |t| {
            (
                t.requests,
                t.errors,
                t.stat(
                    super::slo::Series::Latency,
                    super::slo::Stat::Percentile(95.0),
                )
                .map(|s| s * 1000.0),
            )
        })
    }
}

/// Runs `mix` under `model` for `span`; `progress` is called about once a second with the
/// counted requests, errors and current p95.
pub async fn run(
    mix: Mix,
    tallies: Vec<Tally>,
    model: Model,
    span: Span,
    samples: Option<(Box<dyn std::io::Write + Send>, Vec<String>)>,
    progress: &(dyn Fn(f64, u64, u64, Option<f64>) + Sync),
) -> Outcome {
    let (samples, names) = match samples {
        Some((out, names)) => (Some(Mutex::new(out)), names),
        None => (None, Vec::new()),
    };
    let start = Instant::now();
    let shared = Arc::new(Shared {
        mix,
        tallies: Mutex::new(tallies),
        claimed: AtomicU64::new(0),
        counted: AtomicU64::new(0),
        start,
        warm_until: start + span.warmup,
        span,
        stopped: std::sync::OnceLock::new(),
        samples,
        names,
    });
    let work = {
        let shared = shared.clone();
        async move {
            match model {
                Model::Closed { concurrency } => {
                    closed(shared, concurrency).await;
                    None
                }
                Model::Open {
                    rate,
                    poisson,
                    max_in_flight,
                } => Some(open(shared, rate, poisson, max_in_flight).await),
            }
        }
    };
    let mut work = std::pin::pin!(work);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let lag = loop {
        tokio::select! {
            lag = &mut work => break lag,
            _ = ticker.tick() => {
                let (n, errors, p95) = shared.progress();
                progress(shared.start.elapsed().as_secs_f64(), n, errors, p95);
            }
        }
    };
    // Rates are over the window in which counted requests were sent (the answers still in
    // flight at its end are waited for and counted, as they started inside it).
    let end = shared.stopped.get().copied().unwrap_or_else(Instant::now);
    let seconds = end
        .saturating_duration_since(shared.warm_until)
        .as_secs_f64();
    let tallies = shared.tallies.lock().map(|t| t.clone()).unwrap_or_default();
    Outcome {
        tallies,
        seconds,
        lag,
    }
}

async fn closed(shared: Arc<Shared>, concurrency: usize) {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let shared = shared.clone();
        workers.spawn(async move {
            loop {
                let now = Instant::now();
                let Some((n, warm)) = shared.claim(now) else {
                    break;
                };
                shared.one(n, warm, now).await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

/// The open loop. The schedule is kept by a thread of its own with the OS's sleep (tens of
/// microseconds late), not by the runtime's timers (which tick once a millisecond): every
/// latency is measured from the due time, so a late send would be counted against the server.
async fn open(shared: Arc<Shared>, rate: f64, poisson: bool, max_in_flight: usize) -> Lag {
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let runtime = tokio::runtime::Handle::current();
    let schedule = {
        let permits = permits.clone();
        tokio::task::spawn_blocking(move || schedule(&shared, &runtime, &permits, rate, poisson))
    };
    let lag = schedule.await.unwrap_or_default();
    // Every request holds a permit until it is recorded: taking them all waits for the rest.
    let all = u32::try_from(max_in_flight.max(1)).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    lag
}

fn schedule(
    shared: &Arc<Shared>,
    runtime: &tokio::runtime::Handle,
    permits: &Arc<tokio::sync::Semaphore>,
    rate: f64,
    poisson: bool,
) -> Lag {
    let mut rng = fastrand::Rng::with_seed(shared.span.seed);
    let mut lag_hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok();
    let mut late = 0u64;
    let mut offset = 0.0f64;
    loop {
        let due = shared.start + Duration::from_secs_f64(offset);
        let gap = if poisson {
            // Exponential gaps: -ln(U)/rate, U in (0, 1].
            -(1.0 - rng.f64()).ln() / rate
        } else {
            1.0 / rate
        };
        offset += gap;
        let Some((n, warm)) = shared.claim(due) else {
            break;
        };
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            // All slots busy: wait (the wait is counted in the latency and reported as lag).
            Err(_) => match runtime.block_on(permits.clone().acquire_owned()) {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let behind = Instant::now().saturating_duration_since(due);
        if behind > Duration::from_millis(2) {
            late += 1;
        }
        if let Some(h) = &mut lag_hist {
            let _ = h.record(u64::try_from(behind.as_micros()).unwrap_or(u64::MAX).max(1));
        }
        let shared = shared.clone();
        runtime.spawn(async move {
            shared.one(n, warm, due).await;
            drop(permit);
        });
    }
    let (max_ms, p99_ms) = lag_hist.map_or((0.0, 0.0), |h| {
        (
            h.max() as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
        )
    });
    Lag {
        late,
        max_ms,
        p99_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_interleave() {
        let mix = Mix::new(Vec::new(), &[3, 1]);
        let order: Vec<usize> = (0..8).map(|n| mix.scenario(n)).collect();
        assert_eq!(order, vec![0, 0, 1, 0, 0, 0, 1, 0]);
        let even = Mix::new(Vec::new(), &[1, 1]);
        assert_eq!(
            (0..4).map(|n| even.scenario(n)).collect::<Vec<_>>(),
            vec![0, 1, 0, 1]
        );
    }
}
