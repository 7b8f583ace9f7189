//! `__http(method, url, headers, body)`: one HTTP request through the host's `wasi:http`
//! client, for `fetch` and `axios` (`http.js`). The call blocks the guest until the answer
//! is read; the host awaits it without a thread, and its rules apply (the step's
//! `allowed_hosts`, no private network, limits, the request log, retries after 429/5xx).

use boa_engine::{Context, JsError, JsNativeError, JsResult, JsValue};
use wasmhook_http::Request;

/// The most of an answer kept for the code: a JavaScript string takes two bytes a
/// character, and the whole runtime has 16 MiB.
const KEEP: usize = 1024 * 1024;

/// `__http(method, url, [[name, value], …], body?)` → `{status, headers: [[name, value], …],
/// body, truncated}`; a request that got no answer (refused, unreachable, a bad URL)
/// throws a `TypeError` saying why, as `fetch` does.
pub fn call(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let text = |at: usize, context: &mut Context| -> JsResult<String> {
        Ok(args.get(at).cloned().unwrap_or_default().to_string(context)?.to_std_string_escaped())
    };
    let method = text(0, context)?;
    let url = text(1, context)?;
    let mut request = Request::named(&method, url.clone()).keep(KEEP);
    if let Some(headers) = args.get(2).filter(|h| h.is_object()) {
        let pairs = headers.to_json(context)?.unwrap_or_default();
        for pair in pairs.as_array().into_iter().flatten() {
            if let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) {
                request = request.header(name, value);
            }
        }
    }
    if let Some(body) = args.get(3).filter(|b| !b.is_undefined() && !b.is_null()) {
        request = request.body(body.to_string(context)?.to_std_string_escaped().into_bytes());
    }
    let answer = request.send().map_err(|e| -> JsError {
        JsNativeError::typ().with_message(format!("fetch failed: {method} {}: {e}", shown(&url))).into()
    })?;
    let json = serde_json::json!({
        "status": answer.status,
        "headers": answer.headers,
        "body": answer.text(),
        "truncated": answer.truncated,
    });
    JsValue::from_json(&json, context)
}

/// A URL without its query, which may carry a key.
fn shown(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}
