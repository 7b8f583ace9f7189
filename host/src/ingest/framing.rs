//! How a request body is framed, and what is wrong when it is not: a body over the limit
//! is 413, a broken frame (a malformed chunk size, a chunk longer than it declared, a body
//! that ends before its `Content-Length`) is 400 with its own code, and a transfer coding
//! this server does not decode (`gzip, chunked`) is 501 — so a sender's bug is not reported
//! as "too large", and the metrics count each apart (they are labelled by code).

use std::error::Error as StdError;
use std::io;

use axum::http::{HeaderMap, StatusCode, header};

use crate::http::ApiError;

/// The answer for a body larger than `limit` bytes (declared or counted).
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the body is larger than {limit} bytes"))
}

/// Refuse a `Transfer-Encoding` with any coding but `chunked`. The HTTP layer already
/// answers 400 when `chunked` is missing or not last (RFC 9112 §6.3); what reaches here
/// ends in `chunked` and may carry codings before it, which this server does not decode.
pub fn check_transfer_encoding(headers: &HeaderMap) -> Result<(), ApiError> {
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        let codings = String::from_utf8_lossy(value.as_bytes());
        if let Some(other) = codings
            .split(',')
            .map(str::trim)
            .find(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("chunked"))
        {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "transfer_encoding_not_supported",
                format!(
                    "field Transfer-Encoding: the coding {other:?} is not supported; send the JSON as is \
                     (only chunked framing is understood); nothing was stored"
                ),
            ));
        }
    }
    Ok(())
}

/// The answer for a body that could not be read: over the limit, cut short, or misframed.
pub fn body_refused(error: &axum::Error, limit: usize) -> ApiError {
    let mut cause: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return too_large(limit);
        }
        if let Some(io_error) = current.downcast_ref::<io::Error>() {
            return if io_error.kind() == io::ErrorKind::UnexpectedEof {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "body_incomplete",
                    "the body ended before its declared length (Content-Length or the last chunk); nothing was stored",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "chunk_malformed",
                    format!(
                        "the chunked body is malformed ({io_error}): a chunk size must be hexadecimal digits \
                         and a chunk exactly as long as its size says; nothing was stored"
                    ),
                )
            };
        }
        cause = current.source();
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "body_unreadable",
        format!("the body could not be read ({error}); nothing was stored"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_te(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn only_chunked_framing_is_understood() {
        assert!(check_transfer_encoding(&HeaderMap::new()).is_ok());
        assert!(check_transfer_encoding(&with_te("chunked")).is_ok());
        assert!(check_transfer_encoding(&with_te("Chunked")).is_ok());
        let refused = check_transfer_encoding(&with_te("gzip, chunked")).unwrap_err();
        assert_eq!(refused.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(refused.code(), "transfer_encoding_not_supported");
    }

    #[tokio::test]
    async fn errors_are_told_apart_by_their_cause() {
        let over = axum::body::to_bytes(axum::body::Body::from(vec![b'x'; 11]), 10).await.unwrap_err();
        assert_eq!(body_refused(&over, 10).code(), "payload_too_large");
        let short = axum::Error::new(io::Error::new(io::ErrorKind::UnexpectedEof, "short"));
        assert_eq!(body_refused(&short, 10).code(), "body_incomplete");
        let bad = axum::Error::new(io::Error::new(io::ErrorKind::InvalidInput, "Invalid chunk size line"));
        assert_eq!(body_refused(&bad, 10).code(), "chunk_malformed");
    }
}
