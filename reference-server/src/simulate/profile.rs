//! Timing profiles: how long a model takes to its first token, between tokens and per
//! embedding input. Configured under `[timing]`, with per-model overrides.

use super::delay::Delay;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[timing]`: the default profile, per-model overrides and the seed of every draw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimingConfig {
    /// Seeds the draws: the same seed and the same order of requests give the same delays.
    pub seed: u64,
    /// Time to the first token (streams) or added once (whole answers).
    pub ttft: Delay,
    /// Time between tokens.
    pub inter_token: Delay,
    /// Time per input of an embeddings request.
    pub embedding_per_input: Delay,
    /// Overrides by model id; a key left out keeps the default above.
    pub models: BTreeMap<String, ModelTiming>,
}

/// `[timing.models."<id>"]`: what differs for one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelTiming {
    /// Time to the first token.
    pub ttft: Option<Delay>,
    /// Time between tokens.
    pub inter_token: Option<Delay>,
    /// Time per embedding input.
    pub embedding_per_input: Option<Delay>,
}

/// The delays one request is served with.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Profile {
    /// Time to the first token.
    pub ttft: Delay,
    /// Time between tokens.
    pub inter_token: Delay,
    /// Time per embedding input.
    pub embedding_per_input: Delay,
}

impl Profile {
    /// Whether this profile adds no delay at all (the default: answers at once).
    pub fn is_zero(&self) -> bool {
        self.ttft.is_zero() && self.inter_token.is_zero() && self.embedding_per_input.is_zero()
    }

    /// This profile with `over`'s values where it has them.
    pub fn with(mut self, over: &ModelTiming) -> Self {
        if let Some(d) = over.ttft {
            self.ttft = d;
        }
        if let Some(d) = over.inter_token {
            self.inter_token = d;
        }
        if let Some(d) = over.embedding_per_input {
            self.embedding_per_input = d;
        }
        self
    }
}

impl TimingConfig {
    /// The default profile.
    pub fn default_profile(&self) -> Profile {
        Profile {
            ttft: self.ttft,
            inter_token: self.inter_token,
            embedding_per_input: self.embedding_per_input,
        }
    }
}
