//! `GET /api/v1/plugins`: the plugins an admin can attach.

use axum::Json;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::plugins::builtin::BUILTINS;

/// List the built-in plugins with world, hash and size.
pub async fn list() -> Json<serde_json::Value> {
    let plugins: Vec<_> = BUILTINS
        .iter()
        .map(|b| {
            json!({
                "name": b.name,
                "world": b.world.name(),
                "sha256": hex::encode(Sha256::digest(b.bytes)),
                "size": b.bytes.len(),
                "builtin": true,
                "summary": b.summary,
            })
        })
        .collect();
    Json(json!({ "plugins": plugins }))
}
