//! Deterministic embeddings: SHA-256 in counter mode expands the input into a full-length
//! vector, which is cut to the asked dimension and L2-normalised. Cutting before normalising
//! gives the same "prefix" behaviour as OpenAI's text-embedding-3 `dimensions`.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// One embeddings input: text or token ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EmbedInput {
    /// A string.
    Text(String),
    /// A list of token ids.
    Tokens(Vec<u32>),
}

impl EmbedInput {
    /// Tokens this input counts for in `usage`.
    pub fn token_count(&self) -> usize {
        match self {
            Self::Text(t) => super::tokens::count(t),
            Self::Tokens(t) => t.len(),
        }
    }

    /// Bytes this input holds (for sizing caches).
    pub fn size(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Tokens(t) => t.len() * 4,
        }
    }

    fn feed(&self, hasher: &mut Sha256) {
        match self {
            Self::Text(t) => {
                hasher.update(b"t");
                hasher.update((t.len() as u64).to_le_bytes());
                hasher.update(t.as_bytes());
            }
            Self::Tokens(ts) => {
                hasher.update(b"k");
                hasher.update((ts.len() as u64).to_le_bytes());
                for t in ts {
                    hasher.update(t.to_le_bytes());
                }
            }
        }
    }
}

/// The unit-length vector of `input` for `model`, `dimensions` long (`full` is the model's
/// native length; `dimensions <= full`).
pub fn embed(model: &str, input: &EmbedInput, dimensions: usize) -> Vec<f32> {
    let mut seed = Sha256::new();
    seed.update((model.len() as u64).to_le_bytes());
    seed.update(model.as_bytes());
    input.feed(&mut seed);
    let seed = seed.finalize();

    let mut raw: Vec<f64> = Vec::with_capacity(dimensions);
    let mut block: u64 = 0;
    while raw.len() < dimensions {
        let digest = Sha256::new()
            .chain_update(seed)
            .chain_update(block.to_le_bytes())
            .finalize();
        for chunk in digest.chunks_exact(4) {
            if raw.len() == dimensions {
                break;
            }
            let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            raw.push(f64::from(word) / f64::from(u32::MAX) * 2.0 - 1.0);
        }
        block += 1;
    }
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    // A zero vector is astronomically unlikely; guard anyway rather than divide by zero.
    let norm = if norm > 0.0 { norm } else { 1.0 };
    raw.iter().map(|x| (x / norm) as f32).collect()
}

/// Standard base64 of the little-endian f32 bytes, as the official SDKs decode it.
pub fn to_base64(vector: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(vector.len() * 4);
    for x in vector {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(v: &[f32]) -> f64 {
        v.iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn text_and_tokens_differ() {
        let a = embed("m", &EmbedInput::Text("1".into()), 8);
        let b = embed("m", &EmbedInput::Tokens(vec![1]), 8);
        assert_ne!(a, b);
    }

    #[test]
    fn base64_round_trips() {
        let v = embed("m", &EmbedInput::Text("hello".into()), 16);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(to_base64(&v))
            .unwrap_or_default();
        let back: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(back, v);
    }

    proptest! {
        #[test]
        fn vectors_are_unit_length_and_deterministic(s in "\\PC{1,40}", dims in 1usize..300) {
            let a = embed("m", &EmbedInput::Text(s.clone()), dims);
            prop_assert_eq!(a.len(), dims);
            prop_assert!((norm(&a) - 1.0).abs() < 1e-5);
            prop_assert_eq!(a, embed("m", &EmbedInput::Text(s), dims));
        }
    }
}
