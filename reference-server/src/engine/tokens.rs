//! A small, stable tokenizer: a token is a run of letters/digits with the white space before
//! it, or one other character. It is not BPE; it only has to be deterministic and to split
//! text into pieces that join back to exactly the original text (streaming relies on that).

/// Splits `text` into tokens whose concatenation is `text`.
pub fn split(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c.is_whitespace() {
            // White space sticks to the word that follows it.
            while let Some(&(_, n)) = chars.peek() {
                if n.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                Some(&(_, n)) if n.is_alphanumeric() => continue,
                Some(&(j, _)) => {
                    pieces.push(&text[start..j]);
                    start = j;
                }
                None => {}
            }
            continue;
        }
        if c.is_alphanumeric() {
            while let Some(&(_, n)) = chars.peek() {
                if n.is_alphanumeric() {
                    chars.next();
                } else {
                    break;
                }
            }
        }
        let end = chars.peek().map_or(text.len(), |&(j, _)| j);
        if end > start {
            pieces.push(&text[start..end]);
        }
        start = end;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Number of tokens in `text`.
pub fn count(text: &str) -> usize {
    split(text).len()
}

/// The first `max` tokens of `text`, and whether anything was cut.
pub fn truncate(text: &str, max: usize) -> (String, bool) {
    let pieces = split(text);
    if pieces.len() <= max {
        return (text.to_owned(), false);
    }
    (pieces[..max].concat(), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_carry_their_leading_space() {
        assert_eq!(
            split("Hello, big world!"),
            vec!["Hello", ",", " big", " world", "!"]
        );
    }

    #[test]
    fn truncation_reports_the_cut() {
        assert_eq!(truncate("a b c", 2), ("a b".to_owned(), true));
        assert_eq!(truncate("a b", 5), ("a b".to_owned(), false));
    }

    proptest! {
        #[test]
        fn pieces_join_back_to_the_text(s in "\\PC{0,80}") {
            prop_assert_eq!(split(&s).concat(), s.clone());
            prop_assert!(split(&s).iter().all(|p| !p.is_empty()));
        }
    }
}
