//! The load generator: a closed loop (N requests in flight, each sent when the last ended)
//! or an open loop (requests due at a constant or Poisson rate, whatever the server does).
//!
//! In the open loop every time is measured from the request's *intended* start, so a server
//! that stalls cannot hide the queue it causes (coordinated omission); if the generator itself
//! falls behind its schedule, it says so (`Lag`) instead of quietly sending fewer requests.

mod alarm;
mod open;

use super::probe::{Connection, Prepared, Sample};
use super::stats::ScenarioTally;
use crate::segment::Segment;
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
        /// Due times are kept to this grid from the start: requests due within the same
        /// tick go out together at its instant and are timed from it. Zero keeps each
        /// request's own microsecond, at a CPU cost per request (a timer and a wake-up of
        /// the target each) that a grid shares among the requests of a tick.
        tick: Duration,
    },
}

impl Model {
    /// The default tick of the open loop: a millisecond, the resolution of the runtime's
    /// timers and of oha's schedule.
    pub const DEFAULT_TICK: Duration = Duration::from_millis(1);

    /// The same load at `rate` requests per second (an open loop; a closed one becomes the
    /// default open loop).
    pub(crate) fn at_rate(self, rate: f64) -> Self {
        match self {
            Model::Open {
                poisson,
                max_in_flight,
                tick,
                ..
            } => Model::Open {
                rate,
                poisson,
                max_in_flight,
                tick,
            },
            Model::Closed { .. } => Model::Open {
                rate,
                poisson: false,
                max_in_flight: 10_000,
                tick: Self::DEFAULT_TICK,
            },
        }
    }
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
    /// Before the warm-up, the load rises from nothing to its full rate or concurrency.
    pub ramp: Duration,
    /// Seeds the Poisson gaps.
    pub seed: u64,
    /// This worker's share of a run split across several.
    pub segment: Segment,
    /// When the measured phase begins on the wall clock (the ramp and warm-up before it), so
    /// that the workers of a split run share one schedule; `None`: as soon as possible.
    pub start_at: Option<std::time::SystemTime>,
}

impl Span {
    /// When the run (its ramp, else its warm-up) begins on this machine's monotonic clock:
    /// now, or the instant `start_at` less the ramp and warm-up; `None` when that has passed.
    pub(crate) fn begin(&self) -> Option<Instant> {
        let now = Instant::now();
        let Some(at) = self.start_at else {
            return Some(now);
        };
        let begin = at.checked_sub(self.ramp + self.warmup)?;
        let ahead = begin.duration_since(std::time::SystemTime::now()).ok()?;
        Some(now + ahead)
    }
}

/// What the generator knows of its own timing (open loop).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
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
pub struct LoadOutcome {
    /// Per scenario.
    pub tallies: Vec<ScenarioTally>,
    /// Seconds from the end of the warm-up to the end of sending (the measured window).
    pub seconds: f64,
    /// Seconds from the end of the warm-up to the last answer: what a saturated server
    /// really took to serve the window's requests.
    pub drained_seconds: f64,
    /// Open loop only.
    pub lag: Option<Lag>,
    /// What the process spent on CPU (user and system) over the run, where the OS says.
    pub cpu: Option<Duration>,
    /// From the start of the run to the last answer.
    pub wall: Duration,
    /// Requests sent, warm-up included.
    pub sent: u64,
    /// Why the run stopped early, if it did (`--abort-on-breach`).
    pub aborted: Option<Abort>,
}

/// A run stopped once a budget could no longer hold.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Abort {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// The budget lost, as `scenario: budget`.
    pub budget: String,
}

/// What the progress callback is told.
#[derive(Debug, Clone)]
pub enum Progress {
    /// About once a second: seconds since the start, counted requests, errors, p95 (ms).
    Tick(f64, u64, u64, Option<f64>),
    /// A step of a sweep or a repeat begins.
    Step(String),
}

/// Says which budget (as `scenario: budget`) can no longer hold, given the tallies and the
/// most requests still to be counted.
pub type Doom<'a> = dyn Fn(&[ScenarioTally], u64) -> Option<String> + Sync + 'a;

/// Shared between the generator's tasks.
pub(super) struct Shared {
    mix: Mix,
    tallies: Mutex<Vec<ScenarioTally>>,
    /// Requests claimed so far (all, warm-up included).
    claimed: AtomicU64,
    /// Counted requests claimed so far.
    counted: AtomicU64,
    /// The fastest answer so far (µs), to bound how many more a closed loop can send.
    fastest_us: AtomicU64,
    model: Model,
    /// Set once the run is aborted: nothing more is sent and requests in flight are dropped.
    pub(super) abort: tokio::sync::watch::Sender<bool>,
    pub(super) start: Instant,
    warm_until: Instant,
    pub(super) span: Span,
    /// When the generator stopped sending: the end of the measured window.
    stopped: std::sync::OnceLock<Instant>,
    /// Where every request is written as a JSON line, if asked.
    samples: Option<Samples>,
}

/// Where every request is written as a JSON line (`--samples`), shared by the runs of a
/// repeat or a sweep.
#[derive(Clone)]
pub struct Samples {
    out: Arc<Mutex<Box<dyn std::io::Write + Send>>>,
    names: Arc<Vec<String>>,
    step: u32,
}

impl Samples {
    /// Creates the file; `names` are the scenarios'.
    pub fn create(
        path: &std::path::Path,
        names: Vec<String>,
    ) -> Result<Self, crate::error::HarnessError> {
        let file =
            std::fs::File::create(path).map_err(|source| crate::error::HarnessError::Io {
                context: format!("cannot create {}", path.display()),
                source,
            })?;
        Ok(Self {
            out: Arc::new(Mutex::new(Box::new(std::io::BufWriter::new(file)))),
            names: Arc::new(names),
            step: 0,
        })
    }

    /// The same file, for run or sweep step `step`.
    pub fn step(&self, step: u32) -> Self {
        Self {
            step,
            ..self.clone()
        }
    }
}

impl Shared {
    /// Ends the measured window at `now` (or at the duration's end, if earlier): the open
    /// loop's schedule reached its end at a request of another segment.
    pub(super) fn finish(&self, now: Instant) {
        let end = self.span.duration.map(|d| self.warm_until + d);
        let at = end.map_or(now, |end| now.min(end));
        let _ = self.stopped.set(at.max(self.warm_until));
    }

    /// Claims the next request: its number and whether it is warm-up, or `None` to stop.
    pub(super) fn claim(&self, now: Instant) -> Option<(u64, bool)> {
        if *self.abort.borrow() {
            let _ = self.stopped.set(now.max(self.warm_until));
            return None;
        }
        let warm = now < self.warm_until;
        if !warm {
            let end = self.span.duration.map(|d| self.warm_until + d);
            let claimed = self.counted.fetch_add(1, Ordering::Relaxed);
            let over = end.is_some_and(|end| now >= end)
                || self.span.requests.is_some_and(|max| claimed >= max);
            if over {
                // A worker that comes back late (a long stream) does not stretch the window:
                // it ends when the duration does.
                let at = end.map_or(now, |end| now.min(end));
                let _ = self.stopped.set(at.max(self.warm_until));
                return None;
            }
        }
        Some((self.claimed.fetch_add(1, Ordering::Relaxed), warm))
    }

    /// Sends request `n`, due at `due`, on the sender's `connection`, and records it;
    /// `aborted` is the sender's own view of the abort switch.
    pub(super) async fn one(
        &self,
        n: u64,
        warm: bool,
        due: Instant,
        aborted: &mut tokio::sync::watch::Receiver<bool>,
        connection: &mut Connection,
    ) {
        let scenario = self.mix.scenario(n);
        let body = self.mix.sent[scenario].fetch_add(1, Ordering::Relaxed);
        let send =
            self.mix.requests[scenario].send(usize::try_from(body).unwrap_or(0), due, connection);
        let mut sample: Sample = tokio::select! {
            sample = send => sample,
            // An aborted run drops what is in flight (a hung server would hold it until the
            // timeout) and counts none of it.
            _ = aborted.wait_for(|a| *a) => return,
        };
        sample.sent_at = due.saturating_duration_since(self.start);
        let us = u64::try_from(sample.latency.as_micros()).unwrap_or(u64::MAX);
        self.fastest_us.fetch_min(us.max(1), Ordering::Relaxed);
        if let Ok(mut tallies) = self.tallies.lock() {
            tallies[scenario].record(&sample, warm);
        }
        if let Some(samples) = &self.samples {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let line = serde_json::json!({
                "step": samples.step,
                "n": n,
                "scenario": samples.names.get(scenario),
                "warmup": warm,
                "due_ms": ms(due.saturating_duration_since(self.start)),
                "latency_ms": ms(sample.latency),
                "ttft_ms": sample.ttft.map(ms),
                "itl_ms": sample.itl.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
                "output_tokens": sample.tokens.map(|(t, _)| t),
                "error": sample.error,
            });
            if let Ok(mut out) = samples.out.lock() {
                let _ = writeln!(out, "{line}");
            }
        }
    }

    /// The most counted requests still to be recorded: those in flight and those the
    /// generator may still send (from the schedule, the request count, or for a closed loop,
    /// from the fastest answer seen).
    fn remaining(&self, now: Instant, recorded: u64) -> u64 {
        let claimed = self.counted.load(Ordering::Relaxed);
        let in_flight = claimed.saturating_sub(recorded);
        let by_count = self.span.requests.map(|max| max.saturating_sub(claimed));
        let by_time = self.span.duration.map(|d| {
            let left = (self.warm_until + d)
                .saturating_duration_since(now.max(self.warm_until))
                .as_secs_f64();
            match self.model {
                Model::Open { rate, .. } => {
                    // Poisson counts can exceed their mean: six deviations more is beyond doubt.
                    let mean = rate * left;
                    (mean + 6.0 * mean.sqrt() + 10.0).ceil() as u64
                }
                Model::Closed { concurrency } => {
                    let fastest = self.fastest_us.load(Ordering::Relaxed).max(1) as f64 / 1e6;
                    let each = (left / fastest).ceil().min(1e15) as u64 + 1;
                    each.saturating_mul(concurrency as u64)
                }
            }
        });
        let future = match (by_count, by_time) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => u64::MAX / 4,
        };
        in_flight.saturating_add(future)
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

/// Runs `mix` under `model` for `span`; `progress` is told about once a second of the
/// counted requests, errors and current p95. With `doom`, the run stops as soon as it names
/// a budget that can no longer hold.
pub async fn run(
    mix: Mix,
    tallies: Vec<ScenarioTally>,
    model: Model,
    span: Span,
    samples: Option<Samples>,
    progress: &(dyn Fn(Progress) + Sync),
    doom: Option<&Doom<'_>>,
) -> LoadOutcome {
    let cpu_before = process_cpu();
    // A closed loop's segment runs its share of the workers and of the requests; an open
    // loop's keeps its stripe of the whole schedule (see `open`).
    let (model, span) = match model {
        Model::Closed { concurrency } if !span.segment.is_whole() => (
            Model::Closed {
                concurrency: usize::try_from(span.segment.share(concurrency as u64))
                    .unwrap_or(1)
                    .max(1),
            },
            Span {
                requests: span.requests.map(|r| span.segment.share(r)),
                ..span
            },
        ),
        _ => (model, span),
    };
    // A start that has passed was refused before the load; were it to pass since, now.
    let start = span.begin().unwrap_or_else(Instant::now);
    let shared = Arc::new(Shared {
        mix,
        tallies: Mutex::new(tallies),
        claimed: AtomicU64::new(0),
        counted: AtomicU64::new(0),
        fastest_us: AtomicU64::new(u64::MAX),
        model,
        abort: tokio::sync::watch::Sender::new(false),
        start,
        warm_until: start + span.ramp + span.warmup,
        span,
        stopped: std::sync::OnceLock::new(),
        samples,
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
                    tick,
                } => Some(open::run(shared, rate, poisson, max_in_flight, tick).await),
            }
        }
    };
    let mut work = std::pin::pin!(work);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut watch = tokio::time::interval(Duration::from_millis(250));
    let mut aborted = None;
    let lag = loop {
        tokio::select! {
            lag = &mut work => break lag,
            _ = ticker.tick() => {
                let (n, errors, p95) = shared.progress();
                progress(Progress::Tick(shared.start.elapsed().as_secs_f64(), n, errors, p95));
            }
            _ = watch.tick(), if doom.is_some() && aborted.is_none() => {
                let now = Instant::now();
                if now < shared.warm_until {
                    continue;
                }
                let lost = shared.tallies.lock().ok().and_then(|tallies| {
                    let recorded = tallies.iter().map(|t| t.requests).sum();
                    let remaining = shared.remaining(now, recorded);
                    doom.and_then(|doom| doom(&tallies, remaining))
                });
                if let Some(budget) = lost {
                    aborted = Some(Abort { at_s: shared.start.elapsed().as_secs_f64(), budget });
                    shared.abort.send_replace(true);
                }
            }
        }
    };
    // Rates are over the window in which counted requests were sent (the answers still in
    // flight at its end are waited for and counted, as they started inside it).
    let end = shared.stopped.get().copied().unwrap_or_else(Instant::now);
    let seconds = end
        .saturating_duration_since(shared.warm_until)
        .as_secs_f64();
    let drained_seconds = Instant::now()
        .saturating_duration_since(shared.warm_until)
        .as_secs_f64();
    let tallies = shared.tallies.lock().map(|t| t.clone()).unwrap_or_default();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    LoadOutcome {
        tallies,
        seconds,
        drained_seconds,
        lag,
        cpu,
        wall: shared.start.elapsed(),
        sent: shared.claimed.load(Ordering::Relaxed),
        aborted,
    }
}

/// The open loop with every request due at once, `requests` of them and at most `in_flight`
/// at a time, against an embeddings endpoint at `url` (the API root): the generator's own
/// cost per request beside a bare client's, for the criterion benchmarks. Returns the
/// requests recorded without an error.
#[cfg(feature = "bench-internals")]
pub async fn flat_out(url: &str, requests: u64, in_flight: usize) -> u64 {
    let target = crate::target::TargetConfig::new(url, None, Duration::from_secs(10));
    let Ok(client) = super::probe::client(&target, in_flight) else {
        return 0;
    };
    let body = serde_json::json!({"model": "m", "input": "bench"});
    let Ok(prepared) = Prepared::new(&client, &target, "/v1/embeddings", &[body], false, false)
    else {
        return 0;
    };
    let scenario = super::slo::defaults("m", "m").pop();
    let Some(scenario) = scenario else {
        return 0;
    };
    let tallies = vec![ScenarioTally::new(&scenario)];
    let model = Model::Open {
        rate: 1e9,
        poisson: false,
        max_in_flight: in_flight,
        tick: Duration::ZERO,
    };
    let span = Span {
        duration: None,
        requests: Some(requests),
        warmup: Duration::ZERO,
        ramp: Duration::ZERO,
        seed: 1,
        segment: Segment::WHOLE,
        start_at: None,
    };
    let mix = Mix::new(vec![prepared], &[1]);
    let outcome = run(mix, tallies, model, span, None, &|_| {}, None).await;
    outcome.tallies.iter().map(|t| t.requests - t.errors).sum()
}

/// The CPU time (user and system) this process has used so far, where the OS says.
fn process_cpu() -> Option<Duration> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{getrusage, UsageWho};
        use nix::sys::time::TimeValLike as _;
        let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let micros = usage.user_time().num_microseconds() + usage.system_time().num_microseconds();
        Some(Duration::from_micros(u64::try_from(micros).ok()?))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

async fn closed(shared: Arc<Shared>, concurrency: usize) {
    let mut workers = tokio::task::JoinSet::new();
    let concurrency = concurrency.max(1);
    for i in 0..concurrency {
        let shared = shared.clone();
        // A ramp starts the workers one after another across it.
        let begin = shared.start + shared.span.ramp.mul_f64(i as f64 / concurrency as f64);
        workers.spawn(async move {
            tokio::time::sleep_until(begin.into()).await;
            let mut aborted = shared.abort.subscribe();
            let mut connection = Connection::default();
            loop {
                let now = Instant::now();
                let Some((n, warm)) = shared.claim(now) else {
                    break;
                };
                shared
                    .one(n, warm, now, &mut aborted, &mut connection)
                    .await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_at_an_instant_begins_the_warm_up_before_it_unless_that_has_passed() {
        let span = |ahead: Duration| Span {
            duration: None,
            requests: Some(1),
            warmup: Duration::from_secs(2),
            ramp: Duration::from_secs(1),
            seed: 1,
            segment: Segment::WHOLE,
            start_at: Some(std::time::SystemTime::now() + ahead),
        };
        let now = Instant::now();
        let begin = span(Duration::from_secs(60)).begin();
        // 60 s ahead, less 3 s of ramp and warm-up (the clocks are read a moment apart).
        let from_now = begin.map(|b| b.saturating_duration_since(now).as_secs_f64());
        assert!(
            from_now.is_some_and(|s| (s - 57.0).abs() < 1.0),
            "{from_now:?}"
        );
        assert_eq!(span(Duration::from_secs(1)).begin(), None);
        let unset = Span {
            start_at: None,
            ..span(Duration::ZERO)
        };
        assert!(unset.begin().is_some_and(|b| b >= now));
    }

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
