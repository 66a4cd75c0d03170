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
    Refused(Refusal),
    /// One target of a comparison failed as `source` says (and exits as it does).
    #[error("target {name}: {source}{}", in_targets_file(source))]
    Target {
        /// The target's name in the targets file.
        name: String,
        /// What went wrong.
        source: Box<HarnessError>,
    },
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
            Self::Target { source, .. } => source.exit_code(),
        }
    }
}

/// Where a comparison's target gets its key, when the key was the trouble.
fn in_targets_file(source: &HarnessError) -> &'static str {
    match source {
        HarnessError::Refused(Refusal::Credentials { .. }) => {
            " (a target of --compare takes its key from its api_key_env)"
        }
        _ => "",
    }
}

/// Why the target cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401 or 403: the key is missing, wrong or not allowed.
    Credentials {
        /// The request that was refused (`GET https://…/v1/models`).
        request: String,
        /// The status.
        status: u16,
        /// What the target said (short).
        said: String,
        /// Whether a key was sent.
        had_key: bool,
    },
    /// 404: nothing is served at this path, so the URL is not the API root.
    NotFound {
        /// The request.
        request: String,
        /// What the target said (short).
        said: String,
    },
    /// An answer no OpenAI-compatible API gives: HTML or other non-JSON, 501, 405.
    NotAnApi {
        /// The request.
        request: String,
        /// The status.
        status: u16,
        /// The media type of the answer.
        media_type: String,
        /// What the target said (short).
        said: String,
    },
    /// The API answered the scenario's request with an error every request of the load
    /// would get (a 4xx other than a rate limit or a timeout).
    Rejected {
        /// The request.
        request: String,
        /// The status.
        status: u16,
        /// What the target said (short).
        said: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Credentials {
                request,
                status,
                said,
                had_key,
            } => {
                let what = if *had_key {
                    "refused the credentials"
                } else {
                    "wants credentials and none were sent"
                };
                write!(
                    f,
                    "the target {what}: {request} answered HTTP {status} ({said}); \
                     pass --api-key (or --api-key-file) or set OPENAI_API_KEY"
                )
            }
            Self::NotFound { request, said } => write!(
                f,
                "{request} answered HTTP 404 ({said}): is --target the API root, the URL an \
                 SDK's base_url takes (e.g. https://host/v1)?"
            ),
            Self::NotAnApi {
                request,
                status,
                media_type,
                said,
            } => write!(
                f,
                "the target is not an OpenAI-compatible API: {request} answered HTTP {status} \
                 {} ({said})",
                if media_type.is_empty() {
                    "without a content type"
                } else {
                    media_type
                }
            ),
            Self::Rejected {
                request,
                status,
                said,
            } => write!(
                f,
                "the target rejected the first request, so every request would fail: \
                 {request} answered HTTP {status} ({said}); check the scenario's body and model"
            ),
        }
    }
}
