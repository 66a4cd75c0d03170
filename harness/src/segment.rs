//! One worker's share of a run split across several (`latency --segment I/N`, `eval --shard
//! I/N`), with no coordinator: every worker computes the whole plan and keeps its own part.
//!
//! A latency split follows the idea of k6's striped execution segments: for N equal segments the
//! striping sequence is simply every N-th request, so worker I of N sends the requests
//! numbered (from 0, warm-up included) `n % N == I - 1`. The N stripes together are the single
//! schedule exactly (no gap, no duplicate, whatever N and whatever the rate), and each worker's
//! requests stay spread over the run rather than bunched in one part of it.

use std::fmt;

/// A worker's segment of a split run; the whole run is `1/1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// 0-based.
    index: u32,
    count: u32,
}

impl Segment {
    /// The whole run, unsplit.
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// Reads `I/N` (1 <= I <= N).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a segment: I/N with 1 <= I <= N (e.g. 2/3)");
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let (i, n): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if i == 0 || n == 0 || i > n {
            return Err(bad());
        }
        Ok(Self {
            index: i - 1,
            count: n,
        })
    }

    /// I, from 1.
    pub fn number(&self) -> u32 {
        self.index + 1
    }

    /// N.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether this is the whole run.
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// Whether request `n` of the single schedule (from 0) is this segment's.
    pub(crate) fn owns(&self, n: u64) -> bool {
        n % u64::from(self.count) == u64::from(self.index)
    }

    /// Whether the case keyed `key` (`suite/id`) is this shard's: a stable split by the key's
    /// SHA-256, so that adding, removing or moving a case in a suite moves no other case.
    pub(crate) fn owns_key(&self, key: &str) -> bool {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        self.owns(u64::from_be_bytes(first))
    }

    /// This segment's share of `total` things (requests, workers): the ones it owns among
    /// `0..total`.
    pub(crate) fn share(&self, total: u64) -> u64 {
        let (count, index) = (u64::from(self.count), u64::from(self.index));
        total / count + u64::from(index < total % count)
    }
}

/// Checks that `parts` (each a segment and where it was read) are the N segments of one split,
/// each once. `part` and `whole` name them in messages (`segment` of a `run`, `shard` of an
/// `eval`).
pub(crate) fn check_complete(
    parts: &[(Segment, &std::path::Path)],
    part: &str,
    whole: &str,
) -> Result<(), String> {
    let Some((first, first_from)) = parts.first() else {
        return Ok(());
    };
    let mut seen: std::collections::BTreeMap<u32, &std::path::Path> = Default::default();
    for (segment, from) in parts {
        if segment.count() != first.count() {
            return Err(format!(
                "{} is {part} {segment}, but {} is of a {whole} split {} ways",
                from.display(),
                first_from.display(),
                first.count()
            ));
        }
        if let Some(other) = seen.insert(segment.number(), from) {
            return Err(format!(
                "{part} {segment} is given twice: {} and {}",
                other.display(),
                from.display()
            ));
        }
    }
    let count = first.count();
    let missing: Vec<String> = (1..=count)
        .filter(|n| !seen.contains_key(n))
        .map(|n| format!("{n}/{count}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the {whole} was split {count} ways and {part} {} {} missing: merge every {part}'s directory",
        missing.join(", "),
        if missing.len() == 1 { "is" } else { "are" }
    ))
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number(), self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_reads_as_i_of_n_and_says_what_is_wrong() {
        let s = Segment::parse("2/3").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.number(), s.count(), s.to_string()), (2, 3, "2/3".into()));
        assert_eq!(Segment::parse("1/1"), Ok(Segment::WHOLE));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let e = Segment::parse(bad).err().unwrap_or_default();
            assert!(e.contains("is not a segment: I/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn case_keys_split_evenly_and_stay_put_when_others_change() {
        let shards: Vec<Segment> = (1..=3)
            .map(|i| Segment::parse(&format!("{i}/3")).unwrap_or(Segment::WHOLE))
            .collect();
        let keys: Vec<String> = (0..3000).map(|n| format!("suite/case-{n}")).collect();
        let counts: Vec<usize> = shards
            .iter()
            .map(|s| keys.iter().filter(|k| s.owns_key(k)).count())
            .collect();
        assert_eq!(counts.iter().sum::<usize>(), 3000);
        assert!(
            counts.iter().all(|c| (900..=1100).contains(c)),
            "{counts:?}"
        );
        // The owner depends on the key alone.
        let owner = |k: &str| shards.iter().position(|s| s.owns_key(k));
        assert_eq!(owner("suite/case-7"), owner("suite/case-7"));
        assert!(Segment::WHOLE.owns_key("anything"));
    }

    #[test]
    fn the_segments_share_everything_exactly_once() {
        for count in [1u32, 2, 3, 7] {
            let segments: Vec<Segment> = (1..=count)
                .map(|i| Segment::parse(&format!("{i}/{count}")).unwrap_or(Segment::WHOLE))
                .collect();
            for n in 0..1000u64 {
                assert_eq!(segments.iter().filter(|s| s.owns(n)).count(), 1, "{n}");
            }
            for total in [0u64, 1, 5, 8, 100, 1001] {
                let shares: u64 = segments.iter().map(|s| s.share(total)).sum();
                assert_eq!(shares, total, "{count} segments of {total}");
                for s in &segments {
                    let owned = (0..total).filter(|n| s.owns(*n)).count() as u64;
                    assert_eq!(s.share(total), owned);
                }
            }
        }
    }
}
