//! The shared store of replicas, on Redis: rate-limit buckets, idempotency records and stored
//! responses that every replica behind a balancer reads and writes alike.
//!
//! Each operation that reads and writes is one Lua script, so it is atomic on the Redis
//! server whatever the replicas do at once, and time comes from Redis' own clock (`TIME`), so
//! the replicas' clocks do not matter. Every key starts with the deployment's prefix. Every
//! operation is bounded by a timeout; a failure is a [`StoreError`] (the request gets a 503),
//! counted and timed in the metrics, and the connection manager reconnects by itself.

mod buckets;
mod idempotency;
mod responses;

use super::{Pending, StoreError, Stores};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The backend's name, as `/readyz`, the metrics and the errors give it.
const NAME: &str = "redis";

/// The largest value written to Redis (a recorded answer, a stored response). A larger one is
/// not kept (the request is answered, and counted in `store_errors_total`), so nothing a
/// client sends can grow Redis without bound.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// How to reach the store, and how long to wait for it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `redis://` URL.
    pub url: String,
    /// The prefix of every key.
    pub prefix: String,
    /// The most one operation may take.
    pub timeout: Duration,
    /// How long an idempotency record is kept after its key was first used.
    pub idempotency_ttl: Duration,
    /// How long a claim with no answer yet is held (a replica that died mid-request lets the
    /// key go after it).
    pub lease: Duration,
    /// Most stored responses kept at once (the oldest go first).
    pub responses: usize,
}

/// Why the store could not be reached at start.
#[derive(Debug, thiserror::Error)]
#[error("the shared store at {url} is unreachable: {detail}")]
pub struct Unreachable {
    /// The URL, without its password.
    pub url: String,
    /// What failed.
    pub detail: String,
}

/// The store's instruments in `/metrics`.
#[derive(Clone)]
struct Instruments {
    errors: IntCounterVec,
    seconds: HistogramVec,
}

impl Instruments {
    fn new() -> Self {
        let errors = IntCounterVec::new(
            Opts::new(
                "store_errors_total",
                "Operations on the shared store that failed (unreachable, timed out, value too large), by store and operation.",
            ),
            &["store", "op"],
        );
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "store_operation_duration_seconds",
                "Time of operations on the shared store, by store and operation.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0,
            ]),
            &["store", "op"],
        );
        let (Ok(errors), Ok(seconds)) = (errors, seconds) else {
            unreachable!("metric definitions are constant and valid")
        };
        Self { errors, seconds }
    }
}

/// One connection (multiplexed, reconnecting) shared by the three stores.
#[derive(Clone)]
struct Redis {
    connection: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
    instruments: Instruments,
}

impl Redis {
    /// `prefix:kind:rest`.
    fn key(&self, kind: &str, rest: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + rest.len() + 2);
        key.push_str(&self.prefix);
        key.push(':');
        key.push_str(kind);
        key.push(':');
        key.push_str(rest);
        key
    }

    /// Runs `op` (named `name` in the metrics) with the timeout, timing it and counting its
    /// failure.
    fn run<T, F, Fut>(&self, name: &'static str, op: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(ConnectionManager) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, String>> + Send + 'static,
    {
        let this = self.clone();
        Box::pin(async move {
            let started = Instant::now();
            let outcome =
                match tokio::time::timeout(this.timeout, op(this.connection.clone())).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("no answer within {} ms", this.timeout.as_millis())),
                };
            this.instruments
                .seconds
                .with_label_values(&[NAME, name])
                .observe(started.elapsed().as_secs_f64());
            outcome.map_err(|detail| {
                this.instruments
                    .errors
                    .with_label_values(&[NAME, name])
                    .inc();
                tracing::warn!(store = NAME, op = name, %detail, "shared store operation failed");
                StoreError {
                    store: NAME,
                    detail,
                }
            })
        })
    }
}

/// The text of a Redis error (for the log and `/readyz`).
fn text(e: redis::RedisError) -> String {
    e.to_string()
}

/// `url` without its password, for messages.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Connects to the store (retrying for `wait` when it is not up yet) and returns the three
/// stores on it, with the collectors to register in `/metrics`.
pub async fn connect(
    settings: &Settings,
    wait: Duration,
) -> Result<(Stores, Vec<Box<dyn prometheus::core::Collector>>), Unreachable> {
    let unreachable = |detail: String| Unreachable {
        url: shown(&settings.url),
        detail,
    };
    let client = redis::Client::open(settings.url.as_str()).map_err(|e| unreachable(text(e)))?;
    // Reconnects quickly and gives up quickly: while Redis is away, requests must get their 503
    // within the timeout rather than queue behind a long backoff.
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.timeout))
        .set_response_timeout(Some(settings.timeout))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(250));
    let deadline = Instant::now() + wait;
    let connection = loop {
        let attempt = async {
            let mut connection = client
                .get_connection_manager_with_config(config.clone())
                .await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>(connection)
        };
        match tokio::time::timeout(settings.timeout * 2, attempt).await {
            Ok(Ok(connection)) => break connection,
            Ok(Err(e)) if Instant::now() >= deadline => return Err(unreachable(text(e))),
            Err(_) if Instant::now() >= deadline => {
                return Err(unreachable(format!(
                    "no answer within {} ms",
                    (settings.timeout * 2).as_millis()
                )))
            }
            _ => {
                tracing::info!(url = %shown(&settings.url), "waiting for the shared store");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    let instruments = Instruments::new();
    let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
        Box::new(instruments.errors.clone()),
        Box::new(instruments.seconds.clone()),
    ];
    let redis = Redis {
        connection,
        prefix: settings.prefix.as_str().into(),
        timeout: settings.timeout,
        instruments,
    };
    let stores = Stores {
        backend: NAME,
        buckets: Arc::new(buckets::Buckets(redis.clone())),
        idempotency: Arc::new(idempotency::Records {
            redis: redis.clone(),
            ttl: settings.idempotency_ttl,
            lease: settings.lease.min(settings.idempotency_ttl),
        }),
        responses: Arc::new(responses::Responses {
            redis,
            capacity: settings.responses.max(1),
        }),
    };
    Ok((stores, collectors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            shown("redis://user:secret@cache:6379/0"),
            "redis://user:***@cache:6379/0"
        );
        assert_eq!(shown("redis://cache:6379"), "redis://cache:6379");
    }
}
