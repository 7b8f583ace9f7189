//! HTTP plumbing below both ingest and the admin API: the one error answer (its type, and
//! the JSON body it is answered with, which is also the OpenAPI schema), JSON request
//! bodies, blocking work off the async runtime, and time as RFC 3339 text.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

/// Every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error itself.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `not_found`, `invalid_request`, `malformed_json`.
    pub code: String,
    /// A one-line reason for people.
    pub message: String,
    /// The request field (or header) at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answered as `{"error": {"code", "message", "field"}}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u32>,
}

impl ApiError {
    /// Build an error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None, retry_after: None }
    }

    /// Name the request field (or header) at fault.
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    /// 400 `invalid_request` naming a field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message).with_field(field)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }

    /// Ask the client to retry after this many seconds (`Retry-After`).
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 503: storage is unavailable; nothing was changed.
    pub fn unavailable(message: String) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // Logged for the operator; the client gets no internals.
        tracing::error!(error = %e, "store error");
        ApiError::unavailable("storage error; the request was not applied".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message, field: self.field } };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

/// Run store work on a blocking thread, never on the async runtime's.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::unavailable(format!("worker failed: {e}")))?
}

/// The admin API's JSON request body: read within the route's body limit, parsed with the
/// path of a wrong field named in the 400 (`error.field`). The one JSON extractor.
pub struct JsonBody<T>(pub T);

/// A JSON request body that may be left out (empty or only whitespace: `None`).
pub struct OptionalJsonBody<T>(pub Option<T>);

/// The body's bytes; a body over the limit (or one that breaks off) is the JSON error.
async fn body_bytes<S: Send + Sync>(request: axum::extract::Request, state: &S) -> Result<bytes::Bytes, ApiError> {
    use axum::extract::FromRequest;
    bytes::Bytes::from_request(request, state).await.map_err(|refused| {
        let code =
            if refused.status() == StatusCode::PAYLOAD_TOO_LARGE { "payload_too_large" } else { "invalid_request" };
        ApiError::new(refused.status(), code, refused.body_text())
    })
}

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        parse_body(&body_bytes(request, state).await?).map(JsonBody)
    }
}

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        parse_optional_body(&body_bytes(request, state).await?).map(OptionalJsonBody)
    }
}

/// Parse a JSON request body that may be left out (empty or only whitespace: `None`).
fn parse_optional_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) { Ok(None) } else { parse_body(bytes).map(Some) }
}

/// Parse a JSON request body; a wrong value is answered with the path of its field.
fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let refuse = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message);
    let mut input = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut input).map_err(|e| {
        let path = e.path().to_string();
        let error = refuse(format!("invalid JSON body: {}", e.inner()));
        if path == "." { error } else { error.with_field(&path) }
    })?;
    input.end().map_err(|e| refuse(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// `name` as a header name, or a 400 naming `field`: a setting naming a header no request
/// can carry (`"x\r\nInjected: 1"`) would never match.
pub fn check_header_name(field: &str, name: &str) -> Result<(), ApiError> {
    match axum::http::HeaderName::from_bytes(name.as_bytes()) {
        Ok(_) => Ok(()),
        Err(_) => Err(ApiError::invalid(field, format!("{name:?} is not a valid header name"))),
    }
}

/// Unix ms as RFC 3339 UTC text.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Longest framework refusal text kept as an error message.
const MAX_REFUSAL_TEXT: usize = 1024;

/// The code of the router's own 404 (no route has this path), told apart from a handler's
/// `not_found` (no such webhook, event, ...).
pub const UNKNOWN_ROUTE: &str = "unknown_route";

/// Middleware: every error answer carries the documented JSON body, the framework's own
/// refusals included (a query string or path segment that does not parse, a body over
/// the limit, no such route, a method the route does not take), which axum answers as
/// plain text or nothing. Answers that are already JSON pass unchanged.
pub async fn json_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REFUSAL_TEXT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let (code, fallback) = match status {
        StatusCode::NOT_FOUND => (UNKNOWN_ROUTE, "no route has this path"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this route does not take this method"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the body is larger than this route takes"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "this content type is not taken here"),
        s if s.is_server_error() => ("internal_error", "the server could not answer"),
        _ => ("invalid_request", "the request is not valid"),
    };
    let message = if text.is_empty() { fallback.to_string() } else { text };
    let mut answer = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        // `Allow` on a 405, `Retry-After`, the request id: kept; the body's own headers not.
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::FromRequest;
    use serde::Deserialize;

    use super::{JsonBody, OptionalJsonBody, StatusCode};

    #[derive(Debug, Deserialize)]
    struct Limits {
        per_second: u32,
    }

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
    }

    fn request(body: impl Into<Body>) -> axum::extract::Request {
        axum::http::Request::builder().method("PUT").uri("/").body(body.into()).unwrap()
    }

    #[test]
    fn a_wrong_field_is_named_and_a_body_over_the_limit_is_413() {
        let wrong = run(JsonBody::<Limits>::from_request(request(r#"{"per_second": -1}"#), &())).err().unwrap();
        assert_eq!((wrong.status(), wrong.code()), (StatusCode::BAD_REQUEST, "invalid_request"));
        assert!(wrong.message().contains("invalid JSON body"), "{}", wrong.message());
        // axum's default limit (2 MiB) applies where no route sets one.
        let big = run(JsonBody::<Limits>::from_request(request(vec![b' '; 3 << 20]), &())).err().unwrap();
        assert_eq!((big.status(), big.code()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
        let ok = run(JsonBody::<Limits>::from_request(request(r#"{"per_second": 5}"#), &())).ok().unwrap();
        assert_eq!(ok.0.per_second, 5);
        let empty = run(OptionalJsonBody::<Limits>::from_request(request("  \n"), &())).ok().unwrap();
        assert!(empty.0.is_none(), "an empty body is no body");
    }
}
