//! The load test's ceiling: an axum server that parses the same
//! `POST /v1/authorize` body as Warden and answers a constant, so the ratio
//! of Warden's throughput to this one is what the check itself costs.
//! Not part of Warden's API.
//!
//! `cargo run --release -p warden --example ceiling -- 127.0.0.1:8181`

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use warden::authz::CheckRequest;

/// The same allocator as the `warden` binary, so the ratio compares the
/// work and not the allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn authorize(Json(_request): Json<CheckRequest>) -> Json<Value> {
    Json(
        json!({"decision": "Allow", "diagnostics": {"reason": [], "errors": []}, "explanation": "", "policy_revision": 1}),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8181".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("ceiling listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        Router::new().route("/v1/authorize", post(authorize)),
    )
    .await?;
    Ok(())
}
