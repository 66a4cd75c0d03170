//! What a latency run leaves beside its reports for `conformance latency merge`: every
//! histogram as an HdrHistogram interval log (`latency.hlog`: V2 + DEFLATE, tagged
//! `scenario/measure`, the over-time buckets tagged `scenario/timeline`), and the counters,
//! configuration and cost the budgets and reports need (`latency.segment.json`). Nothing in
//! them is a percentile: a merge adds counts, so its percentiles are those of all the samples.

use super::load::{Abort, Lag, LoadOutcome, Model, Span};
use super::shape::Timeline;
use super::slo::{Budget, Scenario, Series};
use super::stats::ScenarioTally;
use super::LatencyConfig;
use crate::error::HarnessError;
use crate::segment::Segment;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// The interval log's name in a run's directory.
pub(crate) const HLOG: &str = "latency.hlog";
/// The counters' name in a run's directory.
pub(crate) const MANIFEST: &str = "latency.segment.json";
/// The version of both files; a merge refuses any other.
const FORMAT: u32 = 1;
/// The measures each scenario writes, in order.
const SERIES: [Series; 4] = [Series::Latency, Series::Ttft, Series::Itl, Series::Tpot];
/// The tag suffix of the over-time buckets.
const TIMELINE: &str = "timeline";
/// Past this, a merge input is not one of ours (a run writes a few MB at most).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// What must be the same in every input of a merge: one target, one SLO, one load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    target: String,
    scenarios: Vec<ScenarioSpec>,
    load: LoadSpec,
    span: SpanSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ScenarioSpec {
    name: String,
    endpoint: String,
    stream: bool,
    /// Absent in manifests written before keyed scenarios: none was keyed.
    #[serde(default)]
    idempotency_key: bool,
    weight: u32,
    budgets: Vec<String>,
    /// SHA-256 of the bodies as JSON: the same scenario sends the same requests.
    bodies_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
enum LoadSpec {
    Closed {
        concurrency: usize,
    },
    Open {
        rate_per_s: f64,
        poisson: bool,
        max_in_flight: usize,
        tick_us: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SpanSpec {
    duration_ms: Option<u64>,
    requests: Option<u64>,
    warmup_ms: u64,
    ramp_ms: u64,
    seed: u64,
    /// The shared start, in Unix milliseconds.
    start_at_ms: Option<u64>,
}

/// The counters and settings of one run (one segment of a split one).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    /// `I/N`.
    segment: String,
    fingerprint: Fingerprint,
    /// Where the scenarios came from, as the report says it.
    slo: String,
    started_at: String,
    measured_seconds: f64,
    drained_seconds: f64,
    cost: Cost,
    lag: Option<Lag>,
    aborted: Option<Abort>,
    scenarios: Vec<Counters>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cost {
    cpu_ms: Option<f64>,
    wall_s: f64,
    sent: u64,
    cores: usize,
    shares_process_with_target: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Counters {
    name: String,
    requests: u64,
    errors: u64,
    good: u64,
    warmup: u64,
    error_kinds: BTreeMap<String, u64>,
    counted_usage: u64,
    counted_deltas: u64,
    timeline_width_s: f64,
    /// Per bucket: requests, errors, and 1 if any was warm-up.
    timeline: Vec<[u64; 3]>,
}

/// One run as a merge input: its manifest and its tallies.
#[derive(Debug, Clone)]
pub(crate) struct Shard {
    manifest: Manifest,
    tallies: Vec<ScenarioTally>,
}

impl Shard {
    /// The shard of a finished single run.
    pub(crate) fn of_run(
        config: &LatencyConfig,
        outcome: &LoadOutcome,
        started_at: &str,
        cores: usize,
    ) -> Self {
        let scenarios = config
            .scenarios
            .iter()
            .zip(&outcome.tallies)
            .map(|(s, t)| {
                let (width, buckets) = t.timeline.parts();
                Counters {
                    name: s.name.clone(),
                    requests: t.requests,
                    errors: t.errors,
                    good: t.good,
                    warmup: t.warmup,
                    error_kinds: t.error_kinds.clone(),
                    counted_usage: t.counted.0,
                    counted_deltas: t.counted.1,
                    timeline_width_s: width,
                    timeline: buckets
                        .iter()
                        .map(|(r, e, w, _)| [*r, *e, u64::from(*w)])
                        .collect(),
                }
            })
            .collect();
        Self {
            manifest: Manifest {
                format: FORMAT,
                segment: config.span.segment.to_string(),
                fingerprint: fingerprint(config),
                slo: config.slo.clone(),
                started_at: started_at.to_owned(),
                measured_seconds: outcome.seconds,
                drained_seconds: outcome.drained_seconds,
                cost: Cost {
                    cpu_ms: outcome.cpu.map(|c| c.as_secs_f64() * 1000.0),
                    wall_s: outcome.wall.as_secs_f64(),
                    sent: outcome.sent,
                    cores,
                    shares_process_with_target: config.shares_process_with_target,
                },
                lag: outcome.lag.clone(),
                aborted: outcome.aborted.clone(),
                scenarios,
            },
            tallies: outcome.tallies.clone(),
        }
    }

    /// The two files, by name.
    pub(crate) fn files(&self) -> Vec<(&'static str, Vec<u8>)> {
        let manifest = serde_json::to_vec_pretty(&self.manifest).unwrap_or_default();
        vec![(HLOG, self.hlog()), (MANIFEST, manifest)]
    }

    fn hlog(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        let base = self
            .manifest
            .fingerprint
            .span
            .start_at_ms
            .map_or(UNIX_EPOCH, |ms| UNIX_EPOCH + Duration::from_millis(ms));
        let Ok(mut log) = IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "conformance latency, segment {}: per scenario and measure (µs), the measured window, then the over-time buckets",
                self.manifest.segment
            ))
            .with_base_time(base)
            .begin_log_with(&mut out, &mut serializer)
        else {
            return Vec::new();
        };
        let window = Duration::from_secs_f64(self.manifest.measured_seconds.max(0.0));
        for (counters, tally) in self.manifest.scenarios.iter().zip(&self.tallies) {
            for series in SERIES {
                let tag = tag(&counters.name, series.name());
                let _ = log.write_histogram(
                    tally.histogram(series),
                    Duration::ZERO,
                    window,
                    Tag::new(&tag),
                );
            }
            let tag = tag(&counters.name, TIMELINE);
            let (width, buckets) = tally.timeline.parts();
            for (i, (_, _, _, h)) in buckets.iter().enumerate() {
                let start = Duration::from_secs_f64(width * i as f64);
                let _ =
                    log.write_histogram(*h, start, Duration::from_secs_f64(width), Tag::new(&tag));
            }
        }
        out
    }

    /// Reads the shard a run left in `dir` (its run directory, or a report directory whose
    /// newest latency run is taken).
    pub(crate) fn read(dir: &Path) -> Result<Self, HarnessError> {
        let dir = if dir.join(MANIFEST).is_file() {
            dir.to_owned()
        } else {
            crate::report::latest::newest(dir, MANIFEST).ok_or_else(|| {
                HarnessError::Usage(format!(
                    "{}: no {MANIFEST} here or in a run under it (was it written by `conformance latency`?)",
                    dir.display()
                ))
            })?
        };
        let bad = |what: String| HarnessError::Usage(format!("{}: {what}", dir.display()));
        let manifest: Manifest = serde_json::from_slice(&read_bounded(&dir.join(MANIFEST))?)
            .map_err(|e| bad(format!("{MANIFEST} is not a segment manifest: {e}")))?;
        if manifest.format != FORMAT {
            return Err(bad(format!(
                "{MANIFEST} is format {}, this build reads format {FORMAT}",
                manifest.format
            )));
        }
        let scenarios = manifest.fingerprint.scenarios()?;
        let mut tallies: Vec<ScenarioTally> = scenarios.iter().map(ScenarioTally::new).collect();
        let hlog = read_bounded(&dir.join(HLOG))?;
        let mut deserializer = Deserializer::new();
        let mut buckets: Vec<Vec<(Duration, Histogram<u32>)>> = vec![Vec::new(); tallies.len()];
        for entry in IntervalLogIterator::new(&hlog) {
            let entry = entry.map_err(|e| bad(format!("{HLOG} cannot be read: {e:?}")))?;
            let LogEntry::Interval(interval) = entry else {
                continue;
            };
            let Some((name, measure)) = interval.tag().and_then(|t| untag(t.as_str())) else {
                return Err(bad(format!(
                    "{HLOG} has an interval without a scenario/measure tag"
                )));
            };
            let Some(i) = manifest.scenarios.iter().position(|c| c.name == name) else {
                return Err(bad(format!(
                    "{HLOG} names a scenario {name:?} the manifest does not"
                )));
            };
            let bytes = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                interval.encoded_histogram(),
            )
            .map_err(|e| bad(format!("{HLOG}: a histogram is not base64: {e}")))?;
            if measure == TIMELINE {
                let h: Histogram<u32> = deserializer
                    .deserialize(&mut bytes.as_slice())
                    .map_err(|e| bad(format!("{HLOG}: a timeline histogram: {e:?}")))?;
                buckets[i].push((interval.start_timestamp(), h));
                continue;
            }
            let Some(series) = SERIES.iter().find(|s| s.name() == measure) else {
                return Err(bad(format!("{HLOG}: unknown measure {measure:?}")));
            };
            let h: Histogram<u64> = deserializer
                .deserialize(&mut bytes.as_slice())
                .map_err(|e| bad(format!("{HLOG}: the {name}/{measure} histogram: {e:?}")))?;
            if !tallies[i].add_histogram(*series, &h) {
                return Err(bad(format!(
                    "{HLOG}: the {name}/{measure} histogram has other bounds ({}..{} µs, {} digits) than this build records (1 µs to 1 h, 3 digits)",
                    h.low(),
                    h.high(),
                    h.sigfig()
                )));
            }
        }
        for ((tally, counters), mut timeline) in
            tallies.iter_mut().zip(&manifest.scenarios).zip(buckets)
        {
            tally.requests = counters.requests;
            tally.errors = counters.errors;
            tally.good = counters.good;
            tally.warmup = counters.warmup;
            tally.error_kinds = counters.error_kinds.clone();
            tally.counted = (counters.counted_usage, counters.counted_deltas);
            timeline.sort_by_key(|(start, _)| *start);
            if timeline.len() != counters.timeline.len() {
                return Err(bad(format!(
                    "{HLOG} has {} over-time buckets of {}, the manifest {}",
                    timeline.len(),
                    counters.name,
                    counters.timeline.len()
                )));
            }
            let parts = counters
                .timeline
                .iter()
                .zip(timeline)
                .map(|([r, e, w], (_, h))| (*r, *e, *w > 0, h))
                .collect();
            tally.timeline =
                Timeline::from_parts(counters.timeline_width_s, parts).ok_or_else(|| {
                    bad(format!(
                        "{MANIFEST}: the over-time buckets of {} do not fit",
                        counters.name
                    ))
                })?;
        }
        Ok(Self { manifest, tallies })
    }
}

/// What a merge needs of its inputs, read and checked.
pub(crate) struct Inputs {
    /// Reconstructed from the first input (all are the same).
    pub(crate) config: LatencyConfig,
    /// One per segment, in segment order.
    pub(crate) outcomes: Vec<LoadOutcome>,
    /// The earliest start among them.
    pub(crate) started_at: String,
    /// Every worker's cores together.
    pub(crate) cores: usize,
}

/// Reads the shards in `dirs` and checks that they are the N segments of one run, each once.
pub(crate) fn read_all(dirs: &[std::path::PathBuf]) -> Result<Inputs, HarnessError> {
    let mut shards = Vec::new();
    for dir in dirs {
        shards.push((dir, Shard::read(dir)?));
    }
    let Some((first_dir, first)) = shards.first() else {
        return Err(HarnessError::Usage(
            "latency merge: no run directories given".into(),
        ));
    };
    for (dir, shard) in &shards[1..] {
        if let Some(what) = first
            .manifest
            .fingerprint
            .differs(&shard.manifest.fingerprint)
        {
            return Err(HarnessError::Usage(format!(
                "{} and {} are not parts of one run: their {what} differ",
                first_dir.display(),
                dir.display()
            )));
        }
    }
    let mut parts = Vec::new();
    for (dir, shard) in &shards {
        let segment = Segment::parse(&shard.manifest.segment)
            .map_err(|e| HarnessError::Usage(format!("{}: {MANIFEST}: {e}", dir.display())))?;
        parts.push((segment, dir.as_path()));
    }
    crate::segment::check_complete(&parts, "segment", "run").map_err(HarnessError::Usage)?;
    let config = first.manifest.config()?;
    shards.sort_by_key(|(_, s)| Segment::parse(&s.manifest.segment).map_or(0, |s| s.number()));
    let started_at = shards
        .iter()
        .map(|(_, s)| s.manifest.started_at.clone())
        .min()
        .unwrap_or_default();
    let cores = shards.iter().map(|(_, s)| s.manifest.cost.cores).sum();
    let outcomes = shards
        .into_iter()
        .map(|(_, s)| LoadOutcome {
            seconds: s.manifest.measured_seconds,
            drained_seconds: s.manifest.drained_seconds,
            lag: s.manifest.lag,
            cpu: s
                .manifest
                .cost
                .cpu_ms
                .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0)),
            wall: Duration::from_secs_f64(s.manifest.cost.wall_s.max(0.0)),
            sent: s.manifest.cost.sent,
            aborted: s.manifest.aborted,
            tallies: s.tallies,
        })
        .collect();
    Ok(Inputs {
        config,
        outcomes,
        started_at,
        cores,
    })
}

impl Fingerprint {
    /// Which part differs from `other`, if any.
    fn differs(&self, other: &Fingerprint) -> Option<&'static str> {
        if self.target != other.target {
            Some("targets")
        } else if self.scenarios != other.scenarios {
            Some("SLO scenarios (names, endpoints, bodies or budgets)")
        } else if self.load != other.load {
            Some("loads (model, rate, arrivals, in-flight cap or tick)")
        } else if self.span != other.span {
            Some("spans (duration, requests, warm-up, ramp, seed or --start-at)")
        } else {
            None
        }
    }

    /// The scenarios, without their bodies (a merge sends nothing).
    fn scenarios(&self) -> Result<Vec<Scenario>, HarnessError> {
        self.scenarios
            .iter()
            .map(|s| {
                let budgets = s
                    .budgets
                    .iter()
                    .map(|b| Budget::parse(b))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| HarnessError::Usage(format!("{MANIFEST}: {}: {e}", s.name)))?;
                Ok(Scenario {
                    name: s.name.clone(),
                    endpoint: s.endpoint.clone(),
                    bodies: Vec::new(),
                    stream: s.stream,
                    idempotency_key: s.idempotency_key,
                    weight: s.weight,
                    budgets,
                })
            })
            .collect()
    }
}

impl Manifest {
    /// The configuration of the whole run this segment was part of.
    fn config(&self) -> Result<LatencyConfig, HarnessError> {
        let f = &self.fingerprint;
        let target =
            crate::target::TargetConfig::new(f.target.clone(), None, Duration::from_secs(60));
        let mut config = LatencyConfig::new(target, f.scenarios()?);
        config.slo = self.slo.clone();
        config.model = match f.load {
            LoadSpec::Closed { concurrency } => Model::Closed { concurrency },
            LoadSpec::Open {
                rate_per_s,
                poisson,
                max_in_flight,
                tick_us,
            } => Model::Open {
                rate: rate_per_s,
                poisson,
                max_in_flight,
                tick: Duration::from_micros(tick_us),
            },
        };
        let ms = Duration::from_millis;
        config.span = Span {
            duration: f.span.duration_ms.map(ms),
            requests: f.span.requests,
            warmup: ms(f.span.warmup_ms),
            ramp: ms(f.span.ramp_ms),
            seed: f.span.seed,
            segment: Segment::WHOLE,
            start_at: f.span.start_at_ms.map(|t| UNIX_EPOCH + ms(t)),
        };
        config.shares_process_with_target = self.cost.shares_process_with_target;
        Ok(config)
    }
}

fn fingerprint(config: &LatencyConfig) -> Fingerprint {
    use sha2::Digest as _;
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Fingerprint {
        target: config.target_label.clone(),
        scenarios: config
            .scenarios
            .iter()
            .map(|s| ScenarioSpec {
                name: s.name.clone(),
                endpoint: s.endpoint.clone(),
                stream: s.stream,
                idempotency_key: s.idempotency_key,
                weight: s.weight,
                budgets: s.budgets.iter().map(|b| b.text.clone()).collect(),
                bodies_sha256: format!(
                    "{:x}",
                    sha2::Sha256::digest(serde_json::to_vec(&s.bodies).unwrap_or_default())
                ),
            })
            .collect(),
        load: match config.model {
            Model::Closed { concurrency } => LoadSpec::Closed { concurrency },
            Model::Open {
                rate,
                poisson,
                max_in_flight,
                tick,
            } => LoadSpec::Open {
                rate_per_s: rate,
                poisson,
                max_in_flight,
                tick_us: u64::try_from(tick.as_micros()).unwrap_or(u64::MAX),
            },
        },
        span: SpanSpec {
            duration_ms: config.span.duration.map(ms),
            requests: config.span.requests,
            warmup_ms: ms(config.span.warmup),
            ramp_ms: ms(config.span.ramp),
            seed: config.span.seed,
            start_at_ms: config
                .span
                .start_at
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(ms),
        },
    }
}

/// `name/measure`, with what a tag cannot hold (`,`, space, CR, LF) and `%` percent-encoded.
fn tag(name: &str, measure: &str) -> String {
    let mut out = String::with_capacity(name.len() + measure.len() + 1);
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            ',' => out.push_str("%2C"),
            ' ' => out.push_str("%20"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out.push('/');
    out.push_str(measure);
    out
}

/// The scenario name and measure of a tag.
fn untag(tag: &str) -> Option<(String, &str)> {
    let (name, measure) = tag.rsplit_once('/')?;
    let name = name
        .replace("%2C", ",")
        .replace("%20", " ")
        .replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%");
    Some((name, measure))
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, HarnessError> {
    let io = |source| HarnessError::Io {
        context: format!("cannot read {}", path.display()),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(HarnessError::Usage(format!(
            "{} is {size} bytes: past the {MAX_FILE_BYTES}-byte bound of a merge input",
            path.display()
        )));
    }
    std::fs::read(path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::probe::Sample;
    use crate::target::TargetConfig;

    fn config(segment: &str, rate: f64) -> LatencyConfig {
        let scenarios = crate::latency::parse_scenarios(
            "[[scenario]]\nname = \"chat, long\"\nendpoint = \"/v1/responses\"\nstream = true\nbody = { model = \"m\", input = \"x\" }\nbudgets = [\"p95 <= 40ms\", \"ttft.p50 <= 9ms\"]\n",
            "slo.toml",
            Path::new("."),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut config = LatencyConfig::new(
            TargetConfig::new("http://127.0.0.1:9/v1", None, Duration::from_secs(1)),
            scenarios,
        );
        config.model = Model::Open {
            rate,
            poisson: false,
            max_in_flight: 100,
            tick: Duration::from_millis(1),
        };
        config.span.segment = Segment::parse(segment).unwrap_or_else(|e| panic!("{e}"));
        config
    }

    /// Request `n`: its latency, TTFT and gaps vary with n; every 17th fails.
    fn sample(n: u64) -> Sample {
        let ms = |v: u64| Duration::from_micros(v);
        Sample {
            latency: ms(1_000 + (n * 7_919) % 60_000),
            ttft: Some(ms(500 + (n * 31) % 9_000)),
            itl: vec![ms(100 + n % 900), ms(50 + (n * 3) % 700)],
            tokens: Some((3, crate::latency::probe::TokenCount::Usage)),
            error: (n.is_multiple_of(17)).then(|| format!("HTTP {}", 500 + n % 3)),
            sent_at: Duration::from_millis(n * 3),
        }
    }

    fn outcome(config: &LatencyConfig, requests: impl Iterator<Item = u64>) -> LoadOutcome {
        let mut tallies: Vec<ScenarioTally> =
            config.scenarios.iter().map(ScenarioTally::new).collect();
        for n in requests {
            tallies[0].record(&sample(n), n < 40);
        }
        LoadOutcome {
            tallies,
            seconds: 3.0,
            drained_seconds: 3.1,
            lag: Some(Lag::default()),
            cpu: Some(Duration::from_millis(200)),
            wall: Duration::from_secs(4),
            sent: 1000,
            aborted: None,
        }
    }

    fn write(dir: &Path, shard: &Shard) {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        for (name, bytes) in shard.files() {
            std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn merged_segments_are_the_histograms_and_counters_of_all_their_samples() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let whole_config = config("1/1", 300.0);
        let whole = outcome(&whole_config, 0..1000);
        let mut dirs = Vec::new();
        for i in 1..=3u32 {
            let config = config(&format!("{i}/3"), 300.0);
            let segment = config.span.segment;
            let mine = outcome(&config, (0..1000).filter(|n| segment.owns(*n)));
            let dir = tmp.path().join(format!("worker-{i}"));
            write(
                &dir,
                &Shard::of_run(&config, &mine, "2026-12-07T18:00:00Z", 2),
            );
            dirs.push(dir);
        }
        let inputs = read_all(&dirs).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inputs.outcomes.len(), 3);
        assert_eq!(inputs.cores, 6);
        let mut merged = inputs.outcomes[0].tallies[0].clone();
        for o in &inputs.outcomes[1..] {
            merged.merge(&o.tallies[0]);
        }
        let all = &whole.tallies[0];
        for series in SERIES {
            assert_eq!(merged.dist(series), all.dist(series), "{}", series.name());
            assert!(all.dist(series).is_some());
        }
        assert_eq!(
            (merged.requests, merged.errors, merged.good, merged.warmup),
            (all.requests, all.errors, all.good, all.warmup)
        );
        assert!(all.errors > 0 && all.warmup == 40);
        assert_eq!(merged.error_kinds, all.error_kinds);
        assert_eq!(merged.timeline.points(), all.timeline.points());
        // The report judges the budgets on the merged tallies.
        let report =
            crate::latency::merge(&dirs, None, None, "m").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.scenarios[0].requests, all.requests);
        assert_eq!(report.scenarios[0].latency, all.dist(Series::Latency));
        assert_eq!(report.scenarios[0].name, "chat, long");
    }

    #[test]
    fn a_merge_refuses_what_is_not_the_segments_of_one_run() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = |name: &str, segment: &str, rate: f64| {
            let config = config(segment, rate);
            let dir = tmp.path().join(name);
            write(
                &dir,
                &Shard::of_run(&config, &outcome(&config, 0..100), "t", 1),
            );
            dir
        };
        let one = dir("a", "1/3", 300.0);
        let two = dir("b", "2/3", 300.0);
        let three = dir("c", "3/3", 300.0);
        let again = dir("d", "2/3", 300.0);
        let faster = dir("e", "3/3", 600.0);
        let halves = dir("f", "2/2", 300.0);
        let refused = |dirs: &[&std::path::PathBuf]| {
            let dirs: Vec<std::path::PathBuf> = dirs.iter().map(|d| (*d).clone()).collect();
            read_all(&dirs)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(refused(&[&one, &two]).contains("segment 3/3 is missing"));
        assert!(refused(&[&one, &two, &three, &again]).contains("segment 2/3 is given twice"));
        assert!(refused(&[&one, &two, &faster]).contains("their loads (model, rate"));
        assert!(refused(&[&one, &halves]).contains("is of a run split 3 ways"));
        assert!(read_all(&[one.clone(), two.clone(), three.clone()]).is_ok());
        // A histogram of other bounds is named.
        let bad = tmp.path().join("g");
        std::fs::create_dir_all(&bad).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(one.join(MANIFEST), bad.join(MANIFEST)).unwrap_or_else(|e| panic!("{e}"));
        let mut h =
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap_or_else(|e| panic!("{e}"));
        let _ = h.record(5);
        let mut out = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        if let Ok(mut log) =
            IntervalLogWriterBuilder::new().begin_log_with(&mut out, &mut serializer)
        {
            let _ = log.write_histogram(
                &h,
                Duration::ZERO,
                Duration::from_secs(1),
                Tag::new("chat%2C%20long/latency"),
            );
        }
        std::fs::write(bad.join(HLOG), out).unwrap_or_else(|e| panic!("{e}"));
        let e = Shard::read(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("has other bounds (1..60000000 µs, 2 digits)"),
            "{e}"
        );
        // Not one of ours at all.
        let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let e = Shard::read(empty.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("no latency.segment.json here"), "{e}");
    }

    #[test]
    fn a_tag_keeps_any_scenario_name() {
        for name in ["embed", "chat, long", "a b/c", "100%", "x\ny"] {
            let t = tag(name, "latency");
            assert!(Tag::new(&t).is_some(), "{t}");
            assert_eq!(untag(&t), Some((name.to_owned(), "latency")));
        }
    }
}
