//! A lingering close: when the server ends a connection, it first stops sending (FIN), then
//! reads and discards what the client still sends, until the client closes or a bound
//! passes, and only then closes the socket.
//!
//! Why: a sender refused early (a 413 before its 2 MiB body arrived) is still writing. A
//! plain close with unread bytes makes the kernel answer with a reset, which can overtake
//! the answer: Node's `fetch` and Python's `urllib` then report `EPIPE` instead of the 413
//! (2 of 5 tries each, measured before this) and retry the same body. Apache and nginx
//! linger for the same reason.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Longest a closing connection keeps reading, whatever the client does.
const LINGER_TOTAL: Duration = Duration::from_secs(10);
/// Longest it waits for the client's next bytes (or its close) before giving up.
const LINGER_IDLE: Duration = Duration::from_secs(2);

/// A TCP stream whose shutdown lingers (see the module documentation).
pub struct Lingering {
    stream: TcpStream,
    draining: Option<Drain>,
}

/// The bounds of one lingering close.
struct Drain {
    total: Pin<Box<Sleep>>,
    idle: Pin<Box<Sleep>>,
}

impl Lingering {
    /// Wrap `stream`.
    pub fn new(stream: TcpStream) -> Lingering {
        Lingering { stream, draining: None }
    }
}

impl AsyncRead for Lingering {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.draining.is_none() {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            let now = Instant::now();
            this.draining = Some(Drain {
                total: Box::pin(tokio::time::sleep_until(now + LINGER_TOTAL)),
                idle: Box::pin(tokio::time::sleep_until(now + LINGER_IDLE)),
            });
        }
        let Some(drain) = this.draining.as_mut() else { return Poll::Ready(Ok(())) };
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if drain.total.as_mut().poll(cx).is_ready() || drain.idle.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut discard = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.stream).poll_read(cx, &mut discard) {
                // The client closed (or the connection broke): nothing left to protect.
                Poll::Ready(Ok(())) if discard.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => drain.idle.as_mut().reset(Instant::now() + LINGER_IDLE),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
