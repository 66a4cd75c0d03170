//! The shapes of every exchange the checks of a run send, each under the check that sent it,
//! for `snapshots.exchanges`. Shapes are taken as answers arrive (the answers themselves are
//! not kept) and named when the run ends, so that two runs name the same exchange alike:
//! `CHECK.METHOD-path`, and `.2`, `.3`… after it when one check's requests to one route come
//! back in several shapes (numbered in the order they were sent). The status is not in the
//! name: a status that changes is a difference of one file (`status: was 404, now 400`).

use super::Named;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Shapes seen in a run.
#[derive(Debug)]
pub struct Recorder {
    api_root: String,
    next: AtomicUsize,
    seen: Mutex<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    check: &'static str,
    order: usize,
    named: Named,
}

/// What an answer was, for its shape.
#[derive(Debug)]
pub enum RecordedAnswer<'a> {
    /// A whole body (`whole: false` when the check read only its head).
    Body { body: &'a [u8], whole: bool },
    /// The data of a stream's events, and whether it was cut.
    Stream { data: Vec<&'a str>, cut: bool },
}

impl Recorder {
    /// A recorder for a target whose API root is `api_root`.
    pub fn new(api_root: &str) -> Self {
        Self {
            api_root: api_root.to_owned(),
            next: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// A place in the order of requests; taken before a request is sent, so exchanges are
    /// numbered as sent, not as answered.
    pub fn ticket(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Notes the shape of one exchange sent by `check`.
    pub fn note(
        &self,
        check: &'static str,
        order: usize,
        (method, url): (&str, &str),
        (status, media): (u16, &str),
        answer: RecordedAnswer<'_>,
    ) {
        let request = request_line(&self.api_root, method, url);
        let document = request.ends_with("/openapi.json") || request.ends_with("/openapi.yaml");
        let named = match answer {
            // A description of the API, not an answer of it: its paths and schemas are
            // judged by the openapi.* checks, and as a shape it would be a long, brittle file.
            RecordedAnswer::Body { .. } if document && status == 200 => Named {
                name: String::new(),
                request,
                shape: json!({"status": status, "media_type": media, "body": "[OpenAPI document]"}),
            },
            RecordedAnswer::Body { body, whole: true } => {
                Named::body("", &request, status, media, body)
            }
            RecordedAnswer::Body { whole: false, .. } => Named {
                name: String::new(),
                request,
                shape: json!({"status": status, "media_type": media, "body": "[read in part]"}),
            },
            RecordedAnswer::Stream { data, cut } => {
                let events: Option<Vec<Value>> = data
                    .iter()
                    .take_while(|d| **d != "[DONE]")
                    .map(|d| serde_json::from_str(d).ok())
                    .collect();
                let mut named = match events {
                    Some(events) => Named::stream("", &request, status, media, &events),
                    None => Named {
                        name: String::new(),
                        request,
                        shape: json!({"status": status, "media_type": media, "stream": "[events not all JSON]"}),
                    },
                };
                if cut {
                    named.shape["cut"] = json!(true);
                }
                named
            }
        };
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(Entry {
                check,
                order,
                named,
            });
        }
    }

    /// How many exchanges were noted.
    pub fn len(&self) -> usize {
        self.seen.lock().map_or(0, |s| s.len())
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The distinct shapes seen, named, in name order.
    pub(crate) fn named(&self) -> Vec<Named> {
        let Ok(mut seen) = self.seen.lock() else {
            return Vec::new();
        };
        seen.sort_by_key(|e| e.order);
        // Per name stem, the distinct shapes in the order their first exchange was sent.
        let mut groups: BTreeMap<String, Vec<Named>> = BTreeMap::new();
        for e in seen.iter() {
            let stem = format!("{}.{}", e.check, slug(&e.named.request));
            let group = groups.entry(stem).or_default();
            if !group.iter().any(|n| n.shape == e.named.shape) {
                group.push(e.named.clone());
            }
        }
        let mut out = Vec::new();
        for (stem, group) in groups {
            for (i, mut n) in group.into_iter().enumerate() {
                n.name = if i == 0 {
                    stem.clone()
                } else {
                    format!("{stem}.{}", i + 1)
                };
                out.push(n);
            }
        }
        out
    }
}

/// `POST /v1/chat/completions`: the path under the API root written as OpenAI's, with ids
/// and model names as placeholders (`/v1/responses/{id}`, `/v1/models/{model}`), so that two
/// targets and two runs name their requests alike.
pub fn request_line(api_root: &str, method: &str, url: &str) -> String {
    let (path, query) = match url.strip_prefix(api_root) {
        Some(rest) => {
            let (p, q) = rest.split_once('?').unwrap_or((rest, ""));
            (format!("/v1{p}"), q.to_owned())
        }
        None => url::Url::parse(url).map_or_else(
            |_| (url.to_owned(), String::new()),
            |u| (u.path().to_owned(), u.query().unwrap_or("").to_owned()),
        ),
    };
    let mut after_models = false;
    let path: Vec<String> = path
        .split('/')
        .map(|seg| {
            let out = if after_models && !seg.is_empty() {
                "{model}".to_owned()
            } else if looks_like_id(seg) {
                "{id}".to_owned()
            } else {
                seg.to_owned()
            };
            after_models = seg == "models";
            out
        })
        .collect();
    let mut line = format!("{method} {}", path.join("/"));
    if !query.is_empty() {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if looks_like_id(v) => format!("{k}={{id}}"),
                _ => pair.to_owned(),
            })
            .collect();
        line.push('?');
        line.push_str(&pairs.join("&"));
    }
    line
}

/// A server-made identifier: a known prefix, or a long token with digits in it.
fn looks_like_id(seg: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "resp_",
        "resp-",
        "chatcmpl-",
        "msg_",
        "idx_",
        "dream_",
        "file-",
        "fc_",
        "call_",
    ];
    PREFIXES.iter().any(|p| seg.starts_with(p))
        || (seg.len() >= 20 && seg.bytes().any(|b| b.is_ascii_digit()))
}

/// `POST /v1/chat/completions?stream=x` → `POST-chat-completions-stream`: a file-name-safe
/// form of a request line, without the `/v1` every API path has.
fn slug(request: &str) -> String {
    let (method, rest) = request.split_once(' ').unwrap_or(("", request));
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let mut parts: Vec<String> = vec![method.to_owned()];
    parts.extend(
        path.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_matches(['{', '}']).to_owned()),
    );
    parts.extend(
        query
            .split('&')
            .filter_map(|p| p.split('=').next())
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
    );
    parts
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "http://127.0.0.1:9/v1";

    #[test]
    fn request_lines_hide_ids_and_models() {
        let line = |m, u| request_line(ROOT, m, u);
        assert_eq!(
            line(
                "GET",
                "http://127.0.0.1:9/v1/responses/resp_0123abc/input_items?after=msg_9&limit=2"
            ),
            "GET /v1/responses/{id}/input_items?after={id}&limit=2"
        );
        assert_eq!(
            line("GET", "http://127.0.0.1:9/v1/models/gpt-4o-mini"),
            "GET /v1/models/{model}"
        );
        assert_eq!(
            line("GET", "http://127.0.0.1:9/v1/models"),
            "GET /v1/models"
        );
        assert_eq!(line("GET", "http://127.0.0.1:9/healthz"), "GET /healthz");
        assert_eq!(
            slug("GET /v1/responses/{id}/input_items?after={id}&limit=2"),
            "GET-responses-id-input_items-after-limit"
        );
    }

    fn note(r: &Recorder, check: &'static str, status: u16, body: &str) {
        let order = r.ticket();
        r.note(
            check,
            order,
            ("POST", "http://127.0.0.1:9/v1/chat/completions"),
            (status, "application/json"),
            RecordedAnswer::Body {
                body: body.as_bytes(),
                whole: true,
            },
        );
    }

    #[test]
    fn names_are_stable_and_each_distinct_shape_is_kept_once() {
        let r = Recorder::new(ROOT);
        note(&r, "chat.basic", 200, r#"{"id":"a","n":1}"#);
        note(&r, "chat.basic", 200, r#"{"id":"b","n":2}"#);
        note(&r, "chat.basic", 200, r#"{"id":"c","extra":true}"#);
        note(&r, "chat.basic", 400, r#"{"error":{}}"#);
        note(&r, "chat.tools", 200, r#"{"id":"d","n":3}"#);
        let names: Vec<String> = r.named().into_iter().map(|n| n.name).collect();
        assert_eq!(
            names,
            [
                "chat.basic.POST-chat-completions",
                "chat.basic.POST-chat-completions.2",
                "chat.basic.POST-chat-completions.3",
                "chat.tools.POST-chat-completions",
            ]
        );
    }

    #[test]
    fn streams_that_are_not_json_or_cut_say_so() {
        let r = Recorder::new(ROOT);
        r.note(
            "x.y",
            r.ticket(),
            ("POST", "http://127.0.0.1:9/v1/responses"),
            (200, "text/event-stream"),
            RecordedAnswer::Stream {
                data: vec!["{\"type\":\"a\"}", "oops"],
                cut: true,
            },
        );
        let n = &r.named()[0];
        assert_eq!(n.shape["stream"], "[events not all JSON]");
        assert_eq!(n.shape["cut"], true);
    }
}
