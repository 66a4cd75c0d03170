//! Tower middleware, applied in `app()`; the order there is commented.

pub mod auth;
pub mod context;
