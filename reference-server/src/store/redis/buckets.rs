//! Token buckets on Redis: the same bucket as in memory (a capacity that refills whole in the
//! budget's time), taken atomically by one script on Redis' clock, so N replicas let through
//! exactly the budget between them.

use super::{text, Redis};
use crate::store::{Budget, Pending, Taken};
use std::sync::LazyLock;

/// KEYS[1]: the bucket. ARGV: capacity, refill time in µs. Returns {allowed, tokens left}
/// (tokens as text: Redis would truncate a Lua number to an integer).
static TAKE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local rate = capacity / refill
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1])
local at = tonumber(bucket[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
local elapsed = now - at
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', now)
-- A bucket left alone for its refill time is full again: it need not be kept.
redis.call('PEXPIRE', KEYS[1], math.ceil(refill / 1000) + 1000)
return {allowed, string.format('%.17g', tokens)}
",
    )
});

/// The buckets of every replica.
pub struct Buckets(pub(super) Redis);

impl crate::store::Buckets for Buckets {
    fn take(&self, key: &str, budget: Budget) -> Pending<Taken> {
        let key = self.0.key("bucket", key);
        self.0.run("take", move |mut connection| async move {
            let refill_us = budget.refill.as_micros().max(1000);
            let (allowed, tokens): (i64, String) = TAKE
                .key(&key)
                .arg(budget.capacity.max(1))
                .arg(refill_us.to_string())
                .invoke_async(&mut connection)
                .await
                .map_err(text)?;
            let tokens: f64 = tokens
                .parse()
                .map_err(|_| format!("the bucket script answered '{tokens}'"))?;
            Ok(Taken::of(budget, tokens, allowed == 1))
        })
    }
}
