//! Sends a plugin's request: the step's allowed hosts first (nothing is sent otherwise),
//! then each resolved address against the address policy, at connect time, so the address
//! checked is the address connected to.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::Uri;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::exchange::{self, Answer, Exchange, Exchanges, NOT_ALLOWED};
use super::{AllowedHost, MAX_REQUESTS_PER_CALL, OutboundPolicy};
use crate::plugins::sandbox::CapturedOutput;

/// Connecting (name resolution, TCP, TLS) gives up after this unless the guest asks for less.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The response head must arrive within this unless the guest asks for less.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(20);

/// The whole exchange, body included, ends within this of the request: a server that
/// sends its head and then nothing cannot hold a plugin thread (the product's 20 s).
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(20);

/// The largest response body a plugin reads; a larger one ends with `HTTP-response-body-size`.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 5 * 1024 * 1024;

/// A call's `wasi:http` hooks: its step's allowed hosts, the server's policy, its log and
/// the record of how each request ended.
pub(crate) struct OutboundHooks {
    allowed: Arc<[AllowedHost]>,
    policy: OutboundPolicy,
    log: CapturedOutput,
    exchanges: Exchanges,
    sent: usize,
}

type Sent = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>;

impl OutboundHooks {
    /// Hooks for one call that may reach `allowed`, logging to `log` and recording each
    /// request's end in `exchanges`.
    pub(crate) fn new(
        allowed: Arc<[AllowedHost]>,
        policy: OutboundPolicy,
        log: CapturedOutput,
        exchanges: Exchanges,
    ) -> Self {
        OutboundHooks { allowed, policy, log, exchanges, sent: 0 }
    }
}

/// `METHOD scheme://host[:port]/path`, as a request is logged and named in reasons: the
/// query is left out (it may carry a key).
pub(crate) fn shown(method: &str, uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let authority = uri.authority().map_or("", |a| a.as_str());
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{method} {scheme}://{authority}{}", uri.path())
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let uri = request.uri().clone();
        let what = shown(request.method().as_str(), &uri);
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let refuse = |log: &CapturedOutput, destination: String, why: String| {
            log.note(&format!("refused {what}: {why}"));
            // The server log names the step's entry, not the URL's host: a plugin could put
            // a secret in a host name.
            tracing::info!(destination = %destination, "plugin request refused: {why}");
            let answer = Answer::Refused;
            self.exchanges.push(Exchange { request: what.clone(), destination, answer, duration: Duration::ZERO });
            let refused: Box<dyn Future<Output = Sent> + Send> = Box::new(async { Err(Error::HttpRequestDenied) });
            refused
        };
        let Some(entry) = self.allowed.iter().find(|a| a.allows(https, &host, port)).map(ToString::to_string) else {
            let listed = self.allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            return refuse(&self.log, NOT_ALLOWED.into(), format!("not in the step's allowed_hosts [{listed}]"));
        };
        self.sent += 1;
        if self.sent > MAX_REQUESTS_PER_CALL {
            return refuse(&self.log, entry, format!("a try makes at most {MAX_REQUESTS_PER_CALL} requests"));
        }
        let (policy, log, exchanges) = (self.policy.clone(), self.log.clone(), self.exchanges.clone());
        Box::new(async move {
            let started = Instant::now();
            let destination = Destination { what: what.clone(), host, port, https };
            let sent = send(&policy, &log, &destination, request, options).await;
            let (duration, ended_at_ms) = (started.elapsed(), crate::model::ids::now_ms());
            let took = duration.as_millis();
            let answer = match &sent {
                Ok((response, _)) => {
                    let code = response.status().as_u16();
                    log.note(&format!("{what} -> {code} in {took} ms"));
                    let retry_after = response
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| exchange::retry_after(v, ended_at_ms));
                    Answer::Status { code, retry_after }
                }
                Err(e) => {
                    log.note(&format!("{what} failed after {took} ms: {e:?}"));
                    exchange::failed(e)
                }
            };
            let exchange = Exchange { request: what, destination: entry, answer, duration };
            if !matches!(exchange.answer, Answer::Refused | Answer::Broken(_)) {
                policy.breakers.record(&exchange.destination, exchange.failed_from_outside(), ended_at_ms);
            }
            exchanges.push(exchange);
            sent
        })
    }
}

/// Where a request goes, and how the log names it.
struct Destination {
    what: String,
    host: String,
    port: u16,
    https: bool,
}

async fn send(
    policy: &OutboundPolicy,
    log: &CapturedOutput,
    destination: &Destination,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Sent {
    let Destination { what, host, port, https } = destination;
    let (host, port) = (host.as_str(), *port);
    let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(CONNECT_TIMEOUT).min(CONNECT_TIMEOUT);
    let first_byte = options.and_then(|o| o.first_byte_timeout).unwrap_or(FIRST_BYTE_TIMEOUT).min(FIRST_BYTE_TIMEOUT);
    let stream = tokio::time::timeout(connect_timeout, connect(policy, host, port, log))
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    let io: Box<dyn Stream> = if *https {
        let name =
            rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|_| Error::HttpRequestUriInvalid)?;
        let tls = tokio_rustls::TlsConnector::from(policy.tls.clone());
        let stream = tokio::time::timeout(connect_timeout, tls.connect(name, stream))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        Box::new(stream)
    } else {
        Box::new(stream)
    };
    let (mut sender, connection) =
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(io)).await.map_err(Error::from)?;
    // The connection runs beside the exchange; its end (or failure) is the body's.
    let connection = tokio::spawn(connection);
    // The request line carries the path only; the host goes in the Host header.
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?;
    let deadline = Box::pin(tokio::time::sleep(EXCHANGE_DEADLINE));
    let (log, what) = (log.clone(), what.to_string());
    let response = response.map(|body| Bounded { body, deadline, read: 0, log, what }.boxed_unsync());
    let done: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async move {
        match connection.await {
            Ok(ended) => ended.map_err(Error::from),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    });
    Ok((response, done))
}

/// A response body with a deadline and a size bound.
struct Bounded {
    body: hyper::body::Incoming,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    read: u64,
    /// Where the cut is noted, and the request it cut.
    log: CapturedOutput,
    what: String,
}

impl http_body::Body for Bounded {
    type Data = bytes::Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.read += frame.data_ref().map_or(0, |d| d.len() as u64);
                if this.read > MAX_RESPONSE_BYTES {
                    this.log.note(&format!(
                        "{}: the response body is over {MAX_RESPONSE_BYTES} bytes; reading stopped",
                        this.what
                    ));
                    return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(MAX_RESPONSE_BYTES)))));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.log
                        .note(&format!("{}: the exchange took over {EXCHANGE_DEADLINE:?}; reading stopped", this.what));
                    Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Resolve `host` and connect to the first address the policy allows; a name whose every
/// address is private is refused without a connection.
async fn connect(policy: &OutboundPolicy, host: &str, port: u16, log: &CapturedOutput) -> Result<TcpStream, Error> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::DnsError { rcode: Some(e.to_string()), info_code: None })?
        .collect();
    let mut refused = None;
    let mut failed = None;
    for address in addresses {
        if let Err(why) = policy.addresses.check(address.ip()) {
            refused = Some(why);
            continue;
        }
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => failed = Some(e),
        }
    }
    match (failed, refused) {
        (Some(e), _) => Err(Error::Connect(e)),
        (None, Some(why)) => {
            log.note(&format!("refused {host}:{port}: {why}"));
            tracing::info!(host, port, "plugin request refused: {why}");
            Err(Error::DestinationIpProhibited)
        }
        (None, None) => Err(Error::DestinationNotFound),
    }
}
