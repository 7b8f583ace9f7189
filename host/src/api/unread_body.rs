//! An answer given before the request's body was read to its end says `Connection: close`.
//!
//! Why: the HTTP layer (hyper) cannot find the next request behind an unread body, so it
//! closes the connection after such an answer (a 413 from `Content-Length` alone, a 429
//! or 503 before the body), but it does not say so. A client that got the whole body
//! into the socket before the answer arrived then keeps the connection for its next request
//! and sends it into the close: Node's `fetch` reported "other side closed" for 1 of 20
//! posts of 2 MiB in one CI run. RFC 9112 §9.6 asks a server that closes to send `close`;
//! a client told so opens a new connection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// Middleware: run the request, and mark the answer `Connection: close` when its body was
/// not read to the end.
pub async fn close_when_unread(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        // No body (a GET, `Content-Length: 0`): nothing can be left unread.
        return next.run(Request::from_parts(parts, body)).await;
    }
    let read_to_end = Arc::new(AtomicBool::new(false));
    let body = Body::new(Watched { inner: body, read_to_end: Arc::clone(&read_to_end) });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !read_to_end.load(Ordering::Acquire) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records when it has been read to its end.
struct Watched {
    inner: Body,
    read_to_end: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        // The end is either the stream's last frame (`None`) or a frame after which the body
        // says it is over (a `Content-Length` body read to its length).
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read_to_end.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
