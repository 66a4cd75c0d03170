//! The layer every request goes through (`envelope`) and its parts.

pub mod auth;
pub mod context;
pub mod cors;
pub mod drain;
pub mod envelope;
pub mod idempotency;
pub mod rate_limit;
pub mod shed;
pub mod v1;

/// A header value for `n`. The numbers below 1,000 (processing times, most limits and
/// resets) are made once and shared as static text: made per request, each was an
/// allocation.
pub fn number(n: u64) -> axum::http::HeaderValue {
    static SMALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let table = SMALL.get_or_init(|| {
        (0..1000u64)
            .map(|i| &*Box::leak(i.to_string().into_boxed_str()))
            .collect()
    });
    match usize::try_from(n).ok().and_then(|i| table.get(i)) {
        Some(text) => axum::http::HeaderValue::from_static(text),
        None => axum::http::HeaderValue::from(n),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_their_decimal_text_small_or_large() {
        for n in [0u64, 7, 999, 1000, 4_294_967_296, u64::MAX] {
            assert_eq!(super::number(n).to_str().ok(), Some(n.to_string().as_str()));
        }
    }
}
