//! Sender verification through the real binary: a webhook with a signature setting takes
//! only correctly signed requests; refusals are 401 with a code, are counted, and store
//! nothing; rotation accepts both secrets; the provider's delivery id becomes the dedup key.

use crate::support;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support::{Server, hook_path, request_with, start};

fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn events(server: &Server, webhook: &str) -> Vec<Value> {
    server.admin("GET", &format!("/events?webhook={webhook}"), None).body["events"].as_array().unwrap().clone()
}

/// A new webhook's id and ingest path.
fn new_webhook(server: &Server, name: &str) -> (String, String) {
    let webhook = server.admin("POST", "/webhooks", Some(json!({ "name": name }))).body;
    (webhook["id"].as_str().unwrap().to_string(), hook_path(webhook["url"].as_str().unwrap()))
}

fn post(server: &Server, hook: &str, headers: &[(&str, &str)], body: &str) -> support::Answer {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    request_with(&server.addr, "POST", hook, &all, body.as_bytes())
}

#[test]
fn github_signatures_are_checked_counted_and_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (id, hook) = new_webhook(&server, "github");
    let id = id.as_str();
    let set = server.admin(
        "PUT",
        &format!("/webhooks/{id}/signature"),
        Some(json!({"scheme": "github", "secret": "old-secret"})),
    );
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(set.body, json!({"scheme": "github", "tolerance_s": 300, "secrets": 1, "failures": 0}));
    assert!(!set.body.to_string().contains("old-secret"));
    let shown = server.admin("GET", &format!("/webhooks/{id}"), None).body;
    assert_eq!(shown["dedup"], json!({"header": "X-GitHub-Delivery"}), "the provider's delivery id is the dedup key");

    let body = r#"{"action":"opened","number":7}"#;
    let sign = |secret: &str| format!("sha256={}", hmac_hex(secret.as_bytes(), &[body.as_bytes()]));
    let refused = |headers: &[(&str, &str)], payload: &str, code: &str| {
        let answer = post(&server, &hook, headers, payload);
        assert_eq!(answer.status, 401, "{headers:?}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["code"], code);
    };
    refused(&[], body, "signature_missing");
    refused(&[("X-Hub-Signature-256", &sign("wrong"))], body, "signature_mismatch");
    refused(&[("X-Hub-Signature-256", &sign("old-secret"))], r#"{"action":"closed","number":7}"#, "signature_mismatch");
    refused(&[("X-Hub-Signature-256", "sha256=")], body, "signature_mismatch");
    refused(&[("X-Hub-Signature-256", &sign("old-secret")[..40])], body, "signature_mismatch");
    // Unsigned garbage is refused for its signature, before its content type or JSON.
    let garbage = request_with(&server.addr, "POST", &hook, &[("Content-Type", "text/plain")], b"not json");
    assert_eq!(garbage.status, 401);
    assert!(events(&server, id).is_empty(), "refused requests store nothing");

    let delivery = [("X-Hub-Signature-256", sign("old-secret")), ("X-GitHub-Delivery", "d-1".to_string())];
    let headers: Vec<(&str, &str)> = delivery.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ok = post(&server, &hook, &headers, body);
    assert_eq!(ok.status, 202, "{:?}", ok.body);
    assert_eq!(ok.body["status"], "test_event");

    // Rotation: the new secret first, the old one still accepted.
    let rotate = server.admin(
        "PUT",
        &format!("/webhooks/{id}/signature"),
        Some(json!({"scheme": "github", "secrets": ["new-secret", "old-secret"]})),
    );
    assert_eq!(rotate.body["secrets"], 2);
    for secret in ["new-secret", "old-secret"] {
        let answer = post(&server, &hook, &[("X-Hub-Signature-256", &sign(secret))], body);
        assert_eq!(answer.status, 202, "{secret}: {:?}", answer.body);
    }
    // A redelivery with the same GitHub delivery id is a duplicate of the first.
    let again = post(&server, &hook, &headers, body);
    assert_eq!(again.body["status"], "duplicate");
    assert_eq!(again.body["event_id"], ok.body["event_id"]);
    // Rotation done: only the new secret. The answer counts refusals as `GET` does.
    let failures_before = server.admin("GET", &format!("/webhooks/{id}/signature"), None).body["failures"].clone();
    assert!(failures_before.as_u64().unwrap() > 0, "{failures_before}");
    let rotated = server.admin(
        "PUT",
        &format!("/webhooks/{id}/signature"),
        Some(json!({"scheme": "github", "secret": "new-secret"})),
    );
    assert_eq!(rotated.body["failures"], failures_before, "{:?}", rotated.body);
    refused(&[("X-Hub-Signature-256", &sign("old-secret"))], body, "signature_mismatch");

    let counted = server.admin("GET", &format!("/webhooks/{id}/signature"), None).body;
    assert_eq!(counted["failures"], 7, "{counted}");
    assert_eq!(server.admin("GET", &format!("/webhooks/{id}"), None).body["signature_failures"], 7);
    assert_eq!(events(&server, id).len(), 4);
    assert!(
        server.admin("GET", "/secrets", None).body["secrets"].as_array().unwrap().is_empty(),
        "signing secrets are not listed"
    );

    // Off again: unsigned requests are taken.
    assert_eq!(server.admin("DELETE", &format!("/webhooks/{id}/signature"), None).status, 204);
    assert_eq!(post(&server, &hook, &[], body).status, 202);
}

#[test]
fn standard_webhooks_checks_the_timestamp_and_bad_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (id, hook) = new_webhook(&server, "svix");
    let id = id.as_str();
    let bad = |body: Value, field: &str| {
        let answer = server.admin("PUT", &format!("/webhooks/{id}/signature"), Some(body));
        assert_eq!(answer.status, 400, "{:?}", answer.body);
        assert_eq!(answer.body["error"]["field"], field, "{:?}", answer.body);
    };
    bad(json!({"scheme": "md5", "secret": "x"}), "scheme");
    bad(json!({"scheme": "github"}), "secret");
    bad(json!({"scheme": "github", "secrets": ["a", "b", "c"]}), "secret");
    bad(json!({"scheme": "standard-webhooks", "secret": "whsec_%%%"}), "secret");
    bad(json!({"scheme": "hmac-sha256", "secret": "x"}), "header");
    bad(json!({"scheme": "github", "secret": "x", "tolerance_s": 0}), "tolerance_s");
    // Header names no request can carry would leave a webhook that never verifies.
    bad(json!({"scheme": "hmac-sha256", "secret": "x", "header": "x\r\nInjected: 1"}), "header");
    bad(
        json!({"scheme": "hmac-sha256", "secret": "x", "header": "X-Sig", "timestamp_header": "X Ts"}),
        "timestamp_header",
    );
    let dedup = server.admin("PUT", &format!("/webhooks/{id}/dedup"), Some(json!({"header": "x\r\nInjected: 1"})));
    assert_eq!((dedup.status, &dedup.body["error"]["field"]), (400, &json!("header")), "{:?}", dedup.body);

    let key = b"0123456789abcdef0123456789abcdef";
    let secret = format!("whsec_{}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key));
    let set = server.admin(
        "PUT",
        &format!("/webhooks/{id}/signature"),
        Some(json!({"scheme": "standard-webhooks", "secret": secret})),
    );
    assert_eq!(set.status, 200, "{:?}", set.body);
    let body = r#"{"type":"user.created"}"#;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let send = |ts: i64| {
        let ts = ts.to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("msg_1.{ts}.{body}").as_bytes());
        let sig = format!(
            "v1,{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mac.finalize().into_bytes())
        );
        post(&server, &hook, &[("webhook-id", "msg_1"), ("webhook-timestamp", &ts), ("webhook-signature", &sig)], body)
    };
    // The message says which way the clock is off, and stays sane for absurd timestamps.
    let stale = send(now - 600).body;
    assert_eq!(stale["error"]["code"], "signature_timestamp_out_of_tolerance");
    let said = stale["error"]["message"].as_str().unwrap().to_string();
    assert!(said.contains(" s in the past (tolerance 300 s)"), "{said}");
    let ahead = send(now + 600).body;
    assert_eq!(ahead["error"]["code"], "signature_timestamp_out_of_tolerance");
    assert!(ahead["error"]["message"].as_str().unwrap().contains(" s in the future"), "{ahead}");
    let in_ms = send(now * 1000).body;
    assert!(in_ms["error"]["message"].as_str().unwrap().contains("more than a year in the future"), "{in_ms}");
    let ok = send(now - 10);
    assert_eq!(ok.status, 202, "{:?}", ok.body);
}

#[test]
fn a_webhook_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let make = |name: &str| {
        let w = server.admin("POST", "/webhooks", Some(json!({"name": name}))).body;
        (w["id"].as_str().unwrap().to_string(), hook_path(w["url"].as_str().unwrap()))
    };
    let (busy, busy_hook) = make("busy");
    let (_, calm_hook) = make("calm");
    let shown = server.admin("GET", &format!("/webhooks/{busy}"), None).body;
    assert_eq!(shown["rate_limit"], json!({"per_second": 10000.0, "burst": 20000.0, "limited": 0}));
    let bad = server.admin("PUT", &format!("/webhooks/{busy}/rate-limit"), Some(json!({"per_second": 0})));
    assert_eq!(bad.body["error"]["field"], "per_second");
    let set =
        server.admin("PUT", &format!("/webhooks/{busy}/rate-limit"), Some(json!({"per_second": 0.2, "burst": 3})));
    assert_eq!(set.status, 200, "{:?}", set.body);

    for i in 0..3 {
        assert_eq!(post(&server, &busy_hook, &[], &format!("{{\"n\":{i}}}")).status, 202);
    }
    let limited = post(&server, &busy_hook, &[], r#"{"n":3}"#);
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    assert_eq!(limited.body["error"]["code"], "rate_limited");
    let retry =
        limited.headers.lines().find_map(|l| l.strip_prefix("retry-after: ").or(l.strip_prefix("Retry-After: ")));
    assert_eq!(retry, Some("5"), "{}", limited.headers);
    assert_eq!(post(&server, &calm_hook, &[], r#"{"n":0}"#).status, 202, "another webhook is not limited");
    assert_eq!(events(&server, &busy).len(), 3, "the limited request stored nothing");
    let shown = server.admin("GET", &format!("/webhooks/{busy}"), None).body;
    assert_eq!(shown["rate_limit"]["limited"], 1);

    assert_eq!(server.admin("DELETE", &format!("/webhooks/{busy}/rate-limit"), None).status, 200);
    assert_eq!(post(&server, &busy_hook, &[], r#"{"n":4}"#).status, 202, "back to the default");
}

#[test]
fn slack_url_verification_is_answered_not_stored_and_retries_are_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (id, hook) = new_webhook(&server, "slack");
    let id = id.as_str();
    let set =
        server.admin("PUT", &format!("/webhooks/{id}/signature"), Some(json!({"scheme": "slack", "secret": "s"})));
    assert_eq!(set.status, 200, "{:?}", set.body);
    // The Slack preset: dedup by the event's `event_id`.
    assert_eq!(server.admin("GET", &format!("/webhooks/{id}"), None).body["dedup"]["body_path"], "event_id");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let slack = |body: &str, extra: &[(&str, &str)]| {
        let signature = format!("v0={}", hmac_hex(b"s", &[b"v0:", now.as_bytes(), b":", body.as_bytes()]));
        let mut headers = vec![("X-Slack-Request-Timestamp", now.as_str()), ("X-Slack-Signature", signature.as_str())];
        headers.extend_from_slice(extra);
        post(&server, &hook, &headers, body)
    };

    // Slack's Request URL check: the challenge comes back, and nothing is stored.
    let check = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let answered = slack(check, &[]);
    assert_eq!(answered.status, 200, "{:?}", answered.body);
    assert_eq!(answered.body, json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}));
    assert!(events(&server, id).is_empty(), "the handshake is not an event");
    assert_eq!(server.admin("GET", &format!("/webhooks/{id}"), None).body["state"], "awaiting_test_event");
    // Unsigned, it is refused like any other request.
    assert_eq!(post(&server, &hook, &[], check).status, 401);

    // An event, then Slack's retry of it: the retry answers the first event's id.
    let event = r#"{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"hi"}}"#;
    let first = slack(event, &[]);
    assert_eq!(first.status, 202, "{:?}", first.body);
    assert_eq!(first.body["status"], "test_event");
    let retry = slack(event, &[("X-Slack-Retry-Num", "1"), ("X-Slack-Retry-Reason", "http_timeout")]);
    assert_eq!(retry.status, 202, "{:?}", retry.body);
    assert_eq!(retry.body["status"], "duplicate");
    assert_eq!(retry.body["event_id"], first.body["event_id"]);
    assert_eq!(events(&server, id).len(), 2, "the event and its duplicate are both in the log");
}
