//! Admin requests see what ingest acknowledged: on SQLite an event is acknowledged once it
//! is in the ingest log, and the database has it a moment later, so each admin request
//! first waits (briefly) for the database to catch up with every acknowledgement made
//! before it began. An event listed, counted or replayed right after its 202 is there.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// Longest wait before answering from the database as it is: it stops taking writes only
/// when locked or full, and then an admin still wants an answer (`GET /events/{id}` also
/// looks at what waits).
const MOST_WAIT: Duration = Duration::from_secs(2);

/// Middleware: wait until the database has every event acknowledged before the request.
pub async fn wait_for_acknowledged(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(unapplied) = state.ingest.writer.unapplied()
        && !unapplied.settled(MOST_WAIT).await
    {
        tracing::debug!(waiting = unapplied.events(), "answering before the database has every acknowledged event");
    }
    next.run(request).await
}
