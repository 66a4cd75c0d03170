//! The conformance kit's harness: runs a catalogue of checks against any OpenAI-compatible
//! URL and reports, check by check, what is compatible.
//!
//! Data flows one way: check definitions -> `run` -> exchanges with the target -> check
//! verdicts -> `RunResult` -> reports -> exit code.

pub mod checks;
pub mod compat;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
pub mod eval;
mod hint;
pub mod latency;
pub mod openapi;
pub mod preflight;
pub mod report;
pub mod result;
pub mod root_cause;
pub mod run;
pub mod run_id;
pub mod schemas;
pub mod snapshots;
pub mod target;
pub mod text;

pub use checks::{catalogue, CheckOptions, Profile};
pub use error::HarnessError;
pub use result::{CheckResult, Outcome, RunResult};
pub use run::{run, RunConfig};
pub use target::TargetConfig;
