//! The admin API over HTTP: one blocking client, and the server's refusals as typed errors.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use ureq::http::{Method, Request};
use ureq::{Agent, SendBody};

/// Largest answer read (an event with its payload and trace is well below it).
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// Why an admin call failed; printed as one line, and the CLI exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server answered with an error body (`{"error": {code, message, field?}}`).
    #[error("{message} ({}HTTP {status}, {code})", field.as_ref().map(|f| format!("field `{f}`; ")).unwrap_or_default())]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code, e.g. `not_found`.
        code: String,
        /// The server's reason.
        message: String,
        /// The request field at fault, if the server named one.
        field: Option<String>,
    },
    /// No answer: wrong URL, server down, TLS failure, time-out.
    #[error("cannot reach the server at {url}: {source}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// What the transport said.
        source: ureq::Error,
    },
    /// An answer that is not what the admin API sends (a proxy's error page, say).
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    Unexpected {
        /// The URL called.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, or the parse error.
        detail: String,
    },
    /// A local file the verb needs could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A local input was not usable (bad JSON file, malformed argument).
    #[error("{0}")]
    Input(String),
}

/// A request body.
pub enum Body<'a> {
    /// No body.
    Empty,
    /// A JSON document.
    Json(&'a Value),
    /// Raw bytes (a plugin component).
    Bytes(&'a [u8]),
    /// A stream sent chunked (a record import), with its content type.
    Stream(&'a mut dyn Read, &'static str),
}

/// Talks to one server with one admin token.
pub struct Client {
    agent: Agent,
    base: String,
    token: String,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) with the admin `token`.
    pub fn new(base: &str, token: String) -> Self {
        let agent: Agent = Agent::config_builder()
            // Error statuses carry the server's reason; read them instead of failing early.
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        Client { agent, base: base.trim_end_matches('/').to_string(), token }
    }

    /// `GET path` → the JSON answer.
    pub fn get(&self, path: &str) -> Result<Value, CallError> {
        self.call(Method::GET, path, Body::Empty)
    }

    /// Call `method path` with `body`; a 2xx answer's JSON (or `null` for 204), else the
    /// server's refusal.
    pub fn call(&self, method: Method, path: &str, body: Body<'_>) -> Result<Value, CallError> {
        let url = format!("{}/api/v1{path}", self.base);
        let builder = Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("accept", "application/json");
        let bad = |e: ureq::http::Error| CallError::Input(format!("bad request for {url}: {e}"));
        let sent = match body {
            Body::Empty => self.agent.run(builder.body(()).map_err(bad)?),
            Body::Json(value) => {
                let bytes = value.to_string().into_bytes();
                self.agent.run(builder.header("content-type", "application/json").body(bytes).map_err(bad)?)
            }
            Body::Bytes(bytes) => {
                self.agent.run(builder.header("content-type", "application/wasm").body(bytes).map_err(bad)?)
            }
            Body::Stream(reader, content_type) => self
                .agent
                .run(builder.header("content-type", content_type).body(SendBody::from_reader(reader)).map_err(bad)?),
        };
        let mut answer = sent.map_err(|source| CallError::Unreachable { url: url.clone(), source })?;
        let status = answer.status().as_u16();
        let bytes = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|source| CallError::Unreachable { url: url.clone(), source })?;
        let unexpected = |detail: String| CallError::Unexpected { url: url.clone(), status, detail };
        let parsed: Option<Value> = if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() };
        if (200..300).contains(&status) {
            return match parsed {
                Some(value) => Ok(value),
                None if bytes.is_empty() => Ok(Value::Null),
                None => Err(unexpected(preview(&bytes))),
            };
        }
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let text = |key: &str| error.and_then(|e| e.get(key)).and_then(Value::as_str).map(str::to_string);
        match (text("code"), text("message")) {
            (Some(code), Some(message)) => Err(CallError::Refused { status, code, message, field: text("field") }),
            _ => Err(unexpected(preview(&bytes))),
        }
    }
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).trim().to_string();
    if text.is_empty() { "empty body".into() } else { text }
}

/// Percent-encode one path segment or query value (ids and names are plain, but a
/// user-typed filter may not be).
pub fn encode(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for b in part.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from the pairs that are set: `?a=1&b=2`, or empty.
pub fn query(pairs: &[(impl AsRef<str>, Option<String>)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{}={}", encode(k.as_ref()), encode(v)))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// Read a text file, or stdin for `-`.
pub fn read_text(path: &Path) -> Result<String, CallError> {
    if path == Path::new("-") { std::io::read_to_string(std::io::stdin()) } else { std::fs::read_to_string(path) }
        .map_err(|source| CallError::Read { path: path.to_path_buf(), source })
}

/// Read a JSON document from a file, or from stdin for `-`.
pub fn read_json(path: &Path) -> Result<Value, CallError> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| CallError::Input(format!("`{}` is not JSON: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_what_a_url_cannot_carry() {
        assert_eq!(encode("wh_01ABC"), "wh_01ABC");
        assert_eq!(encode("a b/c?d&e"), "a%20b%2Fc%3Fd%26e");
        assert_eq!(query(&[("status", Some("failed".into())), ("webhook", None)]), "?status=failed");
        assert_eq!(query(&[("webhook", None)]), "");
    }
}
