//! A bare axum server answering `GET /v1/models` and `POST /v1/embeddings` with constant
//! bodies: the baseline for load comparisons (no middleware, no auth, no engine). The bodies
//! are the reference server's own bytes, taken from it once at start (the model list, and the
//! embedding of `scripts/bench-routes.sh`'s input), so a comparison measures the serving and
//! not a difference in size. Prints its address like the real server.

use axum::body::Body;
use axum::http::Request;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use tower::ServiceExt;

/// The input `scripts/bench-routes.sh` embeds.
const BENCH_INPUT: &str = "The quick brown fox jumps over the lazy dog";

/// The reference server's body for `request`.
async fn reference_body(request: Request<Body>) -> std::io::Result<Bytes> {
    let app = reference_server::app(reference_server::Config::default());
    let response = app.oneshot(request).await.map_err(std::io::Error::other)?;
    if !response.status().is_success() {
        return Err(std::io::Error::other(format!(
            "the reference server answered {}",
            response.status()
        )));
    }
    axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(std::io::Error::other)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let get_models = Request::get("/v1/models")
        .header("authorization", "Bearer sk-bench")
        .body(Body::empty())
        .map_err(std::io::Error::other)?;
    let models = reference_body(get_models).await?;
    let embed = serde_json::json!({"model": "ref-embed-1", "input": BENCH_INPUT}).to_string();
    let post_embeddings = Request::post("/v1/embeddings")
        .header("authorization", "Bearer sk-bench")
        .header("content-type", "application/json")
        .body(Body::from(embed))
        .map_err(std::io::Error::other)?;
    let embeddings = reference_body(post_embeddings).await?;
    let app = Router::new()
        .route(
            "/v1/models",
            get(move || async move { ([("content-type", "application/json")], models) }),
        )
        .route(
            "/v1/embeddings",
            post(move || async move { ([("content-type", "application/json")], embeddings) }),
        );
    let port = std::env::args().nth(1).unwrap_or_else(|| "0".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
