//! Text helpers every layer uses (the client, the checks, the reports), in a module that
//! depends on nothing: text from the target made safe and short for terminals and documents
//! (control and escape bytes shown as escapes, long values cut with a count of what was left
//! out), and counts in words.

pub(crate) use kit_formats::plural;

/// `file:line:column` of byte `offset` in `text` (a TOML error's span, a key's position).
pub(crate) fn place(file: &str, text: &str, offset: usize) -> String {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{file}:{line}:{column}")
}

/// A TOML file's parse error at its `file:line:column`.
pub(crate) fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> String {
    let place = e
        .span()
        .map_or_else(|| format!("{file}:1:1"), |s| place(file, text, s.start));
    format!("{place}: {}", e.message())
}

/// One line: newlines and control characters escaped, cut to `max` characters.
pub fn clean(text: &str, max: usize) -> String {
    escape(text, max, false)
}

/// Several lines (a request): newlines kept, other control characters escaped.
pub fn clean_block(text: &str, max: usize) -> String {
    escape(text, max, true)
}

fn escape(text: &str, max: usize, keep_newlines: bool) -> String {
    let mut out = String::new();
    let total = text.chars().count();
    for c in text.chars().take(max) {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // C0, DEL and C1 controls (ESC starts terminal sequences), bidi overrides.
            c if c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    if total > max {
        out.push_str(&format!("… ({} more characters)", total - max));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences_and_cuts() {
        assert_eq!(clean("a\u{1b}[2Jb\n", 100), "a\\u{1b}[2Jb\\n");
        assert_eq!(clean("abcdef", 3), "abc… (3 more characters)");
        assert_eq!(clean_block("a\nb\u{7}", 10), "a\nb\\u{7}");
    }
}
