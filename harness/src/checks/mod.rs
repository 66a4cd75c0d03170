//! The check catalogue. Each check has a stable id (`area.name`), a profile and a one-line
//! description; it runs against a `Ctx` and returns a `Verdict`. Failures say what was
//! expected, what was seen, and which request showed it.

mod chat;
mod chat_stream;
mod embeddings;
mod errors;
mod facade;
mod headers;
mod idempotency;
mod models;
mod properties;
mod ratelimit;
mod responses;
mod responses_stream;

use crate::schemas::Schemas;
use crate::target::{Exchange, Req, RequestRecord, StreamExchange, Target, TransportError};
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

/// Which promise a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// What any OpenAI-compatible server should pass.
    OpenaiCore,
    /// The facade's own promises (ids, probes, exactness).
    Facade,
}

impl Profile {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenaiCore => "openai-core",
            Self::Facade => "facade",
        }
    }
}

/// A passing check, with optional measurements.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Pass {
    /// A short remark shown beside the verdict.
    pub note: Option<String>,
    /// Measurements such as time to first token.
    pub metrics: Vec<Metric>,
}

/// One measurement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metric {
    /// Name, e.g. `ttft_ms`.
    pub name: String,
    /// Value.
    pub value: f64,
}

/// A failed expectation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    /// What the check wanted.
    pub expected: String,
    /// What the target did.
    pub seen: String,
    /// The request that showed it.
    pub request: Option<RequestRecord>,
    /// What to fix, when it is not obvious.
    pub hint: Option<String>,
}

/// Why a check did not pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The target is wrong.
    Fail(Box<Failure>),
    /// The check cannot apply to this target; the reason says why.
    Skip(String),
}

/// A check's result.
pub type Verdict = Result<Pass, Problem>;

/// A failure: expected vs seen.
pub fn fail(expected: impl Into<String>, seen: impl Into<String>) -> Problem {
    Problem::Fail(Box::new(Failure {
        expected: expected.into(),
        seen: seen.into(),
        request: None,
        hint: None,
    }))
}

/// A skip with its reason.
pub fn skip(reason: impl Into<String>) -> Problem {
    Problem::Skip(reason.into())
}

impl Problem {
    /// Attaches the request that showed the failure.
    pub fn at(mut self, request: &RequestRecord) -> Self {
        if let Self::Fail(f) = &mut self {
            if f.request.is_none() {
                f.request = Some(request.clone());
            }
        }
        self
    }

    /// Adds a hint about the fix.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        if let Self::Fail(f) = &mut self {
            f.hint = Some(hint.into());
        }
        self
    }
}

impl From<TransportError> for Problem {
    fn from(e: TransportError) -> Self {
        fail("a response", e.to_string())
    }
}

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
        }
    };
    ($id:literal, $profile:ident, $desc:literal, $f:path, last) => {
        $crate::checks::Check {
            last: true,
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
    all.extend(facade::checks());
    all.extend(properties::checks());
    all
}

/// Options that shape what checks send.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Require a 401 for an unknown key (targets with strict auth).
    pub expect_strict_auth: bool,
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
    chat_plain: OnceCell<Result<Exchange, TransportError>>,
    responses_plain: OnceCell<Result<Exchange, TransportError>>,
    chat_stream: OnceCell<Result<StreamExchange, TransportError>>,
    responses_stream: OnceCell<Result<StreamExchange, TransportError>>,
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
        Self {
            target,
            schemas,
            chat_model,
            embedding_model,
            options,
            chat_plain: OnceCell::new(),
            responses_plain: OnceCell::new(),
            chat_stream: OnceCell::new(),
            responses_stream: OnceCell::new(),
        }
    }

    /// The chat model, or a skip.
    pub fn chat_model(&self) -> Result<&str, Problem> {
        self.chat_model
            .as_deref()
            .ok_or_else(|| skip("the target lists no chat model; pass --chat-model"))
    }

    /// The embedding model, or a skip.
    pub fn embedding_model(&self) -> Result<&str, Problem> {
        self.embedding_model
            .as_deref()
            .ok_or_else(|| skip("the target lists no embedding model; pass --embedding-model"))
    }

    /// Sends a request.
    pub async fn send(&self, req: Req) -> Result<Exchange, Problem> {
        Ok(self.target.send(req).await?)
    }

    /// Sends a streaming request.
    pub async fn stream(&self, req: Req) -> Result<StreamExchange, Problem> {
        Ok(self.target.stream(req).await?)
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

    /// The baseline chat completion (sent once per run).
    pub async fn chat_plain(&self) -> Result<Exchange, Problem> {
        let body = self.chat_body(false)?;
        let r = self
            .chat_plain
            .get_or_init(|| self.target.send(Req::post("/v1/chat/completions", &body)))
            .await;
        Ok(r.clone()?)
    }

    /// The baseline response (sent once per run).
    pub async fn responses_plain(&self) -> Result<Exchange, Problem> {
        let body = self.responses_body(false)?;
        let r = self
            .responses_plain
            .get_or_init(|| self.target.send(Req::post("/v1/responses", &body)))
            .await;
        Ok(r.clone()?)
    }

    /// The baseline streamed chat completion, with `include_usage` (sent once per run).
    pub async fn chat_stream(&self) -> Result<StreamExchange, Problem> {
        let body = self.chat_body(true)?;
        let r = self
            .chat_stream
            .get_or_init(|| self.target.stream(Req::post("/v1/chat/completions", &body)))
            .await;
        Ok(r.clone()?)
    }

    /// The baseline streamed response (sent once per run).
    pub async fn responses_stream(&self) -> Result<StreamExchange, Problem> {
        let body = self.responses_body(true)?;
        let r = self
            .responses_stream
            .get_or_init(|| self.target.stream(Req::post("/v1/responses", &body)))
            .await;
        Ok(r.clone()?)
    }

    /// Validates `value` against schema `name`.
    pub fn schema(&self, name: &str, value: &Value, ex: &Exchange) -> Result<(), Problem> {
        let problems = self.schemas.problems(name, value);
        if problems.is_empty() {
            return Ok(());
        }
        Err(fail(
            format!("a body valid against schemas/{name}.schema.json"),
            problems.join("; "),
        )
        .at(&ex.request))
    }
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
    .at(&ex.request))
}

/// Requires the response's media type (parameters such as charset ignored).
pub fn expect_media_type(ex: &Exchange, media: &str) -> Result<(), Problem> {
    ensure(
        ex.media_type() == media,
        format!("Content-Type: {media}"),
        format!("{:?}", ex.header("content-type").unwrap_or("<none>")),
        ex,
    )
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
        return Err(fail(
            format!("HTTP {wanted} with the error envelope"),
            format!("HTTP {}: {}", ex.status, ex.excerpt()),
        )
        .at(&ex.request));
    }
    if ex.media_type() != "application/json" {
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
