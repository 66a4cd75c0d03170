//! The server honours its document for any request the document allows: bodies generated
//! from each operation's request schema (strings seeded from the operation's examples, so
//! real models are hit as well as unknown ones) never get a 5xx, and every answer has a
//! documented status and content type and a body valid against the documented schema (each
//! event, for streams).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use common::openapi::{
    doc, errors, event_object, operations, resolve, sse_events, stream, validator,
};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use tower::ServiceExt;

/// Most nesting the generator follows before it leaves optional parts out.
const DEPTH: usize = 5;

struct Gen<'a> {
    doc: &'a Value,
    /// String values of the operation's examples, by property name.
    seeds: HashMap<String, Vec<Value>>,
}

impl Gen<'_> {
    fn schema(&self, schema: &Value, name: &str, depth: usize) -> BoxedStrategy<Value> {
        let schema = resolve(self.doc, schema);
        if let Some(c) = schema.get("const") {
            return Just(c.clone()).boxed();
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            return proptest::sample::select(values.clone()).boxed();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = schema.get(key).and_then(Value::as_array) {
                // Keywords beside the union apply to every branch: merge them in.
                let mut rest = schema.clone();
                if let Some(m) = rest.as_object_mut() {
                    m.remove(key);
                }
                // Past the depth, only the first branch: a recursive schema (filters of
                // filters) is built eagerly, and must end.
                let keep = if depth > DEPTH { 1 } else { branches.len() };
                let options: Vec<_> = branches
                    .iter()
                    .take(keep)
                    .map(|b| self.schema(&merge(&rest, resolve(self.doc, b)), name, depth + 1))
                    .collect();
                return Union::new(options).boxed();
            }
        }
        match schema.get("type") {
            Some(Value::Array(types)) => {
                let options: Vec<_> = types
                    .iter()
                    .map(|t| {
                        let mut one = schema.clone();
                        one["type"] = t.clone();
                        self.typed(&one, name, depth)
                    })
                    .collect();
                Union::new(options).boxed()
            }
            _ => self.typed(schema, name, depth),
        }
    }

    fn typed(&self, schema: &Value, name: &str, depth: usize) -> BoxedStrategy<Value> {
        let int = |key: &str| schema.get(key).and_then(Value::as_i64);
        match schema["type"].as_str() {
            Some("null") => Just(Value::Null).boxed(),
            Some("boolean") => any::<bool>().prop_map(Value::from).boxed(),
            Some("integer") => {
                let (lo, hi) = (int("minimum").unwrap_or(-5), int("maximum").unwrap_or(5000));
                (lo..=hi).prop_map(Value::from).boxed()
            }
            Some("number") => {
                let lo = schema["minimum"].as_f64().unwrap_or(-10.0);
                let hi = schema["maximum"].as_f64().unwrap_or(10.0);
                (lo..=hi).prop_map(Value::from).boxed()
            }
            Some("string") => self.string(schema, name),
            Some("array") => {
                let min = int("minItems").unwrap_or(0) as usize;
                let max = int("maxItems").map_or(min + 3, |m| m as usize).min(min + 3);
                let max = if depth >= DEPTH { min } else { max };
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                proptest::collection::vec(self.schema(&items, name, depth + 1), min..=max)
                    .prop_map(Value::Array)
                    .boxed()
            }
            Some("object") => self.object(schema, depth),
            // No type: any small value.
            _ => prop_oneof![
                Just(json!({})),
                Just(json!("x")),
                Just(json!(1)),
                Just(Value::Null)
            ]
            .boxed(),
        }
    }

    fn string(&self, schema: &Value, name: &str) -> BoxedStrategy<Value> {
        let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
        let max = schema["maxLength"]
            .as_u64()
            .map_or(24, |m| m as usize)
            .min(24)
            .max(min);
        let free = match schema["pattern"].as_str() {
            Some(p) => {
                proptest::string::string_regex(p.trim_start_matches('^').trim_end_matches('$'))
                    .unwrap()
                    .prop_filter("length", move |s| (min..=max).contains(&s.chars().count()))
                    .boxed()
            }
            None => proptest::string::string_regex(&format!("[a-zA-Z0-9 ?+*.]{{{min},{max}}}"))
                .unwrap()
                .boxed(),
        }
        .prop_map(Value::String)
        .boxed();
        match self.seeds.get(name) {
            Some(seeds) => {
                prop_oneof![3 => proptest::sample::select(seeds.clone()), 1 => free].boxed()
            }
            None => free,
        }
    }

    fn object(&self, schema: &Value, depth: usize) -> BoxedStrategy<Value> {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| depth < DEPTH || required.contains(&k.as_str()))
            .map(|(k, s)| {
                let key = k.clone();
                let value = self
                    .schema(s, k, depth + 1)
                    .prop_map(move |v| (key.clone(), v));
                if required.contains(&k.as_str()) {
                    value.prop_map(Some).boxed()
                } else {
                    // Each optional field is sent in about a quarter of the cases.
                    prop_oneof![3 => Just(None), 1 => value.prop_map(Some)].boxed()
                }
            })
            .collect();
        let objects = fields
            .prop_map(|pairs| Value::Object(pairs.into_iter().flatten().collect::<Map<_, _>>()));
        // Rules between fields (`dependentSchemas`) are kept by dropping the objects that break
        // them: they are rare (an optional field with one of its values).
        match schema.get("dependentSchemas") {
            Some(rules) => {
                let rules = jsonschema::draft202012::new(&serde_json::json!({
                    "dependentSchemas": rules
                }))
                .expect("dependentSchemas compile");
                objects
                    .prop_filter("breaks a dependentSchemas rule", move |v| rules.is_valid(v))
                    .boxed()
            }
            None => objects.boxed(),
        }
    }
}

/// `base` and `branch` as one schema: `required` joined, `properties` merged, the branch's
/// other keywords winning.
fn merge(base: &Value, branch: &Value) -> Value {
    let mut out = base.clone();
    let (Some(o), Some(b)) = (out.as_object_mut(), branch.as_object()) else {
        return branch.clone();
    };
    for (k, v) in b {
        match (k.as_str(), o.get_mut(k)) {
            ("required", Some(Value::Array(mine))) => {
                for r in v.as_array().into_iter().flatten() {
                    if !mine.contains(r) {
                        mine.push(r.clone());
                    }
                }
            }
            ("properties", Some(Value::Object(mine))) => {
                for (name, schema) in v.as_object().into_iter().flatten() {
                    mine.insert(name.clone(), schema.clone());
                }
            }
            _ => {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// Every string in the examples, by the property it is the value of.
fn seeds(examples: &Value, out: &mut HashMap<String, Vec<Value>>, key: &str) {
    match examples {
        Value::Object(m) => m.iter().for_each(|(k, v)| seeds(v, out, k)),
        Value::Array(a) => a.iter().for_each(|v| seeds(v, out, key)),
        Value::String(_) => {
            let list = out.entry(key.to_owned()).or_default();
            if !list.contains(examples) {
                list.push(examples.clone());
            }
        }
        _ => {}
    }
}

fn app() -> reference_server::App {
    let mut config = reference_server::Config::default();
    config
        .apply_env([("REFSERVER_RATE_LIMIT".to_owned(), "off".to_owned())])
        .unwrap();
    reference_server::app(config)
}

/// A fixed seed: the same cases every run, so a failure is reproducible.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        RunnerConfig {
            cases,
            failure_persistence: None,
            ..RunnerConfig::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

/// One answer: never a 5xx, a documented status and content type, and a body (each event,
/// for streams) valid against the documented schema.
fn check_answer(
    d: &Value,
    op: &Value,
    (status, ct, text): &(u16, String, String),
    sent: &str,
) -> Result<(), TestCaseError> {
    prop_assert!(*status < 500, "{status} for {sent}: {text}");
    let response = op["responses"]
        .get(status.to_string())
        .map(|r| resolve(d, r));
    prop_assert!(
        response.is_some(),
        "undocumented {status} for {sent}: {text}"
    );
    let media_type = ct.split(';').next().unwrap_or("").trim().to_owned();
    let m = &response.unwrap()["content"][&media_type];
    prop_assert!(
        m.is_object(),
        "undocumented {media_type} for {status}: {sent}"
    );
    if media_type == "text/event-stream" {
        let described = stream(d, m);
        let v = validator(d, described.content);
        let item = validator(d, described.item);
        let events = sse_events(text);
        prop_assert!(!events.is_empty(), "a stream without events for {sent}");
        for (event, data) in events {
            let e = errors(&item, &event_object(&event, &data));
            prop_assert!(e.is_empty(), "event {data} for {sent}: {e:?}");
            if data != described.end {
                let e = errors(&v, &data);
                prop_assert!(e.is_empty(), "event {data} for {sent}: {e:?}");
            }
        }
    } else {
        let v = validator(d, &m["schema"]);
        let value: Value = serde_json::from_str(text).unwrap();
        let e = errors(&v, &value);
        prop_assert!(e.is_empty(), "{status} body {value} for {sent}: {e:?}");
    }
    Ok(())
}

#[test]
fn every_request_the_document_allows_gets_a_documented_answer() {
    let d = doc();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = app();
    let mut tried = 0;
    let ops = operations(&d);
    for o in &ops {
        let Some(body) = o.op.get("requestBody") else {
            continue;
        };
        let params: Vec<&Value> = o.op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&d, p))
            .collect();
        let path = fill_path(&rt, &app, &d, &ops, &o.path, &params);
        let media = &resolve(&d, body)["content"]["application/json"];
        // Seeds come from the examples the server answers with success.
        let succeeding: Vec<String> = o.op["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(code, _)| code.starts_with('2'))
            .flat_map(|(_, r)| {
                resolve(&d, r)["content"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|(_, m)| m["examples"].as_object().cloned().unwrap_or_default())
            .map(|(name, _)| name)
            .collect();
        let mut seeded = HashMap::new();
        for (name, ex) in media["examples"].as_object().into_iter().flatten() {
            if succeeding.contains(name) {
                seeds(&ex["value"], &mut seeded, "");
            }
        }
        let gen = Gen {
            doc: &d,
            seeds: seeded,
        };
        let strategy = gen.schema(&media["schema"], "", 0);
        let request_schema = validator(&d, &media["schema"]);
        let mut runner = runner(96);
        let statuses = std::cell::RefCell::new(HashMap::<u16, usize>::new());
        let result = runner.run(&strategy, |body| {
            // The generator must only make what the document allows.
            let e = errors(&request_schema, &body);
            prop_assert!(e.is_empty(), "generated an invalid body {body}: {e:?}");
            // A name must be unique (409 otherwise, documented but not a success): each
            // generated one gets the case's number, where its length allows.
            let mut body = body;
            let n = statuses.borrow().values().sum::<usize>();
            if let Some(name) = body
                .get("name")
                .and_then(Value::as_str)
                .filter(|s| s.len() < 240)
            {
                body["name"] = json!(format!("{name}-{n}"));
            }
            let answer = rt.block_on(send(&app, "POST", &path, Some(&body)));
            *statuses.borrow_mut().entry(answer.0).or_default() += 1;
            check_answer(&d, o.op, &answer, &body.to_string())?;
            Ok(())
        });
        tried += outcome(o.id(), result, statuses.into_inner());
    }
    assert!(tried >= 3 * 96, "only {tried} requests");
}

async fn send(
    app: &reference_server::App,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String, String) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer sk-fuzz");
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8_lossy(&bytes).into_owned())
}

/// The first example body of operation `id`.
fn example_body(d: &Value, ops: &[common::openapi::Op<'_>], id: &str) -> (String, Value) {
    let c = ops.iter().find(|x| x.id() == id).unwrap();
    let body = resolve(d, &c.op["requestBody"])["content"]["application/json"]["examples"]
        .as_object()
        .and_then(|e| e.values().next())
        .map(|e| e["value"].clone())
        .unwrap();
    (c.path.clone(), body)
}

/// `path` with each path parameter set to an object made for the purpose, as its example's
/// `x-replay` says (`create`, then `then`); a taken `name` is made unique.
fn fill_path(
    rt: &tokio::runtime::Runtime,
    app: &reference_server::App,
    d: &Value,
    ops: &[common::openapi::Op<'_>],
    path: &str,
    params: &[&Value],
) -> String {
    let mut path = path.to_owned();
    for p in params.iter().filter(|p| p["in"] == "path") {
        let example = p["examples"]
            .as_object()
            .and_then(|e| e.values().next())
            .unwrap();
        let name = p["name"].as_str().unwrap();
        let id = match example["x-replay"]["create"].as_str() {
            Some(creator) => {
                let (at, mut body) = example_body(d, ops, creator);
                let mut answer = rt.block_on(send(app, "POST", &at, Some(&body)));
                for n in 2..1000 {
                    if answer.0 != 409 || body["name"].is_null() {
                        break;
                    }
                    body["name"] = json!(format!("{}-{n}", body["name"].as_str().unwrap()));
                    answer = rt.block_on(send(app, "POST", &at, Some(&body)));
                }
                assert_eq!(answer.0, 200, "{creator}: {}", answer.2);
                let created: Value = serde_json::from_str(&answer.2).unwrap();
                let id = created["id"].as_str().unwrap().to_owned();
                for then in example["x-replay"]["then"].as_array().into_iter().flatten() {
                    let (at, body) = example_body(d, ops, then.as_str().unwrap());
                    let at = at.replace(&format!("{{{name}}}"), &id);
                    let answer = rt.block_on(send(app, "POST", &at, Some(&body)));
                    assert_eq!(answer.0, 200, "{then}: {}", answer.2);
                }
                id
            }
            None => example["value"].as_str().unwrap().to_owned(),
        };
        path = path.replace(&format!("{{{name}}}"), &id);
    }
    path
}

/// Fails on a failed case or on too few successes (the seeds are there so that the generator
/// reaches the success path, not only the 4xx ones); returns the number of requests.
fn outcome(
    id: &str,
    result: Result<(), proptest::test_runner::TestError<impl std::fmt::Debug>>,
    statuses: HashMap<u16, usize>,
) -> usize {
    if let Err(e) = result {
        panic!("{id}: {e}");
    }
    assert!(
        statuses.get(&200).is_some_and(|n| *n >= 20),
        "{id}: too few successes to mean anything: {statuses:?}"
    );
    eprintln!("{id}: {statuses:?}");
    statuses.values().sum()
}

/// `value` percent-encoded for a query string (unreserved characters kept).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn every_query_the_document_allows_gets_a_documented_answer() {
    let d = doc();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = app();
    let ops = operations(&d);
    let mut tried = 0;
    for o in &ops {
        let params: Vec<&Value> = o.op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&d, p))
            .collect();
        if !params.iter().any(|p| p["in"] == "query") {
            continue;
        }
        // Path ids name an object created for the purpose, as the examples say; list cursors
        // are seeded with the ids of the list itself.
        let path = fill_path(&rt, &app, &d, &ops, &o.path, &params);
        // A list's success example says what to create first (`x-replay.setup`).
        let setup = o.op["responses"]["200"]["content"]["application/json"]["examples"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, e)| {
                e["x-replay"]["setup"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            });
        for (n, op) in setup.enumerate() {
            let (at, mut body) = example_body(&d, &ops, op.as_str().unwrap());
            if let Some(name) = body.get("name").and_then(Value::as_str) {
                body["name"] = json!(format!("{name}-list-{n}"));
            }
            let answer = rt.block_on(send(&app, "POST", &at, Some(&body)));
            assert_eq!(answer.0, 200, "{op}: {}", answer.2);
        }
        let (_, _, listed) = rt.block_on(send(&app, "GET", &path, None));
        let listed: Value = serde_json::from_str(&listed).unwrap_or(Value::Null);
        let ids: Vec<Value> = listed["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"].as_str())
            .map(|s| json!(s))
            .collect();
        let seeds: HashMap<String, Vec<Value>> = if ids.is_empty() {
            HashMap::new()
        } else {
            [
                ("after".to_owned(), ids.clone()),
                ("before".to_owned(), ids),
            ]
            .into_iter()
            .collect()
        };
        let gen = Gen { doc: &d, seeds };
        let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = params
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| {
                let name = p["name"].as_str().unwrap().to_owned();
                let key = name.clone();
                prop_oneof![
                    1 => Just(None),
                    2 => gen.schema(&p["schema"], &name, 0).prop_map(move |v| Some((key.clone(), v))),
                ]
                .boxed()
            })
            .collect();
        let statuses = std::cell::RefCell::new(HashMap::<u16, usize>::new());
        let result = runner(64).run(&fields, |chosen| {
            let query: Vec<String> = chosen
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    format!("{k}={}", encode(&text))
                })
                .collect();
            let url = format!("{path}?{}", query.join("&"));
            let answer = rt.block_on(send(&app, &o.method.to_uppercase(), &url, None));
            *statuses.borrow_mut().entry(answer.0).or_default() += 1;
            check_answer(&d, o.op, &answer, &url)
        });
        tried += outcome(o.id(), result, statuses.into_inner());
    }
    assert!(tried >= 64, "only {tried} requests");
}
