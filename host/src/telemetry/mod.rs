//! What operators watch: Prometheus metrics recorded along the pipeline, structured logs
//! (text or JSON), and the request id that ties an HTTP request to its events and log lines.
//!
//! - [`metrics`]: metric names, buckets, and one function per thing counted.
//! - [`logs`]: the `tracing` subscriber, as text or JSON lines.
//! - [`request_id`]: assigns (or accepts) `X-Request-Id` and spans each request with it.

pub mod logs;
pub mod metrics;
pub mod request_id;
