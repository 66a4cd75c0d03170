//! Injected faults: what can go wrong on purpose (`[[faults]]`), and the schedules that say
//! which requests it happens to.

use super::delay;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The routes faults and timing apply to: those that generate an answer.
pub const ROUTES: [&str; 3] = ["/v1/chat/completions", "/v1/responses", "/v1/embeddings"];

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    /// 429 with `Retry-After` and `retry-after-ms`.
    #[serde(rename = "429")]
    RateLimited,
    /// 500.
    #[serde(rename = "500")]
    ServerError,
    /// 503 with `Retry-After`.
    #[serde(rename = "503")]
    Unavailable,
    /// No answer until the client gives up (or the server shuts down).
    #[serde(rename = "hang")]
    Hang,
    /// The body stops part-way and the connection closes: no terminal event, no `[DONE]`.
    #[serde(rename = "cut")]
    Cut,
    /// The answer's headers come only after `delay`.
    #[serde(rename = "slow_first_byte")]
    SlowFirstByte,
}

impl FaultKind {
    /// Every kind.
    const ALL: [Self; 6] = [
        Self::RateLimited,
        Self::ServerError,
        Self::Unavailable,
        Self::Hang,
        Self::Cut,
        Self::SlowFirstByte,
    ];

    /// The name used in config, metrics, logs and the `x-refserver-fault` header.
    pub fn name(self) -> &'static str {
        match self {
            Self::RateLimited => "429",
            Self::ServerError => "500",
            Self::Unavailable => "503",
            Self::Hang => "hang",
            Self::Cut => "cut",
            Self::SlowFirstByte => "slow_first_byte",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A small number for [`super::Mark`] (0 is "no fault").
    pub(crate) fn code(self) -> u8 {
        self as u8 + 1
    }

    /// The kind of [`Self::code`].
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// One `[[faults]]` entry: a kind, which requests it may hit, and its schedule.
///
/// Requests are counted per entry, from 1, among those that match its `models` and
/// `routes`. With no schedule key the fault hits every matching request; `every = N` hits
/// requests N, 2N, …; `rate = P` hits each with probability P (seeded); `after = N` starts
/// the fault at request N+1, for `count` requests or for `for` (a duration) or for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// What happens.
    pub kind: FaultKind,
    /// Only requests for these models (none: any model).
    #[serde(default)]
    pub models: Vec<String>,
    /// Only these routes (none: chat completions, responses and embeddings).
    #[serde(default)]
    pub routes: Vec<String>,
    /// Hit every N-th matching request.
    pub every: Option<u64>,
    /// Hit each matching request with this probability (0 to 1).
    pub rate: Option<f64>,
    /// Start after this many matching requests.
    pub after: Option<u64>,
    /// With `after`: hit this many requests, then stop.
    pub count: Option<u64>,
    /// With `after`: hit requests for this long, then stop.
    #[serde(
        default,
        rename = "for",
        with = "delay::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub for_: Option<Duration>,
    /// 429 and 503: the wait announced in `Retry-After` / `retry-after-ms` (default 1s).
    #[serde(default, with = "delay::text", skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<Duration>,
    /// `slow_first_byte`: the wait before the headers (default 5s).
    #[serde(default, with = "delay::text", skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    /// `cut`: events (or, for a whole answer, half the body) sent before the cut; default half.
    pub cut_after: Option<usize>,
}

impl FaultConfig {
    /// A fault of `kind` on every request, no filter.
    pub fn always(kind: FaultKind) -> Self {
        Self {
            kind,
            models: Vec::new(),
            routes: Vec::new(),
            every: None,
            rate: None,
            after: None,
            count: None,
            for_: None,
            retry_after: None,
            delay: None,
            cut_after: None,
        }
    }

    /// What is wrong with this entry, naming the key.
    pub fn problem(&self) -> Option<String> {
        if self.every.is_some() && self.rate.is_some() {
            return Some("`every` and `rate` cannot be used together".to_owned());
        }
        if self.every == Some(0) {
            return Some("`every` must be at least 1".to_owned());
        }
        if let Some(rate) = self.rate {
            if !(0.0..=1.0).contains(&rate) || rate.is_nan() {
                return Some(format!("`rate` {rate} is not between 0 and 1"));
            }
        }
        if self.count.is_some() && self.for_.is_some() {
            return Some("`count` and `for` cannot be used together".to_owned());
        }
        if (self.count.is_some() || self.for_.is_some()) && self.after.is_none() {
            return Some("`count` and `for` need `after` (the request to start after)".to_owned());
        }
        if let Some(route) = self.routes.iter().find(|r| !ROUTES.contains(&r.as_str())) {
            return Some(format!(
                "`routes` has {route:?}; faults apply to {}",
                ROUTES.join(", ")
            ));
        }
        let applies = |key: &str, kinds: &[FaultKind]| {
            (!kinds.contains(&self.kind)).then(|| {
                format!(
                    "`{key}` does not apply to kind {:?}",
                    self.kind.name().to_owned()
                )
            })
        };
        if self.retry_after.is_some() {
            if let Some(p) = applies(
                "retry_after",
                &[FaultKind::RateLimited, FaultKind::Unavailable],
            ) {
                return Some(p);
            }
        }
        if self.delay.is_some() {
            if let Some(p) = applies("delay", &[FaultKind::SlowFirstByte]) {
                return Some(p);
            }
        }
        if self.cut_after.is_some() {
            if let Some(p) = applies("cut_after", &[FaultKind::Cut]) {
                return Some(p);
            }
        }
        None
    }

    /// Parses the compact form used by `REFSERVER_FAULTS` and the scenario header:
    /// `kind=429,every=10,model=ref-chat-1,retry_after=2s`.
    pub fn parse_compact(text: &str) -> Result<Self, String> {
        let mut fault: Option<Self> = None;
        let mut rest = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            if key == "kind" || key == "fault" {
                let kind = FaultKind::parse(value).ok_or_else(|| unknown_kind(value))?;
                fault = Some(Self::always(kind));
            } else {
                rest.push((key, value));
            }
        }
        let mut fault = fault.ok_or_else(|| "no kind= given".to_owned())?;
        for (key, value) in rest {
            fault.set(key, value)?;
        }
        match fault.problem() {
            Some(p) => Err(p),
            None => Ok(fault),
        }
    }

    /// Sets one key of the compact form.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{key}={v:?} is not a whole number"))
        };
        match key {
            "model" | "models" => self.models.extend(value.split('|').map(str::to_owned)),
            "route" | "routes" => self.routes.extend(value.split('|').map(str::to_owned)),
            "every" => self.every = Some(number(value)?),
            "rate" => {
                let rate = match value.strip_suffix('%') {
                    Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
                    None => value.parse::<f64>(),
                };
                self.rate = Some(rate.map_err(|_| format!("rate={value:?} is not a number"))?);
            }
            "after" => self.after = Some(number(value)?),
            "count" => self.count = Some(number(value)?),
            "for" => self.for_ = Some(delay::bounded(value)?),
            "retry_after" => self.retry_after = Some(delay::bounded(value)?),
            "delay" => self.delay = Some(delay::bounded(value)?),
            "cut_after" => self.cut_after = Some(number(value)? as usize),
            other => return Err(format!("unknown fault key {other:?}")),
        }
        Ok(())
    }
}

fn unknown_kind(value: &str) -> String {
    format!("unknown fault kind {value:?}: expected 429, 500, 503, hang, cut or slow_first_byte")
}

/// A configured fault with its counters.
pub struct Rule {
    config: FaultConfig,
    /// Matching requests seen so far.
    seen: AtomicU64,
    /// When the first request after `after` came (the start of a `for` window).
    opened: OnceLock<Instant>,
    seed: u64,
}

impl Rule {
    /// The rule for `config`; `seed` drives its `rate` draws.
    pub fn new(config: FaultConfig, seed: u64) -> Self {
        Self {
            config,
            seen: AtomicU64::new(0),
            opened: OnceLock::new(),
            seed,
        }
    }

    /// The entry this rule was made from.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Whether this rule hits a request for `model` on `route` arriving `now`. Every matching
    /// request is counted, whether or not an earlier rule already hit it, so each rule's
    /// schedule is its own.
    pub fn hits(&self, route: &str, model: &str, now: Instant) -> bool {
        let c = &self.config;
        if !c.models.is_empty() && !c.models.iter().any(|m| m == model) {
            return false;
        }
        if !c.routes.is_empty() && !c.routes.iter().any(|r| r == route) {
            return false;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(after) = c.after {
            if n <= after {
                return false;
            }
            if let Some(count) = c.count {
                if n > after.saturating_add(count) {
                    return false;
                }
            }
            if let Some(window) = c.for_ {
                let opened = *self.opened.get_or_init(|| now);
                if now.saturating_duration_since(opened) >= window {
                    return false;
                }
            }
        }
        if let Some(every) = c.every {
            return n.is_multiple_of(every);
        }
        if let Some(rate) = c.rate {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(n);
            return rng.random_bool(rate);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        let config = FaultConfig::parse_compact(text);
        assert!(config.is_ok(), "{config:?}");
        Rule::new(
            config.unwrap_or_else(|_| FaultConfig::always(FaultKind::Hang)),
            7,
        )
    }

    fn fired(rule: &Rule, requests: u64) -> Vec<u64> {
        let now = Instant::now();
        (1..=requests)
            .filter(|_| rule.hits("/v1/chat/completions", "m", now))
            .collect()
    }

    #[test]
    fn every_tenth_request_exactly() {
        assert_eq!(fired(&rule("kind=500,every=10"), 35), vec![10, 20, 30]);
    }

    #[test]
    fn after_with_count_hits_that_many_then_stops() {
        assert_eq!(fired(&rule("kind=503,after=3,count=2"), 10), vec![4, 5]);
        assert_eq!(fired(&rule("kind=503,after=8"), 10), vec![9, 10]);
    }

    #[test]
    fn a_for_window_opens_at_the_first_request_after_and_closes_after_its_time() {
        let r = rule("kind=429,after=2,for=5s");
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let hits: Vec<bool> = [0, 1, 2, 4, 6, 7, 8]
            .iter()
            .map(|&s| r.hits("/v1/responses", "m", at(s)))
            .collect();
        // Requests 1 and 2 pass; the window opens at request 3 (t=2s) and lasts to t=7s.
        assert_eq!(hits, vec![false, false, true, true, true, false, false]);
    }

    #[test]
    fn rate_is_seeded_and_reproducible() {
        let a = fired(&rule("kind=500,rate=20%"), 1000);
        let b = fired(&rule("kind=500,rate=0.2"), 1000);
        assert_eq!(a, b);
        assert!((150..250).contains(&a.len()), "{}", a.len());
    }

    #[test]
    fn filters_count_only_matching_requests() {
        let r = rule("kind=429,every=2,model=a|b,route=/v1/responses");
        let now = Instant::now();
        let seq = [
            ("/v1/responses", "a"),
            ("/v1/responses", "c"),
            ("/v1/chat/completions", "a"),
            ("/v1/responses", "b"),
        ];
        let hits: Vec<bool> = seq.iter().map(|(r2, m)| r.hits(r2, m, now)).collect();
        assert_eq!(hits, vec![false, false, false, true]);
    }

    #[test]
    fn bad_entries_name_the_key() {
        let err = |t: &str| FaultConfig::parse_compact(t).err().unwrap_or_default();
        assert!(err("kind=429,every=0").contains("`every`"));
        assert!(err("kind=429,rate=2").contains("`rate`"));
        assert!(err("kind=429,count=3").contains("need `after`"));
        assert!(err("kind=teapot").contains("unknown fault kind"));
        assert!(err("kind=500,retry_after=1s").contains("`retry_after` does not apply"));
        assert!(err("kind=cut,route=/v1/models").contains("`routes`"));
        assert!(err("every=3").contains("no kind"));
        assert!(err("kind=429,often=yes").contains("unknown fault key"));
    }
}
