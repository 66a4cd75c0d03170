//! `schemas/openapi.yaml` and the server, kept in step both ways: every routed operation is
//! documented and every documented one is routed, request bodies document exactly the
//! accepted fields, every example validates against its schema, and every replayable example
//! is what the server answers (modulo ids and timestamps).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::openapi::{
    doc, errors, event_object, operations, resolve, sse_events, stream, validator, Op, METHODS,
};
use common::spawn;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// Ids and timestamps differ between runs; everything else must be equal.
fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = match x {
                        Value::String(_) if k == "id" || k.ends_with("_id") => json!("<id>"),
                        Value::String(_) if k == "checked_at" => json!("<time>"),
                        Value::Number(_)
                            if matches!(
                                k.as_str(),
                                // `open` and `max`: the connections of readiness vary.
                                "created" | "created_at" | "completed_at" | "open" | "max"
                            ) =>
                        {
                            json!(0)
                        }
                        other => normalise(other),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

#[test]
fn the_document_is_self_contained_and_versioned() {
    let d = doc();
    assert!(
        reference_server::openapi::external_refs(&d).is_empty(),
        "bundling left file references"
    );
    assert_eq!(d["openapi"], "3.2.0");
    assert_eq!(d["info"]["version"], env!("CARGO_PKG_VERSION"));
    let source = reference_server::openapi::yaml::parse(reference_server::openapi::SOURCE).unwrap();
    assert_eq!(
        source["info"]["x-service-version"],
        env!("CARGO_PKG_VERSION"),
        "the yaml names the crate version; the server adds the commit"
    );
    let served = d["info"]["x-service-version"].as_str().unwrap();
    assert!(served.starts_with(env!("CARGO_PKG_VERSION")), "{served}");
    assert_eq!(d["servers"].as_array().unwrap().len(), 2);
    assert_eq!(
        d["components"]["securitySchemes"]["bearerAuth"],
        json!({"type": "http", "scheme": "bearer", "description": d["components"]["securitySchemes"]["bearerAuth"]["description"]})
    );
    // Every local reference resolves.
    fn walk(doc: &Value, v: &Value) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    assert!(
                        doc.pointer(r.trim_start_matches('#')).is_some(),
                        "dangling {r}"
                    );
                }
                m.values().for_each(|x| walk(doc, x));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(doc, x)),
            _ => {}
        }
    }
    walk(&d, &d);
}

#[tokio::test]
async fn the_served_document_is_the_bundled_one_with_this_servers_address() {
    let s = spawn().await;
    let (status, served) = s.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(served["servers"][0]["url"], s.base);
    let mut expected = doc();
    expected["servers"][0]["url"] = json!(s.base);
    let schemas = "/components/schemas";
    for (request, models) in [
        ("CreateEmbeddingRequest", json!(["ref-embed-1"])),
        ("CreateChatCompletionRequest", json!(["ref-chat-1"])),
        ("CreateResponseRequest", json!(["ref-chat-1"])),
        ("CompactResponseRequest", json!(["ref-chat-1"])),
        ("CreateIndexRequest", json!(["ref-embed-1"])),
        ("CreateDreamRequest", json!(["ref-dream-1"])),
    ] {
        let model = format!("{schemas}/{request}/properties/model");
        assert_eq!(
            served.pointer(&format!("{model}/enum")),
            Some(&models),
            "{request}: the configured models of its kind"
        );
        if let Some(m) = expected.pointer_mut(&model) {
            m["enum"] = models;
        }
    }
    for request in ["CreateEmbeddingRequest", "CreateIndexRequest"] {
        let dimensions = format!("{schemas}/{request}/properties/dimensions");
        assert_eq!(
            served.pointer(&format!("{dimensions}/maximum")),
            Some(&json!(1536)),
            "{request}: the longest configured embedding"
        );
        if let Some(d) = expected.pointer_mut(&dimensions) {
            d["maximum"] = json!(1536);
        }
    }
    assert_eq!(served, expected, "nothing else differs");
}

#[tokio::test]
async fn every_routed_operation_is_documented_and_every_documented_one_is_routed() {
    let d = doc();
    let documented: BTreeSet<(String, String)> = operations(&d)
        .iter()
        .map(|o| (o.method.to_owned(), o.path.clone()))
        .collect();
    let routed: BTreeSet<(String, String)> = reference_server::served_routes()
        .iter()
        .map(|r| (r.method.to_owned(), r.openapi_path()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not documented: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );

    // And over HTTP: documented methods reach a handler, other methods get 405.
    let s = spawn().await;
    let concrete = |p: &str| {
        p.replace("{model}", "ref-chat-1")
            .replace("{response_id}", "resp_missing")
    };
    for path in d["paths"].as_object().unwrap().keys() {
        for method in METHODS {
            if method == "head" || method == "options" {
                continue; // answered for GET routes by axum itself
            }
            let r = s
                .client
                .request(
                    method.to_uppercase().parse().unwrap(),
                    s.url(&concrete(path)),
                )
                .bearer_auth("sk-test")
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if documented.contains(&(method.to_owned(), path.clone())) {
                assert_ne!(status, 405, "{method} {path}");
                assert_ne!(body["error"]["code"], "unknown_url", "{method} {path}");
            } else {
                assert_eq!(status, 405, "{method} {path} is not documented: {body}");
            }
        }
    }
}

#[test]
fn request_bodies_document_exactly_the_accepted_fields() {
    let d = doc();
    let ops = operations(&d);
    for route in reference_server::served_routes() {
        let op = ops
            .iter()
            .find(|o| o.method == route.method && o.path == route.openapi_path())
            .unwrap();
        let body = op.op.get("requestBody");
        let Some(fields) = route.body_fields else {
            assert!(
                body.is_none(),
                "{} {} has no body",
                route.method,
                route.path
            );
            continue;
        };
        let body = resolve(&d, body.expect("a documented request body"));
        assert_eq!(body["required"], true, "{}", op.id());
        let schema = resolve(&d, &body["content"]["application/json"]["schema"]);
        let documented: BTreeSet<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let accepted: BTreeSet<&str> = fields.iter().copied().collect();
        assert_eq!(documented, accepted, "{}", op.id());
        // The server refuses unknown fields, and the document says so.
        assert_eq!(schema["additionalProperties"], false, "{}", op.id());
    }
}

/// Every (status, media type, name, example) of an operation's responses.
fn response_examples<'a>(d: &'a Value, op: &'a Value) -> Vec<(u16, String, String, &'a Value)> {
    let mut out = Vec::new();
    for (status, response) in op["responses"].as_object().unwrap() {
        let response = resolve(d, response);
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            continue;
        };
        for (media, body) in content {
            for (name, ex) in body
                .get("examples")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                out.push((
                    status.parse().unwrap(),
                    media.clone(),
                    name.clone(),
                    resolve(d, ex),
                ));
            }
        }
    }
    out
}

fn media_of<'a>(d: &'a Value, op: &'a Value, status: u16, media: &str) -> &'a Value {
    &resolve(d, &op["responses"][status.to_string()])["content"][media]
}

#[test]
fn every_example_validates_against_its_schema() {
    let d = doc();
    let mut checked = 0;
    for o in operations(&d) {
        for p in o.op["parameters"].as_array().into_iter().flatten() {
            let p = resolve(&d, p);
            let v = validator(&d, &p["schema"]);
            for (name, ex) in p["examples"].as_object().into_iter().flatten() {
                let e = errors(&v, &ex["value"]);
                assert!(e.is_empty(), "{} parameter example {name}: {e:?}", o.id());
                checked += 1;
            }
        }
        if let Some(body) = o.op.get("requestBody") {
            let media = &resolve(&d, body)["content"]["application/json"];
            let v = validator(&d, &media["schema"]);
            for (name, ex) in media["examples"].as_object().unwrap() {
                let e = errors(&v, &ex["value"]);
                if ex["x-invalid"] == true {
                    assert!(
                        !e.is_empty(),
                        "{} request example {name} is marked invalid but the schema accepts it",
                        o.id()
                    );
                } else {
                    assert!(e.is_empty(), "{} request example {name}: {e:?}", o.id());
                }
                checked += 1;
            }
        }
        for (status, media, name, ex) in response_examples(&d, o.op) {
            let m = media_of(&d, o.op, status, &media);
            let value = &ex["value"];
            if media == "text/event-stream" {
                let described = stream(&d, m);
                let v = validator(&d, described.content);
                let item = validator(&d, described.item);
                let events = sse_events(value.as_str().unwrap());
                assert!(events.len() > 2, "{} {name}", o.id());
                for (event, data) in &events {
                    let e = errors(&item, &event_object(event, data));
                    assert!(e.is_empty(), "{} {name} event {data}: {e:?}", o.id());
                }
                let (last, body) = events.split_last().unwrap();
                assert_eq!(last.1, described.end, "{} {name}", o.id());
                for (event, data) in body {
                    let e = errors(&v, data);
                    assert!(e.is_empty(), "{} {name} event {data}: {e:?}", o.id());
                    if let Some(event) = event {
                        assert_eq!(data["type"], event.as_str(), "{} {name}", o.id());
                    }
                }
            } else {
                let e = errors(&validator(&d, &m["schema"]), value);
                assert!(e.is_empty(), "{} {status} example {name}: {e:?}", o.id());
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} examples");
}

#[test]
fn every_operation_has_examples_and_every_request_example_has_an_answer() {
    let d = doc();
    for o in operations(&d) {
        let answers: BTreeSet<String> = response_examples(&d, o.op)
            .into_iter()
            .filter(|(status, ..)| *status < 300)
            .map(|(_, _, name, _)| name)
            .collect();
        // A WebSocket upgrade succeeds with 101 and no body: nothing to exemplify.
        let upgrade = o.op["responses"].get("101").is_some();
        assert!(
            upgrade || !answers.is_empty(),
            "{} has no success example",
            o.id()
        );
        let all: BTreeSet<String> = response_examples(&d, o.op)
            .into_iter()
            .map(|(_, _, name, _)| name)
            .collect();
        if let Some(body) = o.op.get("requestBody") {
            for name in resolve(&d, body)["content"]["application/json"]["examples"]
                .as_object()
                .unwrap()
                .keys()
            {
                assert!(
                    all.contains(name),
                    "{}: request example {name} has no response example of the same name",
                    o.id()
                );
            }
        }
    }
}

/// The request a response example answers.
struct Replay {
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
}

fn request_example<'a>(d: &'a Value, op: &'a Value, name: &str) -> Option<&'a Value> {
    let examples = resolve(d, op.get("requestBody")?)["content"]["application/json"]["examples"]
        .as_object()?;
    examples
        .get(name)
        .or_else(|| examples.values().find(|e| e["x-invalid"] != true))
        .map(|e| &e["value"])
}

async fn replay_request(
    s: &common::TestServer,
    d: &Value,
    ops: &[Op<'_>],
    o: &Op<'_>,
    name: &str,
) -> Replay {
    let mut path = o.path.clone();
    let mut query = Vec::new();
    for p in o.op["parameters"].as_array().into_iter().flatten() {
        let p = resolve(d, p);
        let examples = p["examples"].as_object();
        let chosen = examples.and_then(|e| e.get(name)).or_else(|| {
            if p["in"] == "path" {
                examples.and_then(|e| e.values().next())
            } else {
                None
            }
        });
        let Some(chosen) = chosen else { continue };
        let mut value = chosen["value"].as_str().unwrap().to_owned();
        if let Some(creator) = chosen["x-replay"]["create"].as_str() {
            let c = ops.iter().find(|x| x.id() == creator).unwrap();
            let mut body = request_example(d, c.op, "").unwrap().clone();
            let (mut status, mut created) = s.post_json(&c.path, body.clone()).await;
            // A unique name is taken by an earlier replay on this server: another one.
            for n in 2..100 {
                if status != 409 || body["name"].is_null() {
                    break;
                }
                body["name"] = json!(format!("{}-{n}", body["name"].as_str().unwrap()));
                (status, created) = s.post_json(&c.path, body.clone()).await;
            }
            assert_eq!(status, 200, "{creator}: {created}");
            value = created["id"].as_str().unwrap().to_owned();
            // `then`: operations that fill what was created (their example bodies, posted to
            // their paths with this parameter set).
            let name = p["name"].as_str().unwrap();
            for then in chosen["x-replay"]["then"].as_array().into_iter().flatten() {
                let t = ops.iter().find(|x| Some(x.id()) == then.as_str()).unwrap();
                let body = request_example(d, t.op, "").unwrap();
                let at = t.path.replace(&format!("{{{name}}}"), &value);
                let (status, answer) = s.post_json(&at, body.clone()).await;
                assert_eq!(status, 200, "{then}: {answer}");
            }
        }
        match p["in"].as_str() {
            Some("path") => {
                path = path.replace(&format!("{{{}}}", p["name"].as_str().unwrap()), &value)
            }
            Some("query") => query.push(format!("{}={value}", p["name"].as_str().unwrap())),
            _ => {}
        }
    }
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    Replay {
        method: o.method.to_uppercase().parse().unwrap(),
        path,
        body: request_example(d, o.op, name).cloned(),
    }
}

/// A server configured as `x-replay.server` says (REFSERVER_* settings), started once.
async fn server_for<'a>(
    servers: &'a mut HashMap<String, common::TestServer>,
    settings: &Value,
) -> &'a common::TestServer {
    let key = settings.to_string();
    if !servers.contains_key(&key) {
        let mut config = reference_server::Config::default();
        let vars = settings
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()));
        config.apply_env(vars).unwrap();
        servers.insert(key.clone(), common::spawn_with(config).await);
    }
    &servers[&key]
}

/// Waits such as `484ms` or `2s` in text become `<duration>`.
fn mask_durations(v: &Value) -> Value {
    match v {
        Value::String(text) => {
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
                out.push_str(&rest[..start]);
                let digits = rest[start..]
                    .find(|c: char| !c.is_ascii_digit() && c != '.')
                    .map_or(rest.len(), |n| start + n);
                let unit = ["ms", "s"].iter().find(|u| rest[digits..].starts_with(**u));
                match unit {
                    Some(u) => {
                        out.push_str("<duration>");
                        rest = &rest[digits + u.len()..];
                    }
                    None => {
                        out.push_str(&rest[start..digits]);
                        rest = &rest[digits..];
                    }
                }
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), mask_durations(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(mask_durations).collect()),
        other => other.clone(),
    }
}

#[tokio::test]
async fn every_replayable_example_is_what_the_server_answers() {
    let d = doc();
    let ops = operations(&d);
    let mut servers = HashMap::new();
    let mut fresh = Vec::new();
    let mut replayed = 0;
    for o in &ops {
        for (status, media, name, example) in response_examples(&d, o.op) {
            let how = &example["x-replay"];
            if *how == false {
                assert!(
                    example["summary"].is_string(),
                    "{} example {name}: say why it cannot be replayed",
                    o.id()
                );
                continue;
            }
            // `fresh`: a server of its own, for examples whose answer depends on what else
            // was created (names are unique, counts grow).
            let s = if how["fresh"] == true {
                fresh.push(common::spawn_with(reference_server::Config::default()).await);
                fresh.last().unwrap()
            } else {
                server_for(&mut servers, &how["server"]).await
            };
            // `setup`: operations whose example requests are sent first.
            for op in how["setup"].as_array().into_iter().flatten() {
                let c = ops.iter().find(|x| Some(x.id()) == op.as_str()).unwrap();
                let body = request_example(&d, c.op, "").unwrap();
                let (status, answer) = s.post_json(&c.path, body.clone()).await;
                assert_eq!(status, 200, "{op}: {answer}");
            }
            let r = replay_request(s, &d, &ops, o, &name).await;
            let mut resp = None;
            for _ in 0..how["repeat"].as_u64().unwrap_or(1) {
                let mut req = s.client.request(r.method.clone(), s.url(&r.path));
                match how["auth"].as_str() {
                    Some("none") => {}
                    Some(key) => req = req.bearer_auth(key),
                    None => req = req.bearer_auth("sk-test"),
                }
                if let Some(body) = &r.body {
                    let mut bytes = body.to_string();
                    bytes.push_str(&" ".repeat(how["pad"].as_u64().unwrap_or(0) as usize));
                    let ct = how["content_type"].as_str().unwrap_or("application/json");
                    req = req.header("content-type", ct).body(bytes);
                }
                resp = Some(req.send().await.unwrap());
            }
            let resp = resp.unwrap();
            let what = format!("{} example {name} ({} {})", o.id(), r.method, r.path);
            assert_eq!(resp.status().as_u16(), status, "{what}");
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(ct.starts_with(&media), "{what}: content-type {ct}");
            // Every header the document marks required is sent.
            let headers = resolve(&d, &o.op["responses"][status.to_string()])["headers"].clone();
            for (h, spec) in headers.as_object().into_iter().flatten() {
                if resolve(&d, spec)["required"] == true {
                    assert!(resp.headers().contains_key(h.as_str()), "{what}: no {h}");
                }
            }
            let text = resp.text().await.unwrap();
            let expected = &example["value"];
            if media == "text/event-stream" {
                let got: Vec<_> = sse_events(&text)
                    .into_iter()
                    .map(|(e, v)| (e, normalise(&v)))
                    .collect();
                let want: Vec<_> = sse_events(expected.as_str().unwrap())
                    .into_iter()
                    .map(|(e, v)| (e, normalise(&v)))
                    .collect();
                assert_eq!(got, want, "{what}");
            } else {
                let got: Value = serde_json::from_str(&text).unwrap();
                let (mut got, mut want) = (normalise(&got), normalise(expected));
                if how["durations"] == "ignore" {
                    (got, want) = (mask_durations(&got), mask_durations(&want));
                }
                assert_eq!(got, want, "{what}");
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 40, "only {replayed} examples replayed");
}

#[test]
fn durations_are_masked_and_other_numbers_kept() {
    assert_eq!(
        mask_durations(&json!(
            "limit 2 per window. Please try again in 484ms or 1.5s."
        )),
        json!("limit 2 per window. Please try again in <duration> or <duration>.")
    );
}

#[test]
fn normalising_keeps_what_matters() {
    let a = json!({"id": "resp_1", "created_at": 5, "output": [{"call_id": "c1", "text": "x"}]});
    let b = json!({"id": "resp_2", "created_at": 6, "output": [{"call_id": "c2", "text": "x"}]});
    assert_eq!(normalise(&a), normalise(&b));
    let c = json!({"id": "resp_2", "created_at": 6, "output": [{"call_id": "c2", "text": "y"}]});
    assert_ne!(normalise(&a), normalise(&c));
}

/// For every top-level field of every request body, a value of each JSON type (and a few
/// edge values): the server takes exactly what its served document's schema takes. Only the
/// references to stored things, which no schema can enumerate, may differ.
#[tokio::test]
async fn every_request_field_takes_exactly_what_its_schema_takes() {
    let s = spawn().await;
    // The served document: it names this server's models and embedding length.
    let (_, d) = s.get_json("/openapi.json").await;
    let probes = [
        json!(null),
        json!("bogus"),
        json!(""),
        json!(12345),
        json!(-1),
        json!(1.5),
        json!(true),
        json!({"x": 1}),
        json!([1]),
    ];
    let mut disagreements = Vec::new();
    for (name, path, base) in [
        (
            "CreateEmbeddingRequest",
            "/v1/embeddings",
            json!({"model": "ref-embed-1", "input": "hi"}),
        ),
        (
            "CreateChatCompletionRequest",
            "/v1/chat/completions",
            json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "CreateResponseRequest",
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "hi"}),
        ),
    ] {
        let schema = json!({ "$ref": format!("#/components/schemas/{name}") });
        let v = validator(&d, &schema);
        let fields = d["components"]["schemas"][name]["properties"]
            .as_object()
            .unwrap();
        assert!(fields.len() > 3, "{name} has its fields");
        for field in fields.keys() {
            for probe in &probes {
                let mut body = base.clone();
                body[field] = probe.clone();
                let allowed = v.is_valid(&body);
                // `stream: true` answers with events; only the status matters here.
                let status = s.post(path, body).send().await.unwrap().status().as_u16();
                if allowed != (status < 400) {
                    disagreements.push(format!("{name}.{field} = {probe}: {status}"));
                }
            }
        }
    }
    // Stored responses cannot be enumerated; an unknown one is 400, as OpenAI answers.
    disagreements.retain(|d| !d.starts_with("CreateResponseRequest.previous_response_id = \""));
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
