//! In-process stored responses.

use crate::engine::Conversation;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// A stored response with what is needed to continue from it.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// The Response object as last sent.
    pub response: Value,
    /// The input items of the request, with ids.
    pub input_items: Vec<Value>,
    /// The conversation including this response's output, for `previous_response_id`.
    pub conversation: Conversation,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, StoredResponse>,
    order: VecDeque<String>,
    probes: u64,
}

/// The responses of this process.
#[derive(Debug)]
pub struct InMemory {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl InMemory {
    /// An empty store holding at most `capacity` responses.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }
}

impl super::Responses for InMemory {
    fn put(&self, id: String, entry: StoredResponse) {
        let mut inner = super::lock(&self.inner);
        if inner.map.insert(id.clone(), entry).is_none() {
            inner.order.push_back(id);
        }
        while inner.map.len() > self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.map.remove(&old);
                }
                None => break,
            }
        }
    }

    fn get(&self, id: &str) -> Option<StoredResponse> {
        super::lock(&self.inner).map.get(id).cloned()
    }

    fn delete(&self, id: &str) -> bool {
        let mut inner = super::lock(&self.inner);
        let removed = inner.map.remove(id).is_some();
        if removed {
            inner.order.retain(|k| k != id);
        }
        removed
    }

    // Takes the lock (a wedged store hangs the probe, which a balancer reads as not ready)
    // and writes under it.
    fn probe_write(&self) -> u64 {
        let mut inner = super::lock(&self.inner);
        inner.probes += 1;
        inner.probes
    }
}

#[cfg(test)]
mod tests {
    use super::super::Responses;
    use super::*;

    fn entry() -> StoredResponse {
        StoredResponse {
            response: Value::Null,
            input_items: vec![],
            conversation: Conversation::default(),
        }
    }

    #[test]
    fn evicts_the_oldest_past_capacity() {
        let store = InMemory::new(2);
        store.put("a".into(), entry());
        store.put("b".into(), entry());
        store.put("c".into(), entry());
        assert!(store.get("a").is_none());
        assert!(store.get("c").is_some());
        assert!(store.delete("b"));
        assert!(!store.delete("b"));
        assert_eq!(store.probe_write(), 1);
    }
}
