//! A bare axum server answering `GET /v1/models` and `POST /v1/embeddings` with constant
//! bodies of the same size as the reference server's: the baseline for load comparisons
//! (no middleware, no auth, no engine). Prints its address like the real server.

use axum::routing::{get, post};
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let models = serde_json::json!({"object": "list", "data": [
        {"id": "ref-chat-1", "object": "model", "created": 1_700_000_000, "owned_by": "reference-server"},
        {"id": "ref-embed-1", "object": "model", "created": 1_700_000_000, "owned_by": "reference-server"}]})
    .to_string();
    let vector: Vec<f32> = (0..1536).map(|i| (i as f32 / 1536.0) - 0.5).collect();
    let embeddings = serde_json::json!({"object": "list", "model": "ref-embed-1",
        "data": [{"object": "embedding", "index": 0, "embedding": vector}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4}})
    .to_string();
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
