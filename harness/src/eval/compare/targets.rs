//! The targets file of `eval --compare`: one `[[target]]` per deployment compared.
//!
//! ```toml
//! [[target]]
//! name = "reference"                  # how reports name it: letters, digits, . _ -
//! url = "http://127.0.0.1:8080/v1"    # its API root, or "embedded" (the reference server)
//! api_key_env = "REFERENCE_API_KEY"   # the variable holding its key (none: no key)
//! model = "ref-chat-1"                # the model of cases that name none (default: listed)
//! api = "responses"                   # ask every case through this API (default: the case's)
//! ```
//!
//! A promptfoo config may stand for this file: its providers are the targets.

use super::super::case::{Api, Sampling};
use crate::error::HarnessError;
use crate::text::place;
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

/// Most targets one comparison asks.
const MOST: usize = 16;

/// One deployment compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Contender {
    /// How reports name it (also its report directory).
    pub name: String,
    /// Its API root; none for the embedded reference server.
    pub url: Option<String>,
    /// Its key, read from `api_key_env`.
    pub key: Option<String>,
    /// The model of cases that name none.
    pub model: Option<String>,
    /// Every case asked through this API (none: each case's own).
    pub api: Option<Api>,
    /// Sampling settings of cases that set none.
    pub sampling: Sampling,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    target: Vec<Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Spanned<String>,
    url: Spanned<String>,
    api_key_env: Option<Spanned<String>>,
    model: Option<String>,
    api: Option<Api>,
}

/// Reads and checks the targets file at `path` (or the providers of the promptfoo config at
/// `path`); every problem at its `file:line:column`.
pub fn load(path: &Path) -> Result<Vec<Contender>, HarnessError> {
    if super::super::promptfoo::looks_like(path) {
        return super::super::promptfoo::targets(path);
    }
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| HarnessError::Usage(format!("cannot read the targets file {shown}: {e}")))?;
    parse(&shown, &text, &|name| std::env::var(name).ok())
}

/// Checks targets file text; `env` reads a variable (the keys).
fn parse(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Contender>, HarnessError> {
    let parsed: File = toml::from_str(text)
        .map_err(|e| HarnessError::Usage(crate::text::toml_error(file, text, &e)))?;
    let at = |offset: usize| place(file, text, offset);
    let mut errors = Vec::new();
    let mut out: Vec<Contender> = Vec::new();
    for spanned in &parsed.target {
        let entry = spanned.get_ref();
        let name = entry.name.get_ref();
        let name_at = at(entry.name.span().start);
        if !valid_name(name) {
            errors.push(format!(
                "{name_at}: target name {name:?} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (it names the target's report directory)"
            ));
        } else if out.iter().any(|c| &c.name == name) {
            errors.push(format!("{name_at}: target name {name:?} is used twice"));
        }
        let url = entry.url.get_ref().trim();
        let url = if url == "embedded" {
            None
        } else if url.starts_with("http://") || url.starts_with("https://") {
            Some(url.to_owned())
        } else {
            errors.push(format!(
                "{}: url {url:?} is neither an http(s) API root nor \"embedded\"",
                at(entry.url.span().start)
            ));
            None
        };
        let key = match &entry.api_key_env {
            None => None,
            Some(var) => match env(var.get_ref()).filter(|v| !v.is_empty()) {
                Some(key) => Some(key),
                None => {
                    errors.push(format!(
                        "{}: api_key_env: the variable {} is not set",
                        at(var.span().start),
                        var.get_ref()
                    ));
                    None
                }
            },
        };
        out.push(Contender {
            name: name.clone(),
            url,
            key,
            model: entry.model.clone(),
            api: entry.api,
            sampling: Sampling::default(),
        });
    }
    let embedded: Vec<&Spanned<Entry>> = parsed
        .target
        .iter()
        .filter(|t| t.get_ref().url.get_ref().trim() == "embedded")
        .collect();
    if let Some(second) = embedded.get(1) {
        errors.push(format!(
            "{}: only one target can be the embedded reference server",
            at(second.get_ref().url.span().start)
        ));
    }
    if parsed.target.len() < 2 {
        errors.push(format!(
            "{file}: a comparison needs at least two [[target]] tables, this file has {}",
            parsed.target.len()
        ));
    }
    if parsed.target.len() > MOST {
        errors.push(format!(
            "{file}: at most {MOST} targets are compared at once, this file has {}",
            parsed.target.len()
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(HarnessError::Usage(errors.join("\n")))
    }
}

/// A name fit for a directory: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "SET").then(|| "sk-1".to_owned())
    }

    fn errors(text: &str) -> String {
        match parse("t.toml", text, &env) {
            Err(HarnessError::Usage(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_good_file_reads_every_target() {
        let text = "[[target]]\nname = \"ref\"\nurl = \"embedded\"\n\n[[target]]\nname = \"vendor-b\"\nurl = \"https://b.example/v1\"\napi_key_env = \"SET\"\nmodel = \"m\"\napi = \"responses\"\n";
        let targets = parse("t.toml", text, &env).unwrap_or_default();
        assert_eq!(
            targets,
            vec![
                Contender {
                    name: "ref".into(),
                    url: None,
                    key: None,
                    model: None,
                    api: None,
                    sampling: Sampling::default(),
                },
                Contender {
                    name: "vendor-b".into(),
                    url: Some("https://b.example/v1".into()),
                    key: Some("sk-1".into()),
                    model: Some("m".into()),
                    api: Some(Api::Responses),
                    sampling: Sampling::default(),
                },
            ]
        );
    }

    #[test]
    fn every_problem_is_located() {
        let text = "[[target]]\nname = \"a/b\"\nurl = \"ftp://x\"\n\n[[target]]\nname = \"c\"\nurl = \"http://c\"\napi_key_env = \"UNSET\"\n\n[[target]]\nname = \"c\"\nurl = \"http://d\"\n";
        let e = errors(text);
        assert!(e.contains("t.toml:2:8: target name \"a/b\""), "{e}");
        assert!(e.contains("t.toml:3:7: url \"ftp://x\""), "{e}");
        assert!(
            e.contains("t.toml:8:15: api_key_env: the variable UNSET is not set"),
            "{e}"
        );
        assert!(
            e.contains("t.toml:11:8: target name \"c\" is used twice"),
            "{e}"
        );
        assert!(
            errors("[[target]]\nname = \"a\"\nurl = \"embedded\"\n").contains("at least two"),
            "one target is no comparison"
        );
        let e = errors("[[target]]\nname = \"a\"\nurl = \"embedded\"\nkey = \"x\"\n");
        assert!(e.starts_with("t.toml:4:1: unknown field `key`"), "{e}");
        let e = errors("[[target]]\nname = \"a\"\nurl = \"embedded\"\n[[target]]\nname = \"b\"\nurl = \"embedded\"\n");
        assert!(e.contains("t.toml:6:7: only one target"), "{e}");
    }
}
