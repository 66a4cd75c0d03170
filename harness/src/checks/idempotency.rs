//! `Idempotency-Key` on POST: replay, mismatch and concurrent duplicates.

use super::*;
use futures::future::join_all;
use std::time::Duration;

pub fn checks() -> Vec<Check> {
    vec![
        check!("idempotency.replay", Facade, "A repeated Idempotency-Key with the same body replays the first response, marked Idempotent-Replayed", replay),
        check!("idempotency.mismatch.422", Facade, "A reused Idempotency-Key with a different body gets 422 in the envelope", mismatch),
        check!("idempotency.concurrent.409", Facade, "Concurrent duplicates execute once; those arriving in flight get 409", concurrent),
    ]
}

fn key(name: &str) -> String {
    format!("conformance-{name}-{}", uuid::Uuid::new_v4().simple())
}

async fn replay(ctx: &Ctx) -> Verdict {
    let k = key("replay");
    let body = ctx.chat_body(false)?;
    let first = ctx
        .send(Req::post("/v1/chat/completions", &body).header("Idempotency-Key", &k))
        .await?;
    let a = expect_ok_json(&first)?;
    let second = ctx
        .send(Req::post("/v1/chat/completions", &body).header("Idempotency-Key", &k))
        .await?;
    let b = expect_ok_json(&second)?;
    ensure(
        second.header("idempotent-replayed") == Some("true"),
        "Idempotent-Replayed: true on the repeat",
        format!("{:?}", second.header("idempotent-replayed")),
        &second,
    )?;
    ensure(
        a == b,
        format!("the first response again (id {})", show(&a["id"])),
        format!("id {}", show(&b["id"])),
        &second,
    )
    .map_err(|p| p.hint("a replay must not execute the request again"))?;
    pass()
}

async fn mismatch(ctx: &Ctx) -> Verdict {
    let k = key("mismatch");
    let body = ctx.chat_body(false)?;
    let first = ctx
        .send(Req::post("/v1/chat/completions", &body).header("Idempotency-Key", &k))
        .await?;
    expect_ok_json(&first)?;
    let mut other = body.clone();
    other["messages"][0]["content"] = json!("A different question entirely.");
    let second = ctx
        .send(Req::post("/v1/chat/completions", &other).header("Idempotency-Key", &k))
        .await?;
    expect_envelope(ctx, &second, &[422])?;
    pass()
}

/// How long the first execution should stay in flight.
const IN_FLIGHT: Duration = Duration::from_secs(1);

/// Inputs of one embeddings batch: enough to last `aim`, at least 16, at most `heavy_batch`.
/// The cost of an input is measured as the difference between a batch of 16 and a batch of
/// one, so a request's fixed cost (the network, a busy machine) does not shrink the batch. A
/// fast server gets the largest batch, a slow one (50 ms an input) a few dozen, so the check
/// takes seconds, never minutes.
async fn batch_for(ctx: &Ctx, aim: Duration) -> Result<usize, Problem> {
    const PROBE: usize = 16;
    let most = ctx.options.heavy_batch.max(PROBE);
    let mut took = Vec::new();
    // Texts of this run only: a server that caches embeddings must compute them.
    let run = uuid::Uuid::new_v4().simple().to_string();
    for n in [1, PROBE] {
        let inputs: Vec<String> = (0..n).map(|i| format!("sizing probe {run} {i}")).collect();
        let body =
            json!({"model": ctx.embedding_model()?, "input": inputs, "encoding_format": "base64"});
        let ex = ctx
            .send(Req::post("/v1/embeddings", &body).keep_body(64 * 1024))
            .await?;
        expect_status(&ex, 200).map_err(Problem::into_precondition)?;
        took.push(ex.elapsed.as_secs_f64());
    }
    let per_input = (took[1] - took[0]) / (PROBE - 1) as f64;
    let size = if per_input > 0.0 {
        (aim.as_secs_f64() / per_input).ceil() as usize
    } else {
        most
    };
    Ok(size.clamp(PROBE, most))
}

async fn concurrent(ctx: &Ctx) -> Verdict {
    let k = key("concurrent");
    // A batch that keeps the first execution in flight while the duplicates arrive, sized
    // from a measured one so that it lasts about a second whatever the target's speed.
    let size = batch_for(ctx, IN_FLIGHT).await?;
    // The key makes the texts this run's own, so a cache cannot answer them at once.
    let inputs: Vec<String> = (0..size)
        .map(|i| format!("idempotency probe {k} {i}"))
        .collect();
    let body =
        json!({"model": ctx.embedding_model()?, "input": inputs, "encoding_format": "base64"});
    let sends = (0..8).map(|_| {
        ctx.send(
            Req::post("/v1/embeddings", &body)
                .header("Idempotency-Key", &k)
                // Status and headers are the subject; eight whole batches are not needed.
                .keep_body(64 * 1024)
                // A 429 waited out would come back after the others ended, a duplicate no
                // longer concurrent: a rate-limited duplicate is left out of the count instead
                // (it was not executed, and a key is not kept for it).
                .raw_rate_limits(),
        )
    });
    let (mut executed, mut conflicts, mut replayed, mut limited) = (0, 0, 0, 0);
    let mut last = None;
    for ex in join_all(sends).await {
        let ex = ex?;
        match (ex.status, ex.header("idempotent-replayed") == Some("true")) {
            (429, _) => limited += 1,
            (200, false) => executed += 1,
            (200, true) => replayed += 1,
            (409, _) => {
                expect_envelope(ctx, &ex, &[409])?;
                conflicts += 1;
            }
            _ => {
                return Err(fail(
                    "200, a replay, or 409 for each duplicate",
                    format!("HTTP {}: {}", ex.status, ex.excerpt()),
                )
                .at(&ex.request))
            }
        }
        last = Some(ex);
    }
    if let Some(ex) = last.as_ref().filter(|_| executed == 0 && limited > 0) {
        return Err(precondition(
            "duplicates the target admits",
            format!("{limited} of 8 rate-limited (HTTP 429), none executed"),
        )
        .at(&ex.request));
    }
    if let Some(ex) = &last {
        ensure(
            executed == 1,
            "exactly one execution among 8 concurrent duplicates",
            format!("{executed} executions ({replayed} replays, {conflicts} conflicts)"),
            ex,
        )?;
    }
    let limited = match limited {
        0 => String::new(),
        n => format!(", {n} rate-limited (left out)"),
    };
    if conflicts == 0 {
        return Err(skip(format!("the duplicates did not overlap the first execution ({replayed} replays), so 409 could not be observed")));
    }
    pass_with(format!(
        "1 execution, {conflicts} conflicts, {replayed} replays{limited} (a batch of {size} inputs)"
    ))
}
