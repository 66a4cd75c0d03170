//! `X-Refserver-Scenario`: a test picks the timing or a fault of one request, e.g.
//! `ttft=800ms, inter_token=normal(20ms, 4ms), fault=429, retry_after=2s`. Honoured only when
//! `[scenarios] header = true`, which strict auth refuses.

use super::delay::Delay;
use super::faults::{FaultConfig, FaultKind};
use super::profile::ModelTiming;

/// The header's name.
pub const HEADER: &str = "x-refserver-scenario";

/// What one request asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scenario {
    /// Timing that replaces the model's profile, key by key.
    pub timing: ModelTiming,
    /// A fault for this request.
    pub fault: Option<FaultConfig>,
}

impl Scenario {
    /// Parses the header's value; the error names the key at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut scenario = Self::default();
        let mut fault_keys = Vec::new();
        for pair in top_level(text) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not key=value"))?;
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            let delay = || value.parse::<Delay>().map_err(|e| format!("{key}: {e}"));
            match key.as_str() {
                "ttft" => scenario.timing.ttft = Some(delay()?),
                "inter_token" | "itl" => scenario.timing.inter_token = Some(delay()?),
                "embedding_per_input" => scenario.timing.embedding_per_input = Some(delay()?),
                "fault" => {
                    let kind = FaultKind::parse(value).ok_or_else(|| {
                        format!("fault: unknown kind {value:?}: expected 429, 500, 503, hang, cut or slow_first_byte")
                    })?;
                    scenario.fault = Some(FaultConfig::always(kind));
                }
                "retry_after" | "delay" | "cut_after" => fault_keys.push((key, value)),
                other => {
                    return Err(format!(
                        "unknown key {other:?}: expected ttft, inter_token, embedding_per_input, fault, retry_after, delay or cut_after"
                    ))
                }
            }
        }
        if let Some((key, _)) = fault_keys.first().filter(|_| scenario.fault.is_none()) {
            return Err(format!("{key} needs fault="));
        }
        if let Some(fault) = &mut scenario.fault {
            for (key, value) in &fault_keys {
                fault.set(key, value)?;
            }
            if let Some(problem) = fault.problem() {
                return Err(problem);
            }
        }
        Ok(scenario)
    }
}

/// The comma-separated parts of `text`, not splitting inside parentheses.
fn top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' | ';' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reads_timing_and_a_fault() {
        let s =
            Scenario::parse("ttft=800ms, inter_token=normal(20ms, 4ms); fault=429, retry_after=2s");
        let s = s.unwrap_or_default();
        assert_eq!(
            s.timing.ttft,
            Some(Delay::Fixed(Duration::from_millis(800)))
        );
        assert!(matches!(s.timing.inter_token, Some(Delay::Normal { .. })));
        let fault = s
            .fault
            .unwrap_or_else(|| FaultConfig::always(FaultKind::Hang));
        assert_eq!(fault.kind, FaultKind::RateLimited);
        assert_eq!(fault.retry_after, Some(Duration::from_secs(2)));
    }

    #[test]
    fn mistakes_are_named() {
        let err = |t: &str| Scenario::parse(t).err().unwrap_or_default();
        assert!(err("ttft=fast").contains("ttft"));
        assert!(err("fault=418").contains("unknown kind"));
        assert!(err("retry_after=1s").contains("needs fault="));
        assert!(err("fault=500,retry_after=1s").contains("does not apply"));
        assert!(err("speed=11").contains("unknown key"));
        assert!(err("fault=429,every=2").contains("unknown key"));
    }
}
