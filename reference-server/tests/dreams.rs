//! `POST /v1/dreams` over real loopback HTTP: the same input gives the same dream, the stream
//! carries the same dream step by step, and each bad parameter is named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};

fn without_ids(mut v: Value) -> Value {
    v["id"] = Value::Null;
    v["created"] = Value::Null;
    v
}

#[tokio::test]
async fn the_same_input_dreams_the_same_dream() {
    let s = spawn().await;
    let body = json!({"seed": "salt lanterns", "constraints": {"must_include": "tide", "max_depth": 5}, "steps": 5});
    let (status, a) = s.post_json("/v1/dreams", body.clone()).await;
    assert_eq!(status, 200, "{a}");
    let (_, b) = s.post_json("/v1/dreams", body.clone()).await;
    assert_ne!(a["id"], b["id"], "each dream has its own id");
    assert_eq!(without_ids(a.clone()), without_ids(b));
    assert_eq!(a["object"], "dream");
    assert_eq!(a["model"], "ref-dream-1");
    assert_eq!(a["constraints"], body["constraints"], "echoed unchanged");
    let traces = a["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 5);
    assert_eq!(traces[0]["kind"], "premise");
    assert_eq!(traces[4]["kind"], "resolution");
    assert!(traces.iter().enumerate().all(|(i, t)| t["step"] == i));
    assert_eq!(a["critique"]["unmet"], json!([]));
    let (_, other) = s
        .post_json("/v1/dreams", json!({"seed": "iron meadows", "steps": 5}))
        .await;
    assert_ne!(other["traces"], a["traces"]);
    // With no seed, the seed is "dream".
    let (_, plain) = s.post_json("/v1/dreams", json!({})).await;
    assert_eq!(plain["seed"], "dream");
    assert_eq!(plain["traces"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn the_stream_is_the_dream_step_by_step() {
    let s = spawn().await;
    let body = json!({"seed": "salt lanterns", "constraints": ["a bell rings"], "steps": 4});
    let (_, whole) = s.post_json("/v1/dreams", body.clone()).await;
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let r = s.post("/v1/dreams", streamed).send().await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = parse_sse(&r.text().await.unwrap());
    let (last_name, last) = events.last().unwrap();
    assert_eq!((last_name.as_deref(), last.as_str()), (None, "[DONE]"));
    let events: Vec<(String, Value)> = events[..events.len() - 1]
        .iter()
        .map(|(n, d)| (n.clone().unwrap(), serde_json::from_str(d).unwrap()))
        .collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "dream.created",
            "dream.step",
            "dream.step",
            "dream.step",
            "dream.step",
            "dream.completed"
        ]
    );
    for (i, (name, e)) in events.iter().enumerate() {
        assert_eq!(e["type"], name.as_str(), "event name = type");
        assert_eq!(e["sequence_number"], i);
    }
    let steps: Vec<Value> = events[1..5]
        .iter()
        .map(|(_, e)| e["step"].clone())
        .collect();
    assert_eq!(Value::Array(steps), whole["traces"]);
    let done = &events[5].1["dream"];
    assert_eq!(without_ids(done.clone()), without_ids(whole.clone()));
    assert_eq!(events[0].1["dream"]["id"], done["id"]);
}

#[tokio::test]
async fn bad_input_names_the_parameter() {
    let s = spawn().await;
    for (body, status, param) in [
        (json!({"seed": 5}), 400, "seed"),
        (json!({"steps": 13}), 400, "steps"),
        (json!({"steps": 2}), 400, "steps"),
        (json!({"steps": "four"}), 400, "steps"),
        (json!({"constraints": "short"}), 400, "constraints"),
        (json!({"constraints": [1]}), 400, "constraints[0]"),
        (
            json!({"constraints": {"max_depth": -1}}),
            400,
            "constraints.max_depth",
        ),
        (json!({"stream": "yes"}), 400, "stream"),
        (json!({"model": "ref-chat-1"}), 400, "model"),
        (json!({"model": "no-such-dreamer"}), 404, "model"),
        (json!({"mood": "calm"}), 400, "mood"),
    ] {
        let (got, answer) = s.post_json("/v1/dreams", body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_envelope(&answer);
        assert_eq!(answer["error"]["param"], param, "{body}: {answer}");
    }
    // The document allows any integer from 1: one past u64 (Schemathesis drew
    // 82860374327231592267776) is a depth no dream reaches, not an error.
    let body = serde_json::from_str::<serde_json::Value>(
        r#"{"constraints": {"max_depth": 82860374327231592267776}, "steps": 4}"#,
    )
    .unwrap();
    let (got, answer) = s.post_json("/v1/dreams", body).await;
    assert_eq!(got, 200, "{answer}");
    assert_eq!(answer["critique"]["unmet"], json!([]), "{answer}");
}
