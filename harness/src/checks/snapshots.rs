//! `snapshots.*`: with `--snapshots DIR`, the shape of each sampled exchange, and of every
//! exchange the other checks sent (`snapshots.exchanges`), is compared with its recording (or,
//! with `--update-snapshots`, written for review). Not scored: a shape that
//! drifts is news about the deployment, judged by whoever recorded it, not a compatibility
//! verdict; but it fails the run, so a CI gate sees it.

use super::*;
use crate::snapshots::{self, Named, Seen};

pub fn checks() -> Vec<Check> {
    vec![
        check!("snapshots.models", OpenaiCore, "The shapes of GET /v1/models, one model and an unknown one are as recorded (--snapshots DIR)", models, unscored),
        check!("snapshots.chat", OpenaiCore, "The shapes of a chat completion, its stream and an unknown-model error are as recorded (--snapshots DIR)", chat, unscored),
        check!("snapshots.responses", OpenaiCore, "The shapes of a response, its stream and its retrieval are as recorded (--snapshots DIR)", responses, unscored),
        check!("snapshots.embeddings", OpenaiCore, "The shapes of float and base64 embeddings are as recorded (--snapshots DIR)", embeddings, unscored),
        check!("snapshots.errors", OpenaiCore, "The shapes of a request without credentials and a malformed body are as recorded (--snapshots DIR)", errors, unscored),
        Check {
            last: true,
            ..check!("snapshots.exchanges", OpenaiCore, "The shape of every exchange the other checks of the run sent (but the generated properties.* ones) is as recorded (--snapshots DIR)", exchanges, unscored)
        },
    ]
}

fn of(ctx: &Ctx, name: &str, ex: &Exchange) -> Named {
    let request = request_line(ctx, &ex.request.method, &ex.request.url);
    Named::body(name, &request, ex.status, &ex.media_type(), &ex.body)
}

fn of_stream(ctx: &Ctx, name: &str, s: &StreamExchange) -> Result<Named, Problem> {
    let events = stream_json(s)?;
    let ex = &s.exchange;
    let request = request_line(ctx, &ex.request.method, &ex.request.url);
    Ok(Named::stream(
        name,
        &request,
        ex.status,
        &ex.media_type(),
        &events,
    ))
}

fn request_line(ctx: &Ctx, method: &str, url: &str) -> String {
    snapshots::record::request_line(ctx.target.api_root(), method, url)
}

/// Compares (or records) `named`; the verdict of one area.
fn judge(ctx: &Ctx, named: Vec<Named>) -> Verdict {
    // `run::select` leaves these checks out without --snapshots; a caller that runs one
    // anyway is told why it cannot apply.
    let Some(opts) = &ctx.options.snapshots else {
        return Err(skip(
            "shapes are recorded and compared only with --snapshots DIR",
        ));
    };
    let mut changed = Vec::new();
    let mut new = Vec::new();
    let mut written = 0;
    for n in &named {
        let seen = snapshots::compare(&opts.dir, n).map_err(|e| fail("a readable recording", e))?;
        if opts.update && seen != Seen::Same {
            snapshots::write_pending(&opts.dir, n, &opts.target)
                .map_err(|e| fail("the shape written for review", e))?;
            written += 1;
            continue;
        }
        match seen {
            Seen::Same => {}
            Seen::New => new.push(n.name.clone()),
            Seen::Changed(lines) => {
                changed.push(format!("{} ({}): {}", n.name, n.request, lines.join("; ")))
            }
        }
    }
    if !changed.is_empty() {
        return Err(fail(
            format!("the shapes recorded in {}", opts.dir.display()),
            changed.join(" | "),
        )
        .hint("if the change is wanted, record it: --update-snapshots, review the .snap.new files, then --accept"));
    }
    if opts.strict && !new.is_empty() {
        return Err(fail(
            "a recorded shape for every exchange (--strict-snapshots)",
            format!("never recorded: {}", new.join(", ")),
        ));
    }
    let same = named.len() - new.len() - written;
    let mut note = format!("{same} of {} shapes as recorded", named.len());
    if written > 0 {
        note.push_str(&format!(
            "; {written} written as .snap.new for review (--accept promotes them)"
        ));
    }
    if !new.is_empty() {
        note.push_str(&format!("; new, not recorded: {}", new.join(", ")));
    }
    pass_with(note)
}

async fn models(ctx: &Ctx) -> Verdict {
    let mut named = vec![of(
        ctx,
        "models.list",
        &ctx.send(Req::get("/v1/models")).await?,
    )];
    if let Ok(model) = ctx.chat_model() {
        let ex = ctx.send(Req::get(format!("/v1/models/{model}"))).await?;
        named.push(of(ctx, "models.retrieve", &ex));
    }
    let ex = ctx
        .send(Req::get("/v1/models/conformance-no-such-model"))
        .await?;
    named.push(of(ctx, "models.unknown", &ex));
    judge(ctx, named)
}

async fn chat(ctx: &Ctx) -> Verdict {
    let plain = ctx.chat_plain().await?;
    let stream = ctx.chat_stream().await?;
    let unknown = json!({"model": "conformance-no-such-model", "messages": [{"role": "user", "content": "hi"}]});
    let error = ctx
        .send(Req::post("/v1/chat/completions", &unknown))
        .await?;
    judge(
        ctx,
        vec![
            of(ctx, "chat.completion", &plain),
            of_stream(ctx, "chat.stream", &stream)?,
            of(ctx, "chat.unknown-model", &error),
        ],
    )
}

async fn responses(ctx: &Ctx) -> Verdict {
    let created = ctx.responses_plain().await?;
    let mut named = vec![of(ctx, "responses.create", &created)];
    if let Some(id) = created
        .json()
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
    {
        let ex = ctx.send(Req::get(format!("/v1/responses/{id}"))).await?;
        named.push(of(ctx, "responses.retrieve", &ex));
    }
    named.push(of_stream(
        ctx,
        "responses.stream",
        &*ctx.responses_stream().await?,
    )?);
    judge(ctx, named)
}

async fn embeddings(ctx: &Ctx) -> Verdict {
    let model = ctx.embedding_model()?;
    let mut named = Vec::new();
    for format in ["float", "base64"] {
        let body = json!({"model": model, "input": "conformance", "encoding_format": format});
        let ex = ctx.send(Req::post("/v1/embeddings", &body)).await?;
        named.push(of(ctx, &format!("embeddings.{format}"), &ex));
    }
    judge(ctx, named)
}

async fn errors(ctx: &Ctx) -> Verdict {
    let anonymous = ctx
        .send(Req::get("/v1/models").auth(crate::target::Auth::None))
        .await?;
    let malformed = ctx
        .send(
            Req::new(http::Method::POST, "/v1/chat/completions")
                .raw("{\"model\": ", "application/json"),
        )
        .await?;
    judge(
        ctx,
        vec![
            of(ctx, "errors.no-credentials", &anonymous),
            of(ctx, "errors.malformed-json", &malformed),
        ],
    )
}

/// Runs after every other check (`run::run` orders it last of all).
async fn exchanges(ctx: &Ctx) -> Verdict {
    let recorder = ctx
        .recorder()
        .ok_or_else(|| skip("shapes are recorded only with --snapshots DIR"))?;
    if recorder.is_empty() {
        return Err(precondition(
            "exchanges sent by the other checks of the run",
            "none was sent: no other check ran, or none reached the target",
        ));
    }
    judge(ctx, recorder.named())
}
