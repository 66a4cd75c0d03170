//! Property tests against the live target. Inputs come from proptest strategies driven by a
//! seeded RNG (`--seed`), so a failing case is reproducible; `--budget` bounds the cases.
//! Cases are generated up front and sent in order, which keeps the checks runtime-agnostic.

use super::embeddings::{cosine, embed, norm, post_embeddings, vectors};
use super::*;
use crate::target::Auth;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "properties.embeddings.deterministic",
            OpenaiCore,
            "For generated inputs, two calls give the same direction",
            emb_deterministic
        ),
        check!(
            "properties.embeddings.distinct",
            OpenaiCore,
            "Generated distinct inputs give pairwise different unit vectors",
            emb_distinct
        ),
        check!(
            "properties.embeddings.dimensions",
            OpenaiCore,
            "Generated dimensions values are honoured exactly",
            emb_dimensions
        ),
        check!(
            "properties.headers.request-id",
            OpenaiCore,
            "Generated valid and invalid requests all carry x-request-id",
            request_ids
        ),
        check!(
            "properties.malformed.no-5xx",
            OpenaiCore,
            "Generated malformed bodies never give a 5xx, always the error envelope",
            malformed
        ),
    ]
}

/// `count` values of `strategy`, reproducible from `seed` and the check's `salt`.
fn generate<S: Strategy>(strategy: S, seed: u64, salt: u8, count: usize) -> Vec<S::Value> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8] = salt;
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    (0..count)
        .filter_map(|_| strategy.new_tree(&mut runner).ok().map(|t| t.current()))
        .collect()
}

fn text_input() -> impl Strategy<Value = String> {
    // Printable text of every script, never blank (an all-space input is a different case).
    "[a-zA-Z0-9][a-zA-Z0-9 ,.!?'éßж中😀-]{0,48}"
}

fn repro(ctx: &Ctx, id: &str) -> String {
    format!(
        "reproduce with --seed {} --budget {} --only {id}",
        ctx.options.seed, ctx.options.budget
    )
}

async fn emb_deterministic(ctx: &Ctx) -> Verdict {
    let inputs = generate(
        text_input(),
        ctx.options.seed,
        1,
        ctx.options.budget as usize,
    );
    let (_, _, a) = embed(ctx, json!(inputs), json!({})).await?;
    let (ex, _, b) = embed(ctx, json!(inputs), json!({})).await?;
    for (i, input) in inputs.iter().enumerate() {
        let c = cosine(&a[i], &b[i]);
        ensure(
            c >= 0.9999,
            format!("the same direction for {input:?} on two calls"),
            format!("cosine {c:.6}"),
            &ex,
        )
        .map_err(|p| p.hint(repro(ctx, "properties.embeddings.deterministic")))?;
    }
    pass_with(format!("{} inputs", inputs.len()))
}

async fn emb_distinct(ctx: &Ctx) -> Verdict {
    let mut inputs = generate(
        text_input(),
        ctx.options.seed,
        2,
        ctx.options.budget as usize,
    );
    inputs.sort();
    inputs.dedup();
    let (ex, _, v) = embed(ctx, json!(inputs), json!({})).await?;
    for i in 0..v.len() {
        let n = norm(&v[i]);
        ensure(
            (n - 1.0).abs() < 1e-3,
            format!("unit length for {:?}", inputs[i]),
            format!("norm {n:.6}"),
            &ex,
        )?;
        for j in i + 1..v.len() {
            let c = cosine(&v[i], &v[j]);
            ensure(
                c < 0.999,
                format!("different vectors for {:?} and {:?}", inputs[i], inputs[j]),
                format!("cosine {c:.6}"),
                &ex,
            )
            .map_err(|p| p.hint(repro(ctx, "properties.embeddings.distinct")))?;
        }
    }
    pass_with(format!(
        "{} inputs, {} pairs",
        v.len(),
        v.len() * v.len().saturating_sub(1) / 2
    ))
}

async fn emb_dimensions(ctx: &Ctx) -> Verdict {
    let count = (ctx.options.budget as usize).min(12);
    let dims = generate(1usize..=512, ctx.options.seed, 3, count);
    for d in dims {
        let ex =
            post_embeddings(ctx, json!("dimensions property"), json!({"dimensions": d})).await?;
        // A model that cannot shorten its vectors says so with a 400.
        if ex.status == 400 && d > 1 {
            return Err(skip(format!(
                "the model rejects dimensions: HTTP 400 {}",
                ex.excerpt()
            )));
        }
        let (_, v) = vectors(&ex, 1).map_err(Problem::into_precondition)?;
        let len = v.first().map_or(0, Vec::len);
        ensure(
            len == d,
            format!("{d} floats for dimensions: {d}"),
            format!("{len}"),
            &ex,
        )
        .map_err(|p| p.hint(repro(ctx, "properties.embeddings.dimensions")))?;
    }
    pass()
}

#[derive(Debug, Clone)]
struct ArbitraryRequest {
    method: &'static str,
    path: String,
    body: Option<String>,
    auth: bool,
}

fn arbitrary_request() -> impl Strategy<Value = ArbitraryRequest> {
    let method = proptest::sample::select(vec!["GET", "POST", "DELETE", "PUT"]);
    let path = proptest::prop_oneof![
        proptest::sample::select(vec![
            "/v1/models",
            "/v1/embeddings",
            "/v1/chat/completions",
            "/v1/responses"
        ])
        .prop_map(str::to_owned),
        "[a-z0-9_-]{1,12}".prop_map(|s| format!("/v1/{s}")),
        "[a-z0-9_-]{1,12}".prop_map(|s| format!("/v1/responses/{s}")),
    ];
    let body = proptest::option::of(proptest::prop_oneof![
        "\\PC{0,40}",
        "\\{\"model\":[0-9]{1,3}\\}".prop_map(|s| s.to_string())
    ]);
    (method, path, body, proptest::bool::ANY).prop_map(|(method, path, body, auth)| {
        ArbitraryRequest {
            method,
            path,
            body,
            auth,
        }
    })
}

async fn request_ids(ctx: &Ctx) -> Verdict {
    let cases = generate(
        arbitrary_request(),
        ctx.options.seed,
        4,
        ctx.options.budget as usize,
    );
    for case in &cases {
        let method = http::Method::from_bytes(case.method.as_bytes()).unwrap_or(http::Method::GET);
        let mut req = Req::new(method, case.path.clone()).auth(if case.auth {
            Auth::Default
        } else {
            Auth::None
        });
        if let Some(body) = &case.body {
            req = req.raw(body.clone(), "application/json");
        }
        let ex = ctx.send(req).await?;
        ensure(
            ex.header("x-request-id").is_some_and(|v| !v.is_empty()),
            format!("x-request-id on HTTP {}", ex.status),
            "missing",
            &ex,
        )
        .map_err(|p| p.hint(repro(ctx, "properties.headers.request-id")))?;
    }
    pass_with(format!("{} requests", cases.len()))
}

/// Malformed bodies: raw text, truncated valid JSON, wrong types, deep nesting, non-UTF-8.
fn malformed_body(model: String) -> impl Strategy<Value = (String, Vec<u8>)> {
    let valid =
        json!({"model": model, "messages": [{"role": "user", "content": "hello"}]}).to_string();
    let cut_len = valid.len();
    proptest::prop_oneof![
        "\\PC{0,60}".prop_map(|s| ("/v1/chat/completions".to_owned(), s.into_bytes())),
        (1..cut_len).prop_map(move |n| (
            "/v1/chat/completions".to_owned(),
            valid.as_bytes()[..n].to_vec()
        )),
        proptest::sample::select(vec![
            json!(1),
            json!("s"),
            json!(null),
            json!([1]),
            json!({"a": {}}),
            json!(-1.5),
            json!(true)
        ])
        .prop_flat_map(|v| {
            proptest::sample::select(vec![
                "model",
                "input",
                "messages",
                "dimensions",
                "n",
                "max_output_tokens",
                "tools",
                "stream",
            ])
            .prop_map(move |k| (k, v.clone()))
        })
        .prop_flat_map(|(k, v)| {
            proptest::sample::select(vec![
                "/v1/chat/completions",
                "/v1/embeddings",
                "/v1/responses",
            ])
            .prop_map(move |p| {
                (
                    p.to_owned(),
                    json!({k: v.clone(), "model": "x"}).to_string().into_bytes(),
                )
            })
        }),
        (1usize..400).prop_map(|depth| (
            "/v1/responses".to_owned(),
            format!("{{\"input\":{}{}}}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        )),
        proptest::collection::vec(128u8..=255, 1..20)
            .prop_map(|b| ("/v1/embeddings".to_owned(), b)),
    ]
}

async fn malformed(ctx: &Ctx) -> Verdict {
    let model = ctx.chat_model.clone().unwrap_or_else(|| "model".into());
    let cases = generate(
        malformed_body(model),
        ctx.options.seed,
        5,
        ctx.options.budget as usize,
    );
    for (path, body) in &cases {
        let ex = ctx
            .send(Req::new(http::Method::POST, path.clone()).raw(body.clone(), "application/json"))
            .await?;
        ensure(
            ex.status < 500,
            "a 4xx for a malformed body, never a 5xx",
            format!("HTTP {}: {}", ex.status, ex.excerpt()),
            &ex,
        )
        .map_err(|p| p.hint(repro(ctx, "properties.malformed.no-5xx")))?;
        if ex.status >= 400 {
            expect_envelope(ctx, &ex, &[ex.status])
                .map_err(|p| p.hint(repro(ctx, "properties.malformed.no-5xx")))?;
        }
    }
    pass_with(format!("{} bodies", cases.len()))
}
