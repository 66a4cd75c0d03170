//! What outlives a request: rate-limit buckets, idempotency records and stored responses.
//!
//! Handlers and middleware see only the three traits below, through [`Stores`]. The
//! in-process implementations are the default; a shared one (for several replicas behind one
//! balancer) implements the same traits and is handed to the app instead, without touching a
//! handler or a middleware. Nothing here knows the app's state, routes or error type.

mod buckets;
mod idempotency;
pub mod indexes;
mod responses;

pub use buckets::{Budget, Taken};
pub use idempotency::{Claim, Fingerprint, Recorded};
pub use responses::StoredResponse;

use std::sync::Arc;
use std::time::Duration;

/// Token buckets, one per key. A bucket holds `capacity` tokens and refills completely in
/// `budget.refill`; each request takes one.
pub trait Buckets: Send + Sync {
    /// Takes one token from the bucket of `key`, creating it full if it is new.
    fn take(&self, key: &str, budget: Budget) -> Taken;
}

/// Idempotency records: which key ran with which request, and what it answered.
pub trait IdempotencyRecords: Send + Sync {
    /// Claims `key` for a request with `fingerprint`: run it, replay what it answered, or
    /// refuse it (still running, or the key was used with another request).
    fn claim(&self, key: &str, fingerprint: Fingerprint) -> Claim;
    /// Records the answer of a claimed key (`None`: forget the key, so a retry runs again).
    fn finish(&self, key: &str, fingerprint: Fingerprint, answer: Option<Recorded>);
}

/// Stored responses (`store: true`), oldest evicted first past the capacity. Each belongs to
/// the project that stored it: to any other project it does not exist.
pub trait Responses: Send + Sync {
    /// Stores `entry` under `id`, in `project`.
    fn put(&self, project: &str, id: String, entry: StoredResponse);
    /// The entry for `id`, if `project` stored it.
    fn get(&self, project: &str, id: &str) -> Option<StoredResponse>;
    /// Removes `id` if `project` stored it; true if it did.
    fn delete(&self, project: &str, id: &str) -> bool;
    /// Proves the store can be written (a readiness probe); the number of probes so far.
    fn probe_write(&self) -> u64;
}

/// The sizes of the in-process stores.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    /// How long an idempotency record is kept.
    pub idempotency_ttl: Duration,
    /// Most idempotency records kept at once (the oldest go first).
    pub idempotency_keys: usize,
    /// Most stored responses kept at once (the oldest go first).
    pub responses: usize,
}

/// The three stores an app uses.
#[derive(Clone)]
pub struct Stores {
    /// Rate-limit buckets.
    pub buckets: Arc<dyn Buckets>,
    /// Idempotency records.
    pub idempotency: Arc<dyn IdempotencyRecords>,
    /// Stored responses.
    pub responses: Arc<dyn Responses>,
}

impl Stores {
    /// The in-process stores, sized by `capacity`.
    pub fn in_memory(capacity: Capacity) -> Self {
        Self {
            buckets: Arc::new(buckets::InMemory::default()),
            idempotency: Arc::new(idempotency::InMemory::new(
                capacity.idempotency_ttl,
                capacity.idempotency_keys,
            )),
            responses: Arc::new(responses::InMemory::new(capacity.responses)),
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked: every mutation in
/// these stores is a single map operation, so a poisoned lock still guards whole data.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
