//! What outlives a request: rate-limit buckets, idempotency records and stored responses.
//!
//! Handlers and middleware see only the three traits below, through [`Stores`]. The
//! in-process implementations are the default; the Redis one (`redis`, for several replicas
//! behind one balancer) implements the same traits and is handed to the app instead, without
//! touching a handler or a middleware. Nothing here knows the app's state, routes or error type.
//!
//! Every operation is a future that can fail: a shared store is across a network. The
//! in-process stores answer at once and never fail; a failure of the shared one is a
//! [`StoreError`], which the app turns into a 503 (never into an empty answer).

mod buckets;
mod idempotency;
pub mod indexes;
pub mod redis;
mod responses;

pub use buckets::{Budget, Taken};
pub use idempotency::{Claim, Fingerprint, Recorded};
pub use responses::StoredResponse;

use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// A store operation: owned (`'static`), so it can also be finished on a task of its own.
pub type Pending<T> = BoxFuture<'static, Result<T, StoreError>>;

/// A store could not be read or written. Only a shared store fails; the request that needed
/// it is answered 503, and the store is probed again by `/readyz`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the {store} store failed: {detail}")]
pub struct StoreError {
    /// Which store (`redis`): named in `/readyz` and in the metrics.
    pub store: &'static str,
    /// What went wrong (for the log; never sent to a client).
    pub detail: String,
}

/// An answer at once, for the in-process stores.
fn ready<T: Send + 'static>(value: T) -> Pending<T> {
    Box::pin(std::future::ready(Ok(value)))
}

/// Token buckets, one per key. A bucket holds `capacity` tokens and refills completely in
/// `budget.refill`; each request takes one.
pub trait Buckets: Send + Sync {
    /// Takes one token from the bucket of `key`, creating it full if it is new.
    fn take(&self, key: &str, budget: Budget) -> Pending<Taken>;
}

/// Idempotency records: which key ran with which request, and what it answered.
pub trait IdempotencyRecords: Send + Sync {
    /// Claims `key` for a request with `fingerprint`: run it, replay what it answered, or
    /// refuse it (still running, or the key was used with another request).
    fn claim(&self, key: &str, fingerprint: Fingerprint) -> Pending<Claim>;
    /// Records the answer of a claimed key (`None`: forget the key, so a retry runs again).
    fn finish(&self, key: &str, fingerprint: Fingerprint, answer: Option<Recorded>) -> Pending<()>;
}

/// Stored responses (`store: true`), oldest evicted first past the capacity. Each belongs to
/// the project that stored it: to any other project it does not exist.
pub trait Responses: Send + Sync {
    /// Stores `entry` under `id`, in `project`.
    fn put(&self, project: &str, id: String, entry: StoredResponse) -> Pending<()>;
    /// The entry for `id`, if `project` stored it.
    fn get(&self, project: &str, id: &str) -> Pending<Option<StoredResponse>>;
    /// Removes `id` if `project` stored it; true if it did.
    fn delete(&self, project: &str, id: &str) -> Pending<bool>;
    /// Proves the store can be written (a readiness probe); the number of probes so far.
    fn probe_write(&self) -> Pending<u64>;
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
    /// Where they live (`memory`, `redis`), as `/readyz` names it.
    pub backend: &'static str,
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
            backend: "memory",
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
