//! A delay: a fixed duration or a distribution to draw one from, written as text so the same
//! syntax works in TOML, in `REFSERVER_*` variables and in the scenario header:
//! `200ms`, `uniform(100ms, 300ms)`, `normal(200ms, 20ms)`, `lognormal(200ms, 0.5)`.

use rand::Rng;
use rand_distr::Distribution;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// Longest delay a profile may ask for: a typo such as `200s` for `200ms` should not make a
/// server that never answers.
const MAX: Duration = Duration::from_secs(3600);

/// A fixed duration or a distribution of durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// Always this long.
    Fixed(Duration),
    /// Uniform between `low` and `high`.
    Uniform {
        /// Shortest.
        low: Duration,
        /// Longest.
        high: Duration,
    },
    /// Normal with this mean and standard deviation, cut at zero.
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        std_dev: Duration,
    },
    /// Log-normal with this median and shape `sigma` (the standard deviation of the log).
    LogNormal {
        /// Median (`e^mu`).
        median: Duration,
        /// Shape; 0.5 gives a p95 about 2.3 times the median.
        sigma: f64,
    },
}

impl Default for Delay {
    fn default() -> Self {
        Self::Fixed(Duration::ZERO)
    }
}

impl Delay {
    /// Whether every draw is zero.
    pub fn is_zero(&self) -> bool {
        matches!(self, Self::Fixed(d) if d.is_zero())
    }

    /// One draw, from `rng`; never negative, never above an hour.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Duration {
        let seconds = match *self {
            Self::Fixed(d) => return d,
            Self::Uniform { low, high } => {
                if low == high {
                    return low;
                }
                rng.random_range(low.as_secs_f64()..=high.as_secs_f64())
            }
            Self::Normal { mean, std_dev } => {
                match rand_distr::Normal::new(mean.as_secs_f64(), std_dev.as_secs_f64()) {
                    Ok(d) => d.sample(rng),
                    Err(_) => mean.as_secs_f64(),
                }
            }
            Self::LogNormal { median, sigma } => {
                match rand_distr::LogNormal::new(median.as_secs_f64().ln(), sigma) {
                    Ok(d) => d.sample(rng),
                    Err(_) => median.as_secs_f64(),
                }
            }
        };
        Duration::try_from_secs_f64(seconds.clamp(0.0, MAX.as_secs_f64())).unwrap_or(MAX)
    }
}

impl std::str::FromStr for Delay {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let Some(open) = text.find('(') else {
            return Ok(Self::Fixed(bounded(text)?));
        };
        let name = text[..open].trim().to_ascii_lowercase();
        let inner = text[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("{text:?}: missing closing parenthesis"))?;
        let args: Vec<&str> = inner.split(',').map(str::trim).collect();
        let want = |n: usize, names: &str| {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "{name}(...) takes {n} parameters ({names}), got {}",
                    args.len()
                ))
            }
        };
        match name.as_str() {
            "uniform" => {
                want(2, "low, high")?;
                let (low, high) = (bounded(args[0])?, bounded(args[1])?);
                if low > high {
                    return Err(format!(
                        "uniform({}, {}): low is above high",
                        args[0], args[1]
                    ));
                }
                Ok(Self::Uniform { low, high })
            }
            "normal" => {
                want(2, "mean, standard deviation")?;
                Ok(Self::Normal {
                    mean: bounded(args[0])?,
                    std_dev: bounded(args[1])?,
                })
            }
            "lognormal" | "log-normal" | "log_normal" => {
                want(2, "median, sigma")?;
                let median = bounded(args[0])?;
                let sigma: f64 = args[1]
                    .parse()
                    .map_err(|_| format!("lognormal sigma {:?} is not a number", args[1]))?;
                if median.is_zero() {
                    return Err("lognormal median must be above zero".to_owned());
                }
                if !(0.0..=5.0).contains(&sigma) {
                    return Err(format!("lognormal sigma {sigma} is not between 0 and 5"));
                }
                Ok(Self::LogNormal { median, sigma })
            }
            other => Err(format!(
                "unknown distribution {other:?}: expected uniform, normal or lognormal"
            )),
        }
    }
}

impl std::fmt::Display for Delay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: &Duration| format!("{}ms", d.as_secs_f64() * 1000.0);
        match self {
            Self::Fixed(d) => f.write_str(&ms(d)),
            Self::Uniform { low, high } => write!(f, "uniform({}, {})", ms(low), ms(high)),
            Self::Normal { mean, std_dev } => write!(f, "normal({}, {})", ms(mean), ms(std_dev)),
            Self::LogNormal { median, sigma } => write!(f, "lognormal({}, {sigma})", ms(median)),
        }
    }
}

impl Serialize for Delay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A duration of at most an hour (see [`duration()`]): what a delay or a fault may ask for.
pub fn bounded(text: &str) -> Result<Duration, String> {
    let d = duration(text)?;
    if d > MAX {
        return Err(format!("{:?} is longer than the 1 hour limit", text.trim()));
    }
    Ok(d)
}

pub use kit_formats::duration;

/// A duration written as text in config files (`"2s"`), for serde.
pub mod text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Reads `"250ms"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| super::bounded(&t).map_err(serde::de::Error::custom))
            .transpose()
    }

    /// Writes `"250ms"`.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&format_args!("{}ms", d.as_secs_f64() * 1000.0)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_fixed_values_and_each_distribution() {
        assert_eq!(
            "200ms".parse(),
            Ok(Delay::Fixed(Duration::from_millis(200)))
        );
        assert_eq!(
            "1.5s".parse(),
            Ok(Delay::Fixed(Duration::from_millis(1500)))
        );
        assert_eq!(
            "uniform(100ms, 300ms)".parse(),
            Ok(Delay::Uniform {
                low: Duration::from_millis(100),
                high: Duration::from_millis(300)
            })
        );
        assert!(matches!(
            "normal(20ms,4ms)".parse::<Delay>(),
            Ok(Delay::Normal { .. })
        ));
        assert!(matches!(
            "lognormal(200ms, 0.5)".parse::<Delay>(),
            Ok(Delay::LogNormal { .. })
        ));
    }

    #[test]
    fn bad_text_says_what_is_wrong() {
        let err = |t: &str| t.parse::<Delay>().err().unwrap_or_default();
        assert!(err("200").contains("no unit: add one of us, ms, s or m (e.g. 200s or 200ms)"));
        assert!(err("200 parsecs").contains("unknown unit"));
        assert!(err("normal(20ms)").contains("takes 2 parameters"));
        assert!(err("gamma(1ms, 2ms)").contains("unknown distribution"));
        assert!(err("uniform(3ms, 1ms)").contains("low is above high"));
        assert!(err("lognormal(0ms, 0.5)").contains("above zero"));
        assert!(err("2h").contains("unknown unit"));
        assert!(err("90m").contains("1 hour"));
    }

    #[test]
    fn the_same_seed_draws_the_same_delays() {
        let delay: Delay = "lognormal(200ms, 0.5)".parse().unwrap_or_default();
        let draws = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..50).map(|_| delay.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
    }

    #[test]
    fn draws_stay_within_their_distribution() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let uniform: Delay = "uniform(10ms, 20ms)".parse().unwrap_or_default();
        let normal: Delay = "normal(5ms, 50ms)".parse().unwrap_or_default();
        for _ in 0..1000 {
            let u = uniform.sample(&mut rng);
            assert!(u >= Duration::from_millis(10) && u <= Duration::from_millis(20));
            // A wide normal is cut at zero, never negative.
            let _ = normal.sample(&mut rng);
        }
        let mut draws: Vec<f64> = (0..4001)
            .map(|_| {
                "lognormal(200ms, 0.5)"
                    .parse::<Delay>()
                    .unwrap_or_default()
                    .sample(&mut rng)
                    .as_secs_f64()
            })
            .collect();
        draws.sort_by(f64::total_cmp);
        let median = draws[2000];
        assert!((0.18..0.22).contains(&median), "median {median}");
    }

    #[test]
    fn display_reads_back_as_the_same_delay() {
        for text in [
            "20ms",
            "uniform(1ms, 2ms)",
            "normal(20ms, 4ms)",
            "lognormal(200ms, 0.5)",
        ] {
            let d: Delay = text.parse().unwrap_or_default();
            assert_eq!(d.to_string().parse(), Ok(d), "{text}");
        }
    }
}
