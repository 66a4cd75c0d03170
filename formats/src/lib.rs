//! The text formats both the reference server and the harness read, in a crate of their own
//! so that neither reaches into the other for them: durations (`250ms`), YAML read as JSON,
//! and OpenAPI documents bundled from their files; and counts in words for the messages both
//! write.

pub mod bundle;
pub mod duration;
pub mod text;
pub mod yaml;

pub use duration::duration;
pub use text::plural;
