//! Idempotency records on Redis. A key is claimed atomically with the request's fingerprint:
//! whichever replica a duplicate lands on, it sees the claim (409 while running, 422 with
//! another body) or the recorded answer. A claim with no answer yet is a lease: a replica that
//! dies mid-request lets its key go after it, so the client's retry runs.

use super::{text, Redis, MAX_VALUE_BYTES};
use crate::store::{Claim, Fingerprint, Pending, Recorded};
use std::sync::LazyLock;
use std::time::Duration;

/// KEYS[1]: the record. ARGV: fingerprint (hex), lease ms, TTL ms. Returns {"execute"},
/// {"reused"}, {"in_use"} or {"replay", status, body[, content type]}. The record's
/// expiry (`until`) is fixed at the claim: a key is kept for the TTL after its first use.
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local fingerprint = redis.call('HGET', KEYS[1], 'fp')
if not fingerprint then
  local now = redis.call('TIME')
  local until_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'running', 'until', until_ms)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'execute'}
end
if fingerprint ~= ARGV[1] then return {'reused'} end
local record = redis.call('HMGET', KEYS[1], 'state', 'status', 'body', 'ct')
if record[1] ~= 'done' then return {'in_use'} end
if record[4] then return {'replay', record[2], record[3], record[4]} end
return {'replay', record[2], record[3]}
",
    )
});

/// KEYS[1]: the record. ARGV: fingerprint, status, body, content type ('' for none). Writes
/// the answer if the claim is still this request's, kept until the claim's `until`.
static RECORD: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HGET', KEYS[1], 'fp') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'body', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'ct', ARGV[4]) end
redis.call('PEXPIREAT', KEYS[1], redis.call('HGET', KEYS[1], 'until'))
return 1
",
    )
});

/// KEYS[1]: the record. ARGV: fingerprint. Forgets the key if it is still this request's.
static FORGET: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('HGET', KEYS[1], 'fp') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
",
    )
});

/// The records of every replica.
pub struct Records {
    pub(super) redis: Redis,
    pub(super) ttl: Duration,
    pub(super) lease: Duration,
}

impl crate::store::IdempotencyRecords for Records {
    fn claim(&self, key: &str, fingerprint: Fingerprint) -> Pending<Claim> {
        let key = self.redis.key("idem", key);
        let (lease, ttl) = (millis(self.lease), millis(self.ttl));
        self.redis.run("claim", move |mut connection| async move {
            let answer: Vec<Vec<u8>> = CLAIM
                .key(&key)
                .arg(hex::encode(fingerprint))
                .arg(lease)
                .arg(ttl)
                .invoke_async(&mut connection)
                .await
                .map_err(text)?;
            claim_of(answer)
        })
    }

    fn finish(&self, key: &str, fingerprint: Fingerprint, answer: Option<Recorded>) -> Pending<()> {
        let key = self.redis.key("idem", key);
        let fingerprint = hex::encode(fingerprint);
        match answer {
            Some(recorded) if recorded.body.len() <= MAX_VALUE_BYTES => {
                self.redis.run("record", move |mut connection| async move {
                    RECORD
                        .key(&key)
                        .arg(fingerprint)
                        .arg(recorded.status)
                        .arg(&recorded.body[..])
                        .arg(recorded.content_type.unwrap_or_default())
                        .invoke_async::<i64>(&mut connection)
                        .await
                        .map_err(text)?;
                    Ok(())
                })
            }
            too_large => self.redis.run("forget", move |mut connection| async move {
                FORGET
                    .key(&key)
                    .arg(fingerprint)
                    .invoke_async::<i64>(&mut connection)
                    .await
                    .map_err(text)?;
                match too_large {
                    // Forgotten, so a retry runs again; counted as the failure it is.
                    Some(recorded) => Err(format!(
                        "an answer of {} bytes is over the {MAX_VALUE_BYTES} bytes kept",
                        recorded.body.len()
                    )),
                    None => Ok(()),
                }
            }),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// The claim script's answer, read.
fn claim_of(answer: Vec<Vec<u8>>) -> Result<Claim, String> {
    match answer.as_slice() {
        [verdict] if verdict == b"execute" => Ok(Claim::Execute),
        [verdict] if verdict == b"reused" => Ok(Claim::Reused),
        [verdict] if verdict == b"in_use" => Ok(Claim::InUse),
        [verdict, status, body, rest @ ..] if verdict == b"replay" && rest.len() <= 1 => {
            let status = std::str::from_utf8(status)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("a recorded status is not a number")?;
            let content_type = match rest {
                [ct] => {
                    Some(String::from_utf8(ct.clone()).map_err(|_| "a content type is not text")?)
                }
                _ => None,
            };
            Ok(Claim::Replay(Recorded {
                status,
                content_type,
                body: bytes::Bytes::copy_from_slice(body),
            }))
        }
        _ => Err("the claim script gave an answer it never gives".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_from_the_scripts_answers() {
        assert_eq!(claim_of(vec![b"execute".to_vec()]), Ok(Claim::Execute));
        assert_eq!(claim_of(vec![b"in_use".to_vec()]), Ok(Claim::InUse));
        assert_eq!(claim_of(vec![b"reused".to_vec()]), Ok(Claim::Reused));
        let replay = claim_of(vec![
            b"replay".to_vec(),
            b"200".to_vec(),
            b"{}".to_vec(),
            b"application/json".to_vec(),
        ]);
        assert_eq!(
            replay,
            Ok(Claim::Replay(Recorded {
                status: 200,
                content_type: Some("application/json".into()),
                body: bytes::Bytes::from_static(b"{}"),
            }))
        );
        assert!(claim_of(vec![b"replay".to_vec(), b"x".to_vec(), b"".to_vec()]).is_err());
        assert!(claim_of(vec![]).is_err());
    }
}
