//! OpenAPI documents: load (file or URL, YAML or JSON, 3.0 or 3.1), validate, diff.
//!
//! Documents are handled as `serde_json::Value` rather than through a typed OpenAPI model:
//! the typed crates are either 3.0-only and lossy on 3.1 (`openapiv3` drops keys next to
//! `$ref` and turns `{"type":"null"}` into "any") or 3.1-only, while the checks here need
//! exactly what the file says, in both versions.

pub(crate) mod conform;
pub(crate) mod diff;
pub(crate) mod load;
pub(crate) mod schemas;
pub(crate) mod sse;
pub(crate) mod validate;

pub(crate) use conform::Conformance;
pub use diff::{diff, render as render_diff, Change, Diff, Severity};
pub use load::load;
pub use validate::{render as render_findings, validate, validate_examples, Finding};

use serde_json::Value;

/// HTTP methods that hold operations in a path item.
pub(crate) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Follows local `$ref`s (`#/...`) from `value`, at most 32 hops.
pub(crate) fn resolve<'a>(root: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match value
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        {
            Some(pointer) => match root.pointer(pointer) {
                Some(target) => value = target,
                None => return value,
            },
            None => return value,
        }
    }
    value
}
