//! Realistic timing and injected faults, so the server can stand in for a real deployment
//! under load tests and break on purpose: timing profiles (`[timing]`), fault schedules
//! (`[[faults]]`) and the per-request `X-Refserver-Scenario` header. All off by default.
//!
//! Every random draw comes from a ChaCha stream keyed by the configured seed and the request's
//! number, so the same seed and the same order of requests give the same delays and faults.
//! What is generated (the text, the ids aside) never depends on them.

pub mod delay;
pub mod faults;
pub mod profile;
pub mod scenario;

use crate::protocol::error::ApiError;
use crate::telemetry::metrics::Metrics;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use faults::{FaultConfig, FaultKind, Rule};
use profile::{Profile, TimingConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scenario::Scenario;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Marks answers that carry an injected fault, so a client can tell them from real ones.
pub const FAULT_HEADER: HeaderName = HeaderName::from_static("x-refserver-fault");

/// Default `Retry-After` of injected 429s and 503s.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Default wait of `slow_first_byte`.
const SLOW_FIRST_BYTE: Duration = Duration::from_secs(5);

/// `[scenarios]`: whether tests may pick timing and faults per request.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScenariosConfig {
    /// Honour `X-Refserver-Scenario` (never with strict auth).
    pub header: bool,
}

/// What to do with an `X-Refserver-Scenario` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderPolicy {
    /// Act on it.
    Honoured,
    /// Refuse the request with 400, saying how to enable it (permissive servers).
    Refused,
    /// Ignore it: a strict (production-like) server never acts on it nor reveals it.
    Ignored,
}

/// The server's timing profiles and fault rules, with their counters.
pub struct Simulation {
    seed: u64,
    default: Profile,
    models: HashMap<String, Profile>,
    draws: AtomicU64,
    rules: Vec<Rule>,
    header: HeaderPolicy,
    stopping: AtomicBool,
    stop: tokio::sync::Notify,
}

impl Simulation {
    /// The simulation for these settings. `strict` is whether auth is strict.
    pub fn new(
        timing: &TimingConfig,
        faults: &[FaultConfig],
        scenarios: &ScenariosConfig,
        strict: bool,
    ) -> Self {
        let default = timing.default_profile();
        let header = match (scenarios.header, strict) {
            (true, false) => HeaderPolicy::Honoured,
            (_, true) => HeaderPolicy::Ignored,
            (false, false) => HeaderPolicy::Refused,
        };
        Self {
            seed: timing.seed,
            default,
            models: timing
                .models
                .iter()
                .map(|(id, t)| (id.clone(), default.with(t)))
                .collect(),
            draws: AtomicU64::new(0),
            rules: faults
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    Rule::new(
                        f.clone(),
                        timing.seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    )
                })
                .collect(),
            header,
            stopping: AtomicBool::new(false),
            stop: tokio::sync::Notify::new(),
        }
    }

    /// Whether a request may get a fault (then the envelope gives it a [`Mark`]).
    pub fn may_fault(&self) -> bool {
        !self.rules.is_empty() || self.header == HeaderPolicy::Honoured
    }

    /// The scenario of a request with this header value: `Ok(None)` when it is to be ignored.
    pub fn scenario(&self, value: &HeaderValue) -> Result<Option<Scenario>, ApiError> {
        match self.header {
            HeaderPolicy::Ignored => Ok(None),
            HeaderPolicy::Refused => Err(ApiError::invalid_header(
                scenario::HEADER,
                "X-Refserver-Scenario is not enabled on this server; start it with [scenarios] header = true (or REFSERVER_SCENARIO_HEADER=on).".to_owned(),
            )),
            HeaderPolicy::Honoured => {
                let text = value.to_str().map_err(|_| {
                    ApiError::invalid_header(scenario::HEADER, "X-Refserver-Scenario must be ASCII.".to_owned())
                })?;
                Scenario::parse(text)
                    .map(Some)
                    .map_err(|e| ApiError::invalid_header(scenario::HEADER, format!("Invalid X-Refserver-Scenario: {e}.")))
            }
        }
    }

    /// The delays of one answer of `model` (WebSocket mode, which has no fault schedule):
    /// `None` when the model is not paced.
    pub fn pace(&self, model: &str) -> Option<Pace> {
        let profile = self.models.get(model).copied().unwrap_or(self.default);
        (!profile.is_zero()).then(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(self.draws.fetch_add(1, Ordering::Relaxed));
            Pace { profile, rng }
        })
    }

    /// How to serve one request for `model` on `route`: its delays and its fault, if any.
    /// Counts the request against every fault schedule and an injected fault in `metrics`.
    pub fn decide(&self, ask: &mut Ask, route: &str, model: &str, metrics: &Metrics) -> Act<'_> {
        let scenario = ask.scenario.take();
        let mut profile = self.models.get(model).copied().unwrap_or(self.default);
        if let Some(s) = &scenario {
            profile = profile.with(&s.timing);
        }
        let pace = (!profile.is_zero()).then(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(self.draws.fetch_add(1, Ordering::Relaxed));
            Box::new(Pace { profile, rng })
        });
        let now = Instant::now();
        let mut fault = scenario.and_then(|s| s.fault).map(Box::new);
        for rule in &self.rules {
            // Every rule sees every request, so each schedule counts on its own.
            if rule.hits(route, model, now) && fault.is_none() {
                fault = Some(Box::new(rule.config().clone()));
            }
        }
        if let Some(f) = &fault {
            metrics.injected_fault(f.kind.name());
            if let Some(mark) = &ask.mark {
                mark.0.store(f.kind.code(), Ordering::Relaxed);
            }
        }
        Act {
            pace,
            fault,
            stopping: self,
        }
    }

    /// Shutdown has begun: hanging requests end.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
    }

    async fn until_stopped(&self) {
        loop {
            let notified = self.stop.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// The injected fault of a request, if any, shared between the envelope and the handler, so
/// the log line names it even when the client gives up first and a hang outlives the request
/// timeout.
#[derive(Debug, Clone, Default)]
pub struct Mark(Arc<AtomicU8>);

impl Mark {
    /// The fault injected into this request, if any.
    pub fn fault(&self) -> Option<FaultKind> {
        FaultKind::from_code(self.0.load(Ordering::Relaxed))
    }
}

/// What a generating handler takes from the envelope: the request's [`Mark`] and scenario.
#[derive(Debug, Default)]
pub struct Ask {
    mark: Option<Mark>,
    // Boxed, like `Act`'s parts: most requests have none, and this is held in every
    // generating handler's future (allocated and copied per request).
    scenario: Option<Box<Scenario>>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ask {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self {
            mark: parts.extensions.remove::<Mark>(),
            scenario: parts.extensions.remove::<Scenario>().map(Box::new),
        })
    }
}

/// One request's delays and fault.
pub struct Act<'s> {
    // Boxed: a pace holds a ChaCha generator (hundreds of bytes) and most requests have
    // neither, while an `Act` lives in every generating handler's future.
    pace: Option<Box<Pace>>,
    fault: Option<Box<FaultConfig>>,
    stopping: &'s Simulation,
}

impl Act<'_> {
    /// What happens before any work: an injected error answer (returned), a hang (until the
    /// client gives up or the server stops), or a slow first byte (a wait).
    pub async fn before(&mut self) -> Option<Response> {
        let fault = self.fault.as_ref()?;
        let refusal = match fault.kind {
            FaultKind::RateLimited => Some(ApiError::injected_rate_limit()),
            FaultKind::ServerError => Some(ApiError::internal()),
            FaultKind::Unavailable => Some(ApiError::injected_unavailable()),
            FaultKind::Hang => {
                self.stopping.until_stopped().await;
                Some(ApiError::overloaded())
            }
            FaultKind::SlowFirstByte => {
                tokio::time::sleep(fault.delay.unwrap_or(SLOW_FIRST_BYTE)).await;
                None
            }
            FaultKind::Cut => None,
        }?;
        let mut response = refusal.into_response();
        let headers = response.headers_mut();
        if matches!(fault.kind, FaultKind::RateLimited | FaultKind::Unavailable) {
            let wait = fault.retry_after.unwrap_or(RETRY_AFTER);
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert("retry-after", HeaderValue::from(secs));
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            headers.insert("retry-after-ms", HeaderValue::from(ms));
        }
        headers.insert(FAULT_HEADER, HeaderValue::from_static(fault.kind.name()));
        Some(response)
    }

    /// Waits as long as a whole (not streamed) answer of `tokens` output tokens takes.
    pub async fn whole(&mut self, tokens: usize) {
        if let Some(pace) = &mut self.pace {
            tokio::time::sleep(pace.whole(tokens)).await;
        }
    }

    /// Waits as long as an embeddings request of `inputs` inputs takes.
    pub async fn embeddings(&mut self, inputs: usize) {
        if let Some(pace) = &mut self.pace {
            tokio::time::sleep(pace.embeddings(inputs)).await;
        }
    }

    /// A whole answer, cut part-way when that is the fault, marked when there is one.
    pub fn answer(self, response: Response) -> Response {
        let Some(fault) = self.fault else {
            return response;
        };
        let (mut parts, body) = response.into_parts();
        parts
            .headers
            .insert(FAULT_HEADER, HeaderValue::from_static(fault.kind.name()));
        if fault.kind != FaultKind::Cut {
            return Response::from_parts(parts, body);
        }
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        let keep = fault.cut_after;
        let body = Body::from_stream(
            futures::stream::once(async move { axum::body::to_bytes(body, usize::MAX).await.ok() })
                .flat_map(move |bytes| cut_stream(bytes, keep)),
        );
        Response::from_parts(parts, body)
    }

    /// A streamed answer of `events`, paced by the profile, cut when that is the fault.
    pub fn stream(self, events: Vec<serde_json::Value>, named: bool) -> Response {
        let cut = self.fault.as_ref().and_then(|f| {
            (f.kind == FaultKind::Cut).then(|| {
                // Never the terminal event: a cut stream must end without it.
                let last = events.len().saturating_sub(1);
                f.cut_after.unwrap_or(events.len() / 2).min(last)
            })
        });
        let pace = self
            .pace
            .map(|p| -> Box<dyn crate::protocol::sse::Pacing> { p });
        let mut response = crate::protocol::sse::paced(events, named, pace, cut);
        if let Some(f) = &self.fault {
            response
                .headers_mut()
                .insert(FAULT_HEADER, HeaderValue::from_static(f.kind.name()));
        }
        response
    }
}

use futures::StreamExt;

/// The first part of `bytes` (`keep` bytes, else half), then an error that closes the
/// connection before the rest.
fn cut_stream(
    bytes: Option<bytes::Bytes>,
    keep: Option<usize>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let bytes = bytes.unwrap_or_default();
    let keep = keep
        .unwrap_or(bytes.len() / 2)
        .min(bytes.len().saturating_sub(1));
    futures::stream::iter([Ok(bytes.slice(..keep))]).chain(futures::stream::once(async {
        // Let the server write out the first part before the connection is closed.
        tokio::task::yield_now().await;
        Err(std::io::Error::other("cut by an injected fault"))
    }))
}

/// The delays of one request, drawn from its own seeded stream.
pub struct Pace {
    profile: Profile,
    rng: ChaCha8Rng,
}

impl Pace {
    /// A pace of `profile` drawn from `seed` (for tests of what is paced).
    #[cfg(test)]
    pub(crate) fn seeded(profile: Profile, seed: u64) -> Self {
        Self {
            profile,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Time to the first token.
    pub fn first_token(&mut self) -> Duration {
        self.profile.ttft.sample(&mut self.rng)
    }

    /// Time from one token to the next.
    pub fn between_tokens(&mut self) -> Duration {
        self.profile.inter_token.sample(&mut self.rng)
    }

    /// A whole answer of `tokens` tokens: the first token, then the gaps between the rest.
    pub fn whole(&mut self, tokens: usize) -> Duration {
        let mut total = self.first_token();
        for _ in 1..tokens {
            total = total.saturating_add(self.between_tokens());
        }
        total
    }

    /// An embeddings request of `inputs` inputs.
    pub fn embeddings(&mut self, inputs: usize) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..inputs {
            total = total.saturating_add(self.profile.embedding_per_input.sample(&mut self.rng));
        }
        total
    }
}

impl crate::protocol::sse::Pacing for Pace {
    fn first_token(&mut self) -> Duration {
        Pace::first_token(self)
    }

    fn between_tokens(&mut self) -> Duration {
        Pace::between_tokens(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simulation(timing: &str, faults: &[&str]) -> Simulation {
        let timing: TimingConfig = toml::from_str(timing).unwrap_or_default();
        let faults: Vec<FaultConfig> = faults
            .iter()
            .filter_map(|f| FaultConfig::parse_compact(f).ok())
            .collect();
        Simulation::new(&timing, &faults, &ScenariosConfig::default(), false)
    }

    fn draws(sim: &Simulation, requests: usize) -> Vec<Vec<Duration>> {
        let metrics = Metrics::new();
        (0..requests)
            .map(|_| {
                let mut act = sim.decide(&mut Ask::default(), "/v1/responses", "m", &metrics);
                let pace = act.pace.as_mut();
                pace.map(|p| {
                    (0..5)
                        .map(|i| {
                            if i == 0 {
                                p.first_token()
                            } else {
                                p.between_tokens()
                            }
                        })
                        .collect()
                })
                .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_delays_request_by_request() {
        let text =
            "seed = 42\nttft = \"lognormal(200ms, 0.5)\"\ninter_token = \"normal(20ms, 5ms)\"";
        let a = draws(&simulation(text, &[]), 20);
        let b = draws(&simulation(text, &[]), 20);
        assert_eq!(a, b);
        assert_ne!(a[0], a[1], "each request has its own stream");
        let c = draws(&simulation(&text.replace("42", "43"), &[]), 20);
        assert_ne!(a, c);
    }

    #[test]
    fn the_default_profile_has_no_pace_and_no_fault() {
        let sim = simulation("", &[]);
        let act = sim.decide(&mut Ask::default(), "/v1/responses", "m", &Metrics::new());
        assert!(act.pace.is_none() && act.fault.is_none());
        assert!(!sim.may_fault());
    }

    #[test]
    fn model_overrides_keep_the_other_defaults() {
        let sim = simulation(
            "ttft = \"100ms\"\ninter_token = \"10ms\"\n[models.slow]\nttft = \"900ms\"",
            &[],
        );
        let metrics = Metrics::new();
        let mut slow = sim.decide(&mut Ask::default(), "/v1/responses", "slow", &metrics);
        let mut other = sim.decide(&mut Ask::default(), "/v1/responses", "fast", &metrics);
        let (Some(s), Some(o)) = (slow.pace.as_mut(), other.pace.as_mut()) else {
            panic!("both have a pace");
        };
        assert_eq!(s.first_token(), Duration::from_millis(900));
        assert_eq!(s.between_tokens(), Duration::from_millis(10));
        assert_eq!(o.first_token(), Duration::from_millis(100));
        assert_eq!(s.whole(3), Duration::from_millis(920));
    }

    #[test]
    fn injected_faults_are_counted_by_kind_and_marked() {
        let sim = simulation("", &["kind=429,every=2", "kind=500,every=3"]);
        let metrics = Metrics::new();
        let kinds: Vec<Option<FaultKind>> = (0..6)
            .map(|_| {
                let mut ask = Ask {
                    mark: Some(Mark::default()),
                    scenario: None,
                };
                let act = sim.decide(&mut ask, "/v1/responses", "m", &metrics);
                assert_eq!(
                    act.fault.as_ref().map(|f| f.kind),
                    ask.mark.as_ref().and_then(Mark::fault)
                );
                act.fault.map(|f| f.kind)
            })
            .collect();
        use FaultKind::*;
        // The first listed rule wins when both hit (request 6); the second still counted it.
        assert_eq!(
            kinds,
            vec![
                None,
                Some(RateLimited),
                Some(ServerError),
                Some(RateLimited),
                None,
                Some(RateLimited)
            ]
        );
        let text = metrics.render();
        assert!(
            text.contains("injected_faults_total{kind=\"429\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("injected_faults_total{kind=\"500\"} 1"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_injected_429_carries_retry_headers_and_the_envelope() {
        let sim = simulation("", &["kind=429,retry_after=1500ms"]);
        let mut act = sim.decide(
            &mut Ask::default(),
            "/v1/chat/completions",
            "m",
            &Metrics::new(),
        );
        let response = act.before().await;
        let Some(response) = response else {
            panic!("a 429 answer");
        };
        assert_eq!(response.status(), 429);
        let h = response.headers();
        assert_eq!(
            h.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("2")
        );
        assert_eq!(
            h.get("retry-after-ms").and_then(|v| v.to_str().ok()),
            Some("1500")
        );
        assert_eq!(
            h.get(FAULT_HEADER).and_then(|v| v.to_str().ok()),
            Some("429")
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        assert_eq!(v["error"]["type"], "requests");
        assert!(v["error"]["param"].is_null());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_first_byte_waits_then_answers_normally() {
        let sim = simulation("", &["kind=slow_first_byte,delay=2s"]);
        let mut act = sim.decide(&mut Ask::default(), "/v1/responses", "m", &Metrics::new());
        let start = tokio::time::Instant::now();
        assert!(
            act.before().await.is_none(),
            "no error answer: the real one follows"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        let answer = act.answer(Response::new(Body::from("{}")));
        assert_eq!(
            answer
                .headers()
                .get(FAULT_HEADER)
                .and_then(|v| v.to_str().ok()),
            Some("slow_first_byte")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_answer_takes_ttft_plus_a_gap_per_further_token() {
        let sim = simulation(
            "ttft = \"300ms\"\ninter_token = \"25ms\"\nembedding_per_input = \"4ms\"",
            &[],
        );
        let metrics = Metrics::new();
        let start = tokio::time::Instant::now();
        sim.decide(&mut Ask::default(), "/v1/responses", "m", &metrics)
            .whole(9)
            .await;
        assert_eq!(start.elapsed(), Duration::from_millis(300 + 8 * 25));
        let start = tokio::time::Instant::now();
        sim.decide(&mut Ask::default(), "/v1/embeddings", "e", &metrics)
            .embeddings(5)
            .await;
        assert_eq!(start.elapsed(), Duration::from_millis(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hang_lasts_until_the_server_stops() {
        let sim = simulation("", &["kind=hang"]);
        let mut act = sim.decide(&mut Ask::default(), "/v1/responses", "m", &Metrics::new());
        let hung = tokio::time::timeout(Duration::from_secs(3600), act.before()).await;
        assert!(hung.is_err(), "still hanging after an hour");
        sim.stop();
        let mut act = sim.decide(&mut Ask::default(), "/v1/responses", "m", &Metrics::new());
        let after = tokio::time::timeout(Duration::from_secs(1), act.before()).await;
        assert_eq!(after.ok().flatten().map(|r| r.status().as_u16()), Some(503));
    }
}
