//! Root causes: the checks that did not pass because of one defect of the target, grouped so
//! a report says "3 defects explain 29 failures" instead of showing one defect 14 times. A
//! failure is grouped by what it saw (a typed [`Symptom`]: the same route answering the same
//! error status and code, a stream that is not SSE, no usable answer), else only with
//! failures identical to it.

pub use crate::result::{Cause, Symptom};
use crate::result::{CheckResult, Failure};
use crate::target::RequestRecord;

/// What groups failures: a symptom where the route matters, or the whole failure.
#[derive(PartialEq)]
enum Key {
    Root(Symptom, Option<(String, String)>),
    Same(Failure),
}

fn key(f: &Failure) -> Key {
    match &f.symptom {
        // One server that does not stream does not stream on any route; one that cannot be
        // reached cannot be reached on any.
        Some(s @ (Symptom::NotSse | Symptom::Transport)) => Key::Root(s.clone(), None),
        Some(s @ Symptom::Status { .. }) => Key::Root(
            s.clone(),
            f.request.as_ref().map(|r| (r.method.clone(), route(r))),
        ),
        None => Key::Same(f.clone()),
    }
}

/// A line that names the root cause.
fn describe(key: &Key) -> Option<String> {
    let Key::Root(symptom, at) = key else {
        return None;
    };
    let (method, route) = at.clone().unwrap_or_default();
    Some(match symptom {
        Symptom::Status { status, error } => {
            let what = match (status, error) {
                (404 | 405 | 501, None) => format!("HTTP {status} (not served?)"),
                (_, None) => format!("HTTP {status}"),
                (_, Some(e)) => format!("HTTP {status}, error {e}"),
            };
            format!("{method} {route} answers {what}")
        }
        Symptom::NotSse => "streams are not served as text/event-stream".to_owned(),
        Symptom::Transport => {
            "no usable answer (connection refused, reset or timed out)".to_owned()
        }
    })
}

/// The request's path with its ids as `{id}`: `/v1/responses/resp_1/input_items` is
/// `/v1/responses/{id}/input_items`.
pub fn route(request: &RequestRecord) -> String {
    const WORDS: &[&str] = &[
        "v1",
        "models",
        "embeddings",
        "chat",
        "completions",
        "responses",
        "input_items",
        "compact",
        "indexes",
        "items",
        "search",
        "dreams",
        "openapi.json",
        "healthz",
        "readyz",
        "metrics",
    ];
    let path = request
        .url
        .split_once("://")
        .map_or(request.url.as_str(), |(_, rest)| rest);
    let path = path.find('/').map_or("/", |i| &path[i..]);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    // A segment after a collection's name is an id; anything before the API's own words (an
    // API root such as `/openai/v1`) stays as it is.
    let mut previous = "";
    path.split('/')
        .map(|seg| {
            let id = !seg.is_empty() && !WORDS.contains(&seg) && WORDS.contains(&previous);
            previous = seg;
            if id {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Groups the non-passing checks that share a root cause, most checks first.
pub fn causes(results: &[CheckResult]) -> Vec<Cause> {
    let mut groups: Vec<(Key, Cause)> = Vec::new();
    for r in results {
        let Some(f) = r.outcome.failure() else {
            continue;
        };
        let k = key(f);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, c)) => c.checks.push(r.id.clone()),
            None => {
                let cause = Cause {
                    root: describe(&k),
                    failure: f.clone(),
                    checks: vec![r.id.clone()],
                };
                groups.push((k, cause));
            }
        }
    }
    let mut causes: Vec<Cause> = groups
        .into_iter()
        .map(|(_, c)| c)
        .filter(|c| c.checks.len() > 1)
        .collect();
    // Stable: among equals, the cause met first in catalogue order stays first.
    causes.sort_by_key(|c| std::cmp::Reverse(c.checks.len()));
    causes
}

/// "31 checks did not pass, for 5 defects (3 causes shared by 29 checks, 2 of their own)",
/// when any shared cause was found.
pub fn summary(results: &[CheckResult], causes: &[Cause]) -> Option<String> {
    if causes.is_empty() {
        return None;
    }
    let (defects, failures) = defects(results, causes);
    let shared: usize = causes.iter().map(|c| c.checks.len()).sum();
    Some(format!(
        "{} did not pass, for {}: {} shared by {}, {} of their own",
        crate::text::plural(failures, "check", "checks"),
        crate::text::plural(defects, "defect", "defects"),
        crate::text::plural(causes.len(), "cause", "causes"),
        crate::text::plural(shared, "check", "checks"),
        failures - shared,
    ))
}

/// How many defects explain how many non-passing checks: each shared cause is one, and each
/// failure it does not explain is one of its own. `(defects, failures)`.
pub fn defects(results: &[CheckResult], causes: &[Cause]) -> (usize, usize) {
    let failures = results
        .iter()
        .filter(|r| r.outcome.failure().is_some())
        .count();
    let shared: usize = causes.iter().map(|c| c.checks.len()).sum();
    (causes.len() + failures - shared, failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Outcome, Profile};

    fn request(method: &str, url: &str) -> RequestRecord {
        RequestRecord {
            method: method.into(),
            url: url.into(),
            headers: vec![],
            body: None,
            redirect: None,
        }
    }

    fn result(id: &str, f: Failure) -> CheckResult {
        CheckResult {
            id: id.into(),
            area: "a".into(),
            profile: Profile::OpenaiCore,
            scored: true,
            description: "d".into(),
            outcome: Outcome::Failed(Box::new(f)),
            note: None,
            metrics: vec![],
            duration_ms: 0.0,
        }
    }

    fn seen(seen: &str, symptom: Option<Symptom>, req: Option<RequestRecord>) -> Failure {
        Failure {
            expected: "x".into(),
            seen: seen.into(),
            request: req,
            hint: None,
            symptom,
        }
    }

    fn status(status: u16, error: Option<&str>) -> Option<Symptom> {
        Some(Symptom::Status {
            status,
            error: error.map(str::to_owned),
        })
    }

    #[test]
    fn ids_in_a_path_are_one_route() {
        for (url, want) in [
            (
                "http://h:1/v1/responses/resp_1/input_items?limit=2",
                "/v1/responses/{id}/input_items",
            ),
            ("https://h/v1/models/ref-chat-1", "/v1/models/{id}"),
            ("http://h/v1/chat/completions", "/v1/chat/completions"),
            ("http://h", "/"),
            (
                "http://h:9/openai/v1/responses/compact",
                "/openai/v1/responses/compact",
            ),
            (
                "http://h/v1/indexes/idx_1/items/a",
                "/v1/indexes/{id}/items/{id}",
            ),
        ] {
            assert_eq!(route(&request("GET", url)), want, "{url}");
        }
    }

    #[test]
    fn one_route_answering_one_error_is_one_cause_whatever_each_check_saw() {
        let emb = |body| Some(request("POST", body));
        let all = [
            result(
                "e.1",
                seen(
                    "HTTP 404: a",
                    status(404, None),
                    emb("http://h/v1/embeddings"),
                ),
            ),
            result(
                "e.2",
                seen(
                    "HTTP 404: b",
                    status(404, None),
                    emb("http://h/v1/embeddings"),
                ),
            ),
            result(
                "c.1",
                seen(
                    "HTTP 404: a",
                    status(404, None),
                    emb("http://h/v1/chat/completions"),
                ),
            ),
            result(
                "c.2",
                seen(
                    "no SSE",
                    Some(Symptom::NotSse),
                    emb("http://h/v1/chat/completions"),
                ),
            ),
            result(
                "r.1",
                seen(
                    "no SSE either",
                    Some(Symptom::NotSse),
                    emb("http://h/v1/responses"),
                ),
            ),
            result(
                "r.2",
                seen(
                    "HTTP 500",
                    status(500, Some("upstream")),
                    emb("http://h/v1/responses"),
                ),
            ),
            result(
                "r.3",
                seen(
                    "HTTP 500",
                    status(500, Some("other")),
                    emb("http://h/v1/responses"),
                ),
            ),
            result("x.1", seen("same", None, None)),
            result("x.2", seen("same", None, None)),
            result("x.3", seen("alone", None, None)),
        ];
        let causes = causes(&all);
        let groups: Vec<(Option<&str>, Vec<&str>)> = causes
            .iter()
            .map(|c| {
                (
                    c.root.as_deref(),
                    c.checks.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            [
                (
                    Some("POST /v1/embeddings answers HTTP 404 (not served?)"),
                    vec!["e.1", "e.2"]
                ),
                (
                    Some("streams are not served as text/event-stream"),
                    vec!["c.2", "r.1"]
                ),
                (None, vec!["x.1", "x.2"]),
            ]
        );
        // Three shared causes, and c.1, r.2, r.3 and x.3 of their own: 7 defects, 10 failures.
        assert_eq!(defects(&all, &causes), (7, 10));
    }
}
