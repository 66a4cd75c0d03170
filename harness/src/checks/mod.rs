//! The check catalogue. Each check has a stable id (`area.name`), a profile and a one-line
//! description; it runs against a `Ctx` and returns a `Verdict`. Failures say what was
//! expected, what was seen, and which request showed it.

mod chat;
mod chat_stream;
mod dreams;
mod embeddings;
mod errors;
mod facade;
mod headers;
mod idempotency;
mod indexes;
mod isolation;
mod models;
mod open_responses;
mod properties;
mod ratelimit;
mod responses;
mod responses_stream;
pub(crate) mod retry;
mod snapshots;
mod websocket;

use crate::root_cause::Symptom;
use crate::schemas::Schemas;
use crate::target::{Exchange, Req, StreamExchange, Target};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub use crate::result::{fail, precondition, skip, Metric, Pass, Problem, Profile, Verdict};

/// The description of a check, and whether it is scored, for a run's options and widest
/// profile.
pub type Adapt = fn(&CheckOptions, Profile) -> (String, bool);

/// A catalogue entry.
pub struct Check {
    /// Stable id, `area.name`.
    pub id: &'static str,
    /// The profile it belongs to.
    pub profile: Profile,
    /// One line on what it verifies.
    pub description: &'static str,
    /// The check itself.
    pub run: for<'a> fn(&'a Ctx) -> BoxFuture<'a, Verdict>,
    /// Disturbs the target (e.g. exhausts a rate limit): runs alone, after all others.
    pub last: bool,
    /// Counts towards the compatibility score; checks of the target's self-description
    /// (its own OpenAPI document) are reported but not scored.
    pub scored: bool,
    /// For checks whose subject depends on the options (which document judges the answers):
    /// the description and whether it is scored, for this run.
    pub adapt: Option<Adapt>,
}

impl Check {
    /// The area: the id up to the first dot.
    pub fn area(&self) -> &'static str {
        self.id.split('.').next().unwrap_or(self.id)
    }
}

/// Declares a catalogue entry from an `async fn(&Ctx) -> Verdict`.
macro_rules! check {
    ($id:literal, $profile:ident, $desc:literal, $f:path) => {
        $crate::checks::Check {
            id: $id,
            profile: $crate::checks::Profile::$profile,
            description: $desc,
            run: |ctx| Box::pin($f(ctx)),
            last: false,
            scored: true,
            adapt: None,
        }
    };
    ($id:literal, $profile:ident, $desc:literal, $f:path, last) => {
        $crate::checks::Check {
            last: true,
            ..check!($id, $profile, $desc, $f)
        }
    };
    ($id:literal, $profile:ident, $desc:literal, $f:path, unscored) => {
        $crate::checks::Check {
            scored: false,
            ..check!($id, $profile, $desc, $f)
        }
    };
}
pub(crate) use check;

/// Every check, in report order.
pub fn catalogue() -> Vec<Check> {
    let mut all = Vec::new();
    all.extend(models::checks());
    all.extend(embeddings::checks());
    all.extend(chat::checks());
    all.extend(chat_stream::checks());
    all.extend(responses::checks());
    all.extend(responses_stream::checks());
    all.extend(errors::checks());
    all.extend(headers::checks());
    all.extend(ratelimit::checks());
    all.extend(idempotency::checks());
    all.extend(open_responses::checks());
    all.extend(websocket::checks());
    all.extend(facade::checks());
    all.extend(indexes::checks());
    all.extend(isolation::checks());
    all.extend(dreams::checks());
    all.extend(properties::checks());
    all.extend(snapshots::checks());
    all
}

/// Options that shape what checks send.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Require a 401 for an unknown key (targets with strict auth); implies `expect_auth`.
    pub expect_strict_auth: bool,
    /// Require a 401 for a request without credentials (a target that wants a key, even one
    /// that accepts any).
    pub expect_auth: bool,
    /// Seed of the property tests.
    pub seed: u64,
    /// Cases per property test.
    pub budget: u32,
    /// Body size for the oversized-body check.
    pub oversized_bytes: usize,
    /// Allow checks that send bursts (rate-limit probing).
    pub aggressive: bool,
    /// Most requests a burst may send.
    pub burst_max: u32,
    /// Inputs in the embeddings batch that keeps a request in flight while its duplicates
    /// arrive (idempotency.concurrent.409).
    pub heavy_batch: usize,
    /// A document to check answers against instead of the target's `/openapi.json` (for
    /// example OpenAI's own), with where it came from.
    pub openapi: Option<std::sync::Arc<(String, Value)>>,
    /// Where shapes are recorded and compared (`--snapshots DIR`), if anywhere.
    pub snapshots: Option<std::sync::Arc<crate::snapshots::SnapshotOptions>>,
    /// How 429s and transient 5xx are ridden out.
    pub retry: retry::RetryPolicy,
    /// A key of another project, for the isolation checks (`--second-api-key`).
    pub second_api_key: Option<String>,
}

impl Default for CheckOptions {
    /// What `conformance run` sends without flags: a target that is not ours is not burst and
    /// its auth is not held to strict, 16 cases per property, a 4 MiB oversized body.
    fn default() -> Self {
        Self {
            expect_strict_auth: false,
            expect_auth: false,
            seed: 0,
            budget: 16,
            oversized_bytes: 4 * 1024 * 1024,
            aggressive: false,
            burst_max: 2000,
            heavy_batch: 2048,
            openapi: None,
            snapshots: None,
            retry: retry::RetryPolicy::default(),
            second_api_key: None,
        }
    }
}

/// What checks share: the target, schemas, models and cached baseline exchanges.
pub struct Ctx {
    /// The target client.
    pub target: Target,
    /// Compiled schemas.
    pub schemas: Schemas,
    /// The chat model to use, if the target has one.
    pub chat_model: Option<String>,
    /// The embedding model to use, if the target has one.
    pub embedding_model: Option<String>,
    /// Options.
    pub options: CheckOptions,
    discovery: crate::target::discovery::Discovery,
    chat_plain: OnceCell<Result<Exchange, Problem>>,
    responses_plain: OnceCell<Result<Exchange, Problem>>,
    chat_stream: OnceCell<Result<Arc<StreamExchange>, Problem>>,
    responses_stream: OnceCell<Result<Arc<StreamExchange>, Problem>>,
    /// With `--snapshots`: the shape of every exchange, under the check that sent it.
    recorder: Option<crate::snapshots::record::Recorder>,
    /// The 429s waited out and the 5xx asked again.
    pub retries: retry::Retries,
}

tokio::task_local! {
    /// The check whose future is being polled: its exchanges are recorded under its id.
    static CHECK: &'static str;
}

/// Runs `f` as check `id`: the exchanges it sends are recorded under that id.
pub async fn as_check<F: std::future::Future>(id: &'static str, f: F) -> F::Output {
    CHECK.scope(id, f).await
}

/// The checks whose exchanges are not recorded: the property checks' inputs are generated
/// from the seed, and the snapshot checks record their own.
fn recorded(check: &str) -> bool {
    !(check.starts_with("properties.") || check.starts_with("snapshots."))
}

/// The prompt of the baseline requests; short so any model answers quickly.
pub const BASELINE_PROMPT: &str = "Say hello to the conformance kit in five words.";

impl Ctx {
    /// A context for `target`.
    pub fn new(
        target: Target,
        schemas: Schemas,
        chat_model: Option<String>,
        embedding_model: Option<String>,
        options: CheckOptions,
    ) -> Self {
        let recorder = options
            .snapshots
            .as_ref()
            .map(|_| crate::snapshots::record::Recorder::new(target.api_root()));
        Self {
            recorder,
            retries: retry::Retries::new(options.retry.clone()),
            target,
            schemas,
            chat_model,
            embedding_model,
            options,
            discovery: crate::target::discovery::Discovery::default(),
            chat_plain: OnceCell::new(),
            responses_plain: OnceCell::new(),
            chat_stream: OnceCell::new(),
            responses_stream: OnceCell::new(),
        }
    }

    /// What model discovery found.
    pub fn with_discovery(mut self, discovery: crate::target::discovery::Discovery) -> Self {
        self.discovery = discovery;
        self
    }

    fn no_model(&self, kind: &str, flag: &str) -> Problem {
        match &self.discovery.problem {
            Some(why) => skip(format!("no {kind} model: {why}; or pass {flag}")),
            None => skip(format!(
                "none of the {} the target lists looks like {} {kind} model; pass {flag}",
                crate::text::plural(self.discovery.listed, "model", "models"),
                if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                }
            )),
        }
    }

    /// The chat model, or a skip that says why there is none.
    pub fn chat_model(&self) -> Result<&str, Problem> {
        self.chat_model
            .as_deref()
            .ok_or_else(|| self.no_model("chat", "--chat-model"))
    }

    /// The embedding model, or a skip that says why there is none.
    pub fn embedding_model(&self) -> Result<&str, Problem> {
        self.embedding_model
            .as_deref()
            .ok_or_else(|| self.no_model("embedding", "--embedding-model"))
    }

    /// The recorder and the running check (`as_check`), when this exchange's shape is
    /// recorded. The baselines are not: the sampled `snapshots.chat`/`.responses` are theirs.
    fn recording(&self) -> Option<(&crate::snapshots::record::Recorder, &'static str, usize)> {
        let recorder = self.recorder.as_ref()?;
        let check = CHECK.try_with(|c| *c).ok()?;
        recorded(check).then(|| (recorder, check, recorder.ticket()))
    }

    /// The running check's id (for the retry counts).
    fn check_id() -> &'static str {
        CHECK.try_with(|c| *c).unwrap_or("")
    }

    /// Sends a request (its shape recorded under the running check, with `--snapshots`); a
    /// 429 is waited out and a transient 5xx asked again, as [`retry`] says.
    pub async fn send(&self, req: Req) -> Result<Exchange, Problem> {
        let recording = self.recording();
        let whole = req.reads_whole();
        let ex = self
            .retries
            .send(Self::check_id(), req, |r| self.target.send(r))
            .await?;
        if let Some((recorder, check, order)) = recording {
            recorder.note(
                check,
                order,
                (&ex.request.method, &ex.request.url),
                (ex.status, &ex.media_type()),
                crate::snapshots::record::RecordedAnswer::Body {
                    body: &ex.body,
                    whole,
                },
            );
        }
        Ok(ex)
    }

    /// Sends a streaming request (its shape recorded under the running check, with
    /// `--snapshots`).
    pub async fn stream(&self, req: Req) -> Result<StreamExchange, Problem> {
        let recording = self.recording();
        let s = self
            .retries
            .send(Self::check_id(), req, |r| self.target.stream(r))
            .await?;
        if let Some((recorder, check, order)) = recording {
            let ex = &s.exchange;
            let answer = if ex.media_type() == "text/event-stream" {
                crate::snapshots::record::RecordedAnswer::Stream {
                    data: s.events.iter().map(|e| e.data.as_str()).collect(),
                    cut: s.cut.is_some(),
                }
            } else {
                crate::snapshots::record::RecordedAnswer::Body {
                    body: &ex.body,
                    whole: s.cut.is_none(),
                }
            };
            recorder.note(
                check,
                order,
                (&ex.request.method, &ex.request.url),
                (ex.status, &ex.media_type()),
                answer,
            );
        }
        Ok(s)
    }

    /// The recorder of this run's shapes, with `--snapshots`.
    pub fn recorder(&self) -> Option<&crate::snapshots::record::Recorder> {
        self.recorder.as_ref()
    }

    /// The baseline chat request body.
    pub fn chat_body(&self, stream: bool) -> Result<Value, Problem> {
        let mut body = json!({
            "model": self.chat_model()?,
            "messages": [{"role": "user", "content": BASELINE_PROMPT}],
            "temperature": 0,
        });
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        Ok(body)
    }

    /// The baseline responses request body.
    pub fn responses_body(&self, stream: bool) -> Result<Value, Problem> {
        let mut body =
            json!({"model": self.chat_model()?, "input": BASELINE_PROMPT, "temperature": 0});
        if stream {
            body["stream"] = json!(true);
        }
        Ok(body)
    }

    /// A baseline request, unrecorded (the sampled snapshots record the baselines).
    async fn baseline(&self, req: Req) -> Result<Exchange, Problem> {
        self.retries
            .send(Self::check_id(), req, |r| self.target.send(r))
            .await
    }

    /// The baseline chat completion (sent once per run).
    pub async fn chat_plain(&self) -> Result<Exchange, Problem> {
        let body = self.chat_body(false)?;
        let r = self
            .chat_plain
            .get_or_init(|| self.baseline(Req::post("/v1/chat/completions", &body)))
            .await;
        r.clone()
    }

    /// The baseline response (sent once per run).
    pub async fn responses_plain(&self) -> Result<Exchange, Problem> {
        let body = self.responses_body(false)?;
        let r = self
            .responses_plain
            .get_or_init(|| self.baseline(Req::post("/v1/responses", &body)))
            .await;
        r.clone()
    }

    /// The baseline streamed chat completion, with `include_usage` (sent once per run).
    pub async fn chat_stream(&self) -> Result<Arc<StreamExchange>, Problem> {
        let body = self.chat_body(true)?;
        let r = self
            .chat_stream
            .get_or_init(|| async {
                let req = Req::post("/v1/chat/completions", &body);
                self.retries
                    .send(Self::check_id(), req, |r| self.target.stream(r))
                    .await
                    .map(Arc::new)
            })
            .await;
        r.clone()
    }

    /// The baseline streamed response (sent once per run).
    pub async fn responses_stream(&self) -> Result<Arc<StreamExchange>, Problem> {
        let body = self.responses_body(true)?;
        let r = self
            .responses_stream
            .get_or_init(|| async {
                let req = Req::post("/v1/responses", &body);
                self.retries
                    .send(Self::check_id(), req, |r| self.target.stream(r))
                    .await
                    .map(Arc::new)
            })
            .await;
        r.clone()
    }

    /// Validates `value` against schema `name`.
    pub fn schema(&self, name: &str, value: &Value, ex: &Exchange) -> Result<(), Problem> {
        let problems = self.schemas.problems(name, value);
        if problems.is_empty() {
            return Ok(());
        }
        Err(fail(
            format!("a body valid against schemas/{name}.schema.json"),
            format!(
                "{} in HTTP {} {}",
                problems.join("; "),
                ex.status,
                ex.excerpt()
            ),
        )
        .at(&ex.request))
    }
}

/// The JSON events of a stream whose events another check is about: a 200, a complete
/// stream, every event JSON, and at least one event, or a failed precondition that says
/// what came instead (so no check passes by looping over nothing).
pub fn stream_json(s: &StreamExchange) -> Result<Vec<Value>, Problem> {
    let ex = &s.exchange;
    expect_status(ex, 200).map_err(Problem::into_precondition)?;
    if let Some(cut) = &s.cut {
        return Err(precondition("a complete stream", cut.clone()).at(&ex.request));
    }
    let events = chat_stream::json_events(&s.events, ex)
        .map_err(|p| stream_symptom(p.into_precondition(), ex))?;
    if events.is_empty() {
        let problem = precondition("at least one JSON event in the stream", no_events(s));
        return Err(stream_symptom(problem.at(&ex.request), ex));
    }
    Ok(events)
}

/// `problem`, marked as the symptom "not SSE" when the stream's answer was not
/// `text/event-stream` (one such server fails every stream check for that one reason).
pub fn stream_symptom(problem: Problem, ex: &Exchange) -> Problem {
    if ex.media_type() == "text/event-stream" {
        problem
    } else {
        problem.symptom(Symptom::NotSse)
    }
}

/// What a stream without events was instead.
pub fn no_events(s: &StreamExchange) -> String {
    let ex = &s.exchange;
    format!(
        "{} (Content-Type {:?}): {}",
        crate::text::plural(s.events.len(), "SSE event", "SSE events"),
        ex.header("content-type").unwrap_or("none"),
        ex.excerpt()
    )
}

/// Requires `status`.
pub fn expect_status(ex: &Exchange, status: u16) -> Result<(), Problem> {
    if ex.status == status {
        return Ok(());
    }
    Err(fail(
        format!("HTTP {status}"),
        format!("HTTP {}: {}", ex.status, ex.excerpt()),
    )
    .at(&ex.request)
    .symptom(Symptom::status(ex)))
}

/// Requires the response's media type (parameters such as charset ignored).
pub fn expect_media_type(ex: &Exchange, media: &str) -> Result<(), Problem> {
    ensure(
        ex.media_type() == media,
        format!("Content-Type: {media}"),
        format!("{:?}", ex.header("content-type").unwrap_or("<none>")),
        ex,
    )
    .map_err(|p| match media {
        "text/event-stream" => p.symptom(Symptom::NotSse),
        _ => p,
    })
}

/// Requires a 200 with a JSON body, and returns the body.
pub fn expect_ok_json(ex: &Exchange) -> Result<Value, Problem> {
    expect_status(ex, 200)?;
    ex.json()
        .map_err(|e| fail("a JSON body", e).at(&ex.request))
}

/// Requires an error status in `allowed`, a JSON content type and the full envelope.
pub fn expect_envelope(ctx: &Ctx, ex: &Exchange, allowed: &[u16]) -> Result<Value, Problem> {
    let wanted = allowed
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    if !allowed.contains(&ex.status) {
        let problem = fail(
            format!("HTTP {wanted} with the error envelope"),
            format!("HTTP {}: {}", ex.status, ex.excerpt()),
        )
        .at(&ex.request);
        // Another client error than the one due is this check's own finding; a server error
        // or a route not served is a root cause other checks share.
        return Err(match ex.status {
            404 | 405 | 500..=599 => problem.symptom(Symptom::status(ex)),
            _ => problem,
        });
    }
    // The SDKs parse any JSON media type (application/problem+json included) as JSON; what
    // matters to them is the envelope inside.
    let media = ex.media_type();
    if media != "application/json" && !media.ends_with("+json") {
        return Err(fail(
            "Content-Type: application/json on the error",
            format!(
                "Content-Type: {:?}",
                ex.header("content-type").unwrap_or("<none>")
            ),
        )
        .at(&ex.request)
        .hint("the official Node SDK only parses application/json bodies"));
    }
    let body = ex
        .json()
        .map_err(|e| fail("a JSON error body", e).at(&ex.request))?;
    ctx.schema("error", &body, ex).map_err(|p| {
        p.hint("send {\"error\":{\"message\",\"type\",\"param\",\"code\"}} with all four keys")
    })?;
    Ok(body)
}

/// Requires `condition`, else fails with expected/seen.
pub fn ensure(
    condition: bool,
    expected: impl Into<String>,
    seen: impl Into<String>,
    ex: &Exchange,
) -> Result<(), Problem> {
    if condition {
        Ok(())
    } else {
        Err(fail(expected, seen).at(&ex.request))
    }
}

/// A pass that records time to first token (first content delta) and to first byte.
pub fn first_token(first: std::time::Duration, ttfb: std::time::Duration) -> Pass {
    let ms = first.as_secs_f64() * 1000.0;
    Pass {
        note: Some(format!("first token after {ms:.1} ms")),
        metrics: vec![
            Metric {
                name: "ttft_ms".into(),
                value: ms,
            },
            Metric {
                name: "ttfb_ms".into(),
                value: ttfb.as_secs_f64() * 1000.0,
            },
        ],
    }
}

/// A passing verdict.
pub fn pass() -> Verdict {
    Ok(Pass::default())
}

/// A passing verdict with a note.
pub fn pass_with(note: impl Into<String>) -> Verdict {
    Ok(Pass {
        note: Some(note.into()),
        metrics: Vec::new(),
    })
}

/// Short text for a JSON value in messages.
pub fn show(v: &Value) -> String {
    crate::target::excerpt(&v.to_string(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let all = catalogue();
        let mut seen = HashSet::new();
        for c in &all {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(
                c.id.contains('.')
                    && c.id.chars().all(|ch| ch.is_ascii_lowercase()
                        || ch.is_ascii_digit()
                        || ".-".contains(ch)),
                "{}",
                c.id
            );
            assert!(
                !c.description.is_empty() && !c.description.ends_with('.'),
                "{}",
                c.id
            );
        }
    }
}
