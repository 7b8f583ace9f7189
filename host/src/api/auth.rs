//! The admin bearer token: from `WASMHOOK_ADMIN_TOKEN`, or generated once into the data dir
//! (mode 0600). Compared in constant time.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::http::ApiError;

/// The token file's name inside the data dir.
pub const TOKEN_FILE: &str = "admin-token";

/// The admin token. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct AdminToken(String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Where the token came from, so start-up can print a new one exactly once.
pub enum TokenSource {
    /// `WASMHOOK_ADMIN_TOKEN`.
    Environment,
    /// Read from the data dir.
    File,
    /// Generated now and written to the data dir.
    Generated,
}

impl AdminToken {
    /// The env var if set and non-empty, else the data dir's file, else a new 256-bit token.
    pub fn load_or_create(data_dir: &Path, from_env: Option<String>) -> std::io::Result<(AdminToken, TokenSource)> {
        if let Some(t) = from_env.filter(|t| !t.trim().is_empty()) {
            return Ok((AdminToken(t.trim().to_string()), TokenSource::Environment));
        }
        let path = data_dir.join(TOKEN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(t) if !t.trim().is_empty() => {
                return Ok((AdminToken(t.trim().to_string()), TokenSource::File));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("whk_admin_{}", hex::encode(bytes));
        let mut file =
            crate::store::files::private_file_options().write(true).create(true).truncate(true).open(&path)?;
        file.write_all(token.as_bytes())?;
        file.sync_all()?;
        Ok((AdminToken(token), TokenSource::Generated))
    }

    /// The secret itself, for printing once at first start.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    fn matches(&self, presented: &str) -> bool {
        let a = self.0.as_bytes();
        let b = presented.as_bytes();
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

/// Middleware: 401 unless `Authorization: Bearer <admin token>` (the scheme in any case, as
/// RFC 9110 says schemes are); every 401 carries `WWW-Authenticate: Bearer`.
pub async fn require_admin(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let presented = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
    let refused = match presented {
        Some(token) if state.admin_token.matches(token) => return next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "the admin token is not valid"),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send the admin token as `Authorization: Bearer <token>`",
        ),
    };
    let mut response = refused.into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

/// The token of a `Bearer` credential, the scheme matched case-insensitively.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_scheme_is_matched_in_any_case_and_others_are_not_bearer() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}
