//! Text from the target (answers, error bodies, names from its documents) made safe in
//! Markdown: a CI step summary or a PR comment renders raw HTML and follows table syntax, so
//! target text is escaped or put in code spans, and cut short. Every Markdown writer uses
//! these; none writes target text as it came.

use crate::text::clean;

/// Prose: on one line, control characters escaped, no raw HTML (`<`, `>`, `&` as entities),
/// no code span or fence (backticks escaped), cut to `max`.
pub fn prose(text: &str, max: usize) -> String {
    clean(text, max)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "\\`")
}

/// A table cell: prose on one line that cannot end its cell (`|` escaped).
pub fn cell(text: &str, max: usize) -> String {
    prose(text, max).replace('|', "\\|")
}

/// A code span that cannot be closed early by backticks in the text.
pub fn code(text: &str, max: usize) -> String {
    format!("`` {} ``", clean(text, max).replace('`', "'"))
}

/// A code span in a table cell (`|` escaped, which GitHub shows as `|` there).
pub fn code_cell(text: &str, max: usize) -> String {
    code(text, max).replace('|', "\\|")
}

#[cfg(test)]
pub(crate) mod hostile {
    /// Target text that would shape a Markdown page if written as it came.
    pub const TEXTS: [&str; 5] = [
        "<img src=x onerror=alert(1)>",
        "<details><summary>open me</summary>",
        "a | b | c",
        "line one\n\n# a heading\n| x |",
        "``` `close` the span",
    ];

    /// Whether `md` shows each of `TEXTS` as text only: no raw tag, no extra table column or
    /// line, no unbalanced fence.
    pub fn assert_inert(md: &str) {
        // Inside a code span, a tag is text (CommonMark does not parse HTML there).
        let mut outside = String::new();
        for (i, part) in md.split("``").enumerate() {
            if i % 2 == 0 {
                outside.push_str(part);
            }
        }
        assert_eq!(md.matches("``").count() % 2, 0, "a span left open:\n{md}");
        for bad in ["<img", "<details", "<summary", "\n# a heading", "```"] {
            assert!(
                !outside.contains(bad),
                "{bad:?} reached the Markdown:\n{md}"
            );
        }
        for line in md.lines().filter(|l| l.starts_with('|')) {
            assert!(
                !line.contains(" | b | "),
                "a target's `|` split a cell: {line}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_text_stays_text() {
        for text in hostile::TEXTS {
            let md = format!(
                "| {} | {} |\n\n{} {}\n",
                cell(text, 200),
                code_cell(text, 200),
                prose(text, 200),
                code(text, 200)
            );
            hostile::assert_inert(&md);
        }
    }
}
