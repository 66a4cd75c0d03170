//! The conformance kit's harness, as a library: point it at any OpenAI-compatible URL and it
//! tells, check by check, whether the deployment is compatible ([`run()`]), accurate enough
//! ([`eval::run`]) and fast enough ([`latency::run`]). The `conformance` command line is a thin
//! layer over these three entry points.
//!
//! Each entry point takes a configuration with defaults (`new`), returns a result ([`RunResult`],
//! [`eval::Summary`], [`latency::LatencyReport`]) that the one
//! report writer ([`write_reports`]) turns into files (JSON, JUnit, Markdown, HTML), and fails
//! with one error type, [`HarnessError`], whose variants map to the command line's exit codes.
//! Before any work, each asks the target once: refused credentials, a wrong API root or a
//! server that is not an API stop it there ([`HarnessError::Refused`]).
//!
//! # Compatibility: `run`
//!
//! ```no_run
//! # async fn example() -> Result<(), harness::HarnessError> {
//! use harness::{RunConfig, TargetConfig};
//! use std::time::Duration;
//!
//! let target = TargetConfig::new("https://api.example.com/v1", Some("sk-...".into()), Duration::from_secs(30));
//! let mut config = RunConfig::new(target);
//! config.only = vec!["embeddings.*".into()];
//! let result = harness::run(config, &|check| eprintln!("{} done", check.id)).await?;
//! println!("{} failed", result.counts().failed);
//! harness::write_reports(&result, "reports".as_ref(), &[harness::ReportFormat::Json])?;
//! # Ok(()) }
//! ```
//!
//! # Accuracy: `eval`
//!
//! ```no_run
//! # async fn example() -> Result<(), harness::HarnessError> {
//! use harness::eval::EvalConfig;
//! use harness::TargetConfig;
//! use std::time::Duration;
//!
//! let target = TargetConfig::new("http://localhost:8000/v1", None, Duration::from_secs(60));
//! let config = EvalConfig { min_accuracy: Some(0.7), ..EvalConfig::new(target) };
//! let suites = harness::eval::load(&["cases/evals/*.jsonl".to_owned()], &config.reading())?;
//! let summary = harness::eval::run(&config, suites, &|_, _| {}).await?;
//! println!("accuracy {:?}, passed: {}", summary.overall.accuracy, summary.passed);
//! # Ok(()) }
//! ```
//!
//! # Speed: `latency`
//!
//! ```no_run
//! # async fn example() -> Result<(), harness::HarnessError> {
//! use harness::latency::LatencyConfig;
//! use harness::TargetConfig;
//! use std::time::Duration;
//!
//! let target = TargetConfig::new("http://localhost:8000/v1", None, Duration::from_secs(60));
//! let scenarios = harness::latency::default_scenarios("ref-chat-1", "ref-embed-1");
//! let config = LatencyConfig::new(target, scenarios);
//! let report = harness::latency::run(&config, &harness::new_run_id(), &|_| {}).await?;
//! println!("every budget met: {}", report.passed);
//! # Ok(()) }
//! ```
//!
//! Data flows one way: check definitions -> `run` -> exchanges with the target (the `target`
//! layer: client, discovery, preflight) -> verdicts -> `RunResult` -> reports. With the default
//! feature `embedded`, [`embedded`] starts the reference server in-process for all three.

mod checks;
pub mod ci;
pub mod compat;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
pub mod eval;
mod hint;
pub mod latency;
pub mod openapi;
mod preflight;
mod report;
mod result;
mod root_cause;
mod run;
mod run_id;
mod schemas;
mod segment;
pub mod snapshots;
mod target;
mod text;

pub use checks::retry::RetryPolicy;
pub use checks::{catalogue, Check, CheckOptions, Profile};
pub use error::{HarnessError, Refusal};
pub use report::latest::resolve as resolve_latest;
pub use report::{write as write_reports, Format as ReportFormat, Rendering, Report};
pub use result::{CheckResult, Failure, Metric, Outcome, RunResult};
pub use run::{run, RunConfig};
pub use run_id::new as new_run_id;
pub use target::TargetConfig;

/// The hot paths the criterion benchmarks (`benches/`) time. Not part of the API: present only
/// with the `bench-internals` feature, and free to change in any release.
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench_internals {
    pub use crate::eval::answer::Answer;
    pub use crate::eval::grader::{Grader, GraderSpec};
    pub use crate::latency::load::flat_out as open_loop_flat_out;
    pub use crate::latency::probe::{Sample, TokenCount};
    pub use crate::latency::slo::parse as parse_slo;
    pub use crate::latency::stats::ScenarioTally;
    pub use crate::schemas::Schemas;
    pub use crate::target::sse::SseParser;
}
