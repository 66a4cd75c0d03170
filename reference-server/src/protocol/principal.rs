//! Who is calling, from the request alone: the hash of the bearer token, else the client's
//! address, else nobody known. The rate limiter, auth, idempotency and the log line all key
//! on it; the token itself is never kept.

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A bearer token, by 16 hex digits of its SHA-256.
    Token(Arc<str>),
    /// No token: the client's address (when the server knows it).
    Address(IpAddr),
    /// No token and no known address (an app served without connect info).
    Anonymous,
}

impl Principal {
    /// The principal of a request with these headers and connect info (the key as a bearer
    /// token only; see [`Principal::resolve`]).
    #[cfg(test)]
    pub fn of(headers: &HeaderMap, peer: Option<SocketAddr>) -> Self {
        Self::with_key(credential(headers, None), peer)
    }

    fn with_key(key: Option<&str>, peer: Option<SocketAddr>) -> Self {
        match key {
            Some(token) => Self::Token(hash_cached(token)),
            None => peer.map_or(Self::Anonymous, |p| Self::Address(p.ip())),
        }
    }

    /// The principal of a request: its key (a bearer token, or in `key_header`), else its
    /// client's address. It depends on the request alone, so every reader gets the same one.
    pub fn compute(
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        key_header: Option<&str>,
    ) -> Self {
        Principal::with_key(credential(headers, key_header), peer)
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(h) => f.write_str(h),
            Self::Address(ip) => write!(f, "{ip}"),
            Self::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// A stable, non-reversible name for a token (16 hex digits of its SHA-256).
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    hex::encode(&digest[..8])
}

/// [`hash`], remembered per thread for the last token seen: most clients send the same token
/// on every request, and a SHA-256 per request was a visible share of the cheapest routes.
fn hash_cached(token: &str) -> Arc<str> {
    use std::cell::RefCell;
    thread_local! {
        static LAST: RefCell<Option<(Box<str>, Arc<str>)>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((seen, hashed)) if **seen == *token => hashed.clone(),
        _ => {
            let hashed: Arc<str> = hash(token).into();
            *last = Some((token.into(), hashed.clone()));
            hashed
        }
    })
}

/// The key of a request: its bearer token, else the value of `key_header` (when configured),
/// if non-empty.
pub fn credential<'a>(headers: &'a HeaderMap, key_header: Option<&str>) -> Option<&'a str> {
    bearer(headers).or_else(|| {
        headers
            .get(key_header?)
            .and_then(|v| v.to_str().ok())
            .map(str::trim_ascii)
            .filter(|k| !k.is_empty())
    })
}

/// The bearer token of a request, if it sent a non-empty one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // A value `to_str` took is visible ASCII: bytes are characters.
            let space = v.bytes().position(|b| b == b' ')?;
            let (scheme, rest) = (&v[..space], &v[space + 1..]);
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim_ascii())
        })
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_token_is_hashed_and_not_kept() {
        let p = hash("sk-secret");
        assert_eq!(p.len(), 16);
        assert!(!p.contains("secret"));
    }

    #[test]
    fn without_a_token_the_address_then_nobody() {
        let mut h = HeaderMap::new();
        let peer: SocketAddr = ([10, 0, 0, 1], 9).into();
        assert_eq!(Principal::of(&h, Some(peer)), Principal::Address(peer.ip()));
        assert_eq!(Principal::of(&h, None), Principal::Anonymous);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(
            Principal::of(&h, Some(peer)),
            Principal::Token(hash("x").into())
        );
    }
}
