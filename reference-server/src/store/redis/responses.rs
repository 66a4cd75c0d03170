//! Stored responses on Redis: retrieved, listed and continued from any replica. Each is a
//! hash (its project, its JSON); one list keeps the order they were stored in, so the oldest
//! go first past the capacity, as in memory.

use super::{text, Redis, MAX_VALUE_BYTES};
use crate::store::{Pending, StoredResponse};
use std::sync::LazyLock;

/// KEYS[1]: the response, KEYS[2]: the order list. ARGV: project, JSON, capacity, id, the
/// key of a response without its id (to evict the oldest).
static PUT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('RPUSH', KEYS[2], ARGV[4]) end
redis.call('HSET', KEYS[1], 'project', ARGV[1], 'json', ARGV[2])
while redis.call('LLEN', KEYS[2]) > tonumber(ARGV[3]) do
  local oldest = redis.call('LPOP', KEYS[2])
  redis.call('DEL', ARGV[5] .. oldest)
end
return 1
",
    )
});

/// KEYS[1]: the response, KEYS[2]: the order list. ARGV: project, id. Removes it if the
/// project stored it.
static DELETE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HGET', KEYS[1], 'project') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('LREM', KEYS[2], 1, ARGV[2])
return 1
",
    )
});

/// The responses of every replica.
pub struct Responses {
    pub(super) redis: Redis,
    pub(super) capacity: usize,
}

impl crate::store::Responses for Responses {
    fn put(&self, project: &str, id: String, entry: StoredResponse) -> Pending<()> {
        let (key, order) = (
            self.redis.key("response", &id),
            self.redis.key("responses", "order"),
        );
        let evict = self.redis.key("response", "");
        let (project, capacity) = (project.to_owned(), self.capacity);
        self.redis
            .run("put_response", move |mut connection| async move {
                let json = serde_json::to_vec(&entry).map_err(|e| e.to_string())?;
                if json.len() > MAX_VALUE_BYTES {
                    return Err(format!(
                        "a response of {} bytes is over the {MAX_VALUE_BYTES} bytes kept",
                        json.len()
                    ));
                }
                PUT.key(&key)
                    .key(&order)
                    .arg(project)
                    .arg(json)
                    .arg(capacity)
                    .arg(id)
                    .arg(evict)
                    .invoke_async::<i64>(&mut connection)
                    .await
                    .map_err(text)?;
                Ok(())
            })
    }

    fn get(&self, project: &str, id: &str) -> Pending<Option<StoredResponse>> {
        let key = self.redis.key("response", id);
        let project = project.to_owned();
        self.redis
            .run("get_response", move |mut connection| async move {
                let (owner, json): (Option<String>, Option<Vec<u8>>) = redis::cmd("HMGET")
                    .arg(&key)
                    .arg("project")
                    .arg("json")
                    .query_async(&mut connection)
                    .await
                    .map_err(text)?;
                match (owner, json) {
                    (Some(owner), Some(json)) if owner == project => serde_json::from_slice(&json)
                        .map(Some)
                        .map_err(|e| format!("a stored response does not read back: {e}")),
                    _ => Ok(None),
                }
            })
    }

    fn delete(&self, project: &str, id: &str) -> Pending<bool> {
        let (key, order) = (
            self.redis.key("response", id),
            self.redis.key("responses", "order"),
        );
        let (project, id) = (project.to_owned(), id.to_owned());
        self.redis
            .run("delete_response", move |mut connection| async move {
                let deleted: i64 = DELETE
                    .key(&key)
                    .key(&order)
                    .arg(project)
                    .arg(id)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(text)?;
                Ok(deleted == 1)
            })
    }

    fn probe_write(&self) -> Pending<u64> {
        let key = self.redis.key("probe", "writes");
        self.redis.run("probe", move |mut connection| async move {
            redis::cmd("INCR")
                .arg(&key)
                .query_async::<u64>(&mut connection)
                .await
                .map_err(text)
        })
    }
}
