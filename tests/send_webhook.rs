//! The `send_webhook` action (issue 21): a workflow posts the record to another service
//! with no code. Here the other service is first another webhook of the same server with
//! the Standard Webhooks check on (a signed delivery is accepted and its event id comes
//! back as an output; a step signing with another key is refused there and fails at once),
//! then a scripted API on loopback (a 500 is retried with the same `webhook-id`, headers
//! come from secrets and values, a 400 fails at once quoting the answer).

use base64::Engine as _;
use serde_json::{Value, json};

use super::outbound_http::{Api, api, try_step, workflow};
use crate::support::{Server, ok, ready_webhook, start_with};

const KEY: &[u8] = b"a key of thirty-two bytes long!!";
const API_KEY: &str = "sk_send_webhook_7d1e";

fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

/// A server that may reach loopback, with `cus_1` (a `remote_event` property to write),
/// the secrets the steps use, and a ready webhook `orders`: (server, dir, webhook, hook
/// path, record id).
fn scene() -> (Server, tempfile::TempDir, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(&dir.path().join("data"), None, &["--outbound-allow", "127.0.0.1/32"]);
    let (webhook, hook) = ready_webhook(&server, "orders");
    for (name, value) in [
        ("HOOK_KEY", whsec(KEY)),
        ("WRONG_KEY", whsec(b"another key, also 32 bytes long!")),
        ("API_KEY", API_KEY.into()),
    ] {
        assert_eq!(server.admin("PUT", &format!("/secrets/{name}"), Some(json!({"value": value}))).status, 204);
    }
    ok(
        server.admin("POST", "/objects/contacts/properties", Some(json!({"name": "remote_event", "type": "string"}))),
        "property",
    );
    let record = ok(
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_1"}}))),
        "record",
    );
    (server, dir, webhook, hook, record["id"].as_str().unwrap().to_string())
}

/// Post an event to `hook` and wait for its enrollment to finish: the enrollment.
pub(crate) fn enrolled(server: &Server, hook: &str, payload: &Value) -> Value {
    let event = server.post_hook(hook, payload);
    assert_eq!(event.status, 202, "{}", event.text);
    server.finished_enrollment(event.body["event_id"].as_str().unwrap())
}

fn events_of(server: &Server, webhook: &str) -> Vec<Value> {
    let listed = server.admin("GET", &format!("/events?webhook={webhook}&limit=100"), None).body;
    listed["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_signed_delivery_to_another_webhook_is_accepted_there_and_a_wrong_key_is_refused() {
    let (server, _dir, orders, orders_hook, record) = scene();
    let (inbox, inbox_hook) = ready_webhook(&server, "inbox");
    let check = json!({"scheme": "standard-webhooks", "secret": whsec(KEY)});
    ok(server.admin("PUT", &format!("/webhooks/{inbox}/signature"), Some(check)), "signature");
    let url = format!("http://{}{inbox_hook}", server.addr);
    let step = |secret: &str| {
        json!({"type": "send_webhook", "url": url, "body": {"customer": "record.external_id", "via": {"value": "orders"}, "mapped": "trigger.customer"},
               "signing": {"scheme": "standard-webhooks", "secret": secret},
               "outputs": [{"name": "event_id", "path": "event_id", "type": "string"}]})
    };
    let actions =
        json!([step("HOOK_KEY"), {"type": "set_property", "property": "remote_event", "value": "action.0.event_id"}]);
    workflow(&server, &orders, actions);
    let before = events_of(&server, &inbox).len();

    let enrollment = enrolled(&server, &orders_hook, &json!({"customer": "cus_1", "amount": 42}));
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    let sent = &enrollment["steps"][0];
    assert_eq!(sent["type"], "send_webhook");
    assert_eq!(sent["status"], 202, "{sent:#}");
    assert_eq!(sent["outputs"]["status"], 202);
    assert!(sent["webhook_id"].as_str().unwrap().starts_with("msg_"), "{sent:#}");
    assert_eq!(sent["request"], format!("POST http://{}{inbox_hook}", server.addr));
    assert_eq!(sent["secrets"], json!(["HOOK_KEY"]));
    // The inbox stored the delivery, and its id came back as the step's output onto the record.
    let remote = sent["outputs"]["event_id"].as_str().expect("event_id output").to_string();
    let event = server.admin("GET", &format!("/events/{remote}"), None).body;
    assert_eq!(event["webhook_id"], inbox, "{event:#}");
    assert_eq!(event["payload"], json!({"customer": "cus_1", "via": "orders", "mapped": "cus_1"}), "{event:#}");
    let written = server.admin("GET", &format!("/objects/contacts/records/{record}"), None).body;
    assert_eq!(written["properties"]["remote_event"], remote.as_str(), "{written:#}");
    assert_eq!(events_of(&server, &inbox).len(), before + 1);

    // Signed with another key: the inbox refuses it (401) and stores nothing; a 401 is
    // not worth a retry, so the step fails at once.
    let wrong = workflow(&server, &orders, json!([step("WRONG_KEY")]));
    let tried = try_step(&server, &wrong, &record);
    assert_eq!(tried["outcome"], "failed", "{tried:#}");
    let reason = tried["reason"].as_str().unwrap();
    assert!(reason.contains("answered 401") && reason.contains("signature_mismatch"), "{reason}");
    assert_eq!(events_of(&server, &inbox).len(), before + 1, "the refused delivery stored nothing");

    // No secret value in any answer.
    let text = format!("{enrollment}{tried}");
    for secret in [whsec(KEY), whsec(b"another key, also 32 bytes long!")] {
        assert!(!text.contains(&secret), "a secret leaked: {text}");
    }
}

/// The headers and body of each request `api` saw (lower-case header names).
fn seen(api: &Api) -> Vec<(Vec<(String, String)>, Value)> {
    api.requests
        .lock()
        .unwrap()
        .iter()
        .map(|(h, b)| (h.clone(), serde_json::from_slice(b).unwrap_or(Value::Null)))
        .collect()
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn a_failed_delivery_is_retried_with_the_same_webhook_id_and_a_400_fails_at_once() {
    let (server, _dir, orders, orders_hook, record) = scene();
    let api = api();
    let step = json!({"type": "send_webhook", "url": format!("http://{}/v1/events?key=in-the-query", api.addr),
        "method": "PUT",
        "headers": {"X-Api-Key": {"secret": "API_KEY"}, "X-Source": {"value": "wasmhook"}},
        "signing": {"scheme": "hmac-sha256", "secret": "API_KEY", "header": "X-Signature", "encoding": "hex"},
        "outputs": [{"name": "tier", "path": "tier", "type": "string"}],
        "retry": {"first_s": 1, "max_s": 1}});
    workflow(&server, &orders, json!([step]));
    api.script.lock().unwrap().push_back((500, ""));

    let enrollment = enrolled(&server, &orders_hook, &json!({"customer": "cus_1", "amount": 7}));
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    let steps = enrollment["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{steps:#?}");
    assert_eq!(steps[0]["outcome"], "retrying");
    let reason = steps[0]["reason"].as_str().unwrap();
    let said = format!("PUT http://{}/v1/events answered 500: `{{", api.addr);
    assert!(reason.starts_with(&said) && reason.contains("`; try 2 at "), "{reason}");
    assert!(!steps[0]["request"].as_str().unwrap().contains("in-the-query"), "the query is not shown");
    assert_eq!(steps[1]["outputs"], json!({"status": 200, "tier": "gold"}));
    assert_eq!(steps[0]["webhook_id"], steps[1]["webhook_id"]);

    let requests = seen(&api);
    assert_eq!(requests.len(), 2);
    let ids: Vec<_> = requests.iter().map(|(h, _)| header(h, "webhook-id").unwrap().to_string()).collect();
    assert_eq!(ids[0], ids[1], "a receiver can deduplicate the retry");
    assert_eq!(ids[0], steps[0]["webhook_id"].as_str().unwrap());
    let (headers, body) = &requests[1];
    assert_eq!(header(headers, "x-api-key"), Some(API_KEY));
    assert_eq!(header(headers, "x-source"), Some("wasmhook"));
    assert_eq!(header(headers, "content-type"), Some("application/json"));
    // By default the body is the record's properties and the trigger's.
    assert_eq!(body["record"]["external_id"], "cus_1", "{body:#}");
    assert_eq!(body["trigger"]["customer"], "cus_1", "{body:#}");
    let raw = api.requests.lock().unwrap()[1].1.clone();
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(API_KEY.as_bytes()).unwrap();
    mac.update(&raw);
    assert_eq!(header(headers, "x-signature"), Some(hex::encode(mac.finalize().into_bytes()).as_str()));
    assert!(api.seen.lock().unwrap().iter().all(|s| s.starts_with("PUT /v1/events?key=in-the-query")));

    // A 400 is the step's own fault: failed at once, the answer quoted.
    api.script.lock().unwrap().push_back((400, ""));
    let failing =
        workflow(&server, &orders, json!([{"type": "send_webhook", "url": format!("http://{}/v1/events", api.addr)}]));
    let tried = try_step(&server, &failing, &record);
    assert_eq!(tried["outcome"], "failed", "{tried:#}");
    let reason = tried["reason"].as_str().unwrap();
    assert!(reason.contains("answered 400") && reason.contains("\"tier\":\"gold\""), "{reason}");
    assert_eq!(seen(&api).len(), 3, "no retry after a 400");

    let text = format!("{enrollment}{tried}");
    assert!(!text.contains(API_KEY), "the secret leaked: {text}");
}

#[test]
fn send_webhook_steps_are_checked_when_saved() {
    let (server, _dir, orders, _hook, _record) = scene();
    let refused = |step: Value, field: &str, says: &str| {
        let saved = json!({"name": "bad", "object": "contacts", "triggers": [orders], "actions": [step]});
        let answer = server.admin("POST", "/workflows", Some(saved));
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert_eq!(answer.body["error"]["field"], field, "{}", answer.text);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    };
    let url = "https://api.example.com/v1";
    refused(json!({"type": "send_webhook", "url": "ftp://api.example.com"}), "actions[0].url", "https or http");
    refused(json!({"type": "send_webhook", "url": "https://user:pw@api.example.com"}), "actions[0].url", "user");
    refused(
        json!({"type": "send_webhook", "url": url, "headers": {"Bad Name": {"value": "x"}}}),
        "actions[0].headers",
        "Bad Name",
    );
    refused(
        json!({"type": "send_webhook", "url": url, "headers": {"Content-Length": {"value": "1"}}}),
        "actions[0].headers",
        "set by wasmhook",
    );
    refused(
        json!({"type": "send_webhook", "url": url, "headers": {"X-Key": {"secret": "no such name!"}}}),
        "actions[0].headers.X-Key",
        "secret name",
    );
    refused(
        json!({"type": "send_webhook", "url": url, "body": {"email": "record.nope"}}),
        "actions[0].body.email",
        "no property `nope`",
    );
    refused(
        json!({"type": "send_webhook", "url": url, "signing": {"scheme": "hmac-sha256", "secret": "K", "header": ""}}),
        "actions[0].signing.header",
        "header",
    );
    refused(
        json!({"type": "send_webhook", "url": url, "outputs": [{"name": "status", "path": "a", "type": "number"}]}),
        "actions[0].outputs[0].name",
        "status",
    );
    refused(
        json!({"type": "send_webhook", "url": url, "outputs": [{"name": "id", "path": "", "type": "string"}]}),
        "actions[0].outputs[0].path",
        "path",
    );
    refused(
        json!({"type": "send_webhook", "url": url, "retry": {"first_s": 0}}),
        "actions[0].retry.first_s",
        "between 1",
    );
}
