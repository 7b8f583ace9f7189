//! An `action` guest that calls another system over HTTP with the `wasmhook-http` helper:
//! `GET` (or `POST` with input `body`) to input `url`, with `Authorization: Bearer
//! <API_KEY>` when that secret is given. Returns `status` and the response `body` as text
//! (its first MiB). An answer of 400 or more is the guest error `http_status`; a request the
//! host refuses, or that gets no answer, comes back as the guest error `http_error` naming
//! wasi:http's error code. With input `fail_with`, it sends nothing and fails with that
//! error code (`retry` asks the host to run it again later).

wit_bindgen::generate!({
    world: "action",
    path: "../../../wit",
});

use exports::wasmhook::plugin::actor::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};
use wasmhook_http::Request;

struct HttpAction;

/// The most of a response body kept as the `body` output.
const KEPT_BYTES: usize = 1024 * 1024;

impl Guest for HttpAction {
    fn run(_ctx: Context, inputs: Vec<Property>, secrets: Vec<(String, String)>) -> Result<Vec<Property>, PluginError> {
        let text = |name: &str| {
            inputs.iter().find(|p| p.name == name).and_then(|p| match &p.value {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
        };
        if let Some(code) = text("fail_with") {
            return Err(PluginError { message: format!("asked to fail with `{code}`"), code });
        }
        let url = text("url").ok_or_else(|| PluginError {
            code: "missing_input".into(),
            message: "input `url` (string) is required".into(),
        })?;
        let mut request = match text("body") {
            Some(body) => Request::post(url).header("content-type", "application/json").body(body),
            None => Request::get(url),
        }
        .keep(KEPT_BYTES);
        if let Some((_, key)) = secrets.iter().find(|(name, _)| name == "API_KEY") {
            request = request.bearer(key);
        }
        let failed = |e: wasmhook_http::Error| PluginError { code: e.code().into(), message: e.to_string() };
        let answer = request.send().map_err(failed)?.error_for_status().map_err(failed)?;
        let body = String::from_utf8_lossy(&answer.body).into_owned();
        Ok(vec![
            Property { name: "status".into(), value: Value::Number(f64::from(answer.status)) },
            Property { name: "body".into(), value: Value::String(body) },
        ])
    }
}

export!(HttpAction);
