//! Does a response match what a document says of its operation? Status, media type, body
//! schema (each event's data for `text/event-stream`) and required headers.
//!
//! Bodies are validated as [`DocSchemas`] reads the document's schemas (3.0 and leftover
//! 3.1 `nullable` understood, unions narrowed by `type`).

use super::schemas::DocSchemas;
use super::sse::EventSchema;
use super::{resolve, METHODS};
use http::HeaderMap;
use serde_json::{Map, Value};

/// The body of a response, as the caller read it.
pub enum Body<'a> {
    /// A JSON body.
    Json(&'a Value),
    /// The `data:` of each server-sent event, in order.
    Events(Vec<&'a str>),
    /// Anything else (not checked against a schema).
    Other,
}

/// One response to compare.
pub struct Observed<'a> {
    /// Upper- or lower-case method.
    pub method: &'a str,
    /// The request path, without the query.
    pub path: &'a str,
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: &'a HeaderMap,
    /// Media type without parameters.
    pub media_type: &'a str,
    /// The body.
    pub body: Body<'a>,
}

/// What a comparison found.
#[derive(Debug, PartialEq, Eq)]
pub enum Conformity {
    /// The document has no operation for this method and path.
    Undocumented,
    /// Conformity, and these problems (none means it matches).
    Checked(Vec<String>),
}

/// A document prepared for comparisons: schemas compiled on first use.
pub struct Conformance<'d> {
    doc: &'d Value,
    schemas: DocSchemas<'d>,
    /// Path prefixes of `servers` (`/v1` for `https://api.openai.com/v1`).
    prefixes: Vec<String>,
}

impl<'d> Conformance<'d> {
    /// Prepares `doc`.
    pub fn new(doc: &'d Value) -> Self {
        let prefixes = doc["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["url"].as_str())
            .filter_map(server_path)
            .collect();
        Self {
            doc,
            schemas: DocSchemas::new(doc),
            prefixes,
        }
    }

    /// The operation serving `method path`, with its path template.
    fn operation(&self, method: &str, path: &str) -> Option<&'d Value> {
        let method = method.to_ascii_lowercase();
        if !METHODS.contains(&method.as_str()) {
            return None;
        }
        let paths = self.doc["paths"].as_object()?;
        let candidates = std::iter::once(path.to_owned()).chain(
            self.prefixes
                .iter()
                .filter_map(|p| path.strip_prefix(p.as_str()))
                .filter(|rest| rest.starts_with('/'))
                .map(str::to_owned),
        );
        for candidate in candidates {
            let best = paths
                .iter()
                .filter_map(|(template, item)| {
                    let literals = template_match(template, &candidate)?;
                    let op = resolve(self.doc, item).get(&method)?;
                    Some((literals, op))
                })
                .max_by_key(|(literals, _)| *literals);
            if let Some((_, op)) = best {
                return Some(op);
            }
        }
        None
    }

    /// Compares one response with the document.
    pub fn check(&mut self, seen: &Observed<'_>) -> Conformity {
        let Some(op) = self.operation(seen.method, seen.path) else {
            return Conformity::Undocumented;
        };
        let at = format!(
            "{} {} {}",
            seen.method.to_uppercase(),
            seen.path,
            seen.status
        );
        let mut problems = Vec::new();
        let Some(response) = documented_response(self.doc, op, seen.status) else {
            // An error status the document leaves out is a gap in the document, not a wrong
            // answer (OpenAI's own documents 200 and at most 429 for most operations, while
            // the API answers 400, 401, 404...). A documented error is checked like any answer.
            if seen.status >= 400 {
                return Conformity::Undocumented;
            }
            problems.push(format!("{at}: status {} is not documented", seen.status));
            return Conformity::Checked(problems);
        };
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            let header = resolve(self.doc, header);
            if header["required"] == true
                && !name.eq_ignore_ascii_case("content-type")
                && !seen.headers.contains_key(name.as_str())
            {
                problems.push(format!("{at}: required header {name} is missing"));
            }
        }
        let Some(content) = response["content"].as_object().filter(|c| !c.is_empty()) else {
            return Conformity::Checked(problems);
        };
        let Some(media) = media_entry(content, seen.media_type) else {
            let documented: Vec<&str> = content.keys().map(String::as_str).collect();
            problems.push(format!(
                "{at}: content-type {} is not documented (documented: {})",
                seen.media_type,
                documented.join(", ")
            ));
            return Conformity::Checked(problems);
        };
        match &seen.body {
            Body::Json(value) => {
                if let Some(schema) = media.get("schema") {
                    self.validate(schema, value, &at, &mut problems);
                }
            }
            Body::Events(events) => {
                // A stream with no event at all is nothing like a documented stream.
                if events.is_empty() {
                    problems.push(format!("{at}: the stream carried no event"));
                }
                if let Some(described) = EventSchema::of(self.doc, media) {
                    for (i, data) in events.iter().enumerate() {
                        problems.extend(
                            described
                                .problems(&mut self.schemas, None, data)
                                .into_iter()
                                .take(3)
                                .map(|p| format!("{at} event {i}: {p}")),
                        );
                    }
                }
            }
            Body::Other => {}
        }
        Conformity::Checked(problems)
    }

    fn validate(&mut self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        problems.extend(
            self.schemas
                .problems(schema, value)
                .into_iter()
                .take(3)
                .map(|p| format!("{at}: {p}")),
        );
    }
}

/// The path part of a server URL, without a trailing slash (`None` for `/` or none).
fn server_path(url: &str) -> Option<String> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => url,
    };
    let path = path.trim_end_matches('/');
    (!path.is_empty() && !path.contains('{')).then(|| path.to_owned())
}

/// How many literal segments `template` matched `path` with, if it matches. A final
/// `{param}` may take several segments (model ids contain slashes).
fn template_match(template: &str, path: &str) -> Option<usize> {
    let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
    if p.len() < t.len() || (p.len() > t.len() && !t.last().is_some_and(|s| is_param(s))) {
        return None;
    }
    let mut literals = 0;
    for (i, seg) in t.iter().enumerate() {
        if is_param(seg) {
            if p[i].is_empty() {
                return None;
            }
        } else if *seg == p[i] {
            literals += 1;
        } else {
            return None;
        }
    }
    Some(literals)
}

/// The response documented for `status`: exact, then `4XX`, then `default`.
fn documented_response<'a>(doc: &'a Value, op: &'a Value, status: u16) -> Option<&'a Value> {
    let responses = op["responses"].as_object()?;
    let range = format!("{}XX", status / 100);
    responses
        .get(&status.to_string())
        .or_else(|| {
            responses
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&range))
                .map(|(_, v)| v)
        })
        .or_else(|| responses.get("default"))
        .map(|r| resolve(doc, r))
}

/// The media type entry for `seen`: exact, then `type/*`, then `*/*`.
fn media_entry<'a>(content: &'a Map<String, Value>, seen: &str) -> Option<&'a Value> {
    let base = |k: &str| {
        k.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let top = seen.split('/').next().unwrap_or("");
    content
        .iter()
        .find(|(k, _)| base(k) == seen)
        .or_else(|| content.iter().find(|(k, _)| base(k) == format!("{top}/*")))
        .or_else(|| content.iter().find(|(k, _)| base(k) == "*/*"))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "openapi": "3.1.0",
            "servers": [{"url": "https://api.example.com/v1"}],
            "paths": {
                "/models/{model}": {"get": {"responses": {
                    "200": {
                        "headers": {"X-Request-Id": {"required": true, "schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Model"}}}
                    },
                    "4XX": {"content": {"application/json": {"schema": {"type": "object", "required": ["error"]}}}}
                }}},
                "/models/special": {"get": {"responses": {"200": {"description": "literal wins"}}}},
                "/chat": {"post": {"responses": {"200": {"content": {
                    "text/event-stream": {"schema": {"$ref": "#/components/schemas/Chunk"}}
                }}}}}
            },
            "components": {"schemas": {
                "Model": {"type": "object", "required": ["id", "object"], "properties": {"object": {"const": "model"}}},
                "Chunk": {"type": "object", "required": ["id"]}
            }}
        })
    }

    fn seen<'a>(
        method: &'a str,
        path: &'a str,
        status: u16,
        headers: &'a HeaderMap,
        body: Body<'a>,
    ) -> Observed<'a> {
        Observed {
            method,
            path,
            status,
            headers,
            media_type: if matches!(body, Body::Events(_)) {
                "text/event-stream"
            } else {
                "application/json"
            },
            body,
        }
    }

    #[test]
    fn a_matching_response_has_no_problems_and_server_prefixes_are_stripped() {
        let d = doc();
        let mut c = Conformance::new(&d);
        let mut h = HeaderMap::new();
        h.insert("x-request-id", "r".parse().unwrap());
        let body = json!({"id": "ft:a/b", "object": "model"});
        let out = c.check(&seen(
            "GET",
            "/v1/models/ft:a/b",
            200,
            &h,
            Body::Json(&body),
        ));
        assert_eq!(out, Conformity::Checked(vec![]));
        let out = c.check(&seen("GET", "/v1/nothing", 200, &h, Body::Other));
        assert_eq!(out, Conformity::Undocumented);
    }

    #[test]
    fn schema_status_header_and_media_problems_are_reported() {
        let d = doc();
        let mut c = Conformance::new(&d);
        let none = HeaderMap::new();
        let body = json!({"id": "m", "object": "engine"});
        let Conformity::Checked(p) =
            c.check(&seen("GET", "/v1/models/m", 200, &none, Body::Json(&body)))
        else {
            panic!("undocumented")
        };
        assert!(p.iter().any(|m| m.contains("X-Request-Id")), "{p:?}");
        assert!(p.iter().any(|m| m.contains("/object")), "{p:?}");
        let Conformity::Checked(p) = c.check(&seen("GET", "/v1/models/m", 201, &none, Body::Other))
        else {
            panic!("undocumented")
        };
        assert!(p[0].contains("status 201 is not documented"), "{p:?}");
        // An error the document leaves out is not judged; a documented one is (below).
        assert_eq!(
            c.check(&seen("GET", "/v1/models/m", 500, &none, Body::Other)),
            Conformity::Undocumented
        );
        let err = json!({"message": "flat"});
        let Conformity::Checked(p) =
            c.check(&seen("GET", "/v1/models/m", 404, &none, Body::Json(&err)))
        else {
            panic!("undocumented")
        };
        assert!(p[0].contains("error"), "{p:?}");
        let Conformity::Checked(p) = c.check(&seen(
            "POST",
            "/v1/chat",
            200,
            &none,
            Body::Events(vec!["{\"id\":\"a\"}", "{}", "[DONE]"]),
        )) else {
            panic!("undocumented")
        };
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("event 1"), "{p:?}");
        let Conformity::Checked(p) =
            c.check(&seen("POST", "/v1/chat", 200, &none, Body::Events(vec![])))
        else {
            panic!("undocumented")
        };
        assert!(
            p[0].contains("no event"),
            "an empty stream is not a pass: {p:?}"
        );
        let Conformity::Checked(p) =
            c.check(&seen("POST", "/v1/chat", 200, &none, Body::Json(&err)))
        else {
            panic!("undocumented")
        };
        assert!(
            p[0].contains("content-type application/json is not documented"),
            "{p:?}"
        );
    }

    #[test]
    fn unions_discriminated_by_type_report_the_faulty_field() {
        let d = json!({
            "openapi": "3.1.0",
            "paths": {"/e": {"get": {"responses": {"200": {"content": {"application/json": {
                "schema": {"anyOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]}
            }}}}}}},
            "components": {"schemas": {
                "A": {"type": "object", "required": ["a"], "properties": {"type": {"enum": ["a"]}}},
                "B": {"type": "object", "required": ["b"], "properties": {"type": {"const": "b"}, "b": {"type": "integer"}}}
            }}
        });
        let mut c = Conformance::new(&d);
        let h = HeaderMap::new();
        let body = json!({"type": "b", "b": "x"});
        let Conformity::Checked(p) = c.check(&seen("GET", "/e", 200, &h, Body::Json(&body))) else {
            panic!("undocumented")
        };
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("at /b"), "{p:?}");
    }

    #[test]
    fn literal_paths_win_over_templates() {
        let templated = template_match("/models/{m}", "/models/special").unwrap();
        let literal = template_match("/models/special", "/models/special").unwrap();
        assert!(literal > templated);
        assert_eq!(template_match("/models/{m}/x", "/models/a"), None);
        assert_eq!(template_match("/a/{b}", "/a/"), None);
    }
}
