//! A `send_webhook` step, no code needed: its body built from sources (by default the
//! record's and the trigger's properties), its headers from secrets and values, signed if
//! it says so, and sent by the host under the rules a plugin's requests follow (the
//! private-network rule, the TLS roots, the size and time limits, the destination's
//! breaker). A 2xx answer succeeds with `status` and the declared outputs read from the
//! JSON response by path; a 429, a 5xx or no answer runs again on the step's schedule with
//! the same `webhook-id`, so a receiver can deduplicate; any other answer fails the step.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json, json};

use super::retry::{self, Cause};
use super::sources::Scope;
use super::step::{
    Ended, Services, Try, check_output, held, on_schedule, redact, redact_json, requests_ended, secret_values,
};
use crate::model::step::StepDetail;
use crate::model::workflow::{HeaderSource, OutputType, SendWebhook};
use crate::plugins::outbound::{AllowedHost, Answer, Outgoing, shown};

/// The most of a failed answer's body quoted in the step's reason.
const QUOTED_BYTES: usize = 300;

/// Run the step; `webhook_id` is the same on every try of it.
pub(super) async fn run(
    hook: &SendWebhook,
    this_try: &Try,
    scope: &Scope<'_>,
    services: &Services,
    webhook_id: &str,
) -> (StepDetail, Ended, Option<String>) {
    let body = match &hook.body {
        Some(fields) => {
            Json::Object(fields.iter().map(|(name, source)| (name.clone(), scope.read(source).1)).collect())
        }
        None => json!({"record": scope.record, "trigger": scope.trigger}),
    };
    // Parsed once per try; checked when the workflow was saved.
    let uri: Result<http::Uri, String> = hook.url.parse().map_err(|_| format!("`{}` is not a URL", hook.url));
    let mut detail = Sent {
        request: uri.as_ref().map_or_else(|why| why.clone(), |uri| shown(hook.method.as_str(), uri)),
        webhook_id: webhook_id.to_string(),
        headers: hook.headers.keys().cloned().collect(),
        secrets: secret_names(hook),
        request_bytes: 0,
        status: None,
        response_bytes: None,
        log: None,
        outputs: None,
    };
    let (ended, reason) = match uri {
        Ok(uri) => send(hook, &uri, this_try, services, &body, &mut detail).await,
        Err(why) => (Ended::Failed(why), None),
    };
    (detail.into_step(body), ended, reason)
}

/// What the step entry records, as far as the step got.
struct Sent {
    request: String,
    webhook_id: String,
    headers: Vec<String>,
    secrets: Vec<String>,
    request_bytes: u64,
    status: Option<u16>,
    response_bytes: Option<u64>,
    log: Option<String>,
    outputs: Option<Map<String, Json>>,
}

impl Sent {
    fn into_step(self, body: Json) -> StepDetail {
        StepDetail::SendWebhook {
            request: self.request,
            webhook_id: self.webhook_id,
            body,
            headers: self.headers,
            secrets: self.secrets,
            request_bytes: self.request_bytes,
            status: self.status,
            response_bytes: self.response_bytes,
            log: self.log,
            outputs: self.outputs,
        }
    }
}

/// The secrets the step reads, each once: its headers' and its signing key.
fn secret_names(hook: &SendWebhook) -> Vec<String> {
    let mut names = BTreeSet::new();
    for source in hook.headers.values() {
        if let HeaderSource::Secret(name) = source {
            names.insert(name.clone());
        }
    }
    if let Some(signing) = &hook.signing {
        names.insert(signing.secret().to_string());
    }
    names.into_iter().collect()
}

async fn send(
    hook: &SendWebhook,
    uri: &http::Uri,
    this_try: &Try,
    services: &Services,
    body: &Json,
    detail: &mut Sent,
) -> (Ended, Option<String>) {
    let schedule = hook.retry.unwrap_or_default();
    let secrets = match secret_values(services, &detail.secrets) {
        Ok(found) => found,
        Err(reason) => return (Ended::Failed(reason), None),
    };
    let value_of = |name: &str| secrets.iter().find(|(have, _)| have == name).map_or("", |(_, value)| value.as_str());
    let destination = match AllowedHost::of_uri(uri) {
        Ok(destination) => destination,
        Err(why) => return (Ended::Failed(why), None),
    };
    if let Some(waiting) = held(services, &[destination.to_string()], &schedule, this_try) {
        return waiting;
    }
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    detail.request_bytes = bytes.len() as u64;
    let mut headers = delivery_headers(&detail.webhook_id);
    for (name, source) in &hook.headers {
        let value = match source {
            HeaderSource::Value(value) => value.as_str(),
            HeaderSource::Secret(secret) => value_of(secret),
        };
        headers.push((name.clone(), value.to_string()));
    }
    if let Some(signing) = &hook.signing {
        match super::signing::headers(
            signing,
            value_of(signing.secret()),
            &detail.webhook_id,
            this_try.now_ms / 1000,
            &bytes,
        ) {
            Ok(signed) => headers.extend(signed),
            Err(why) => return (Ended::Failed(why), None),
        }
    }
    let outgoing = Outgoing { method: hook.method.as_str(), uri, headers: &headers, body: bytes };
    let sent = services.engine.send(&destination, outgoing).await;
    detail.log = requests_ended(&sent.exchanges, &sent.log, &secrets);
    let response = match sent.response {
        Ok(response) => response,
        Err(failure) => {
            if let Some(cause) = retry::cause_of_last(&sent.exchanges) {
                return on_schedule(&schedule, this_try, &cause, None, &secrets);
            }
            // A request that got no answer says how it ended; an answer whose body could
            // not be read says so in `failure`.
            let how = sent.exchanges.last().and_then(|e| unanswered(&e.answer)).unwrap_or(failure);
            return (Ended::Failed(redact(&format!("{}: {how}", detail.request), &secrets)), None);
        }
    };
    detail.status = Some(response.status);
    detail.response_bytes = Some(response.body.len() as u64);
    if !(200..300).contains(&response.status) {
        let quoted = quote(&response.body);
        return match retry::cause_of_last(&sent.exchanges) {
            Some(cause @ Cause::Answered { .. }) => {
                let failure = format!("{cause}: {quoted}");
                on_schedule(&schedule, this_try, &cause, Some(&failure), &secrets)
            }
            _ => {
                let why = format!("{} answered {}: {quoted}", detail.request, response.status);
                (Ended::Failed(redact(&why, &secrets)), None)
            }
        };
    }
    match outputs(hook, response.status, &response.body) {
        Ok(outputs) => {
            detail.outputs = Some(outputs.into_iter().map(|(k, v)| (k, redact_json(v, &secrets))).collect());
            (Ended::Succeeded, None)
        }
        Err(why) => (Ended::Failed(redact(&why, &secrets)), None),
    }
}

/// The headers every JSON delivery the server sends carries (a step's webhook, an alert):
/// its type, who sends it, and its id, the same on every try (Standard Webhooks).
pub(crate) fn delivery_headers(webhook_id: &str) -> Vec<(String, String)> {
    vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("user-agent".to_string(), concat!("wasmhook/", env!("CARGO_PKG_VERSION")).to_string()),
        ("webhook-id".to_string(), webhook_id.to_string()),
    ]
}

/// How a request that got no answer ended, for a reason (`None` when it was answered).
pub(crate) fn unanswered(answer: &Answer) -> Option<String> {
    Some(match answer {
        Answer::Status { .. } => return None,
        Answer::Unreachable(why) => format!("no answer ({why})"),
        Answer::Refused => {
            "refused: its address is in the private network (a range the server did not open with --outbound-allow)"
                .into()
        }
        Answer::Broken(why) => why.clone(),
    })
}

/// A failed answer's body as quoted in a reason: its start, as text.
fn quote(body: &[u8]) -> String {
    if body.is_empty() {
        return "empty".into();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTED_BYTES)]);
    let more = if body.len() > QUOTED_BYTES { "…" } else { "" };
    format!("`{}{more}`", text.trim())
}

/// `status` and the declared outputs, each read from the JSON answer at its path (a
/// missing path, or an answer that is not JSON, gives no value).
fn outputs(hook: &SendWebhook, status: u16, body: &[u8]) -> Result<Map<String, Json>, String> {
    let mut outputs = Map::new();
    outputs.insert("status".into(), json!(status));
    if hook.outputs.is_empty() {
        return Ok(outputs);
    }
    let answer: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
    for declared in &hook.outputs {
        let found = at_path(&answer, &declared.path).cloned().unwrap_or(Json::Null);
        // An id the other side writes as a number is still an id: text outputs take
        // numbers and booleans as their text.
        let value = match (declared.kind, found) {
            (OutputType::String, found @ (Json::Number(_) | Json::Bool(_))) => Json::String(found.to_string()),
            (_, Json::Array(_) | Json::Object(_)) => {
                return Err(format!(
                    "output `{}`: the answer's `{}` is a list or an object, not a value",
                    declared.name, declared.path
                ));
            }
            (_, found) => found,
        };
        check_output(declared.kind, &declared.name, &value, &format!("the answer's `{}` is", declared.path))?;
        outputs.insert(declared.name.clone(), value);
    }
    Ok(outputs)
}

/// The value at a dotted path (`data.id`, `items.0.id`: a number indexes a list).
fn at_path<'j>(value: &'j Json, path: &str) -> Option<&'j Json> {
    path.split('.').try_fold(value, |at, part| match at {
        Json::Object(map) => map.get(part),
        Json::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::workflow::{HttpMethod, ResponseOutput, Signing};

    fn hook(outputs: Vec<ResponseOutput>) -> SendWebhook {
        SendWebhook {
            url: "https://api.example.com/v1/hooks?key=abc".into(),
            method: HttpMethod::Post,
            headers: Default::default(),
            body: None,
            signing: None,
            outputs,
            retry: None,
        }
    }

    fn output(name: &str, path: &str, kind: OutputType) -> ResponseOutput {
        ResponseOutput { name: name.into(), path: path.into(), kind }
    }

    #[test]
    fn outputs_are_read_by_path_with_status_always_there() {
        let declared = vec![
            output("remote_id", "data.id", OutputType::String),
            output("first", "items.0.n", OutputType::Number),
            output("missing", "data.nothing", OutputType::String),
        ];
        let body = br#"{"data": {"id": 42}, "items": [{"n": 7}]}"#;
        let read = outputs(&hook(declared), 201, body).unwrap();
        assert_eq!(Json::Object(read), json!({"status": 201, "remote_id": "42", "first": 7, "missing": null}));

        let read = outputs(&hook(vec![output("x", "a", OutputType::Number)]), 200, b"not json").unwrap();
        assert_eq!(Json::Object(read), json!({"status": 200, "x": null}));

        let wrong = outputs(&hook(vec![output("n", "a", OutputType::Number)]), 200, br#"{"a": "seven"}"#);
        assert_eq!(wrong.unwrap_err(), "output `n` is declared number but the answer's `a` is \"seven\"");
        let object = outputs(&hook(vec![output("n", "a", OutputType::String)]), 200, br#"{"a": {"b": 1}}"#);
        assert!(object.unwrap_err().contains("`a` is a list or an object"));
    }

    #[test]
    fn the_request_is_shown_without_its_query_and_secrets_are_named_once() {
        let mut hook = hook(Vec::new());
        assert_eq!(shown(hook.method.as_str(), &hook.url.parse().unwrap()), "POST https://api.example.com/v1/hooks");
        hook.headers.insert("X-Api-Key".into(), HeaderSource::Secret("KEY".into()));
        hook.headers.insert("X-Other".into(), HeaderSource::Secret("KEY".into()));
        hook.headers.insert("X-Source".into(), HeaderSource::Value("wasmhook".into()));
        hook.signing = Some(Signing::StandardWebhooks { secret: "SIGN".into() });
        assert_eq!(secret_names(&hook), vec!["KEY".to_string(), "SIGN".to_string()]);
        assert_eq!(quote(b""), "empty");
        assert_eq!(quote(&[b'x'; 400]).chars().filter(|c| *c == 'x').count(), QUOTED_BYTES);
    }
}
