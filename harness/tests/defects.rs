//! Each test starts a server broken in exactly one way and asserts that a full run fails
//! exactly the checks that should catch that defect, and passes everything else.
//! `every_check_is_proven_by_a_defect` keeps the catalogue and this file in step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::socket::{broken_socket, relay_downstream, relay_upstream, Out, SocketDefect};
use common::*;
use http::{HeaderValue, Method};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Expands each `name, fails: [...], (preconditions: [...],)? (skips: [...],)? before:, after:`
/// entry into a test, and all of them into `DEFECTS`, the table the coverage test reads.
macro_rules! defects {
    ($($name:ident, fails: [$($id:literal),* $(,)?], $(preconditions: [$($pid:literal),*],)? $(skips: [$($sid:literal),*],)? before: $before:expr, after: $after:expr $(,)?);* $(;)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let server = broken(Defect { before: $before, after: $after }).await;
                let result = run_against(&server.uri()).await;
                let Verdicts { failed, preconditions, skipped } = verdicts(&result);
                let expected: BTreeSet<String> = [$($id),*].iter().map(|s: &&str| s.to_string()).collect();
                let report = harness::Report::text(&result);
                assert_eq!(failed, expected, "wrong checks failed for {}:\n{report}", stringify!($name));
                let expected_pre: BTreeSet<String> = [$($($pid),*)?].iter().map(|s: &&str| s.to_string()).collect();
                assert_eq!(preconditions, expected_pre, "wrong preconditions failed for {}:\n{report}", stringify!($name));
                let mut expected_skips: BTreeSet<String> = [$($($sid),*)?].iter().map(|s: &&str| s.to_string()).collect();
                // wiremock answers one request at a time, so duplicates never overlap and the
                // 409 of a concurrent duplicate cannot be observed through it.
                if !failed.contains(CONCURRENT) {
                    expected_skips.insert(CONCURRENT.to_owned());
                }
                assert_eq!(skipped, expected_skips, "unexpected skips for {}:\n{report}", stringify!($name));
            }
        )*

        /// Every defect server: its name and the checks it must fail.
        const DEFECTS: &[(&str, &[&str])] = &[$((stringify!($name), &[$($id),*])),*];
    };
}

const CONCURRENT: &str = "idempotency.concurrent.409";

/// For `snapshots.*`: the shapes of a faithful server are recorded (`--update-snapshots`, then
/// accepted), and each entry's broken server (another instance: other ids, times) is compared
/// with them, strictly.
macro_rules! snapshot_defects {
    ($($name:ident, fails: [$($id:literal),* $(,)?], before: $before:expr, after: $after:expr $(,)?);* $(;)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let dir_tmp = tempdir();
                let dir = dir_tmp.path();
                let faithful = broken(Defect { before: untouched_request, after: untouched_answer }).await;
                let recorded = run_snapshots(&faithful.uri(), dir, true).await;
                let report = harness::Report::text(&recorded);
                assert_eq!(recorded.counts().passed, 7, "the recording run:\n{report}");
                // 13 sampled shapes, and the one exchange of embeddings.dimensions.
                assert_eq!(harness::snapshots::accept(dir).unwrap(), 14, "{report}");
                let server = broken(Defect { before: $before, after: $after }).await;
                let result = run_snapshots(&server.uri(), dir, false).await;
                let Verdicts { failed, preconditions, skipped } = verdicts(&result);
                let expected: BTreeSet<String> = [$($id),*].iter().map(|s: &&str| s.to_string()).collect();
                let report = harness::Report::text(&result);
                assert_eq!(failed, expected, "wrong checks failed for {}:\n{report}", stringify!($name));
                assert!(preconditions.is_empty() && skipped.is_empty(), "{report}");
            }
        )*

        /// Every snapshot defect server: its name and the checks it must fail.
        const SNAPSHOT_DEFECTS: &[(&str, &[&str])] = &[$((stringify!($name), &[$($id),*])),*];
    };
}

/// As `defects!`, for servers broken in their WebSocket mode (`common::socket`): each entry's
/// `upstream` rewrites what the client sends, its `downstream` what the server sends back.
macro_rules! socket_defects {
    ($($name:ident, fails: [$($id:literal),* $(,)?], $(preconditions: [$($pid:literal),*],)? refuse_upgrade: $refuse:expr, upstream: $up:expr, downstream: $down:expr $(,)?);* $(;)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let url = broken_socket(SocketDefect { refuse_upgrade: $refuse, upstream: $up, downstream: $down }).await;
                let result = run_with(&url, |_| {}).await;
                let Verdicts { failed, preconditions, skipped } = verdicts(&result);
                let expected: BTreeSet<String> = [$($id),*].iter().map(|s: &&str| s.to_string()).collect();
                let report = harness::Report::text(&result);
                assert_eq!(failed, expected, "wrong checks failed for {}:\n{report}", stringify!($name));
                let expected_pre: BTreeSet<String> = [$($($pid),*)?].iter().map(|s: &&str| s.to_string()).collect();
                assert_eq!(preconditions, expected_pre, "wrong preconditions failed for {}:\n{report}", stringify!($name));
                // In-process answers are quick: concurrent duplicates may still not overlap.
                assert!(skipped.iter().all(|s| s == CONCURRENT), "unexpected skips for {}:\n{report}", stringify!($name));
            }
        )*

        /// Every WebSocket defect server: its name and the checks it must fail.
        const SOCKET_DEFECTS: &[(&str, &[&str])] = &[$((stringify!($name), &[$($id),*])),*];
    };
}

/// Whether the request carries the second key (another project).
fn is_second_key(f: &Forward) -> bool {
    f.headers
        .get("authorization")
        .is_some_and(|v| v == format!("Bearer {SECOND_KEY}").as_str())
}

/// A request of the second key, served as the first key's: the two projects share it.
fn as_first_key(f: &mut Forward) {
    if is_second_key(f) {
        f.headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {KEY}")).unwrap(),
        );
    }
}

fn is(f: &Forward, method: Method, path: &str) -> bool {
    f.method == method && f.path() == path
}

fn map_json(a: &mut Answer, m: impl FnOnce(&mut Value)) {
    if let Some(mut v) = a.json() {
        m(&mut v);
        a.set_json(&v);
    }
}

fn map_events(a: &mut Answer, m: impl FnOnce(&mut Vec<(Option<String>, Option<Value>)>)) {
    let mut events = a.events();
    m(&mut events);
    a.set_events(&events);
}

fn renumber(events: &mut [(Option<String>, Option<Value>)]) {
    for (i, (_, data)) in events.iter_mut().enumerate() {
        if let Some(d) = data {
            d["sequence_number"] = json!(i);
        }
    }
}

fn random_unit(len: usize) -> Vec<f64> {
    let mut v: Vec<f64> = (0..len)
        .map(|_| (uuid::Uuid::new_v4().as_u128() % 2000) as f64 / 1000.0 - 1.0)
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn each_vector(a: &mut Answer, m: impl Fn(usize, &mut Value)) {
    map_json(a, |v| {
        if let Some(data) = v["data"].as_array_mut() {
            for (i, e) in data.iter_mut().enumerate() {
                if e["embedding"].is_array() {
                    m(i, &mut e["embedding"]);
                }
            }
        }
    });
}

fn plain_chat(f: &Forward, a: &Answer) -> bool {
    is(f, Method::POST, "/v1/chat/completions") && a.status == 200 && !a.is_sse()
}

fn chat_stream(f: &Forward, a: &Answer) -> bool {
    is(f, Method::POST, "/v1/chat/completions") && a.is_sse()
}

fn plain_response(f: &Forward, a: &Answer) -> bool {
    is(f, Method::POST, "/v1/responses") && a.status == 200 && !a.is_sse()
}

fn response_stream(f: &Forward, a: &Answer) -> bool {
    is(f, Method::POST, "/v1/responses") && a.is_sse()
}

/// A POST /v1/responses whose input has an item `matching`.
fn refused_input(f: &Forward, matching: impl Fn(&Value) -> bool) -> bool {
    is(f, Method::POST, "/v1/responses")
        && f.json().is_some_and(|v| {
            v["input"]
                .as_array()
                .is_some_and(|i| i.iter().any(&matching))
        })
}

/// Turns the answer into a 400 naming `param`.
fn refuse(a: &mut Answer, param: &str) {
    a.status = 400;
    a.set_json(&json!({"error": {"message": "unsupported input", "type": "invalid_request_error", "param": param, "code": null}}));
}

fn unstream(f: &mut Forward, path: &str) {
    if is(f, Method::POST, path) {
        if let Some(mut v) = f.json() {
            if v["stream"] == json!(true) {
                let o = v.as_object_mut().unwrap();
                o.remove("stream");
                o.remove("stream_options");
                f.set_json(&v);
            }
        }
    }
}

// Each entry: a server broken in exactly one way, and the checks that must catch it.
defects! {
// The broken server that breaks nothing: proves the harness has no false failures.
faithful_proxy_passes_everything, fails: [], before: untouched_request, after: untouched_answer;

// A nested error event in the stream, but the response then completes instead of failing.
stream_error_not_followed_by_failed, fails: ["open-responses.stream.rules"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) {
        map_events(a, |events| {
            let at = events.iter().position(|(_, d)| d.as_ref().is_some_and(|d| d["type"] == "response.completed")).unwrap();
            // Flat for OpenAI's document and nested for Open Responses': valid for both.
            let error = json!({"type": "error", "sequence_number": 0, "code": "overloaded", "message": "The model stalled.", "param": null,
                               "error": {"type": "server_error", "code": "overloaded", "message": "The model stalled.", "param": null}});
            events.insert(at, (Some("error".into()), Some(error)));
            renumber(events);
        })
    };

// Open Responses: each rule it adds to the Responses API, broken alone.
response_drops_nullable_keys, fails: ["open-responses.response.keys"],
    before: untouched_request,
    after: |f, a| if plain_response(f, a) {
        map_json(a, |v| { let o = v.as_object_mut().unwrap(); o.remove("safety_identifier"); o.remove("prompt_cache_key"); })
    };

function_call_without_status, fails: ["open-responses.response.function-call"],
    before: untouched_request,
    after: |f, a| if plain_response(f, a) {
        map_json(a, |v| for item in v["output"].as_array_mut().unwrap() {
            if item["type"] == "function_call" { item.as_object_mut().unwrap().remove("status"); }
        })
    };

usage_without_cached_tokens, fails: ["open-responses.response.usage", "openapi.responses-match", "responses.schema", "responses.usage"],
    before: untouched_request,
    after: |f, a| if plain_response(f, a) {
        map_json(a, |v| if let Some(d) = v["usage"]["input_tokens_details"].as_object_mut() { d.remove("cached_tokens"); })
    };

stream_without_event_lines, fails: ["open-responses.stream.rules"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) {
        map_events(a, |events| for (name, _) in events.iter_mut() { *name = None; })
    };

stream_item_done_before_its_part, fails: ["open-responses.stream.items"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) {
        map_events(a, |events| {
            let kind = |e: &(Option<String>, Option<Value>)| e.1.as_ref().map(|d| d["type"].as_str().unwrap_or("").to_owned());
            let part = events.iter().position(|e| kind(e).as_deref() == Some("response.content_part.done"));
            let item = events.iter().position(|e| kind(e).as_deref() == Some("response.output_item.done"));
            if let (Some(p), Some(i)) = (part, item) {
                let done = events.remove(i);
                events.insert(p, done);
                renumber(events);
            }
        })
    };

compaction_as_a_response_object, fails: ["open-responses.compact"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/responses/compact") && a.status == 200 {
        map_json(a, |v| v["object"] = json!("response"))
    };

compact_errors_are_500s, fails: ["open-responses.compact.errors"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/responses/compact") && a.status >= 400 {
        a.status = 500;
        a.set_json(&json!({"error": {"message": "internal error", "type": "server_error", "param": null, "code": null}}));
    };

form_bodies_refused, fails: ["open-responses.body.form"],
    before: |f| if f.headers.get("content-type").is_some_and(|v| v == "application/x-www-form-urlencoded") {
        f.headers.insert("content-type", HeaderValue::from_static("text/plain"));
    },
    after: untouched_answer;

empty_body_refused, fails: ["open-responses.body.optional"],
    before: |f| if is(f, Method::POST, "/v1/responses") && f.body.is_empty() {
        f.headers.insert("content-type", HeaderValue::from_static("text/plain"));
    },
    after: untouched_answer;

error_type_outside_the_vocabulary, fails: ["open-responses.errors.vocabulary"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/responses") && (a.status == 400 || a.status == 404) {
        map_json(a, |v| if v["error"]["code"] == "model_not_found" { v["error"]["type"] = json!("unknown_model_error"); })
    };

generated_request_ids_repeat, fails: ["headers.request-id.present"],
    before: untouched_request,
    after: |f, a| if !f.headers.contains_key("x-request-id") { a.set_header("x-request-id", "req_fixed") };

caller_request_id_not_echoed, fails: ["headers.request-id.echo"],
    before: |f| { f.headers.remove("x-request-id"); },
    after: untouched_answer;

request_id_missing_on_posts, fails: ["properties.headers.request-id", "openapi.responses-match"],
    before: untouched_request,
    after: |f, a| if f.method == Method::POST || f.method == Method::PUT { a.headers.remove("x-request-id"); };

trace_id_ignores_traceparent, fails: ["headers.trace-id.traceparent"],
    before: |f| { f.headers.remove("traceparent"); },
    after: untouched_answer;

trace_id_missing_on_errors, fails: ["headers.request-id.on-errors", "openapi.responses-match"],
    before: untouched_request,
    after: |_, a| if a.status >= 400 { a.headers.remove("x-trace-id"); };

no_nosniff_header, fails: ["headers.security"],
    before: untouched_request,
    after: |_, a| { a.headers.remove("x-content-type-options"); };

processing_ms_not_an_integer, fails: ["headers.processing-ms"],
    before: untouched_request,
    after: |_, a| a.set_header("openai-processing-ms", "1.5ms");

models_served_as_text_plain, fails: ["headers.content-type.json", "openapi.responses-match"],
    before: untouched_request,
    after: |f, a| if is(f, Method::GET, "/v1/models") && a.status == 200 { a.set_header("content-type", "text/plain") };

model_list_renames_owned_by, fails: ["models.list.schema", "openapi.responses-match"],
before: untouched_request,
after: |f, a| if is(f, Method::GET, "/v1/models") && a.status == 200 {
    map_json(a, |v| for m in v["data"].as_array_mut().unwrap() {
        let owner = m.as_object_mut().unwrap().remove("owned_by").unwrap();
        m["owner"] = owner;
    })
};

model_retrieve_returns_another_model, fails: ["models.retrieve"],
before: untouched_request,
after: |f, a| if f.method == Method::GET && f.path().starts_with("/v1/models/") && a.status == 200 {
    map_json(a, |v| v["id"] = json!("some-other-model"))
};

unknown_model_retrieve_is_200, fails: ["models.unknown.404"],
before: untouched_request,
after: |f, a| if f.path().starts_with("/v1/models/") && a.status == 404 {
    a.status = 200;
    a.set_json(&json!({"id": "conformance-no-such-model", "object": "model", "created": 0, "owned_by": "x"}));
};

missing_key_is_accepted, fails: ["errors.missing-key.401"],
    before: |f| if !f.headers.contains_key("authorization") && f.path().starts_with("/v1/models") {
        f.headers.insert("authorization", HeaderValue::from_static("Bearer sk-defect-tests"));
    },
    after: untouched_answer;

unknown_key_is_accepted, fails: ["errors.bad-key.401"],
    before: |f| if f.headers.get("authorization").is_some_and(|v| v != "Bearer sk-defect-tests") && !is_second_key(f) {
        f.headers.insert("authorization", HeaderValue::from_static("Bearer sk-defect-tests"));
    },
    after: untouched_answer;

auth_errors_sent_as_html, fails: ["errors.missing-key.401", "errors.bad-key.401", "openapi.responses-match"],
    before: untouched_request,
    after: |_, a| if a.status == 401 { a.set_header("content-type", "text/html") };

malformed_json_gives_500, fails: ["errors.deep-nesting.400", "errors.malformed-json.400", "properties.malformed.no-5xx", "open-responses.body.form", "open-responses.body.optional"],
before: untouched_request,
after: |f, a| if f.method == Method::POST && serde_json::from_slice::<Value>(&f.body).is_err() {
    a.status = 500;
    a.set_json(&json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}));
};

errors_are_not_the_envelope, fails: [
    "models.unknown.404", "embeddings.empty-input.400", "responses.delete", "errors.missing-key.401",
    "errors.bad-key.401", "errors.malformed-json.400", "errors.wrong-type.400", "errors.unknown-model.404", "errors.unknown-model.refused",
    "errors.unknown-route.404", "errors.oversized-body.413", "errors.unsupported-media-type.415",
    "properties.malformed.no-5xx",
        "errors.deep-nesting.400",
        "idempotency.mismatch.422",
        "ratelimit.burst", "openapi.responses-match", "open-responses.body.optional", "open-responses.errors.vocabulary", "open-responses.compact.errors",
        "indexes.lifecycle", "indexes.errors"],
before: untouched_request,
after: |_, a| if a.status >= 400 {
    let message = a.json().map(|v| v["error"]["message"].clone()).unwrap_or_default();
    a.set_json(&json!({"detail": message}));
};

unknown_route_is_plain_text, fails: ["errors.unknown-route.404"],
before: untouched_request,
after: |f, a| if f.path().starts_with("/v1/conformance") {
    a.set_header("content-type", "text/plain");
    a.body = b"404 page not found".to_vec();
};

wrongly_typed_messages_give_500, fails: ["errors.wrong-type.400"],
before: untouched_request,
after: |f, a| if f.json().is_some_and(|v| v["messages"].as_str().is_some_and(|s| s.len() > 5)) {
    a.status = 500;
    a.set_json(&json!({"error": {"message": "internal", "type": "server_error", "param": null, "code": null}}));
};

// Refused, but with 400 as gateways do: only the facade's exactness check fails.
unknown_model_completion_is_400, fails: ["errors.unknown-model.404"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/chat/completions") && a.status == 404 { a.status = 400 };

// A simulator that answers any model name.
unknown_model_completion_is_answered, fails: ["errors.unknown-model.404", "errors.unknown-model.refused"],
    before: |f| if is(f, Method::POST, "/v1/chat/completions") {
        if let Some(mut v) = f.json() {
            if v["model"] == "conformance-no-such-model" { v["model"] = json!("ref-chat-1"); f.set_json(&v); }
        }
    },
    after: untouched_answer;

oversized_body_is_accepted, fails: ["errors.oversized-body.413"],
    before: |f| if f.body.len() > 1024 * 1024 { f.body = json!({"model": "ref-embed-1", "input": "short"}).to_string().into_bytes() },
    after: untouched_answer;

non_json_content_type_is_accepted, fails: ["errors.unsupported-media-type.415"],
    before: |f| if f.headers.get("content-type").is_some_and(|v| v == "text/plain") {
        f.headers.insert("content-type", HeaderValue::from_static("application/json"));
    },
    after: untouched_answer;

embedding_object_renamed, fails: ["embeddings.schema", "embeddings.base64", "openapi.responses-match"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") && a.status == 200 {
    map_json(a, |v| for e in v["data"].as_array_mut().unwrap() { e["object"] = json!("vector") })
};

embeddings_ignore_dimensions, fails: ["embeddings.dimensions", "properties.embeddings.dimensions"],
    before: |f| if is(f, Method::POST, "/v1/embeddings") {
        if let Some(mut v) = f.json() { v.as_object_mut().unwrap().remove("dimensions"); f.set_json(&v) }
    },
    after: untouched_answer;

embeddings_not_unit_length, fails: ["embeddings.unit-length", "properties.embeddings.distinct"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") {
    each_vector(a, |_, e| for x in e.as_array_mut().unwrap() { *x = json!(x.as_f64().unwrap() * 2.0) })
};

embeddings_base64_big_endian, fails: ["embeddings.base64"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") && a.status == 200 {
    map_json(a, |v| for e in v["data"].as_array_mut().unwrap() {
        if let Some(s) = e["embedding"].as_str() {
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut bytes = b64.decode(s).unwrap();
            bytes.chunks_exact_mut(4).for_each(|c| c.reverse());
            e["embedding"] = json!(b64.encode(bytes));
        }
    })
};

embeddings_in_reverse_order, fails: ["embeddings.index-order"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") {
    map_json(a, |v| if let Some(d) = v["data"].as_array_mut() { d.reverse() })
};

embeddings_all_the_same, fails: ["embeddings.index-order", "embeddings.distinct", "properties.embeddings.distinct"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") {
    map_json(a, |v| if let Some(d) = v["data"].as_array_mut() {
        let first = d[0]["embedding"].clone();
        d.iter_mut().for_each(|e| e["embedding"] = first.clone());
    })
};

embeddings_random, fails: [
    "embeddings.base64", "embeddings.index-order", "embeddings.deterministic",
    "embeddings.deterministic.exact", "properties.embeddings.deterministic"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") {
    each_vector(a, |_, e| { let n = e.as_array().unwrap().len(); *e = json!(random_unit(n)) })
};

embeddings_tiny_jitter, fails: ["embeddings.deterministic.exact"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") {
    each_vector(a, |_, e| {
        let x = e[0].as_f64().unwrap();
        e[0] = json!(x + (uuid::Uuid::new_v4().as_u128() % 100) as f64 * 1e-7);
    })
};

embeddings_usage_sums_wrong, fails: ["embeddings.usage"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") {
    map_json(a, |v| if let Some(t) = v["usage"]["total_tokens"].as_u64() { v["usage"]["total_tokens"] = json!(t + 1) })
};

embeddings_refuse_token_arrays, fails: ["embeddings.token-input"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") && f.json().is_some_and(|v| v["input"][0].is_array()) {
    a.status = 400;
    a.set_json(&json!({"error": {"message": "tokens unsupported", "type": "invalid_request_error", "param": "input", "code": null}}));
};

empty_embedding_input_is_accepted, fails: ["embeddings.empty-input.400"],
    before: |f| if f.json().is_some_and(|v| v["input"] == "") {
        let mut v = f.json().unwrap(); v["input"] = json!("x"); f.set_json(&v);
    },
    after: untouched_answer;

chat_usage_sums_wrong, fails: ["chat.usage"],
    before: untouched_request,
    after: |f, a| if plain_chat(f, a) { map_json(a, |v| v["usage"]["total_tokens"] = json!(v["usage"]["total_tokens"].as_u64().unwrap() + 1)) };

chat_without_finish_reason, fails: ["chat.schema", "chat.finish-reason", "chat.max-tokens.length", "chat.tools", "openapi.responses-match"],
    before: untouched_request,
    after: |f, a| if plain_chat(f, a) { map_json(a, |v| for c in v["choices"].as_array_mut().unwrap() { c.as_object_mut().unwrap().remove("finish_reason"); }) };

chat_length_reported_as_stop, fails: ["chat.max-tokens.length"],
    before: untouched_request,
    after: |f, a| if plain_chat(f, a) { map_json(a, |v| for c in v["choices"].as_array_mut().unwrap() { if c["finish_reason"] == "length" { c["finish_reason"] = json!("stop") } }) };

chat_ignores_n, fails: ["chat.n"],
    before: |f| if is(f, Method::POST, "/v1/chat/completions") {
        if let Some(mut v) = f.json() { v.as_object_mut().unwrap().remove("n"); f.set_json(&v) }
    },
    after: untouched_answer;

chat_tool_arguments_not_json, fails: ["chat.tools"],
    before: untouched_request,
    after: |f, a| if plain_chat(f, a) { map_json(a, |v| if v["choices"][0]["message"]["tool_calls"].is_array() {
        v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = json!("{city: Paris");
    }) };

chat_rejects_tool_results, fails: ["chat.tool-result"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/chat/completions") && f.json().is_some_and(|v| v["messages"].as_array().is_some_and(|m| m.iter().any(|x| x["role"] == "tool"))) {
    a.status = 400;
    a.set_json(&json!({"error": {"message": "tool role unsupported", "type": "invalid_request_error", "param": "messages", "code": null}}));
};

// Prism on OpenAI's document: a canned call of a tool never offered ("string"). Its answer
// cannot be a tool result's precondition.
chat_calls_a_tool_never_offered, fails: ["chat.tools"], preconditions: ["chat.tool-result"],
before: untouched_request,
after: |f, a| if plain_chat(f, a) { map_json(a, |v| if v["choices"][0]["message"]["tool_calls"].is_array() {
    v["choices"][0]["message"]["tool_calls"][0]["function"]["name"] = json!("string");
}) };

// The follow-up to a tool result repeats the same call instead of answering.
chat_tool_result_repeats_the_call, fails: ["chat.tool-result"],
before: untouched_request,
after: |f, a| if plain_chat(f, a) && f.json().is_some_and(|v| v["messages"].as_array().is_some_and(|m| m.iter().any(|x| x["role"] == "tool"))) {
    let call = f.json().unwrap()["messages"][1].clone();
    map_json(a, |v| { v["choices"][0]["message"] = call; v["choices"][0]["finish_reason"] = json!("tool_calls"); })
};

// The follow-up to a tool result is text that ignores what the tool returned.
chat_tool_result_ignored, fails: ["chat.tool-result"],
before: untouched_request,
after: |f, a| if plain_chat(f, a) && f.json().is_some_and(|v| v["messages"].as_array().is_some_and(|m| m.iter().any(|x| x["role"] == "tool"))) {
    map_json(a, |v| v["choices"][0]["message"]["content"] = json!("How can I help you today?"))
};

chat_json_mode_answers_prose, fails: ["chat.json-mode"],
before: untouched_request,
after: |f, a| if plain_chat(f, a) && f.json().is_some_and(|v| v["response_format"]["type"] == "json_object") {
    map_json(a, |v| v["choices"][0]["message"]["content"] = json!("Sure! Here is your JSON: {\"greeting\": \"hi\"}"))
};

chat_json_schema_not_followed, fails: ["chat.json-schema"],
before: untouched_request,
after: |f, a| if plain_chat(f, a) && f.json().is_some_and(|v| v["response_format"]["type"] == "json_schema") {
    map_json(a, |v| v["choices"][0]["message"]["content"] = json!("{\"name\": \"Ada\"}"))
};

chat_stream_without_done, fails: ["chat.stream.framing", "chat.stream.tools"],
    before: untouched_request,
    after: |f, a| if chat_stream(f, a) { map_events(a, |e| { e.pop(); }) };

chat_stream_with_id_lines, fails: ["chat.stream.framing", "chat.stream.tools"],
before: untouched_request,
after: |f, a| if chat_stream(f, a) {
    let blocks: Vec<String> = a.blocks().iter().enumerate().map(|(i, b)| format!("id: {i}\n{b}")).collect();
    a.set_blocks(&blocks);
};

chat_stream_repeats_role, fails: ["chat.stream.chunks"],
    before: untouched_request,
    after: |f, a| if chat_stream(f, a) { map_events(a, |e| for (_, d) in e.iter_mut() {
        if let Some(d) = d { if d["choices"][0]["delta"]["content"].is_string() { d["choices"][0]["delta"]["role"] = json!("assistant") } }
    }) };

chat_stream_changes_id, fails: ["chat.stream.chunks"],
    before: untouched_request,
    after: |f, a| if chat_stream(f, a) { map_events(a, |e| for (i, (_, d)) in e.iter_mut().enumerate() {
        if let Some(d) = d { d["id"] = json!(format!("chatcmpl-{i}")) }
    }) };

chat_stream_drops_usage_chunk, fails: ["chat.stream.usage"],
    before: untouched_request,
    after: |f, a| if chat_stream(f, a) { map_events(a, |e| { e.retain(|(_, d)| d.as_ref().is_none_or(|d| d["choices"] != json!([]))); }) };

chat_stream_text_differs, fails: ["chat.stream.text-equals-plain"],
    before: untouched_request,
    after: |f, a| if chat_stream(f, a) { map_events(a, |e| {
        if let Some((_, Some(d))) = e.iter_mut().find(|(_, d)| d.as_ref().is_some_and(|d| d["choices"][0]["delta"]["content"].as_str().is_some_and(|c| !c.is_empty()))) {
            d["choices"][0]["delta"]["content"] = json!("Changed");
        }
    }) };

chat_stream_without_content, fails: ["chat.stream.ttft", "chat.stream.text-equals-plain"],
    before: untouched_request,
    after: |f, a| if chat_stream(f, a) { map_events(a, |e| for (_, d) in e.iter_mut() {
        if let Some(d) = d { if d["choices"][0]["delta"]["content"].is_string() { d["choices"][0]["delta"]["content"] = json!("") } }
    }) };

chat_stream_as_json_content_type, fails: ["chat.stream.content-type"],
    before: untouched_request,
    after: |f, a| if chat_stream(f, a) { a.set_header("content-type", "application/json") };

response_without_status, fails: ["responses.schema", "responses.output-text", "responses.max-output-tokens", "openapi.responses-match", "open-responses.response.keys", "open-responses.compact",
    "open-responses.input.system", "open-responses.input.multi-turn", "open-responses.input.phase", "open-responses.input.image"],
    before: untouched_request,
    after: |f, a| if plain_response(f, a) { map_json(a, |v| { v.as_object_mut().unwrap().remove("status"); }) };

response_usage_sums_wrong, fails: ["responses.usage"],
    before: untouched_request,
    after: |f, a| if plain_response(f, a) { map_json(a, |v| v["usage"]["total_tokens"] = json!(v["usage"]["total_tokens"].as_u64().unwrap() + 1)) };

response_ignores_max_output_tokens, fails: ["responses.max-output-tokens"],
    before: |f| if is(f, Method::POST, "/v1/responses") {
        if let Some(mut v) = f.json() { v.as_object_mut().unwrap().remove("max_output_tokens"); f.set_json(&v) }
    },
    after: untouched_answer;

response_function_call_without_call_id, fails: ["responses.tools", "open-responses.response.function-call"], preconditions: ["responses.tool-output"],
    before: untouched_request,
    after: |f, a| if plain_response(f, a) { map_json(a, |v| for item in v["output"].as_array_mut().unwrap() {
        if item["type"] == "function_call" { item.as_object_mut().unwrap().remove("call_id"); }
    }) };

response_rejects_tool_output, fails: ["responses.tool-output"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/responses") && f.json().is_some_and(|v| v["input"].as_array().is_some_and(|i| i.iter().any(|x| x["type"] == "function_call_output"))) {
    a.status = 400;
    a.set_json(&json!({"error": {"message": "unsupported", "type": "invalid_request_error", "param": "input", "code": null}}));
};

previous_response_id_rejected, fails: ["responses.previous-response-id"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/responses") && f.json().is_some_and(|v| v["previous_response_id"].is_string()) {
    a.status = 400;
    a.set_json(&json!({"error": {"message": "Previous response not found.", "type": "invalid_request_error", "param": "previous_response_id", "code": "previous_response_not_found"}}));
};

stored_response_not_retrievable, fails: ["responses.retrieve"],
// The isolation checks cannot judge what the first key cannot read back either.
preconditions: ["isolation.responses.retrieve", "isolation.responses.input-items", "isolation.responses.previous-response-id", "isolation.responses.delete"],
before: untouched_request,
after: |f, a| if f.method == Method::GET && f.path().starts_with("/v1/responses/") && !f.path().ends_with("input_items") {
    a.status = 404;
    a.set_json(&json!({"error": {"message": "No response found.", "type": "invalid_request_error", "param": null, "code": null}}));
};

delete_does_not_delete, fails: ["responses.delete"],
before: |f| if f.method == Method::DELETE && f.path().starts_with("/v1/responses/") {
    // Look the response up instead of deleting it, and remember to answer as a delete.
    f.method = Method::GET;
    f.headers.insert("x-defect-was-delete", HeaderValue::from_static("1"));
},
after: |f, a| if f.headers.contains_key("x-defect-was-delete") && a.status == 200 {
    let id = a.json().unwrap()["id"].clone();
    a.set_json(&json!({"id": id, "object": "response", "deleted": true}));
};

// The API root redirects within its origin: followed (the key may go there), and reported.
api_root_redirects, fails: ["headers.no-redirect"],
before: untouched_request,
after: |f, a| if f.method == Method::GET && f.path_and_query == "/v1/models" {
    a.status = 307;
    a.set_header("location", "/v1/models?via=redirect");
    a.body = Vec::new();
};

// Isolation: a server that lets the second key (another project) act as the first on one
// kind of request.
foreign_response_readable, fails: ["isolation.responses.retrieve"],
before: |f| if f.method == Method::GET && f.path().starts_with("/v1/responses/") && !f.path().ends_with("/input_items") {
    as_first_key(f)
},
after: untouched_answer;

foreign_input_items_readable, fails: ["isolation.responses.input-items"],
before: |f| if f.method == Method::GET && f.path().ends_with("/input_items") {
    as_first_key(f)
},
after: untouched_answer;

foreign_response_continued, fails: ["isolation.responses.previous-response-id"],
before: |f| if is(f, Method::POST, "/v1/responses") && f.json().is_some_and(|b| b["previous_response_id"].is_string()) {
    as_first_key(f)
},
after: untouched_answer;

foreign_response_deleted, fails: ["isolation.responses.delete"],
before: |f| if f.method == Method::DELETE && f.path().starts_with("/v1/responses/") {
    as_first_key(f)
},
after: untouched_answer;

// Deletes it, and answers as if it had not found it.
foreign_response_deleted_behind_a_404, fails: ["isolation.responses.delete"],
before: |f| if f.method == Method::DELETE && f.path().starts_with("/v1/responses/") && is_second_key(f) {
    as_first_key(f);
    f.headers.insert("x-defect-foreign-delete", HeaderValue::from_static("1"));
},
after: |f, a| if f.headers.contains_key("x-defect-foreign-delete") {
    a.status = 404;
    a.set_json(&json!({"error": {"message": "No response found.", "type": "invalid_request_error", "param": null, "code": "not_found"}}));
};

indexes_shared_across_keys, fails: ["isolation.indexes.list", "isolation.indexes.access"],
before: |f| if f.path().starts_with("/v1/indexes") {
    as_first_key(f)
},
after: untouched_answer;

foreign_index_searchable, fails: ["isolation.indexes.access"],
before: |f| if f.method == Method::POST && f.path().ends_with("/search") {
    as_first_key(f)
},
after: untouched_answer;

// Dreams (`/v1/dreams`), each broken in one way.
// A dream that changes from call to call: the stream (another call) is not the same dream.
dream_varies_between_calls, fails: ["dreams.deterministic", "dreams.stream"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/dreams") && a.status == 200 && !a.is_sse() {
        map_json(a, |v| v["traces"][0]["content"] = json!(format!("{} ({})", v["traces"][0]["content"].as_str().unwrap(), uuid::Uuid::new_v4())))
    };

dream_critique_blind, fails: ["dreams.shape"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/dreams") && a.status == 200 && !a.is_sse() {
        map_json(a, |v| v["critique"]["unmet"] = json!([]))
    };

dream_seed_not_echoed, fails: ["dreams.shape"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/dreams") && a.status == 200 && !a.is_sse() {
        map_json(a, |v| v["seed"] = json!("dream"))
    };

dream_stream_events_unnamed, fails: ["dreams.stream"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/dreams") && a.is_sse() {
        map_events(a, |events| events.iter_mut().for_each(|(name, _)| *name = None))
    };

dream_stream_without_completed, fails: ["dreams.stream"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/dreams") && a.is_sse() {
        map_events(a, |events| {
            let last = events.iter().rposition(|(_, d)| d.as_ref().is_some_and(|d| d["type"] == "dream.completed")).unwrap();
            events.remove(last);
        })
    };

// Memory indexes (`/v1/indexes`), each broken in one way.
index_search_not_nearest_first, fails: ["indexes.lifecycle"],
    before: untouched_request,
    after: |f, a| if f.path().ends_with("/search") && a.status == 200 {
        map_json(a, |v| v["data"].as_array_mut().unwrap().reverse())
    };

// Ignoring filters, it also answers a bad filter with results.
index_search_ignores_filters, fails: ["indexes.errors", "indexes.lifecycle"],
    before: |f| if f.path().ends_with("/search") {
        let mut body = f.json().unwrap();
        body.as_object_mut().unwrap().remove("filters");
        f.set_json(&body);
    },
    after: untouched_answer;

// It also answers the second key for the first key's index.
index_deleted_but_still_served, fails: ["indexes.lifecycle", "isolation.indexes.access"],
    before: untouched_request,
    after: |f, a| if f.method == Method::GET && f.path().starts_with("/v1/indexes/idx_") && !f.path().contains("/items/") && !f.path().contains("missing") && a.status == 404 {
        a.status = 200;
        let id = f.path().rsplit('/').next().unwrap().to_owned();
        a.set_json(&json!({"id": id, "object": "index", "name": "ghost", "model": "ref-embed-1", "dimensions": 4, "metric": "cosine", "metadata": {}, "item_count": 0, "created_at": 1700000000}));
    };

index_list_never_has_more, fails: ["indexes.lifecycle"],
    before: untouched_request,
    after: |f, a| if f.method == Method::GET && f.path() == "/v1/indexes" {
        map_json(a, |v| v["has_more"] = json!(false))
    };

index_item_count_stale, fails: ["indexes.lifecycle"],
    before: untouched_request,
    after: |f, a| if f.method == Method::GET && f.path().starts_with("/v1/indexes/idx_") && !f.path().contains("/items/") && a.status == 200 {
        map_json(a, |v| v["item_count"] = json!(0))
    };

index_wrong_dimensions_accepted, fails: ["indexes.errors"],
    before: untouched_request,
    after: |_, a| if a.json().is_some_and(|v| v["error"]["code"] == "dimension_mismatch") {
        a.status = 200;
        a.set_json(&json!({"object": "list", "data": []}));
    };

index_bad_filter_unnamed, fails: ["indexes.errors"],
    before: untouched_request,
    after: |f, a| if f.path().ends_with("/search") && a.status == 400 {
        map_json(a, |v| v["error"]["param"] = json!("filters"))
    };

index_duplicate_name_accepted, fails: ["indexes.errors"],
    before: untouched_request,
    after: |f, a| if f.path() == "/v1/indexes" && a.status == 409 {
        a.status = 200;
        a.set_json(&json!({"id": "idx_dup", "object": "index", "name": "dup", "model": "ref-embed-1", "dimensions": 4, "metric": "cosine", "metadata": {}, "item_count": 0, "created_at": 1700000000}));
    };

// A model that never calls a tool on its own (tool_choice auto is read as none).
tools_never_called_unforced, fails: ["open-responses.tools.auto"],
    before: |f| if is(f, Method::POST, "/v1/responses") {
        if let Some(mut v) = f.json() {
            if v["tools"].is_array() && v["tool_choice"].is_null() { v["tool_choice"] = json!("none"); f.set_json(&v) }
        }
    },
    after: untouched_answer;

// Each input form of upstream's compliance suite refused alone.
input_system_message_refused, fails: ["open-responses.input.system"],
    before: untouched_request,
    after: |f, a| if refused_input(f, |i| i["role"] == "system") { refuse(a, "input") };

input_history_refused, fails: ["open-responses.input.multi-turn"],
    before: untouched_request,
    after: |f, a| if refused_input(f, |i| i["role"] == "assistant" && i["phase"].is_null() && i["content"].is_string()) { refuse(a, "input") };

input_phase_refused, fails: ["open-responses.input.phase"],
    before: untouched_request,
    after: |f, a| if refused_input(f, |i| !i["phase"].is_null()) { refuse(a, "input[0].phase") };

input_image_refused, fails: ["open-responses.input.image"],
    before: untouched_request,
    after: |f, a| if refused_input(f, |i| i["content"].as_array().is_some_and(|c| c.iter().any(|p| p["type"] == "input_image"))) {
        refuse(a, "input[0].content[1]")
    };

// Prism on OpenAI's document: the example item ("string"), not the input that was sent.
input_items_are_an_example, fails: ["responses.input-items"],
    before: untouched_request,
    after: |f, a| if f.path().ends_with("/input_items") && a.status == 200 { map_json(a, |v| for item in v["data"].as_array_mut().unwrap() {
        item["content"] = json!([{"type": "input_text", "text": "string"}]);
    }) };

input_items_without_has_more, fails: ["responses.input-items", "openapi.responses-match"],
    before: untouched_request,
    after: |f, a| if f.path().ends_with("/input_items") { map_json(a, |v| { v.as_object_mut().unwrap().remove("has_more"); }) };

response_stream_starts_in_progress, fails: ["responses.stream.order", "responses.stream.function-call"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { map_events(a, |e| { e.swap(0, 1); renumber(e); }) };

response_stream_sequence_gap, fails: ["responses.stream.sequence"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { map_events(a, |e| for (i, (_, d)) in e.iter_mut().enumerate() {
        if let Some(d) = d { if i >= 4 { d["sequence_number"] = json!(i + 1) } }
    }) };

response_stream_delta_differs, fails: ["responses.stream.text-consistency", "responses.stream.text-equals-plain"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { map_events(a, |e| {
        if let Some((_, Some(d))) = e.iter_mut().find(|(_, d)| d.as_ref().is_some_and(|d| d["type"] == "response.output_text.delta")) {
            d["delta"] = json!("Changed");
        }
    }) };

response_stream_without_deltas, fails: ["responses.stream.text-consistency", "responses.stream.ttft", "responses.stream.text-equals-plain"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { map_events(a, |e| {
        e.retain(|(_, d)| d.as_ref().is_none_or(|d| d["type"] != "response.output_text.delta"));
        renumber(e);
    }) };

response_stream_without_terminal_event, fails: ["responses.stream.order", "responses.stream.text-consistency", "responses.stream.function-call"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { map_events(a, |e| {
        e.retain(|(_, d)| d.as_ref().is_none_or(|d| d["type"] != "response.completed"));
    }) };

response_stream_without_done, fails: ["responses.stream.done", "open-responses.stream.rules"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { map_events(a, |e| { e.pop(); }) };

response_stream_event_name_mismatch, fails: ["responses.stream.framing", "open-responses.stream.rules"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { map_events(a, |e| for (name, _) in e.iter_mut() { if name.is_some() { *name = Some("message".into()) } }) };

response_stream_delta_without_logprobs, fails: ["responses.stream.events-schema", "openapi.responses-match"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { map_events(a, |e| for (_, d) in e.iter_mut() {
        if let Some(d) = d { if d["type"] == "response.output_text.delta" { d.as_object_mut().unwrap().remove("logprobs"); } }
    }) };

response_stream_arguments_do_not_join, fails: ["responses.stream.function-call"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { map_events(a, |e| for (_, d) in e.iter_mut() {
        if let Some(d) = d { if d["type"] == "response.function_call_arguments.delta" { d["delta"] = json!("x") } }
    }) };

response_stream_as_json_content_type, fails: ["responses.stream.content-type", "open-responses.stream.rules"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) { a.set_header("content-type", "application/json") };

// `stream: true` answered with one application/json object: no check may pass on its zero events.
response_stream_is_one_json_object,
    fails: ["responses.stream.content-type", "responses.stream.framing", "responses.stream.function-call", "responses.stream.done", "open-responses.stream.rules"],
    preconditions: ["responses.stream.events-schema", "responses.stream.sequence", "responses.stream.order", "responses.stream.text-consistency", "responses.stream.ttft", "responses.stream.text-equals-plain", "open-responses.stream.items"],
    before: |f| unstream(f, "/v1/responses"),
    after: untouched_answer;

chat_stream_is_one_json_object,
    fails: ["chat.stream.content-type", "chat.stream.framing", "chat.stream.tools"],
    preconditions: ["chat.stream.chunks", "chat.stream.usage", "chat.stream.ttft", "chat.stream.text-equals-plain"],
    before: |f| unstream(f, "/v1/chat/completions"),
    after: untouched_answer;

// One vector for a batch: the batch checks fail, the checks about something else say why
// they could not run instead of blaming their own subject.
embeddings_batch_answers_one_vector,
fails: ["embeddings.index-order", "embeddings.token-input"],
preconditions: ["embeddings.unit-length", "embeddings.distinct", "embeddings.deterministic.exact", "properties.embeddings.deterministic", "properties.embeddings.distinct"],
before: untouched_request,
after: |f, a| if is(f, Method::POST, "/v1/embeddings") && f.json().is_some_and(|v| v["input"].as_array().is_some_and(|i| i.len() > 1)) {
    map_json(a, |v| v["data"].as_array_mut().unwrap().truncate(1))
};

// Errors as application/problem+json with the envelope inside: the SDKs parse them, so only
// the target's own document (which says application/json) disagrees.
errors_as_problem_json, fails: ["openapi.responses-match"],
    before: untouched_request,
    after: |_, a| if a.status >= 400 { a.set_header("content-type", "application/problem+json") };

// A readiness that is a constant: it could never say no.
readiness_is_a_constant, fails: ["health.ready"],
    before: untouched_request,
    after: |f, a| if f.path() == "/readyz" { a.set_json(&json!({"status": "ready", "checked_at": "2026-01-01T00:00:00Z", "checks": {"models": {"status": "ok"}}})) };

readiness_without_checks, fails: ["health.ready"],
    before: untouched_request,
    after: |f, a| if f.path() == "/readyz" { a.set_json(&json!({"status": "ok"})) };

liveness_needs_a_key, fails: ["health.live"],
before: untouched_request,
after: |f, a| if f.path() == "/health" && !f.headers.contains_key("authorization") {
    a.status = 401;
    a.set_json(&json!({"error": {"message": "no key", "type": "invalid_request_error", "param": null, "code": null}}));
};

metrics_served_as_html, fails: ["metrics.counts-requests", "metrics.exposition"],
    before: untouched_request,
    after: |f, a| if f.path() == "/metrics" { a.set_header("content-type", "text/html"); a.body = b"<html>metrics</html>".to_vec(); };

openapi_without_service_version, fails: ["openapi.document"],
    before: untouched_request,
    after: |f, a| if f.path() == "/openapi.json" { map_json(a, |v| { v["info"].as_object_mut().unwrap().remove("x-service-version"); }) };

rate_limit_headers_missing, fails: ["ratelimit.headers"],
    before: untouched_request,
    after: |_, a| { a.headers.remove("x-ratelimit-remaining"); };

rate_limit_remaining_never_moves, fails: ["ratelimit.headers"],
before: untouched_request,
after: |_, a| if a.headers.contains_key("x-ratelimit-remaining") {
    a.set_header("x-ratelimit-remaining", "100");
    a.set_header("x-ratelimit-remaining-requests", "100");
};

rate_limit_reset_not_a_go_duration, fails: ["ratelimit.headers"],
    before: untouched_request,
    after: |_, a| if a.headers.contains_key("x-ratelimit-reset-requests") { a.set_header("x-ratelimit-reset-requests", "soon") };

rate_limit_never_enforced, fails: ["ratelimit.burst"],
before: untouched_request,
after: |_, a| if a.status == 429 {
    a.status = 200;
    a.set_json(&json!({"object": "list", "data": []}));
};

rate_limited_without_retry_after, fails: ["ratelimit.burst"],
    before: untouched_request,
    after: |_, a| if a.status == 429 { a.headers.remove("retry-after"); };

idempotency_key_ignored, fails: ["idempotency.replay", "idempotency.mismatch.422", "idempotency.concurrent.409"],
    before: |f| { f.headers.remove("idempotency-key"); },
    after: untouched_answer;

replay_not_marked, fails: ["idempotency.concurrent.409", "idempotency.replay"],
    before: untouched_request,
    after: |_, a| { a.headers.remove("idempotent-replayed"); };

reused_key_with_new_body_accepted, fails: ["idempotency.mismatch.422"],
before: untouched_request,
after: |_, a| if a.status == 422 {
    a.status = 200;
    a.set_json(&json!({"id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "ref-chat-1", "choices": []}));
};

metrics_counters_frozen, fails: ["metrics.counts-requests"],
before: untouched_request,
after: |f, a| if f.path() == "/metrics" {
    let text = String::from_utf8_lossy(&a.body).lines().map(|l| {
        if l.starts_with("http_requests_total{") { format!("{} 1", l.rsplit_once(' ').unwrap().0) } else { l.to_owned() }
    }).collect::<Vec<_>>().join("\n");
    a.body = text.into_bytes();
};

deep_nesting_crashes, fails: ["errors.deep-nesting.400"],
before: untouched_request,
after: |f, a| if f.body.starts_with(b"{") && f.body.windows(1000).any(|w| w.iter().all(|b| *b == b'[')) {
    a.status = 500;
    a.set_json(&json!({"error": {"message": "stack overflow", "type": "server_error", "param": null, "code": null}}));
};

openapi_document_with_a_dangling_ref, fails: ["openapi.valid"],
before: untouched_request,
after: |f, a| if f.path() == "/openapi.json" {
    map_json(a, |v| v["paths"]["/v1/models"]["get"]["responses"]["200"] = json!({"$ref": "#/components/responses/Missing"}))
};

// The answers are right by every other check, but not what the target's own document says.
openapi_document_stricter_than_the_answers, fails: ["openapi.responses-match"],
before: untouched_request,
after: |f, a| if f.path() == "/openapi.json" {
    map_json(a, |v| v["components"]["schemas"]["Model"]["required"].as_array_mut().unwrap().push(json!("permission")))
};

openapi_document_wrong_about_stream_events, fails: ["openapi.responses-match"],
before: untouched_request,
after: |f, a| if f.path() == "/openapi.json" {
    map_json(a, |v| v["components"]["schemas"]["ChatCompletionChunk"]["required"].as_array_mut().unwrap().push(json!("conformance_marker")))
};
}

/// Every check id must appear in some defect's `fails` list above.
#[test]
fn every_check_is_proven_by_a_defect() {
    let all: Vec<&(&str, &[&str])> = DEFECTS
        .iter()
        .chain(SOCKET_DEFECTS)
        .chain(SNAPSHOT_DEFECTS)
        .collect();
    let covered: BTreeSet<&str> = all
        .iter()
        .flat_map(|(_, fails)| fails.iter().copied())
        .collect();
    let names: BTreeSet<&str> = all.iter().map(|(name, _)| *name).collect();
    assert_eq!(names.len(), all.len(), "two defects share a name");
    for table in [DEFECTS, SOCKET_DEFECTS, SNAPSHOT_DEFECTS] {
        assert!(
            table.iter().filter(|(_, fails)| fails.is_empty()).count() == 1,
            "exactly one faithful server per kind of proxy, which fails nothing"
        );
    }
    let missing: Vec<&str> = harness::catalogue()
        .iter()
        .map(|c| c.id)
        .filter(|id| !covered.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "checks without a defect test: {missing:?}"
    );
    let unknown: Vec<&&str> = covered
        .iter()
        .filter(|id| !harness::catalogue().iter().any(|c| c.id == **id))
        .collect();
    assert!(
        unknown.is_empty(),
        "defect tests name unknown checks: {unknown:?}"
    );
}

/// A client message's previous_response_id, when it has one.
fn previous_id(v: &Value) -> Option<&str> {
    v["previous_response_id"].as_str()
}

/// Relays a server message unless it is the error with `code`, which `broken` replaces.
fn on_error(v: Value, code: &str, broken: impl FnOnce(Value) -> Vec<Out>) -> Vec<Out> {
    if v["type"] == "error" && v["error"]["code"] == code {
        broken(v)
    } else {
        vec![Out::Send(v)]
    }
}

// Each entry: a server whose WebSocket mode is broken in exactly one way.
socket_defects! {
// The relay that breaks nothing: proves the socket checks have no false failures.
faithful_socket_relay_passes_everything, fails: [],
    refuse_upgrade: false, upstream: relay_upstream, downstream: relay_downstream;

// No WebSocket mode at all: one failure, and the mode's other rules cannot be judged.
socket_upgrade_refused, fails: ["open-responses.websocket.sequence"],
    preconditions: ["open-responses.websocket.one-in-flight", "open-responses.websocket.continuation", "open-responses.websocket.store-false", "open-responses.websocket.not-found",
                    "open-responses.websocket.failed-continuation", "open-responses.websocket.reconnect", "open-responses.websocket.compact"],
    refuse_upgrade: true, upstream: relay_upstream, downstream: relay_downstream;

socket_events_without_sequence_numbers, fails: ["open-responses.websocket.sequence"],
    refuse_upgrade: false, upstream: relay_upstream,
    downstream: |mut v| {
        if let Some(o) = v.as_object_mut() { o.remove("sequence_number"); }
        vec![Out::Send(v)]
    };

// The refusal of a second response kills the first one.
socket_refusal_ends_the_first_response, fails: ["open-responses.websocket.one-in-flight"],
    refuse_upgrade: false, upstream: relay_upstream,
    downstream: |v| on_error(v, "response_in_progress", |v| vec![Out::Send(v), Out::Close]);

// The refusal sent as an SSE-style error event: no status, the error not nested.
socket_refusal_not_an_error_message, fails: ["open-responses.websocket.one-in-flight"],
    refuse_upgrade: false, upstream: relay_upstream,
    downstream: |v| on_error(v, "response_in_progress", |v| vec![Out::Send(json!({"type": "error", "code": v["error"]["code"], "message": v["error"]["message"]}))]);

// Continued responses do not say what they continue.
socket_continuation_without_previous_id, fails: ["open-responses.websocket.continuation", "open-responses.websocket.store-false"],
    refuse_upgrade: false, upstream: relay_upstream,
    downstream: |mut v| {
        if v["response"].is_object() { v["response"]["previous_response_id"] = Value::Null; }
        vec![Out::Send(v)]
    };

// store:false responses are not kept in the connection: their continuations are not found.
socket_store_false_not_kept, fails: ["open-responses.websocket.store-false"],
    refuse_upgrade: false,
    upstream: |v| if v["store"] == json!(false) && previous_id(v).is_some() {
        v["previous_response_id"] = json!("resp_forgotten_by_the_server");
    },
    downstream: relay_downstream;

// An unknown previous_response_id is ignored and a fresh response answered.
socket_unknown_previous_id_answered, fails: ["open-responses.websocket.not-found"],
    refuse_upgrade: false,
    upstream: |v| if previous_id(v).is_some_and(|id| id.starts_with("resp_conformance_unknown")) {
        v.as_object_mut().unwrap().remove("previous_response_id");
    },
    downstream: relay_downstream;

// A continuation that fails leaves what it continued in place (upstream's
// websocket-failed-continuation-evicts-cache): the orphan output is sent without the chain,
// so it fails without touching the kept response.
socket_failed_continuation_keeps_the_chain, fails: ["open-responses.websocket.failed-continuation"],
    refuse_upgrade: false,
    upstream: |v| if v["input"][0]["call_id"] == "call_conformance_missing" {
        v.as_object_mut().unwrap().remove("previous_response_id");
    },
    downstream: relay_downstream;

// A tool output answering no call is accepted as if it answered one.
socket_orphan_tool_output_accepted, fails: ["open-responses.websocket.failed-continuation"],
    refuse_upgrade: false,
    upstream: |v| if v["input"][0]["call_id"] == "call_conformance_missing" {
        v["input"] = json!("No matching tool call exists in the previous response.");
    },
    downstream: relay_downstream;

// store:false responses are kept server-wide, beyond their socket (and beyond a failure).
socket_store_false_outlives_the_socket, fails: ["open-responses.websocket.reconnect", "open-responses.websocket.failed-continuation"],
    refuse_upgrade: false,
    upstream: |v| if v["store"] == json!(false) { v["store"] = json!(true); },
    downstream: relay_downstream;

// A compacted window is refused on a socket (its compaction items unread).
socket_compaction_refused, fails: ["open-responses.websocket.compact"],
    refuse_upgrade: false,
    upstream: |v| if let Some(items) = v["input"].as_array_mut() {
        for item in items.iter_mut().filter(|i| i["type"] == "compaction") {
            item["encrypted_content"] = json!("not what the server sealed");
        }
    },
    downstream: relay_downstream;

socket_not_found_under_another_code, fails: ["open-responses.websocket.not-found", "open-responses.websocket.failed-continuation", "open-responses.websocket.reconnect"],
    refuse_upgrade: false, upstream: relay_upstream,
    downstream: |v| on_error(v, "previous_response_not_found", |mut v| {
        v["error"]["code"] = json!("not_found");
        vec![Out::Send(v)]
    });
}

// Each entry: a server whose shapes drift in exactly one way from the recorded ones.
snapshot_defects! {
// The same server again: ids, timestamps, texts and vectors differ, the shapes do not.
faithful_shapes_match_their_recording, fails: [], before: untouched_request, after: untouched_answer;

snapshot_list_drops_a_field, fails: ["snapshots.models"],
    before: untouched_request,
    after: |f, a| if is(f, Method::GET, "/v1/models") && a.status == 200 {
        map_json(a, |v| for m in v["data"].as_array_mut().unwrap() { m.as_object_mut().unwrap().remove("owned_by"); })
    };

snapshot_completion_adds_a_field, fails: ["snapshots.chat"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/chat/completions") && a.status == 200 && !a.is_sse() {
        map_json(a, |v| v["x_vendor_trace"] = json!({"region": "eu-west-1"}))
    };

snapshot_usage_counts_become_strings, fails: ["snapshots.embeddings", "snapshots.exchanges"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/embeddings") && a.status == 200 {
        map_json(a, |v| v["usage"]["prompt_tokens"] = json!(v["usage"]["prompt_tokens"].to_string()))
    };

snapshot_stream_gains_an_event_type, fails: ["snapshots.responses"],
    before: untouched_request,
    after: |f, a| if response_stream(f, a) {
        map_events(a, |events| {
            events.insert(1, (Some("acme:trace".into()), Some(json!({"type": "acme:trace", "sequence_number": 0, "span": "s-1"}))));
            renumber(events);
        })
    };

// Only an exchange of another check (embeddings.dimensions) drifts: no sampled one does.
snapshot_a_checks_own_exchange_gains_a_field, fails: ["snapshots.exchanges"],
    before: untouched_request,
    after: |f, a| if is(f, Method::POST, "/v1/embeddings") && f.json().is_some_and(|b| b.get("dimensions").is_some()) {
        map_json(a, |v| v["x_truncated_from"] = json!(1536))
    };

snapshot_error_drops_param, fails: ["snapshots.errors"],
    before: untouched_request,
    after: |_, a| if a.status == 401 {
        map_json(a, |v| { v["error"].as_object_mut().unwrap().remove("param"); })
    };
}
