//! Redaction of caller-controlled text before it reaches a log line: e-mail addresses and
//! things that look like API keys are replaced.

use std::borrow::Cow;

/// `text` with e-mail addresses replaced by `[email]` and key-like words by `[redacted]`;
/// borrowed when there is nothing that could need it (no `@`, no `sk-`, `sk_` or `bearer`),
/// which is nearly every request id.
pub fn redact(text: &str) -> Cow<'_, str> {
    if !might_need_redaction(text) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(redact_words(text))
}

/// A superset of the texts `redact_words` changes.
fn might_need_redaction(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.contains(&b'@')
        || bytes.windows(3).any(|w| {
            w[0].eq_ignore_ascii_case(&b's')
                && w[1].eq_ignore_ascii_case(&b'k')
                && (w[2] == b'-' || w[2] == b'_')
        })
        || bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"bearer"))
}

fn redact_words(text: &str) -> String {
    text.split_inclusive(|c: char| c.is_whitespace() || ",;\"'<>()[]".contains(c))
        .map(|piece| {
            let word =
                piece.trim_end_matches(|c: char| c.is_whitespace() || ",;\"'<>()[]".contains(c));
            let tail = &piece[word.len()..];
            if is_email(word) {
                format!("[email]{tail}")
            } else if looks_like_key(word) {
                format!("[redacted]{tail}")
            } else {
                piece.to_owned()
            }
        })
        .collect()
}

fn is_email(word: &str) -> bool {
    match word.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

fn looks_like_key(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    (lower.starts_with("sk-") || lower.starts_with("sk_") || lower.starts_with("bearer"))
        && word.len() > 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_emails_and_keys_but_keeps_the_rest() {
        assert_eq!(redact("req-42"), "req-42");
        assert_eq!(redact("jane.doe@example.com"), "[email]");
        assert_eq!(
            redact("user=a@b.io,sk-abcdef123456 ok"),
            "user=a@b.io,[redacted] ok".replace("user=a@b.io", "[email]")
        );
        assert_eq!(redact("not@anemail"), "not@anemail");
        assert_eq!(redact("x Bearer-abcdefgh"), "x [redacted]");
        assert_eq!(redact("SK_abcdefghij"), "[redacted]");
        assert!(matches!(redact("req_0123456789abcdef"), Cow::Borrowed(_)));
    }
}
