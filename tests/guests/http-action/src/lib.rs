//! An `action` guest that calls another system over HTTP: `GET` (or `POST` with input
//! `body`) to input `url`, with `Authorization: Bearer <API_KEY>` when that secret is
//! given. Returns `status` and the response `body` as text (its first MiB). An answer of 400
//! or more is the guest error `http_status`; a request the host refuses, or that gets no
//! answer, comes back as the guest error `http_error` naming wasi:http's error code. With
//! input `fail_with`, it sends nothing and fails with that error code (`retry` asks the host
//! to run it again later).

wit_bindgen::generate!({
    world: "action",
    path: "../../../wit",
});

use exports::wasmhook::plugin::actor::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};

struct HttpAction;

/// The most of a response body kept as the `body` output.
const KEPT_BYTES: usize = 1024 * 1024;

fn failed(message: String) -> PluginError {
    PluginError { code: "http_error".into(), message }
}

/// Send one request and read the whole answer.
fn call(url: &str, bearer: Option<&str>, body: Option<&str>) -> Result<(u16, String), PluginError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| failed(format!("`{url}` has no scheme")))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
    let headers = Fields::new();
    let add = |name: &str, value: String| {
        headers.append(name, value.as_bytes()).map_err(|e| failed(format!("header {name}: {e:?}")))
    };
    if let Some(token) = bearer {
        add("authorization", format!("Bearer {token}"))?;
    }
    if body.is_some() {
        add("content-type", "application/json".into())?;
    }
    let request = OutgoingRequest::new(headers);
    let scheme = if scheme == "https" { Scheme::Https } else { Scheme::Http };
    let bad = |what: &str| failed(format!("the request's {what} was refused"));
    request.set_scheme(Some(&scheme)).map_err(|()| bad("scheme"))?;
    request.set_authority(Some(authority)).map_err(|()| bad("authority"))?;
    request.set_path_with_query(Some(path)).map_err(|()| bad("path"))?;
    request.set_method(if body.is_some() { &Method::Post } else { &Method::Get }).map_err(|()| bad("method"))?;
    let outgoing = request.body().map_err(|()| bad("body"))?;
    if let Some(text) = body {
        let stream = outgoing.write().map_err(|()| bad("body stream"))?;
        stream.blocking_write_and_flush(text.as_bytes()).map_err(|e| failed(format!("writing the body: {e:?}")))?;
    }
    let pending = outgoing_handler::handle(request, None).map_err(|e| failed(format!("{e:?}")))?;
    OutgoingBody::finish(outgoing, None).map_err(|e| failed(format!("{e:?}")))?;
    let response = loop {
        match pending.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(e))) => return Err(failed(format!("{e:?}"))),
            Some(Err(())) => return Err(failed("the response was taken twice".into())),
            None => pending.subscribe().block(),
        }
    };
    let status = response.status();
    let body = response.consume().map_err(|()| failed("no response body".into()))?;
    let stream = body.stream().map_err(|()| failed("no response body stream".into()))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            // Keep the first MiB (the outputs are bounded anyway); read on to the end.
            Ok(chunk) => bytes.extend(chunk.iter().take(KEPT_BYTES.saturating_sub(bytes.len()))),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                let why =
                    wasi::http::types::http_error_code(&e).map_or_else(|| e.to_debug_string(), |c| format!("{c:?}"));
                return Err(failed(format!("reading the response: {why}")));
            }
        }
    }
    drop(stream);
    IncomingBody::finish(body);
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

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
        let bearer = secrets.iter().find(|(name, _)| name == "API_KEY").map(|(_, value)| value.as_str());
        let sent = text("body");
        let (status, body) = call(&url, bearer, sent.as_deref())?;
        if status >= 400 {
            let method = if sent.is_some() { "POST" } else { "GET" };
            // Without the query, as the step log names requests.
            let target = url.split('?').next().unwrap_or_default();
            return Err(PluginError {
                code: "http_status".into(),
                message: format!("{method} {target} answered {status}"),
            });
        }
        Ok(vec![
            Property { name: "status".into(), value: Value::Number(f64::from(status)) },
            Property { name: "body".into(), value: Value::String(body) },
        ])
    }
}

export!(HttpAction);
