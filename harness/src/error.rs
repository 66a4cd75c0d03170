//! The harness's one error type; each variant decides the exit code.

use std::process::ExitCode;

/// Why a command could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Bad flags or configuration (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The target could not be reached at all (exit 3).
    #[error("target unreachable: {0}")]
    Unreachable(String),
    /// The target answered, but not as an OpenAI-compatible API that takes these credentials
    /// at this root (exit 3): nothing more is sent.
    #[error("{0}")]
    Refused(crate::preflight::Refusal),
    /// Reports or files could not be written (exit 2).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl HarnessError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) | Self::Io { .. } => ExitCode::from(2),
            Self::Unreachable(_) | Self::Refused(_) => ExitCode::from(3),
        }
    }
}
