//! The wire protocol, between HTTP and the engine: bodies decoded and checked (`extract`, the
//! typed request shapes in `wire` and `params`, turned into the engine's input by `input`),
//! who is calling (`principal`, `project`), and what goes back: the error envelope (`error`),
//! server-sent events (`sse`) and multi-buffer bodies (`body`). Routes use it; it knows no
//! route.

pub(crate) mod body;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod input;
pub(crate) mod params;
pub(crate) mod principal;
pub(crate) mod project;
pub(crate) mod sse;
pub(crate) mod wire;

/// A new object id such as `resp_3f2a…`.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}
