//! What `run`, `eval` and `latency` share: the target and its credentials, stdout and
//! progress, and the parsers of shares, rates and seconds.

use clap::Args;
use harness::HarnessError;
use harness::TargetConfig;
use std::path::PathBuf;
use std::time::Duration;

/// Where the target is and how to authenticate, shared by `run`, `eval` and `latency`.
#[derive(Debug, Args)]
pub(super) struct TargetArgs {
    /// The target's API root, as an SDK's base_url (e.g. https://api.example.com/v1); a bare
    /// origin whose API is under /v1 is found. Without it, the reference server is started
    /// in-process on a loopback port.
    #[arg(long, env = "OPENAI_BASE_URL", hide_env_values = true)]
    pub(super) target: Option<String>,
    /// API key for the target.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Read the API key from this file (its first line), so it is not in the process list;
    /// wins over --api-key and OPENAI_API_KEY.
    #[arg(long, value_name = "PATH")]
    api_key_file: Option<PathBuf>,
    /// Header that carries the key (gateways); Authorization sends "Bearer <key>".
    #[arg(long, default_value = "Authorization")]
    auth_header: String,
    /// Accept invalid TLS certificates.
    #[arg(long)]
    insecure: bool,
    /// Trust the CAs of this PEM bundle too (an internal CA), beside the web roots and the
    /// system's store; also for --judge-target.
    #[arg(long, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
}

impl TargetArgs {
    /// The key: from --api-key-file, else --api-key or OPENAI_API_KEY. A file that cannot be
    /// read, or holds no key, is a usage error (exit 2).
    pub(super) fn key(&self) -> Result<Option<String>, HarnessError> {
        let Some(path) = &self.api_key_file else {
            return Ok(self.api_key.clone());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| HarnessError::Usage(format!("--api-key-file {}: {e}", path.display())))?;
        let key = text.lines().next().unwrap_or("").trim();
        if key.is_empty() {
            return Err(HarnessError::Usage(format!(
                "--api-key-file {}: the file holds no key (its first line is empty)",
                path.display()
            )));
        }
        Ok(Some(key.to_owned()))
    }

    /// The target config for `url` with `key`, these credentials' header, and `timeout`.
    pub(super) fn config(&self, url: String, key: Option<String>, timeout: f64) -> TargetConfig {
        TargetConfig {
            auth_header: self.auth_header.clone(),
            insecure: self.insecure,
            cacert: self.cacert.clone(),
            ..TargetConfig::new(url, key, Duration::from_secs_f64(timeout))
        }
    }
}

/// Where a command sends its requests: the target given, or the embedded reference server,
/// kept running as long as this lives.
pub(super) struct Resolved {
    /// The embedded server, when no --target was given: it stops when this is dropped.
    pub(super) _server: Option<harness::embedded::Embedded>,
    /// Whether the target is the embedded server.
    pub(super) ours: bool,
    /// The API root (`…/v1` for the embedded server).
    pub(super) url: String,
    /// How reports name the target.
    pub(super) label: String,
    /// The key to send.
    pub(super) key: Option<String>,
}

/// Whether the embedded server throttles: `run` checks its rate limiter; `eval` grades the
/// engine and `latency` measures it, and neither may be throttled by its own stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limiter {
    On,
    Off,
}

impl TargetArgs {
    /// The target of every command, resolved one way: --target with the key of --api-key-file,
    /// --api-key or OPENAI_API_KEY (a target without a key is said once on stderr); without
    /// --target, the embedded server and its key.
    pub(super) async fn resolve(&self, limiter: Limiter) -> Result<Resolved, HarnessError> {
        let key = self.key()?;
        if let Some(url) = &self.target {
            if key.is_none() {
                eprintln!("conformance: no --api-key (or OPENAI_API_KEY) given: requests to {url} carry no credentials");
            }
            return Ok(Resolved {
                _server: None,
                ours: false,
                url: url.clone(),
                label: url.clone(),
                key,
            });
        }
        let e = harness::embedded::start_with(limiter == Limiter::On).await?;
        Ok(Resolved {
            url: format!("{}/v1", e.url),
            // Not its URL: the port changes every run and is gone when the run ends, and the
            // reports of two runs (or of a split run's shards) name the same target.
            label: "embedded reference server".to_owned(),
            key: Some(harness::embedded::KEY.to_owned()),
            _server: Some(e),
            ours: true,
        })
    }
}

/// What goes to stdout and how progress shows, shared by `run`, `eval` and `latency`.
#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// What stdout gets: the text summary, or the report as one JSON document (for scripts;
    /// the lines naming report files go to stderr then).
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Short for --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Without a terminal (a CI log), print a progress line this often.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = kit_formats::duration)]
    pub(super) progress_every: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum OutputFormat {
    Text,
    Json,
}

impl OutputArgs {
    pub(super) fn json(&self) -> bool {
        self.json || self.format == OutputFormat::Json
    }

    /// Prints `text` to stdout, unless stdout is the JSON document.
    pub(super) fn say(&self, text: &str) {
        if self.json() {
            eprint!("{text}");
        } else {
            out!("{text}");
        }
    }

    /// Prints the report's summary, or its JSON file as one document.
    pub(super) fn summary(&self, report: &dyn harness::Report) {
        if self.json() {
            outln!("{}", report.file(harness::ReportFormat::Json).1);
        } else {
            out!("{}", report.text());
        }
    }
}

/// `--baseline`: as given, or for `latest` the newest earlier run with `file`.
pub(super) fn baseline(
    given: &Option<PathBuf>,
    report_dir: &std::path::Path,
    file: &str,
) -> Result<Option<PathBuf>, HarnessError> {
    given
        .as_deref()
        .map(|g| harness::resolve_latest(g, report_dir, file))
        .transpose()
}

/// A share: `5%` or `0.05`. A bare number over 1 is refused rather than guessed at.
pub(super) fn share(s: &str) -> Result<f64, String> {
    let (number, scale) = match s.trim().strip_suffix('%') {
        Some(pct) => (pct.trim(), 100.0),
        None => (s.trim(), 1.0),
    };
    match number.parse::<f64>().map(|v| v / scale) {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) if scale == 1.0 && v > 1.0 && v <= 100.0 => Err(format!(
            "{s:?} is not a share between 0 and 1: write {s}% for {s} percent, or {}",
            v / 100.0
        )),
        _ => Err(format!(
            "{s:?} is not a share: write a percentage (5%) or a number between 0 and 1 (0.05)"
        )),
    }
}

pub(super) fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a positive rate")),
    }
}

/// `--start-at`: an RFC 3339 instant (`2026-12-07T18:00:00Z`) or Unix seconds (`1796666400`,
/// decimals allowed).
pub(super) fn start_at(s: &str) -> Result<std::time::SystemTime, String> {
    let text = s.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(seconds)
            .map(|d| std::time::UNIX_EPOCH + d)
            .map_err(|_| format!("{s:?} is not a time: Unix seconds must be positive"));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(std::time::SystemTime::from)
        .map_err(|e| {
            format!("{s:?} is not a time: RFC 3339 (2026-12-07T18:00:00Z) or Unix seconds ({e})")
        })
}

/// The open loop's tick: `0` (no grid) or a duration up to a second (a coarser grid would
/// turn a rate into bursts a second apart).
pub(super) fn tick(s: &str) -> Result<std::time::Duration, String> {
    if s.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let tick = kit_formats::duration(s)?;
    if tick > std::time::Duration::from_secs(1) {
        return Err(format!(
            "{s:?} is too coarse a tick: at most 1s (0 for none)"
        ));
    }
    Ok(tick)
}

pub(super) fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}
