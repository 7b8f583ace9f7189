//! Outbound HTTP for wasmhook `action` plugins in a few lines, over the `wasi:http` client
//! the host offers to actions (transforms have no network):
//!
//! ```ignore
//! let answer = wasmhook_http::Request::get(format!("{base}/contacts/{}", wasmhook_http::encode(email)))
//!     .bearer(key)
//!     .send()?            // an Error says why nothing came back (refused, unreachable, ...)
//!     .error_for_status()?; // 4xx/5xx as an Error too; the host retries 429/5xx itself
//! let contact: serde_json::Value = answer.json()?;
//! ```
//!
//! A request goes only where the step's `allowed_hosts` lists, never to the private
//! network unless the server opened it; a refused one is an [`Error::Failed`] naming the
//! host's error code. Turn an [`Error`] into the plugin's error with its [`Error::code`]
//! and message: the host reads a failure after a 429 or 5xx answer as one to retry.

use std::fmt;

use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// The most of an answer's body kept unless a request asks for more ([`Request::keep`]);
/// the rest is read and dropped. A plugin has 16 MiB of memory, and a growing buffer
/// briefly needs twice its size: keeping up to the host's 5 MiB cut ran out of it.
pub const DEFAULT_KEEP: usize = 1024 * 1024;

/// A request to send: method, URL, headers, body.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    keep: usize,
}

impl Request {
    fn new(method: Method, url: impl Into<String>) -> Request {
        Request { method, url: url.into(), headers: Vec::new(), body: None, keep: DEFAULT_KEEP }
    }

    /// Keep up to `bytes` of the answer's body (default [`DEFAULT_KEEP`]).
    pub fn keep(mut self, bytes: usize) -> Request {
        self.keep = bytes;
        self
    }

    /// `method url`, the method by its name in any case (`get`, `POST`, or another token).
    pub fn named(method: &str, url: impl Into<String>) -> Request {
        let method = match method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            _ => Method::Other(method.to_string()),
        };
        Request::new(method, url)
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request::new(Method::Get, url)
    }

    /// `POST url`.
    pub fn post(url: impl Into<String>) -> Request {
        Request::new(Method::Post, url)
    }

    /// `PUT url`.
    pub fn put(url: impl Into<String>) -> Request {
        Request::new(Method::Put, url)
    }

    /// `PATCH url`.
    pub fn patch(url: impl Into<String>) -> Request {
        Request::new(Method::Patch, url)
    }

    /// `DELETE url`.
    pub fn delete(url: impl Into<String>) -> Request {
        Request::new(Method::Delete, url)
    }

    /// With a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// With `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Request {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// With a JSON body (and its `Content-Type`).
    pub fn json(self, body: &serde_json::Value) -> Request {
        let bytes = body.to_string().into_bytes();
        self.header("content-type", "application/json").body(bytes)
    }

    /// With a body as given.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Request {
        self.body = Some(bytes.into());
        self
    }

    /// Send it and read the whole answer (any status).
    pub fn send(self) -> Result<Response, Error> {
        let (scheme, rest) =
            self.url.split_once("://").ok_or_else(|| Error::Url(format!("`{}` has no scheme", shown(&self.url))))?;
        let scheme = match scheme {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            other => return Err(Error::Url(format!("`{other}` is not http or https"))),
        };
        let (authority, path) = rest.find(['/', '?']).map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
        let path = if path.starts_with('?') { format!("/{path}") } else { path.to_string() };
        let headers = Fields::new();
        // A declared length instead of a chunked body: some APIs and proxies refuse chunked
        // requests (the host checks that the body written matches it).
        let length = self.body.as_ref().map(|body| ("content-length".to_string(), body.len().to_string()));
        for (name, value) in self.headers.iter().filter(|(name, _)| name != "content-length").chain(&length) {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| Error::Url(format!("header `{name}` cannot be sent: {e:?}")))?;
        }
        let request = OutgoingRequest::new(headers);
        let refused = |what: &str| Error::Url(format!("the request's {what} was refused"));
        request.set_scheme(Some(&scheme)).map_err(|()| refused("scheme"))?;
        request.set_authority(Some(authority)).map_err(|()| refused("host"))?;
        request.set_path_with_query(Some(&path)).map_err(|()| refused("path"))?;
        request.set_method(&self.method).map_err(|()| refused("method"))?;
        let outgoing = request.body().map_err(|()| refused("body"))?;
        if let Some(bytes) = &self.body {
            let stream = outgoing.write().map_err(|()| refused("body"))?;
            // `blocking_write_and_flush` takes at most 4096 bytes a call.
            for chunk in bytes.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| Error::Failed(format!("writing the body: {e:?}")))?;
            }
        }
        let pending = outgoing_handler::handle(request, None).map_err(|e| Error::Failed(format!("{e:?}")))?;
        OutgoingBody::finish(outgoing, None).map_err(|e| Error::Failed(format!("{e:?}")))?;
        let response = loop {
            match pending.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(e))) => return Err(Error::Failed(format!("{e:?}"))),
                Some(Err(())) => return Err(Error::Failed("the answer was taken twice".into())),
                None => pending.subscribe().block(),
            }
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response.consume().map_err(|()| Error::Failed("the answer has no body".into()))?;
        let stream = incoming.stream().map_err(|()| Error::Failed("the answer has no body".into()))?;
        let (mut body, mut truncated) = (Vec::new(), false);
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    let room = self.keep.saturating_sub(body.len());
                    truncated |= chunk.len() > room;
                    body.extend(chunk.iter().take(room));
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    let why = wasi::http::types::http_error_code(&e)
                        .map_or_else(|| e.to_debug_string(), |code| format!("{code:?}"));
                    return Err(Error::Failed(format!("reading the response: {why}")));
                }
            }
        }
        drop(stream);
        IncomingBody::finish(incoming);
        let request = format!("{} {}", method_name(&self.method), shown(&self.url));
        Ok(Response { status, headers, body, truncated, request })
    }
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// Its status code.
    pub status: u16,
    /// Its headers (names in lower case).
    pub headers: Vec<(String, String)>,
    /// Its body, or its first [`Request::keep`] bytes.
    pub body: Vec<u8>,
    /// Whether the body was longer than what was kept.
    pub truncated: bool,
    /// `METHOD url` without the query, for messages.
    request: String,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body read as JSON into `T` (an error if it was cut: raise [`Request::keep`]).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        if self.truncated {
            let kept = self.body.len();
            return Err(Error::Json(format!("{} answered more than the {kept} bytes kept", self.request)));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::Json(format!("{} answered {} that is not the JSON expected: {e}", self.request, self.status))
        })
    }

    /// This answer when its status is below 400; otherwise [`Error::Status`].
    pub fn error_for_status(self) -> Result<Response, Error> {
        if self.status < 400 { Ok(self) } else { Err(Error::Status { status: self.status, request: self.request }) }
    }
}

/// Why a request gave no usable answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The URL or a header cannot be sent.
    Url(String),
    /// The host refused it or the other side did not answer (wasi:http's error code).
    Failed(String),
    /// It answered 400 or more.
    Status {
        /// The status.
        status: u16,
        /// `METHOD url` without the query.
        request: String,
    },
    /// The answer was not the JSON expected.
    Json(String),
}

impl Error {
    /// The plugin error code to return it as: `http_status` for an answer of 400 or more,
    /// `http_error` otherwise. (The host retries a failed try after a 429, a 5xx or no
    /// answer, whatever the code.)
    pub fn code(&self) -> &'static str {
        match self {
            Error::Status { .. } => "http_status",
            Error::Url(_) | Error::Failed(_) | Error::Json(_) => "http_error",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Url(why) | Error::Failed(why) | Error::Json(why) => f.write_str(why),
            Error::Status { status, request } => write!(f, "{request} answered {status}"),
        }
    }
}

impl std::error::Error for Error {}

/// `text` percent-encoded for a URL path segment or query value (unreserved bytes kept).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A URL without its query (which may carry a key), for messages.
fn shown(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
        Method::Options => "OPTIONS",
        Method::Connect => "CONNECT",
        Method::Trace => "TRACE",
        Method::Other(other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_keeps_unreserved_bytes_only() {
        assert_eq!(encode("ann+1@example.com"), "ann%2B1%40example.com");
        assert_eq!(encode("a b/é"), "a%20b%2F%C3%A9");
        assert_eq!(encode("A-z_0.9~"), "A-z_0.9~");
    }

    #[test]
    fn errors_carry_the_code_the_host_and_the_step_log_read() {
        let status = Error::Status { status: 503, request: "GET https://api.example.com/x".into() };
        assert_eq!(status.code(), "http_status");
        assert_eq!(status.to_string(), "GET https://api.example.com/x answered 503");
        assert_eq!(Error::Failed("ConnectionRefused".into()).code(), "http_error");
        assert_eq!(shown("https://a.example/x?key=secret#f"), "https://a.example/x");
    }

    #[test]
    fn a_cut_body_is_not_read_as_json() {
        let answer = |truncated| Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"id": 1}"#.to_vec(),
            truncated,
            request: "GET https://a.example/x".into(),
        };
        assert_eq!(answer(false).json::<serde_json::Value>().unwrap()["id"], 1);
        assert!(
            answer(true).json::<serde_json::Value>().unwrap_err().to_string().contains("more than the 9 bytes kept")
        );
        assert_eq!(answer(false).header("Content-Type"), Some("application/json"));
        assert!(answer(false).ok());
    }
}
