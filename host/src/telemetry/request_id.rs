//! The request id: taken from a sane `X-Request-Id` header (a load balancer's), otherwise
//! made here; answered in `X-Request-Id`, carried by the span every log line of the request
//! sits in, and stored with the events an ingest request creates.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::model::ids::{IdKind, new_id, now_ms};

/// The header read and answered.
pub const HEADER: &str = "x-request-id";

/// Longest request id accepted from a client.
const MAX_LEN: usize = 128;

/// The current request's id, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A client's id is kept only if it is short and plain, so it cannot forge log fields.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware: assign the id, run the request inside a `request` span, answer the header.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(|| new_id(IdKind::Request, now_ms()), str::to_string);
    // A webhook URL's path is its secret: the span names the route, never the token. Ingest
    // spans are debug-level: at tens of thousands of requests/s an info span per request
    // cost a quarter of the throughput; its events carry the id in the store instead.
    let path = request.uri().path();
    let span = if path.starts_with("/hooks/") {
        tracing::debug_span!("request", request_id = %id, method = %request.method(), path = "/hooks/{token}")
    } else {
        tracing::info_span!("request", request_id = %id, method = %request.method(), path = %path)
    };
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_plain_short_ids_are_taken_from_clients() {
        assert!(acceptable("9f1c2e7a-4b1d-4c51-9e62-0d5b1f3a2c44"));
        assert!(acceptable("lb:frontend.01_abc"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("x\"} forged=1"));
        assert!(!acceptable(&"a".repeat(129)));
    }
}
