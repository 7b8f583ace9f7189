//! The HTTP/1.1 connection loop, with the limits a public endpoint needs that
//! `axum::serve` does not set: a deadline for each request's headers (slow clients and idle
//! keep-alive connections cannot hold a connection open), a bound on header size (431
//! beyond it) and on open connections (beyond it, new ones wait in the kernel's backlog).
//! Connections close by lingering ([`super::linger`]) so an early answer reaches its sender,
//! and that answer says `Connection: close` ([`super::unread_body`]) so its sender does not
//! send its next request into the close.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::linger::Lingering;
use super::unread_body::close_when_unread;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time allowed for a request's headers, counted from when the connection is ready for
    /// the next request (so it also closes idle keep-alive connections).
    pub header_timeout: Duration,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// Most connections served at once.
    pub max_connections: usize,
}

/// The defaults: generous for any real sender, tight for a slowloris.
pub const DEFAULT_LIMITS: ConnectionLimits =
    ConnectionLimits { header_timeout: Duration::from_secs(10), max_header_bytes: 32 * 1024, max_connections: 10_000 };

/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// Serve `app` on `listener` until `shutdown` resolves, then let requests in flight finish.
pub async fn serve(listener: TcpListener, app: Router, limits: ConnectionLimits, shutdown: impl Future<Output = ()>) {
    let app = app.layer(axum::middleware::from_fn(close_when_unread));
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_header_size(limits.max_header_bytes);
        let connection =
            http.serve_connection(TokioIo::new(Lingering::new(stream)), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN:?}; stopping anyway");
    }
}
