//! Shape snapshots: what a deployment actually sends, normalised, stored one file
//! per exchange in insta's `.snap` format and compared run after run ([`diff_dirs`]). A schema says
//! what is allowed; a snapshot shows a key that appears, disappears or changes kind.
//!
//! `--update-snapshots` writes `NAME.snap.new` beside `NAME.snap` for review; `--accept`
//! promotes them. A file holds a YAML header (insta's: source, description, expression) and
//! the shape as pretty JSON.

pub(crate) mod diff;
pub(crate) mod record;
pub(crate) mod shape;

use crate::report::Rendering;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// What `--snapshots DIR` asks of a run.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// Where the `.snap` files are.
    pub dir: PathBuf,
    /// Write `.snap.new` files for shapes that are new or changed, instead of failing.
    pub update: bool,
    /// A shape never recorded fails its check.
    pub strict: bool,
    /// The target, for the files' headers.
    pub target: String,
}

/// One exchange's shape, named for its file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Named {
    /// The file name without extension, e.g. `chat.completion`.
    pub name: String,
    /// The request, e.g. `POST /v1/chat/completions`.
    pub request: String,
    /// The shape document: status, media type, body or stream shape.
    pub shape: Value,
}

impl Named {
    /// The shape of a whole answer.
    pub fn body(name: &str, request: &str, status: u16, media: &str, body: &[u8]) -> Self {
        let body = match serde_json::from_slice::<Value>(body) {
            Ok(v) => shape::shape(&v),
            Err(_) if body.is_empty() => Value::Null,
            Err(_) => json!("[not JSON]"),
        };
        Self {
            name: name.to_owned(),
            request: request.to_owned(),
            shape: json!({"status": status, "media_type": media, "body": body}),
        }
    }

    /// The shape of a stream of JSON events.
    pub fn stream(name: &str, request: &str, status: u16, media: &str, events: &[Value]) -> Self {
        Self {
            name: name.to_owned(),
            request: request.to_owned(),
            shape: json!({"status": status, "media_type": media, "stream": shape::stream_shape(events)}),
        }
    }
}

/// How a shape compares with its recording.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seen {
    /// As recorded.
    Same,
    /// Never recorded.
    New,
    /// Recorded otherwise: the differences.
    Changed(Vec<String>),
}

fn path_of(dir: &Path, name: &str, pending: bool) -> PathBuf {
    dir.join(format!("{name}.snap{}", if pending { ".new" } else { "" }))
}

/// The shape stored in a `.snap` file's body (after its header).
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    let body = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(_, body)| body)
        .ok_or("no `---` header (insta's .snap format)")?;
    serde_json::from_str(body).map_err(|e| format!("the shape is not JSON: {e}"))
}

/// Compares `named` with its recording in `dir`.
pub(crate) fn compare(dir: &Path, named: &Named) -> Result<Seen, String> {
    let path = path_of(dir, &named.name, false);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Seen::New),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let was = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let d = diff::differences(&was, &named.shape);
    Ok(if d.is_empty() {
        Seen::Same
    } else {
        Seen::Changed(d)
    })
}

/// Writes `named` as `NAME.snap.new` in `dir` for review.
pub(crate) fn write_pending(dir: &Path, named: &Named, target: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = path_of(dir, &named.name, true);
    let header = format!(
        "---\nsource: {}\ndescription: {}\nexpression: {}\n---\n",
        json!("conformance run"),
        json!(format!(
            "{target}, {}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        )),
        json!(named.request),
    );
    let body = serde_json::to_string_pretty(&named.shape).unwrap_or_default();
    std::fs::write(&path, format!("{header}{body}\n"))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Promotes every `.snap.new` in `dir` to `.snap`; returns how many.
pub fn accept(dir: &Path) -> Result<usize, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(stem) = name.strip_suffix(".snap.new") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::rename(&path, dir.join(format!("{stem}.snap")))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// A recorded file: its request (the header's `expression`) and its shape.
pub(crate) fn read(path: &Path) -> Result<(String, Value), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let shape = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let request = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map_or("", |(header, _)| header)
        .lines()
        .find_map(|l| l.strip_prefix("expression: "))
        .and_then(|e| serde_json::from_str::<String>(e).ok())
        .unwrap_or_default();
    Ok((request, shape))
}

/// The recordings of a directory, by name, sorted.
fn recordings(dir: &Path) -> Result<std::collections::BTreeMap<String, (String, Value)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = std::collections::BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".snap"))
        else {
            continue;
        };
        out.insert(name.to_owned(), read(&path)?);
    }
    if out.is_empty() {
        return Err(format!("{}: no .snap file", dir.display()));
    }
    Ok(out)
}

/// How one recorded exchange differs between two directories.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShapeDifference {
    /// The file name without `.snap`.
    pub name: String,
    /// The request, as recorded.
    pub request: String,
    /// `same`, `changed`, `only_a` or `only_b`.
    pub status: &'static str,
    /// One line per change (for `changed`).
    pub differences: Vec<String>,
}

/// Every recorded exchange of `a` and `b`, compared.
pub fn diff_dirs(a: &Path, b: &Path) -> Result<Vec<ShapeDifference>, String> {
    let (left, right) = (recordings(a)?, recordings(b)?);
    let names: std::collections::BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    Ok(names
        .into_iter()
        .map(|name| {
            let (request, status, differences) = match (left.get(name), right.get(name)) {
                (Some((req, x)), Some((_, y))) => {
                    let d = diff::differences(x, y);
                    (
                        req.clone(),
                        if d.is_empty() { "same" } else { "changed" },
                        d,
                    )
                }
                (Some((req, _)), None) => (req.clone(), "only_a", Vec::new()),
                (None, Some((req, _))) => (req.clone(), "only_b", Vec::new()),
                (None, None) => (String::new(), "same", Vec::new()),
            };
            ShapeDifference {
                name: name.clone(),
                request,
                status,
                differences,
            }
        })
        .collect())
}

/// The comparison of the recordings in `a` and `b` as `rendering` asks.
pub fn render(a: &Path, b: &Path, diffs: &[ShapeDifference], rendering: Rendering) -> String {
    use crate::report::md;
    use std::fmt::Write as _;
    if rendering == Rendering::Json {
        let document = serde_json::json!({
            "a": a, "b": b,
            "differ": diffs.iter().any(|d| d.status != "same"),
            "snapshots": diffs,
        });
        return serde_json::to_string_pretty(&document).unwrap_or_default() + "\n";
    }
    let md_out = rendering == Rendering::Markdown;
    let mut out = String::new();
    let differ = diffs.iter().filter(|d| d.status != "same").count();
    if md_out {
        let _ = writeln!(
            out,
            "# Shapes: {} against {}\n\n{differ} of {} exchanges differ.\n",
            md::code(&a.display().to_string(), 300),
            md::code(&b.display().to_string(), 300),
            diffs.len()
        );
    }
    for d in diffs {
        let what = match d.status {
            "only_a" => format!("only in {}", a.display()),
            "only_b" => format!("only in {}", b.display()),
            other => other.to_owned(),
        };
        if md_out {
            // Names, requests and keys come from what the target answered.
            let _ = writeln!(
                out,
                "## {} ({}): {}\n",
                md::code(&d.name, 300),
                md::code(&d.request, 300),
                md::prose(&what, 300)
            );
            for line in &d.differences {
                let _ = writeln!(out, "- {}", md::prose(line, 500));
            }
            if !d.differences.is_empty() {
                out.push('\n');
            }
        } else {
            let _ = writeln!(out, "{} ({}): {what}", d.name, d.request);
            for line in &d.differences {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    if !md_out {
        let _ = writeln!(out, "{differ} of {} exchanges differ", diffs.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_shape_reads_back_and_accept_promotes_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("snapshots");
        let named = Named::body(
            "models.list",
            "GET /v1/models",
            200,
            "application/json",
            br#"{"object":"list","data":[{"id":"m","object":"model","created":1,"owned_by":"x"}]}"#,
        );
        assert_eq!(compare(&dir, &named), Ok(Seen::New));
        let pending = write_pending(&dir, &named, "http://example").unwrap();
        assert!(pending.to_string_lossy().ends_with("models.list.snap.new"));
        // Pending files are not the recording yet.
        assert_eq!(compare(&dir, &named), Ok(Seen::New));
        assert_eq!(accept(&dir), Ok(1));
        assert_eq!(compare(&dir, &named), Ok(Seen::Same));
        let other = Named::body(
            "models.list",
            "GET /v1/models",
            200,
            "application/json",
            br#"{"object":"list","data":[{"id":"m","object":"model","created":1}]}"#,
        );
        assert_eq!(
            compare(&dir, &other),
            Ok(Seen::Changed(vec![
                "removed key body.data[].owned_by (was \"[text]\")".into()
            ]))
        );
        let text = std::fs::read_to_string(dir.join("models.list.snap")).unwrap();
        assert!(
            text.starts_with("---\nsource: \"conformance run\"\ndescription: \"http://example, ")
        );
        assert!(text.contains("expression: \"GET /v1/models\"\n---\n{"));
        std::fs::write(dir.join("broken.snap"), "no header").unwrap();
        let broken = Named {
            name: "broken".into(),
            ..named
        };
        assert!(compare(&dir, &broken).unwrap_err().contains("header"));
    }

    #[test]
    fn what_the_target_answered_stays_text_in_markdown() {
        let diffs: Vec<ShapeDifference> = crate::report::md::hostile::TEXTS
            .iter()
            .map(|t| ShapeDifference {
                name: format!("models.{t}"),
                request: format!("GET /v1/{t}"),
                status: "changed",
                differences: vec![format!("added key body.{t}: a string")],
            })
            .collect();
        let md = render(Path::new("a"), Path::new("b"), &diffs, Rendering::Markdown);
        crate::report::md::hostile::assert_inert(&md);
    }

    #[test]
    fn two_recordings_are_compared_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        let (a, b) = (base.join("a"), base.join("b"));
        let list = |extra: &str| {
            format!(r#"{{"object":"list","data":[{{"id":"m","object":"model"{extra}}}]}}"#)
        };
        for (dir, body) in [(&a, list("")), (&b, list(r#","owned_by":"x""#))] {
            let n = Named::body(
                "models.list",
                "GET /v1/models",
                200,
                "application/json",
                body.as_bytes(),
            );
            write_pending(dir, &n, "t").unwrap();
            accept(dir).unwrap();
        }
        let only = Named::body("errors.x", "GET /v1/x", 404, "application/json", b"{}");
        write_pending(&b, &only, "t").unwrap();
        accept(&b).unwrap();
        let d = diff_dirs(&a, &b).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].name.as_str(), d[0].status), ("errors.x", "only_b"));
        assert_eq!(
            (d[1].name.as_str(), d[1].status),
            ("models.list", "changed")
        );
        assert_eq!(d[1].request, "GET /v1/models");
        assert_eq!(
            d[1].differences,
            vec!["added key body.data[].owned_by: \"[text]\""]
        );
        let text = render(&a, &b, &d, Rendering::Text);
        assert!(text.ends_with("2 of 2 exchanges differ\n"), "{text}");
        assert!(render(&a, &b, &d, Rendering::Markdown)
            .contains("## `` models.list `` (`` GET /v1/models ``): changed"));
        assert!(diff_dirs(&a, &base.join("none"))
            .unwrap_err()
            .contains("none"));
    }
}
