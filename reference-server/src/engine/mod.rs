//! The deterministic "model": the same request always gives the same text, tool call,
//! JSON document or vector. No randomness, no clock.

pub mod catalog;
pub mod compaction;
pub mod dream;
pub mod embed;
pub mod embed_cache;
pub mod json_gen;
mod plausible;
pub mod text;
pub mod tokens;
mod tool_pick;

pub use text::{Conversation, Decision, Reply, ReplyFormat, ToolChoice, ToolSpec, Turn};
