//! Sending one request of an eval: paced to `--max-rps` across every task, a 429 or 5xx retried
//! with bounded, jittered backoff that honours `Retry-After`. Cases, judges and embeddings all
//! send this way.

use crate::target::{Exchange, Req, Target};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spaces requests to at most a given rate, across every task.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    /// At most `per_second` requests per second.
    pub fn new(per_second: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// Sends `body` to `path` of `target`, paced, retrying a 429 or 5xx up to `max_retries` times
/// with backoff (`Retry-After` honoured): the exchange (any status but a retried-out 429/5xx)
/// or why none came, and the retries made.
pub(super) async fn send_to(
    target: &Target,
    pacer: Option<&Pacer>,
    max_retries: u32,
    path: &str,
    body: &Value,
) -> (Result<Exchange, String>, u32) {
    let mut retries = 0;
    loop {
        if let Some(pacer) = pacer {
            pacer.wait().await;
        }
        match target.send(Req::post(path, body)).await {
            Err(e) => return (Err(e.to_string()), retries),
            Ok(ex) if ex.status == 429 || ex.status >= 500 => {
                if retries >= max_retries {
                    let error = format!(
                        "HTTP {} after {retries} retries: {}",
                        ex.status,
                        ex.excerpt()
                    );
                    return (Err(error), retries);
                }
                tokio::time::sleep(crate::target::backoff::wait(retries, &ex, MAX_WAIT)).await;
                retries += 1;
            }
            Ok(ex) => return (Ok(ex), retries),
        }
    }
}

/// Longest wait before one retry, whatever the server asks.
const MAX_WAIT: Duration = Duration::from_secs(60);
