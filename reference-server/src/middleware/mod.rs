//! Tower middleware, applied in `app()`; the order there is commented.

pub mod auth;
pub mod context;
pub mod drain;
pub mod idempotency;
pub mod rate_limit;
pub mod shed;
pub mod v1;
