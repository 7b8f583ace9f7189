//! `wasmhook-bench baseline`: the bare axum handler ingest is measured against. It checks the
//! content type and parses the JSON, then answers 202, storing nothing.

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;

async fn accept(headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "{\"error\":\"not json\"}");
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => (StatusCode::ACCEPTED, "{\"status\":\"accepted\"}"),
        Err(_) => (StatusCode::BAD_REQUEST, "{\"error\":\"malformed\"}"),
    }
}

/// Serve the baseline on `listen` until Ctrl-C.
pub fn serve_baseline(listen: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
        println!("baseline listening on http://{}", listener.local_addr()?);
        let app = Router::new().route("/hooks/{token}", post(accept));
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })
}
