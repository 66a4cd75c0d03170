//! The open loop: requests due on a schedule (equal or Poisson gaps), whatever the server does.
//!
//! Due times are kept to a grid (the tick, 1 ms by default): at high rates the requests of a
//! tick share one timer and one wake-up of the target, which is most of what a request costs
//! the generator, while each is still timed from the instant it was due. A zero tick keeps
//! every request's own microsecond.
//!
//! A scheduler task waits for each due time on an [`Alarm`] (on Linux a kernel timer read
//! through the runtime's reactor, so it wakes microseconds after the due time rather than at
//! the runtime timer's next millisecond, and without a thread of its own to switch to), then
//! hands every request now due to a long-lived worker task; the worker sends it, times it from
//! when it was due and records it. Workers are started as the load needs them, one more
//! whenever a request is due and none is free, up to `max_in_flight`; at that cap the scheduler
//! waits for a free one, and its wait is reported as lag. Per request there is no task, no
//! subscription and no allocation beyond the request's own.

use super::alarm::Alarm;
use super::{Lag, Shared};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A request handed to a worker: its number, whether it is warm-up, when it was due, and its
/// place among those in flight.
struct Job {
    n: u64,
    warm: bool,
    due: Instant,
    _slot: OwnedSemaphorePermit,
}

/// Sent later than this after its due time, a request counts as late.
const LATE: Duration = Duration::from_millis(2);

/// Runs the open loop until the span ends, then waits for every request in flight.
pub(super) async fn run(
    shared: Arc<Shared>,
    rate: f64,
    poisson: bool,
    max_in_flight: usize,
    tick: Duration,
) -> Lag {
    // A task of the runtime, so that the scheduler and the workers share its threads (the
    // caller's future may be polled on another thread, by `block_on`).
    let scheduler = tokio::spawn(async move {
        let mut schedule = Schedule::new(shared, max_in_flight);
        let lag = schedule.run(rate, poisson, tick).await;
        (lag, std::mem::take(&mut schedule.workers))
    });
    let Ok((lag, workers)) = scheduler.await else {
        return Lag::default();
    };
    // The channel is closed: each worker ends once it is drained.
    for worker in workers {
        let _ = worker.await;
    }
    lag
}

struct Schedule {
    shared: Arc<Shared>,
    /// Requests in flight, at most `max_in_flight`.
    slots: Arc<Semaphore>,
    max_in_flight: usize,
    /// Workers waiting for a request, less the requests sent to them and not yet taken.
    spare: Arc<AtomicIsize>,
    send: async_channel::Sender<Job>,
    take: async_channel::Receiver<Job>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Schedule {
    fn new(shared: Arc<Shared>, max_in_flight: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        let (send, take) = async_channel::unbounded();
        Self {
            shared,
            slots: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            spare: Arc::new(AtomicIsize::new(0)),
            send,
            take,
            workers: Vec::new(),
        }
    }

    async fn run(&mut self, rate: f64, poisson: bool, tick: Duration) -> Lag {
        let mut alarm = Alarm::new();
        let mut lag_hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok();
        let mut late = 0u64;
        let mut stripe = Stripe::new(rate, poisson, tick, &self.shared.span);
        for (n, offset, _) in stripe.by_ref() {
            let due = self.shared.start + offset;
            let Some((_, warm)) = self.shared.claim(due) else {
                break;
            };
            alarm.until(due).await;
            let slot = match self.slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                // All slots busy: wait (the wait is counted in the latency and reported as lag).
                Err(_) => match self.slots.clone().acquire_owned().await {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let behind = Instant::now().saturating_duration_since(due);
            if behind > LATE {
                late += 1;
            }
            if let Some(h) = &mut lag_hist {
                let _ = h.record(u64::try_from(behind.as_micros()).unwrap_or(u64::MAX).max(1));
            }
            self.dispatch(Job {
                n,
                warm,
                due,
                _slot: slot,
            });
        }
        if let Some(end) = stripe.ended_at {
            self.shared.finish(self.shared.start + end);
        }
        self.send.close();
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

    /// To a spare worker, or to a new one if none is spare (a slot was free, so there are
    /// fewer than `max_in_flight` busy).
    fn dispatch(&mut self, job: Job) {
        if self.spare.fetch_sub(1, Ordering::AcqRel) > 0 || self.workers.len() >= self.max_in_flight
        {
            // Unbounded: never waits. It fails only once closed, which the scheduler does last.
            let _ = self.send.try_send(job);
            return;
        }
        self.spare.fetch_add(1, Ordering::AcqRel);
        let worker = worker(
            self.shared.clone(),
            self.take.clone(),
            self.spare.clone(),
            job,
        );
        self.workers.push(tokio::spawn(worker));
    }
}

/// Sends `first`, then whatever the scheduler hands it, until the channel closes.
async fn worker(
    shared: Arc<Shared>,
    take: async_channel::Receiver<Job>,
    spare: Arc<AtomicIsize>,
    first: Job,
) {
    let mut aborted = shared.abort.subscribe();
    let mut connection = crate::latency::probe::Connection::default();
    let mut job = first;
    loop {
        shared
            .one(job.n, job.warm, job.due, &mut aborted, &mut connection)
            .await;
        drop(job);
        spare.fetch_add(1, Ordering::AcqRel);
        job = match take.recv().await {
            Ok(job) => job,
            Err(_) => break,
        };
    }
}

/// The single schedule: each request's due time, in seconds from the start, in order. Every
/// segment of a split run computes all of it (the same seed gives the same Poisson gaps) and
/// keeps its own stripe.
pub(super) struct Arrivals {
    rate: f64,
    poisson: bool,
    tick: f64,
    ramp: f64,
    rng: fastrand::Rng,
    /// Where the next request would be due at the full rate.
    offset: f64,
}

impl Arrivals {
    pub(super) fn new(rate: f64, poisson: bool, tick: Duration, ramp: Duration, seed: u64) -> Self {
        Self {
            rate,
            poisson,
            tick: tick.as_secs_f64(),
            ramp: ramp.as_secs_f64(),
            rng: fastrand::Rng::with_seed(seed),
            offset: 0.0,
        }
    }
}

impl Iterator for Arrivals {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        let at = on_grid(ramped(self.offset, self.ramp), self.tick);
        self.offset += if self.poisson {
            // Exponential gaps: -ln(U)/rate, U in (0, 1].
            -(1.0 - self.rng.f64()).ln() / self.rate
        } else {
            1.0 / self.rate
        };
        Some(at)
    }
}

/// This segment's requests of the single schedule, as (number from 0, due time from the
/// start, warm-up), until the schedule's end: its duration or its count of measured requests,
/// whichever segment's request reaches it.
pub(super) struct Stripe {
    arrivals: Arrivals,
    next: u64,
    counted: u64,
    warm_until: Duration,
    end: Option<Duration>,
    requests: Option<u64>,
    segment: super::Segment,
    /// Once the schedule has ended: when (from the start).
    pub(super) ended_at: Option<Duration>,
}

impl Stripe {
    pub(super) fn new(rate: f64, poisson: bool, tick: Duration, span: &super::Span) -> Self {
        let warm_until = span.ramp + span.warmup;
        Self {
            arrivals: Arrivals::new(rate, poisson, tick, span.ramp, span.seed),
            next: 0,
            counted: 0,
            warm_until,
            end: span.duration.map(|d| warm_until + d),
            requests: span.requests,
            segment: span.segment,
            ended_at: None,
        }
    }
}

impl Iterator for Stripe {
    type Item = (u64, Duration, bool);

    fn next(&mut self) -> Option<Self::Item> {
        while self.ended_at.is_none() {
            let at = Duration::from_secs_f64(self.arrivals.next()?);
            let n = self.next;
            self.next += 1;
            let warm = at < self.warm_until;
            if !warm {
                let over = self.end.is_some_and(|end| at >= end)
                    || self.requests.is_some_and(|max| self.counted >= max);
                if over {
                    self.ended_at = Some(at);
                    return None;
                }
                self.counted += 1;
            }
            if self.segment.owns(n) {
                return Some((n, at, warm));
            }
        }
        None
    }
}

/// When a request is due on a ramp of `ramp` seconds, if it would be due at `offset` at the
/// full rate: the rate rises linearly over the ramp, so `offset = t²/2T` until `T/2`.
pub(super) fn ramped(offset: f64, ramp: f64) -> f64 {
    if ramp <= 0.0 {
        offset
    } else if offset < ramp / 2.0 {
        (2.0 * ramp * offset).sqrt()
    } else {
        offset + ramp / 2.0
    }
}

/// `at` (seconds from the start) on the nearest instant of a grid of `tick` seconds (none
/// when zero). Rounding, not raising, keeps the mean rate and the start where they were.
fn on_grid(at: f64, tick: f64) -> f64 {
    if tick > 0.0 {
        (at / tick).round() * tick
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_rises_linearly_then_keeps_the_full_rate() {
        // At 100/s on a 10 s ramp: the rate is 50/s at 5 s, so 125 requests by then, the
        // ramp's 500 by 10 s, then 100 a second.
        let at = |n: f64| ramped(n / 100.0, 10.0);
        assert!((at(125.0) - 5.0).abs() < 1e-9);
        assert!((at(500.0) - 10.0).abs() < 1e-9);
        assert!((at(600.0) - 11.0).abs() < 1e-9);
        assert_eq!(ramped(3.0, 0.0), 3.0);
    }

    fn span(duration: Option<u64>, requests: Option<u64>, segment: &str) -> super::super::Span {
        super::super::Span {
            duration: duration.map(Duration::from_millis),
            requests,
            warmup: Duration::from_millis(300),
            ramp: Duration::from_millis(200),
            seed: 7,
            segment: super::super::Segment::parse(segment).unwrap_or_else(|e| panic!("{e}")),
            start_at: None,
        }
    }

    #[test]
    fn the_segments_of_a_split_run_together_are_its_schedule_exactly() {
        // 333.3/s divides neither into whole milliseconds nor by the segment counts.
        for (poisson, tick) in [(false, 0), (true, 0), (false, 1), (true, 1)] {
            let tick = Duration::from_millis(tick);
            for (duration, requests) in [(Some(2_000), None), (None, Some(401))] {
                let whole: Vec<_> = Stripe::new(
                    1000.0 / 3.0,
                    poisson,
                    tick,
                    &span(duration, requests, "1/1"),
                )
                .collect();
                let measured = whole.iter().filter(|(_, _, warm)| !warm).count();
                assert!(whole.len() > 500 && measured > 400, "{}", whole.len());
                if let Some(r) = requests {
                    assert_eq!(measured as u64, r);
                }
                for count in [2u32, 3, 7] {
                    let mut union = Vec::new();
                    for i in 1..=count {
                        let mut stripe = Stripe::new(
                            1000.0 / 3.0,
                            poisson,
                            tick,
                            &span(duration, requests, &format!("{i}/{count}")),
                        );
                        union.extend(stripe.by_ref());
                        assert!(stripe.ended_at.is_some());
                    }
                    union.sort_by_key(|(n, _, _)| *n);
                    assert_eq!(
                        union, whole,
                        "{count} segments, poisson {poisson}, {tick:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn due_times_keep_to_the_tick_and_to_the_rate() {
        // 1,500/s on a 1 ms grid: 3 requests every 2 ms, two of them sharing an instant.
        let due: Vec<f64> = (0..6)
            .map(|n| on_grid(n as f64 / 1500.0, 0.001) * 1000.0)
            .collect();
        let ms: Vec<i64> = due.iter().map(|d| d.round() as i64).collect();
        assert_eq!(ms, [0, 1, 1, 2, 3, 3]);
        assert!(due.iter().all(|d| (d - d.round()).abs() < 1e-9), "{due:?}");
        // Over a second the count per grid instant adds up to the rate, none is lost.
        let last = on_grid(1499.0 / 1500.0, 0.001);
        assert!((last - 0.999).abs() < 1e-9, "{last}");
        // No tick: each request keeps its own time.
        assert_eq!(on_grid(0.000_123, 0.0), 0.000_123);
    }
}
