//! In-process token buckets. One mutex guards all buckets, which keeps the count exact under
//! concurrency (N concurrent requests against a limit of N: all pass, the next is refused).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets past this count are pruned of full (idle) ones.
const PRUNE_ABOVE: usize = 100_000;

/// A bucket's size and refill time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Tokens in a full bucket.
    pub capacity: u32,
    /// Time for an empty bucket to fill again.
    pub refill: Duration,
}

/// The outcome of taking a token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Taken {
    /// Whether there was a token to take.
    pub allowed: bool,
    /// The bucket's capacity.
    pub limit: u32,
    /// Whole tokens left.
    pub remaining: u32,
    /// Time until the bucket is full again.
    pub reset: Duration,
    /// Time until one token is available (zero when allowed).
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// All buckets of this process. The map is seeded per process (foldhash: a key is hashed on
/// every request, and SipHash was a visible share of the cheapest routes).
#[derive(Debug, Default)]
pub struct InMemory {
    buckets: Mutex<HashMap<String, Bucket, foldhash::fast::RandomState>>,
}

impl InMemory {
    /// Takes a token for `key` at `now`.
    pub fn take_at(&self, key: &str, budget: Budget, now: Instant) -> Taken {
        let capacity = f64::from(budget.capacity.max(1));
        let rate = capacity / budget.refill.as_secs_f64().max(1e-3);
        let mut buckets = super::lock(&self.buckets);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < capacity
            });
        }
        // Look up by &str first: a hit (the usual case) allocates nothing.
        let bucket = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.to_owned()).or_insert(Bucket {
                tokens: capacity,
                updated: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        Taken::of(budget, bucket.tokens, allowed)
    }
}

impl Taken {
    /// The outcome for a bucket of `budget` left with `tokens` after a take (`allowed`: one
    /// was taken). The shared store's script keeps the same bucket, so both answer alike.
    pub(super) fn of(budget: Budget, tokens: f64, allowed: bool) -> Self {
        let capacity = f64::from(budget.capacity.max(1));
        let rate = capacity / budget.refill.as_secs_f64().max(1e-3);
        let retry_after = if allowed {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(((1.0 - tokens) / rate).max(0.0))
        };
        Taken {
            allowed,
            limit: budget.capacity,
            remaining: tokens.floor().max(0.0) as u32,
            reset: Duration::from_secs_f64(((capacity - tokens) / rate).max(0.0)),
            retry_after,
        }
    }
}

impl super::Buckets for InMemory {
    fn take(&self, key: &str, budget: Budget) -> super::Pending<Taken> {
        super::ready(self.take_at(key, budget, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(capacity: u32, secs: u64) -> Budget {
        Budget {
            capacity,
            refill: Duration::from_secs(secs),
        }
    }

    #[test]
    fn allows_the_capacity_then_refuses() {
        let b = InMemory::default();
        let now = Instant::now();
        let d: Vec<Taken> = (0..4).map(|_| b.take_at("k", budget(3, 60), now)).collect();
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
    fn refills_over_time_and_keys_are_separate() {
        let b = InMemory::default();
        let t0 = Instant::now();
        assert!(b.take_at("a", budget(2, 2), t0).allowed);
        assert!(b.take_at("a", budget(2, 2), t0).allowed);
        assert!(!b.take_at("a", budget(2, 2), t0).allowed);
        assert!(b.take_at("b", budget(2, 2), t0).allowed, "another key");
        assert!(
            b.take_at("a", budget(2, 2), t0 + Duration::from_secs(1))
                .allowed,
            "one token back after 1s"
        );
    }
}
