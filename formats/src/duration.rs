//! Durations as people write them in flags and files: a number and its unit.

use std::time::Duration;

/// A duration with its unit: `250ms`, `1.5s`, `2m`, `800us`. A bare number is refused: a
/// unit-less `200` is ambiguous.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("{text:?} has no unit: add one of us, ms, s or m (e.g. {text}s or {text}ms)")
        })?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!(
            "{text:?} is not a duration: a number and one of us, ms, s or m (e.g. 200ms, 1.5s, 2m)"
        )
    })?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (expected us, ms, s or m)"
            ))
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("{text:?} is not a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_has_a_unit_and_says_which_when_it_has_none() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration(" 800us "), Ok(Duration::from_micros(800)));
        let e = duration("10").err().unwrap_or_default();
        assert!(
            e.contains("no unit: add one of us, ms, s or m (e.g. 10s or 10ms)"),
            "{e}"
        );
        let e = duration("3 parsecs").err().unwrap_or_default();
        assert!(e.contains("unknown unit"), "{e}");
    }
}
