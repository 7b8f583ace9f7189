//! Requests the host sends on a step's behalf (a `send_webhook` step), through the same
//! sender as a plugin's: the destination checked, the private-network rule at connect
//! time, the TLS roots, the size and time limits, the log line, the exchange record and
//! the destination's breaker.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::WasiHttpHooks;

use super::{AllowedHost, Exchange, Exchanges, OutboundHooks, OutboundPolicy};
use crate::plugins::sandbox::CapturedOutput;

/// How much of a host request's log is kept.
const LOG_BYTES: usize = 16 * 1024;

/// A request to send: method, full URL, headers and body.
pub struct Outgoing<'a> {
    /// `POST`, `PUT`, ...
    pub method: &'a str,
    /// The URL, query included.
    pub uri: &'a http::Uri,
    /// Header name and value pairs (the host adds `Host`).
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: Vec<u8>,
}

/// An answer that came back whole.
#[derive(Debug)]
pub struct Response {
    /// Its status code.
    pub status: u16,
    /// Its body (at most the 5 MiB a plugin may read).
    pub body: Vec<u8>,
}

/// How a host request ended.
#[derive(Debug)]
pub struct HostSent {
    /// The answer, or why none was read.
    pub response: Result<Response, String>,
    /// The request's record (none when it could not even be built).
    pub exchanges: Vec<Exchange>,
    /// Its log lines (`POST http://host/path -> 200 in 3 ms`; no query, no header values).
    pub log: String,
}

impl OutboundPolicy {
    /// Send `outgoing` to `destination` (the entry its URL must match) and read the whole
    /// answer, or stop where a limit ends it. It must be polled inside a Tokio runtime.
    pub async fn send(&self, destination: &AllowedHost, outgoing: Outgoing<'_>) -> HostSent {
        let log = CapturedOutput::new(LOG_BYTES);
        let exchanges = Exchanges::default();
        let mut hooks =
            OutboundHooks::new(Arc::from([destination.clone()]), self.clone(), log.clone(), exchanges.clone());
        let response = match request(outgoing) {
            Err(why) => Err(why),
            Ok(request) => {
                let done: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send> =
                    Box::new(async { Ok(()) });
                read(Box::into_pin(hooks.send_request(request, None, done)).await).await
            }
        };
        HostSent { response, exchanges: exchanges.take(), log: log.take().0 }
    }
}

type Sent = Result<
    (
        http::Response<wasmtime_wasi_http::WasiBody>,
        Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;

/// The answer read whole, or why it was not.
async fn read(sent: Sent) -> Result<Response, String> {
    let (response, _connection) = sent.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("the answer ({status}) could not be read whole: {e}"))?;
    Ok(Response { status, body: body.to_bytes().to_vec() })
}

/// The request as the sender takes it, with the `Host` header its request line lacks.
fn request(outgoing: Outgoing<'_>) -> Result<http::Request<wasmtime_wasi_http::WasiBody>, String> {
    let host = outgoing.uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
    let mut request =
        http::Request::builder().method(outgoing.method).uri(outgoing.uri.clone()).header(http::header::HOST, host);
    for (name, value) in outgoing.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let body = Full::new(Bytes::from(outgoing.body)).map_err(|never| match never {}).boxed_unsync();
    // Names and values were checked when the step was saved; a secret's value may still
    // not be a header value (a newline in it), which must not be echoed.
    request.body(body).map_err(|_| "a header name or value cannot be sent (a secret's value with a line break?)".into())
}
