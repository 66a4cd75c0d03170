//! In-process idempotency records, expired after a TTL and capped in number (oldest first).

use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A digest of the request a key was used with (method, path, body).
pub type Fingerprint = [u8; 32];

/// The answer recorded for a key: replayed byte for byte.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if the answer had one.
    pub content_type: Option<String>,
    /// The exact body (streams included).
    pub body: Bytes,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First use: run the request (and `finish` the key afterwards).
    Execute,
    /// Same key, same request, finished: send this again.
    Replay(Recorded),
    /// Same key, same request, still running.
    InUse,
    /// Same key, another request.
    Reused,
}

#[derive(Debug, Clone)]
enum Entry {
    Running,
    Done(Recorded),
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, (Fingerprint, Entry, Instant)>,
    order: VecDeque<(String, Instant)>,
}

/// The records of this process.
#[derive(Debug)]
pub struct InMemory {
    ttl: Duration,
    max_keys: usize,
    inner: Mutex<Inner>,
}

impl InMemory {
    /// An empty store.
    pub fn new(ttl: Duration, max_keys: usize) -> Self {
        Self {
            ttl,
            max_keys: max_keys.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// `claim` at `now`.
    pub fn claim_at(&self, key: &str, fingerprint: Fingerprint, now: Instant) -> Claim {
        let mut inner = super::lock(&self.inner);
        // Expire from the front: the order queue is in insertion time.
        while let Some((k, at)) = inner.order.front().cloned() {
            let expired = now.saturating_duration_since(at) >= self.ttl;
            if !expired && inner.entries.len() <= self.max_keys {
                break;
            }
            inner.order.pop_front();
            if inner.entries.get(&k).is_some_and(|(_, _, t)| *t == at) {
                inner.entries.remove(&k);
            }
        }
        match inner.entries.get(key) {
            Some((f, _, _)) if *f != fingerprint => Claim::Reused,
            Some((_, Entry::Running, _)) => Claim::InUse,
            Some((_, Entry::Done(recorded), _)) => Claim::Replay(recorded.clone()),
            None => {
                inner
                    .entries
                    .insert(key.to_owned(), (fingerprint, Entry::Running, now));
                inner.order.push_back((key.to_owned(), now));
                Claim::Execute
            }
        }
    }
}

impl super::IdempotencyRecords for InMemory {
    fn claim(&self, key: &str, fingerprint: Fingerprint) -> super::Pending<Claim> {
        super::ready(self.claim_at(key, fingerprint, Instant::now()))
    }

    fn finish(
        &self,
        key: &str,
        fingerprint: Fingerprint,
        answer: Option<Recorded>,
    ) -> super::Pending<()> {
        self.finish_now(key, fingerprint, answer);
        super::ready(())
    }
}

impl InMemory {
    fn finish_now(&self, key: &str, fingerprint: Fingerprint, answer: Option<Recorded>) {
        let mut inner = super::lock(&self.inner);
        match answer {
            Some(recorded) => {
                if let Some((f, entry, _)) = inner.entries.get_mut(key) {
                    if *f == fingerprint {
                        *entry = Entry::Done(recorded);
                    }
                }
            }
            None => {
                inner.entries.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> Recorded {
        Recorded {
            status: 200,
            content_type: None,
            body: Bytes::from_static(b"{}"),
        }
    }

    #[test]
    fn first_claim_executes_then_duplicates_conflict_or_replay() {
        let s = InMemory::new(Duration::from_secs(60), 10);
        let now = Instant::now();
        assert_eq!(s.claim_at("k", [1; 32], now), Claim::Execute);
        assert_eq!(s.claim_at("k", [1; 32], now), Claim::InUse);
        assert_eq!(s.claim_at("k", [2; 32], now), Claim::Reused);
        s.finish_now("k", [1; 32], Some(recorded()));
        assert_eq!(s.claim_at("k", [1; 32], now), Claim::Replay(recorded()));
    }

    #[test]
    fn keys_expire_after_the_ttl() {
        let s = InMemory::new(Duration::from_secs(1), 10);
        let t0 = Instant::now();
        assert_eq!(s.claim_at("k", [1; 32], t0), Claim::Execute);
        s.finish_now("k", [1; 32], Some(recorded()));
        assert_eq!(
            s.claim_at("k", [2; 32], t0 + Duration::from_secs(2)),
            Claim::Execute
        );
    }

    #[test]
    fn a_forgotten_key_runs_again() {
        let s = InMemory::new(Duration::from_secs(60), 10);
        let now = Instant::now();
        assert_eq!(s.claim_at("k", [1; 32], now), Claim::Execute);
        s.finish_now("k", [1; 32], None);
        assert_eq!(s.claim_at("k", [1; 32], now), Claim::Execute);
    }
}
