//! The id of a run of any command, minted here only: the name of its report directory.

/// A report directory's name, shared by `run`, `eval` and `latency`: the UTC time and a short
/// random suffix (`20261130T031658Z-35385b`).
pub fn new() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    )
}
