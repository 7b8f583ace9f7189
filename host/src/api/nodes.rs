//! `GET /nodes`: the nodes serving from this database (one on the embedded store), from
//! their heartbeats, with the claims each holds and the work each did since it started.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::http::{ApiError, ErrorBody, blocking, rfc3339};
use crate::model::ids::now_ms;
use crate::model::node::{LIVE_WITHIN, WorkDone};
use crate::store::nodes::ClaimsHeld;

/// How far back `?all=true` looks: nodes silent for longer are forgotten anyway.
const SEEN_WITHIN_MS: i64 = 24 * 3_600_000;

/// Query of `GET /nodes`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NodesQuery {
    /// `true` to list also the nodes that stopped or went silent in the last day.
    all: Option<String>,
}

/// One node.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct NodeView {
    /// Its name (claims carry it).
    id: String,
    /// Whether it is serving: not stopped, and its last heartbeat within `live_within_s`.
    live: bool,
    /// Whether it is the node that answered.
    this_node: bool,
    /// The wasmhook version it runs.
    version: String,
    /// The address it serves HTTP on.
    address: String,
    /// Its machine's host name.
    host: String,
    /// Its process id.
    pid: i64,
    /// When it started.
    started_at: String,
    /// Its last heartbeat.
    heartbeat_at: String,
    /// Seconds since its last heartbeat, on the answering node's clock.
    heartbeat_age_s: f64,
    /// When it stopped cleanly, if it did.
    stopped_at: Option<String>,
    /// Claims it holds now.
    claims: ClaimsHeld,
    /// Its work since it started.
    work: WorkDone,
}

/// The cluster's nodes.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct NodeList {
    nodes: Vec<NodeView>,
    /// A node whose last heartbeat is older is not live.
    live_within_s: u64,
}

/// `GET /nodes[?all=true]`: the live nodes, by id (with `all`, those that stopped or went
/// silent in the last day too).
#[utoipa::path(
    get, operation_id = "nodes.list", path = "/nodes", tag = "nodes",
    params(NodesQuery),
    responses(
        (status = 200, description = "The nodes, by id", body = NodeList),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>, Query(q): Query<NodesQuery>) -> Result<Json<NodeList>, ApiError> {
    let all = match q.all.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("all", "`true` or `false`")),
    };
    let store = state.store.clone();
    let now = now_ms();
    let (seen, claims) =
        blocking(move || Ok((store.nodes_seen_since(now - SEEN_WITHIN_MS)?, store.claims_held(now)?))).await?;
    let nodes = seen
        .into_iter()
        .filter(|node| all || node.is_live(now))
        .map(|node| NodeView {
            live: node.is_live(now),
            this_node: node.id == state.node_id,
            claims: claims.get(&node.id).copied().unwrap_or_default(),
            version: node.version,
            address: node.address,
            host: node.host,
            pid: node.pid,
            started_at: rfc3339(node.started_at_ms),
            heartbeat_at: rfc3339(node.heartbeat_at_ms),
            heartbeat_age_s: (now - node.heartbeat_at_ms).max(0) as f64 / 1000.0,
            stopped_at: node.stopped_at_ms.map(rfc3339),
            work: node.work,
            id: node.id,
        })
        .collect();
    Ok(Json(NodeList { nodes, live_within_s: LIVE_WITHIN.as_secs() }))
}
