//! `/v1/dreams`, the facade's scenario generator: the same input dreams the same dream, its
//! shape and critique are what the document says, and its stream is the dream step by step.

use super::*;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "dreams.deterministic",
            Facade,
            "The same seed, constraints and steps give the same trace and critique (ids and times aside); another seed another trace",
            deterministic
        ),
        check!(
            "dreams.shape",
            Facade,
            "A dream has its steps in order (premise first, resolution last), content that uses the seed's words, its constraints echoed, and a critique naming the one it cannot honour",
            shape
        ),
        check!(
            "dreams.stream",
            Facade,
            "stream: true sends dream.created, one dream.step per step, dream.completed, then [DONE]; events named by type, numbered in order, and the same dream as without streaming",
            stream
        ),
    ]
}

const SEED: &str = "copper lanterns drifting over salt marshes";

fn request(steps: usize) -> Value {
    json!({"seed": SEED, "constraints": ["a heron keeps watch"], "steps": steps})
}

/// Posts a dream; a target without `/v1/dreams` is a skip.
async fn post(ctx: &Ctx, body: &Value) -> Result<(Value, Exchange), Problem> {
    let ex = ctx.send(Req::post("/v1/dreams", body)).await?;
    if matches!(ex.status, 404 | 405)
        && !ex
            .json()
            .is_ok_and(|v| v["error"]["code"] == "model_not_found")
    {
        return Err(skip(
            "the target does not serve /v1/dreams (the reference server's extension)",
        ));
    }
    let dream = expect_ok_json(&ex)?;
    ctx.schema("dream", &dream, &ex)?;
    Ok((dream, ex))
}

/// The dream without what differs between calls.
fn content(dream: &Value) -> Value {
    json!({"traces": dream["traces"], "critique": dream["critique"], "model": dream["model"]})
}

async fn deterministic(ctx: &Ctx) -> Verdict {
    let (a, _) = post(ctx, &request(4)).await?;
    let (b, ex) = post(ctx, &request(4)).await?;
    ensure(
        content(&a) == content(&b),
        "the same trace and critique for the same input",
        format!("{} then {}", show(&content(&a)), show(&content(&b))),
        &ex,
    )?;
    let mut other = request(4);
    other["seed"] = json!("glass orchards under a slow tide");
    let (c, ex) = post(ctx, &other).await?;
    ensure(
        c["traces"] != a["traces"],
        "another trace for another seed",
        show(&c["traces"]),
        &ex,
    )?;
    pass()
}

async fn shape(ctx: &Ctx) -> Verdict {
    let (dream, ex) = post(ctx, &request(5)).await?;
    let traces = dream["traces"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<&str> = traces.iter().filter_map(|t| t["kind"].as_str()).collect();
    ensure(
        traces.len() == 5
            && kinds.first() == Some(&"premise")
            && kinds.last() == Some(&"resolution")
            && traces.iter().enumerate().all(|(i, t)| t["step"] == i),
        "5 steps numbered 0 to 4, premise first and resolution last",
        show(&dream["traces"]),
        &ex,
    )?;
    let words: Vec<&str> = SEED.split(' ').filter(|w| w.len() >= 3).collect();
    let unseeded: Vec<usize> = traces
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            let text = t["content"].as_str().unwrap_or("");
            !words.iter().any(|w| text.contains(w))
        })
        .map(|(i, _)| i)
        .collect();
    ensure(
        unseeded.is_empty(),
        "every step uses a word of the seed",
        format!("steps {unseeded:?} use none of {words:?}"),
        &ex,
    )?;
    ensure(
        dream["seed"] == SEED && dream["constraints"] == json!(["a heron keeps watch"]),
        "the seed and the constraints echoed unchanged",
        format!(
            "seed {}, constraints {}",
            dream["seed"], dream["constraints"]
        ),
        &ex,
    )?;
    ensure(
        traces.iter().any(|t| {
            t["honours"]
                .as_array()
                .is_some_and(|h| h.iter().any(|c| c == "a heron keeps watch"))
        }) && dream["critique"]["unmet"] == json!([]),
        "a step honouring the listed constraint, and nothing unmet",
        show(&dream),
        &ex,
    )?;
    // Five steps cannot honour a maximum of three: the critique must say so.
    let strict = json!({"seed": SEED, "constraints": {"max_depth": 3}, "steps": 5});
    let (dream, ex) = post(ctx, &strict).await?;
    ensure(
        dream["critique"]["unmet"] == json!(["max_depth"]),
        "critique.unmet [\"max_depth\"] for 5 steps under max_depth 3",
        show(&dream["critique"]),
        &ex,
    )?;
    pass()
}

async fn stream(ctx: &Ctx) -> Verdict {
    let (whole, _) = post(ctx, &request(4)).await?;
    let mut body = request(4);
    body["stream"] = json!(true);
    let s = ctx.stream(Req::post("/v1/dreams", &body)).await?;
    chat_stream::check_framing(&s, true)?;
    let events = stream_json(&s)?;
    let ex = &s.exchange;
    let names: Vec<Option<&str>> = s.events.iter().map(|e| e.event.as_deref()).collect();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let expected = [
        "dream.created",
        "dream.step",
        "dream.step",
        "dream.step",
        "dream.step",
        "dream.completed",
    ];
    ensure(
        types == expected,
        format!("events {expected:?}"),
        format!("{types:?}"),
        ex,
    )?;
    ensure(
        names.iter().zip(&types).all(|(n, t)| *n == Some(*t)),
        "each event named (event:) by its type",
        format!("{names:?}"),
        ex,
    )?;
    ensure(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e["sequence_number"] == i),
        "sequence_number 0, 1, 2… in order",
        show(&json!(events
            .iter()
            .map(|e| e["sequence_number"].clone())
            .collect::<Vec<_>>())),
        ex,
    )?;
    for e in &events {
        ctx.schema("dream-stream-event", e, ex)?;
    }
    let steps: Vec<Value> = events[1..5].iter().map(|e| e["step"].clone()).collect();
    let done = &events[5]["dream"];
    ensure(
        Value::Array(steps) == whole["traces"] && content(done) == content(&whole),
        "the same dream as without streaming, step by step and whole",
        show(done),
        ex,
    )?;
    pass()
}
