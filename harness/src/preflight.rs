//! The first question every command asks the target, before any load: is this an
//! OpenAI-compatible API that accepts our credentials at this root? A refusal stops the
//! command (exit 3) with one short message, so a wrong key or a wrong URL costs one request,
//! not a suite of skips or a load test of 401s.

use crate::error::HarnessError;
pub use crate::error::Refusal;
use crate::target::{Exchange, Req, Target, TransportError};

/// How much of an answer a refusal quotes: enough to recognise it, one line.
const SAID_CHARS: usize = 120;

/// What the answer says, short: the error envelope's message when there is one, else the
/// start of the body.
fn said(ex: &Exchange) -> String {
    let message = ex.json().ok().and_then(|v| {
        let e = &v["error"];
        let text = e["message"].as_str().or_else(|| e.as_str())?;
        Some(match e["code"].as_str() {
            Some(code) => format!("{code}: {text}"),
            None => text.to_owned(),
        })
    });
    match message {
        Some(m) => crate::text::clean(&m, SAID_CHARS),
        None if ex.body.is_empty() => "empty body".into(),
        None => {
            let head = &ex.body[..ex.body.len().min(SAID_CHARS * 4)];
            let text = String::from_utf8_lossy(head);
            // HTML says most in its title; the markup before it says nothing.
            let shown = title(&text).unwrap_or(&text);
            crate::text::clean(shown.trim(), SAID_CHARS)
        }
    }
}

fn title(html: &str) -> Option<&str> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    html.get(start..end)
}

/// Whether the body is something an API answers with: JSON, or an event stream.
fn api_body(ex: &Exchange) -> bool {
    ex.body.is_empty()
        || ex.media_type() == "text/event-stream"
        || serde_json::from_slice::<serde::de::IgnoredAny>(&ex.body).is_ok()
}

/// The request of `ex`, as a refusal names it: `POST https://host/v1/responses`.
pub(crate) fn asked(ex: &Exchange) -> String {
    format!("{} {}", ex.request.method, ex.request.url)
}

/// What `ex`, the answer to `request`, says about the target: a refusal, or nothing (the
/// answer is the API's, whatever its status). `had_key` says whether credentials were sent.
pub(crate) fn judge(ex: &Exchange, request: &str, had_key: bool) -> Option<Refusal> {
    let request = request.to_owned();
    match ex.status {
        401 | 403 => Some(Refusal::Credentials {
            request,
            status: ex.status,
            said: said(ex),
            had_key,
        }),
        // python's http.server and other static servers answer a POST with 501 or 405.
        501 | 405 => Some(Refusal::NotAnApi {
            request,
            status: ex.status,
            media_type: ex.media_type(),
            said: said(ex),
        }),
        404 => Some(Refusal::NotFound {
            request,
            said: said(ex),
        }),
        200..=299 if !api_body(ex) => Some(Refusal::NotAnApi {
            request,
            status: ex.status,
            media_type: ex.media_type(),
            said: said(ex),
        }),
        _ => None,
    }
}

/// Whether the body is an OpenAI error envelope: the API itself answered.
fn envelope(ex: &Exchange) -> bool {
    ex.json().is_ok_and(|v| v["error"]["message"].is_string())
}

/// Like `judge`, for the first request of a load: any answer but a transient one (408, 409,
/// 429) that says every request will fail is a refusal too. A 404 the API itself explains
/// (`model_not_found`) is the request's fault, not the root's.
pub(crate) fn judge_load(ex: &Exchange, request: &str, had_key: bool) -> Option<Refusal> {
    let rejected = || Refusal::Rejected {
        request: request.to_owned(),
        status: ex.status,
        said: said(ex),
    };
    match judge(ex, request, had_key) {
        Some(Refusal::NotFound { .. }) if envelope(ex) => Some(rejected()),
        None if (400..500).contains(&ex.status) && !matches!(ex.status, 408 | 409 | 429) => {
            Some(rejected())
        }
        other => other,
    }
}

/// Sends `req`, the first request of a load, once and judges the answer. A transport failure
/// that means nothing is there (no connection, no answer) is `Unreachable`; others are left
/// to the load, which measures them.
pub(crate) async fn ask(target: &Target, req: Req) -> Result<(), HarnessError> {
    let had_key = target.has_key();
    match target.send(req).await {
        Ok(ex) => match judge_load(&ex, &asked(&ex), had_key) {
            Some(refusal) => Err(HarnessError::Refused(refusal)),
            None => Ok(()),
        },
        Err(e @ (TransportError::Unreachable { .. } | TransportError::Timeout { .. })) => {
            Err(HarnessError::Unreachable(e.to_string()))
        }
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};

    fn answer(status: u16, content_type: &str, body: &str) -> Exchange {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(CONTENT_TYPE, v);
        }
        Exchange {
            request: crate::target::RequestRecord {
                method: "GET".into(),
                url: "http://h/v1/models".into(),
                headers: Vec::new(),
                body: None,
                redirect: None,
            },
            status,
            headers,
            body: Bytes::from(body.to_owned()),
            elapsed: std::time::Duration::ZERO,
        }
    }

    const REQ: &str = "GET http://h/v1/models";

    #[test]
    fn a_refused_key_names_the_flag_and_what_the_target_said() {
        let ex = answer(
            401,
            "application/json",
            r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#,
        );
        let r = judge(&ex, REQ, true).map(|r| r.to_string());
        assert_eq!(
            r.as_deref(),
            Some("the target refused the credentials: GET http://h/v1/models answered HTTP 401 (invalid_api_key: Incorrect API key provided); pass --api-key (or --api-key-file) or set OPENAI_API_KEY")
        );
        let r = judge(&answer(403, "text/plain", "no"), REQ, false).map(|r| r.to_string());
        assert!(r.is_some_and(|r| r.starts_with("the target wants credentials and none were sent")));
    }

    #[test]
    fn html_is_not_an_api_and_its_title_is_quoted_not_its_markup() {
        let page = format!(
            "<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>{}</body></html>",
            "x".repeat(5000)
        );
        let r = judge(&answer(200, "text/html; charset=utf-8", &page), REQ, true);
        assert_eq!(
            r.map(|r| r.to_string()).as_deref(),
            Some("the target is not an OpenAI-compatible API: GET http://h/v1/models answered HTTP 200 text/html (Welcome to nginx!)")
        );
        let r = judge(
            &answer(501, "text/html", "<title>Error response</title>"),
            REQ,
            true,
        );
        assert!(matches!(r, Some(Refusal::NotAnApi { status: 501, .. })));
    }

    #[test]
    fn a_404_hints_at_the_root_and_api_answers_are_not_refusals() {
        let r = judge(
            &answer(404, "application/json", r#"{"detail":"Not Found"}"#),
            REQ,
            true,
        );
        assert!(r.is_some_and(|r| r.to_string().contains("is --target the API root")));
        for (status, ct, body) in [
            (200, "application/json", r#"{"object":"list","data":[]}"#),
            (200, "text/event-stream", "data: {}\n\n"),
            (400, "application/json", r#"{"error":{"message":"bad"}}"#),
            (
                429,
                "application/json",
                r#"{"error":{"message":"slow down"}}"#,
            ),
            (500, "text/html", "<title>oops</title>"),
            (503, "text/plain", "upstream unavailable"),
        ] {
            assert_eq!(
                judge(&answer(status, ct, body), REQ, true),
                None,
                "{status} {ct}"
            );
        }
    }

    #[test]
    fn a_load_stops_on_an_answer_every_request_would_get() {
        let gone = answer(
            404,
            "application/json",
            r#"{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}"#,
        );
        let r = judge_load(&gone, "POST http://h/v1/responses", true).map(|r| r.to_string());
        assert_eq!(
            r.as_deref(),
            Some("the target rejected the first request, so every request would fail: POST http://h/v1/responses answered HTTP 404 (model_not_found: The model `x` does not exist); check the scenario's body and model")
        );
        let bad = answer(400, "application/json", r#"{"error":{"message":"bad"}}"#);
        assert!(matches!(
            judge_load(&bad, REQ, true),
            Some(Refusal::Rejected { status: 400, .. })
        ));
        let bare = answer(404, "text/html", "<title>404 Not Found</title>");
        assert!(matches!(
            judge_load(&bare, REQ, true),
            Some(Refusal::NotFound { .. })
        ));
        for status in [408, 409, 429, 500, 503] {
            let ex = answer(
                status,
                "application/json",
                r#"{"error":{"message":"later"}}"#,
            );
            assert_eq!(judge_load(&ex, REQ, true), None, "{status}");
        }
    }

    #[test]
    fn a_quote_is_one_short_line() {
        let ex = answer(
            200,
            "text/plain",
            &format!("line one\nline two {}", "y".repeat(400)),
        );
        let said = said(&ex);
        assert!(said.starts_with("line one\\nline two"), "{said}");
        assert!(said.chars().count() < SAID_CHARS + 40, "{said}");
    }
}
