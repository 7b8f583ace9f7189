//! Every ingest error of the contract, with its status and JSON body, against the real
//! binary; nothing refused is stored, and a batch is one event per object.

use crate::support;

use serde_json::json;
use support::{hook_path, request, start};

struct Hook {
    server: support::Server,
    path: String,
    id: String,
    _dir: tempfile::TempDir,
}

fn hook() -> Hook {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "errors"})));
    let path = hook_path(created.body["url"].as_str().unwrap());
    let id = created.body["id"].as_str().unwrap().to_string();
    Hook { server, path, id, _dir: dir }
}

impl Hook {
    fn post(&self, content_type: Option<&str>, body: &[u8]) -> support::Answer {
        request(&self.server.addr, "POST", &self.path, None, content_type, body)
    }

    fn stored(&self) -> usize {
        let log = self.server.admin("GET", &format!("/events?webhook={}", self.id), None);
        log.body["events"].as_array().unwrap().len()
    }
}

#[test]
fn only_json_is_accepted() {
    let h = hook();
    let body = br#"{"email":"a@example.com"}"#;
    for (content_type, field_expected) in
        [(Some("text/plain"), true), (None, true), (Some("application/x-www-form-urlencoded"), true)]
    {
        let answer = h.post(content_type, body);
        assert_eq!(answer.status, 415, "{content_type:?}");
        assert_eq!(answer.body["error"]["code"], "unsupported_media_type");
        assert_eq!(answer.body["error"]["field"] == "Content-Type", field_expected);
    }
    assert_eq!(h.post(Some("application/json; charset=ISO-8859-1"), body).status, 415);
    assert_eq!(h.stored(), 0, "refused requests store nothing");
    assert_eq!(h.post(Some("Application/JSON; charset=utf-8"), body).status, 202);
    assert_eq!(h.stored(), 1);
}

#[test]
fn malformed_json_says_where() {
    let h = hook();
    let answer = h.post(Some("application/json"), b"{\n  \"email\": \"a@example.com\",\n  oops\n}");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error"]["code"], "malformed_json");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("line 3, column 3"), "{:?}", answer.body);
    assert_eq!(h.post(Some("application/json"), b"").status, 400);
    assert_eq!(h.stored(), 0);
}

#[test]
fn only_objects_or_arrays_of_objects_are_events() {
    let h = hook();
    let top = h.post(Some("application/json"), br#""just a string""#);
    assert_eq!(top.status, 422);
    assert_eq!(top.body["error"]["field"], "$");
    let mixed = h.post(Some("application/json"), br#"[{"a":1}, 2]"#);
    assert_eq!(mixed.status, 422);
    assert_eq!(mixed.body["error"]["field"], "$[1]");
    assert!(mixed.body["error"]["message"].as_str().unwrap().contains("a number"));
    assert_eq!(h.post(Some("application/json"), b"[]").status, 422);
    assert_eq!(h.stored(), 0);
}

#[test]
fn a_batch_is_one_event_per_object() {
    let h = hook();
    let batch = json!([
        {"contact": {"email": "a@example.com"}},
        {"contact": {"email": "b@example.com"}},
        {"contact": {"email": "c@example.com"}}
    ]);
    let answer = h.post(Some("application/json"), batch.to_string().as_bytes());
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    let ids = answer.body["event_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 3);
    assert_eq!(answer.body["events"][0]["status"], "test_event");
    assert_eq!(answer.body["events"][1]["status"], "not_ready");
    let second = h.server.admin("GET", &format!("/events/{}", ids[1].as_str().unwrap()), None);
    assert_eq!(second.body["payload"]["contact"]["email"], "b@example.com");
    assert_eq!(h.stored(), 3);
}

#[test]
fn too_large_bodies_are_refused_not_truncated() {
    let h = hook();
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(1024 * 1024));
    let answer = h.post(Some("application/json"), big.as_bytes());
    assert_eq!(answer.status, 413);
    assert_eq!(answer.body["error"]["code"], "payload_too_large");
    let just_fits = format!(r#"{{"blob":"{}"}}"#, "x".repeat(1024 * 1024 - 16));
    assert_eq!(h.post(Some("application/json"), just_fits.as_bytes()).status, 202);
}

#[test]
fn unknown_and_deleted_tokens_are_indistinguishable_404s() {
    let h = hook();
    let body = br#"{"a":1}"#;
    let unknown = request(
        &h.server.addr,
        "POST",
        "/hooks/whk_0000000000000000000000000000000000000000",
        None,
        Some("application/json"),
        body,
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(h.server.admin("DELETE", &format!("/webhooks/{}", h.id), None).status, 204);
    let deleted = h.post(Some("application/json"), body);
    assert_eq!(deleted.status, 404);
    assert_eq!(deleted.body, unknown.body);
}
