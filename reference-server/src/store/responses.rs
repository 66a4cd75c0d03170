//! In-process stored responses.

use crate::engine::Conversation;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// A stored response with what is needed to continue from it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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
    /// By id: the project that stored it, and the entry.
    map: HashMap<String, (String, StoredResponse)>,
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
    fn put(&self, project: &str, id: String, entry: StoredResponse) -> super::Pending<()> {
        self.put_now(project, id, entry);
        super::ready(())
    }

    fn get(&self, project: &str, id: &str) -> super::Pending<Option<StoredResponse>> {
        super::ready(self.get_now(project, id))
    }

    fn delete(&self, project: &str, id: &str) -> super::Pending<bool> {
        super::ready(self.delete_now(project, id))
    }

    // Takes the lock (a wedged store hangs the probe, which a balancer reads as not ready)
    // and writes under it.
    fn probe_write(&self) -> super::Pending<u64> {
        let mut inner = super::lock(&self.inner);
        inner.probes += 1;
        super::ready(inner.probes)
    }
}

impl InMemory {
    fn put_now(&self, project: &str, id: String, entry: StoredResponse) {
        let mut inner = super::lock(&self.inner);
        // Ids are random: one project never overwrites another's.
        if inner
            .map
            .insert(id.clone(), (project.to_owned(), entry))
            .is_none()
        {
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

    fn get_now(&self, project: &str, id: &str) -> Option<StoredResponse> {
        super::lock(&self.inner)
            .map
            .get(id)
            .filter(|(owner, _)| owner == project)
            .map(|(_, entry)| entry.clone())
    }

    fn delete_now(&self, project: &str, id: &str) -> bool {
        let mut inner = super::lock(&self.inner);
        if inner.map.get(id).is_none_or(|(owner, _)| owner != project) {
            return false;
        }
        inner.map.remove(id);
        inner.order.retain(|k| k != id);
        true
    }
}

#[cfg(test)]
mod tests {
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
        store.put_now("p", "a".into(), entry());
        store.put_now("p", "b".into(), entry());
        store.put_now("p", "c".into(), entry());
        assert!(store.get_now("p", "a").is_none());
        assert!(store.get_now("p", "c").is_some());
        assert!(store.delete_now("p", "b"));
        assert!(!store.delete_now("p", "b"));
    }

    #[test]
    fn another_project_neither_sees_nor_deletes() {
        let store = InMemory::new(4);
        store.put_now("alice", "r".into(), entry());
        assert!(store.get_now("bob", "r").is_none());
        assert!(!store.delete_now("bob", "r"));
        assert!(
            store.get_now("alice", "r").is_some(),
            "bob's delete did nothing"
        );
        assert!(store.delete_now("alice", "r"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Random stores, reads and deletes by two projects, on ids either may name: each
        /// project sees exactly what it stored and did not delete itself.
        #[test]
        fn two_projects_never_touch_each_other(
            ops in proptest::collection::vec((0usize..2, 0u8..3, 0usize..6), 1..60)
        ) {
            let store = InMemory::new(1000);
            let projects = ["alice", "bob"];
            let mut owner: HashMap<String, usize> = HashMap::new();
            for (who, op, slot) in ops {
                let id = format!("resp_{slot}");
                match op {
                    // Ids are never reused across projects (they are random): a slot another
                    // project holds is left alone.
                    0 if owner.get(&id).is_none_or(|o| *o == who) => {
                        store.put_now(projects[who], id.clone(), entry());
                        owner.insert(id, who);
                    }
                    1 => {
                        let deleted = store.delete_now(projects[who], &id);
                        proptest::prop_assert_eq!(deleted, owner.get(&id) == Some(&who));
                        if deleted {
                            owner.remove(&id);
                        }
                    }
                    _ => {}
                }
                for slot in 0..6 {
                    let id = format!("resp_{slot}");
                    for (w, p) in projects.iter().enumerate() {
                        proptest::prop_assert_eq!(store.get_now(p, &id).is_some(), owner.get(&id) == Some(&w));
                    }
                }
            }
        }
    }
}
