//! The statistics a CI gate can trust: Wilson score intervals on accuracies.

use serde::Serialize;

/// A 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// Whether `x` lies inside (a gate there is a verdict within noise).
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// The Wilson 95% interval of a proportion `p` observed over `n` trials; `None` for no trials.
/// Unlike the normal approximation it stays inside [0, 1] and is sound for small `n` and for
/// `p` near 0 or 1, which is where CI gates live.
pub fn wilson(p: f64, n: usize) -> Option<Interval> {
    if n == 0 || !p.is_finite() {
        return None;
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    // At p = 0 or 1 the bound is exactly 0 or 1; rounding must not move it.
    Some(Interval {
        low: if p <= 0.0 {
            0.0
        } else {
            (center - half).max(0.0)
        },
        high: if p >= 1.0 {
            1.0
        } else {
            (center + half).min(1.0)
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_published_values() {
        // 8 of 10: Wilson 95% is [0.4902, 0.9433].
        let i = wilson(0.8, 10).unwrap_or(Interval {
            low: 0.0,
            high: 0.0,
        });
        assert!(
            (i.low - 0.4902).abs() < 1e-3 && (i.high - 0.9433).abs() < 1e-3,
            "{i:?}"
        );
        // All of 20 passed: the upper bound is 1 and the lower one is well below.
        let all = wilson(1.0, 20).unwrap_or(Interval {
            low: 0.0,
            high: 0.0,
        });
        assert_eq!(all.high, 1.0);
        assert!((all.low - 0.8389).abs() < 1e-3, "{all:?}");
        assert_eq!(wilson(0.5, 0), None);
    }

    #[test]
    fn the_interval_narrows_as_cases_grow() {
        let small = wilson(0.7, 10).map(|i| i.high - i.low);
        let large = wilson(0.7, 1000).map(|i| i.high - i.low);
        assert!(small > large);
    }
}
