//! The webhook wizard through HTTP against the real binary and a real SQLite file:
//! Name → Connect → (test event) Review → Map, and deliveries kept while set-up goes on.

use crate::support;

use serde_json::json;
use support::{hook_path, start};

fn payment() -> serde_json::Value {
    serde_json::from_str(include_str!("fixtures/payloads/payment_succeeded.json")).unwrap()
}

#[test]
fn first_payload_becomes_the_test_event_with_paths_samples_and_suggested_types() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "Payments (Stripe)"})));
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["state"], "awaiting_test_event");
    let id = created.body["id"].as_str().unwrap().to_string();
    let url = created.body["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("http://{}/hooks/whk_", server.addr)), "{url}");
    assert!(created.body["token"].as_str().unwrap().len() >= 36, "a token carries at least 128 random bits");

    let none = server.admin("GET", &format!("/webhooks/{id}/test-event"), None);
    assert_eq!(none.status, 404);
    assert_eq!(none.body["error"]["code"], "no_test_event");

    let sent = server.post_hook(&hook_path(&url), &payment());
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    assert_eq!(sent.body["status"], "test_event");

    let webhook = server.admin("GET", &format!("/webhooks/{id}"), None);
    assert_eq!(webhook.body["state"], "awaiting_mapping");
    assert_eq!(webhook.body["test_event_id"], sent.body["event_id"]);

    let test_event = server.admin("GET", &format!("/webhooks/{id}/test-event"), None);
    assert_eq!(test_event.status, 200);
    assert_eq!(test_event.body["payload"], payment());
    let fields = test_event.body["fields"].as_array().unwrap();
    let field = |path: &str| fields.iter().find(|f| f["path"] == path).unwrap_or_else(|| panic!("{path} listed"));
    assert_eq!(field("data.object.amount")["suggested_type"], "number");
    assert_eq!(field("data.object.amount")["sample"], 4200);
    assert_eq!(field("data.object.captured")["suggested_type"], "boolean");
    assert_eq!(field("data.object.receipt_email")["suggested_type"], "string");
    assert_eq!(field("data.object.created_at")["suggested_type"], "string");
    assert_eq!(field("data.object.created_at")["suggested_transform"], "strtotime");
    assert!(field("data.object.receipt_email").get("suggested_transform").is_none());
    assert!(field("data.object.metadata.order\\.id").get("suggested_transform").is_none());
    assert_eq!(field("data.object.items.1.sku")["sample"], "MUG-07");
    assert_eq!(field("data.object.metadata.coupon")["sample"], serde_json::Value::Null);
    // Document order is kept, so the wizard lists fields as the sender wrote them.
    assert_eq!(fields[0]["path"], "id");
}

#[test]
fn mapping_refuses_datetime_and_bad_entries_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let id =
        server.admin("POST", "/webhooks", Some(json!({"name": "Signups"}))).body["id"].as_str().unwrap().to_string();
    let put = |properties: serde_json::Value| {
        server.admin("PUT", &format!("/webhooks/{id}/mapping"), Some(json!({"properties": properties})))
    };

    let datetime = put(json!([{"path": "email", "type": "string"}, {"path": "signed_up_at", "type": "datetime"}]));
    assert_eq!(datetime.status, 400);
    assert_eq!(datetime.body["error"]["field"], "properties[1].type");
    assert!(datetime.body["error"]["message"].as_str().unwrap().contains("strtotime"), "{:?}", datetime.body);

    let twice = put(json!([{"path": "email", "type": "string"}, {"path": "email", "type": "string"}]));
    assert_eq!(twice.body["error"]["field"], "properties[1].path");
    let no_options = put(json!([{"path": "plan", "type": "enum"}]));
    assert_eq!(no_options.body["error"]["field"], "properties[0].options");
    // Options are bounded in number and length, and each is there once; the message gives the bound.
    let many: Vec<String> = (0..1001).map(|i| format!("o{i}")).collect();
    let too_many = put(json!([{"path": "plan", "type": "enum", "options": many}]));
    assert_eq!(too_many.body["error"]["field"], "properties[0].options");
    assert!(too_many.body["error"]["message"].as_str().unwrap().contains("1 to 1000 options"), "{:?}", too_many.body);
    let repeated = put(json!([{"path": "plan", "type": "enum", "options": ["a", "b", "a"]}]));
    assert_eq!(repeated.body["error"]["field"], "properties[0].options[2]");
    let long_option = put(json!([{"path": "plan", "type": "enum", "options": ["a", "x".repeat(256)]}]));
    assert_eq!(long_option.body["error"]["field"], "properties[0].options[1]");
    assert!(long_option.body["error"]["message"].as_str().unwrap().contains("255"), "{:?}", long_option.body);
    let long_label = put(json!([{"path": "plan", "type": "string", "label": "x".repeat(256)}]));
    assert_eq!(long_label.body["error"]["field"], "properties[0].label");
    let unknown = put(json!([{"path": "plan", "type": "color"}]));
    assert_eq!(unknown.body["error"]["field"], "properties[0].type");
    let missing = server.admin("PUT", &format!("/webhooks/{id}/mapping"), Some(json!({"props": []})));
    assert_eq!(missing.status, 400);
    assert!(missing.body["error"]["message"].as_str().unwrap().contains("properties"), "{:?}", missing.body);
}

#[test]
fn mapping_beyond_the_sample_and_far_past_50_properties_moves_on_to_match() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "CRM sync"})));
    let id = created.body["id"].as_str().unwrap().to_string();
    server.post_hook(&hook_path(created.body["url"].as_str().unwrap()), &payment());

    let mut properties = vec![
        json!({"path": "data.object.receipt_email", "label": "Receipt e-mail", "type": "string"}),
        json!({"path": "data.object.customer.plan", "type": "enumeration", "options": ["free", "pro"]}),
        json!({"path": "data.object.captured", "type": "bool"}),
        // Absent from the sample: later payloads may carry it.
        json!({"path": "data.object.refund.reason", "label": "ü".repeat(255), "type": "string"}),
    ];
    properties.extend((0..1000).map(|i| json!({"path": format!("data.object.extra.{i}"), "type": "number"})));
    let mapped = server.admin("PUT", &format!("/webhooks/{id}/mapping"), Some(json!({"properties": properties})));
    assert_eq!(mapped.status, 200, "{:?}", mapped.body["error"]);
    assert_eq!(mapped.body["state"], "awaiting_match");
    let stored = &mapped.body["mapping"]["properties"];
    assert_eq!(stored.as_array().unwrap().len(), 1004);
    assert_eq!(stored[1]["type"], "enum", "aliases are answered in canonical form");
    assert_eq!(stored[2]["type"], "boolean");
    assert_eq!(stored[4]["label"], "data.object.extra.0", "the label defaults to the path");
}

#[test]
fn deliveries_during_set_up_are_kept_as_not_ready_and_a_new_test_event_can_be_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "Forms"})));
    let id = created.body["id"].as_str().unwrap().to_string();
    let hook = hook_path(created.body["url"].as_str().unwrap());
    let first = server.post_hook(&hook, &json!({"form": "contact", "email": "a@example.com"}));
    assert_eq!(first.body["status"], "test_event");

    let second = server.post_hook(&hook, &json!({"form": "contact", "email": "b@example.com"}));
    assert_eq!(second.status, 202);
    assert_eq!(second.body["status"], "not_ready");
    let event = server.admin("GET", &format!("/events/{}", second.body["event_id"].as_str().unwrap()), None);
    assert_eq!(event.body["status"], "not_ready");
    assert!(event.body["reason"].as_str().unwrap().contains("awaiting_mapping"), "{:?}", event.body);
    assert_eq!(event.body["payload"]["email"], "b@example.com");

    // Retry a new test event: the next delivery replaces the sample.
    assert_eq!(server.admin("DELETE", &format!("/webhooks/{id}/test-event"), None).status, 204);
    assert_eq!(server.admin("GET", &format!("/webhooks/{id}"), None).body["state"], "awaiting_test_event");
    let third = server.post_hook(&hook, &json!({"form": "demo", "email": "c@example.com", "company": "Acme"}));
    assert_eq!(third.body["status"], "test_event");
    let sample = server.admin("GET", &format!("/webhooks/{id}/test-event"), None);
    assert_eq!(sample.body["payload"]["company"], "Acme");

    // Every delivery is in the log, newest first, filterable by status.
    let log = server.admin("GET", &format!("/events?webhook={id}"), None);
    let statuses: Vec<&str> =
        log.body["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["test_event", "not_ready", "test_event"]);
    let not_ready = server.admin("GET", &format!("/events?webhook={id}&status=not_ready"), None);
    assert_eq!(not_ready.body["events"].as_array().unwrap().len(), 1);
    let page = server.admin("GET", &format!("/events?webhook={id}&limit=2"), None);
    let cursor = page.body["next_cursor"].as_str().unwrap().to_string();
    let rest = server.admin("GET", &format!("/events?webhook={id}&limit=2&cursor={cursor}"), None);
    assert_eq!(rest.body["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body["events"][0]["id"], first.body["event_id"]);
}

#[test]
fn an_installation_has_at_most_100_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut first_id = String::new();
    for i in 0..100 {
        let created = server.admin("POST", "/webhooks", Some(json!({"name": format!("hook {i}")})));
        assert_eq!(created.status, 201);
        if i == 0 {
            first_id = created.body["id"].as_str().unwrap().to_string();
        }
    }
    let refused = server.admin("POST", "/webhooks", Some(json!({"name": "one too many"})));
    assert_eq!(refused.status, 409);
    assert_eq!(refused.body["error"]["code"], "limit_reached");
    let listed = server.admin("GET", "/webhooks", None);
    assert_eq!(listed.body["count"], 100);
    assert_eq!(listed.body["limit"], 100);
    assert_eq!(server.admin("DELETE", &format!("/webhooks/{first_id}"), None).status, 204);
    assert_eq!(server.admin("POST", "/webhooks", Some(json!({"name": "room again"}))).status, 201);
    let bad_name = server.admin("POST", "/webhooks", Some(json!({"name": "  "})));
    assert_eq!(bad_name.body["error"]["field"], "name");
}

#[test]
fn a_transform_chain_is_tried_on_the_test_event_without_storing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let fresh = server.admin("POST", "/webhooks", Some(json!({"name": "untested"})));
    let fresh_id = fresh.body["id"].as_str().unwrap();
    let none = server.admin("POST", &format!("/webhooks/{fresh_id}/transforms/test"), None);
    assert_eq!((none.status, none.body["error"]["code"].as_str()), (404, Some("no_test_event")));

    let (id, _) = support::ready_webhook(&server, "tried");
    let mapping = json!({"properties": [{"path": "customer", "type": "string"}]});
    assert_eq!(server.admin("PUT", &format!("/webhooks/{id}/mapping"), Some(mapping)).status, 200);
    let path = format!("/webhooks/{id}/transforms/test");
    // An unsaved chain: its output per step, and the final properties.
    let chain = json!([{"plugin": "normalize", "config": {"customer": "uppercase"}}]);
    let tried = server.admin("POST", &path, Some(chain));
    assert_eq!(tried.status, 200, "{:?}", tried.body);
    assert_eq!(tried.body["coerced"]["customer"], "cus_1");
    assert_eq!(tried.body["steps"][0]["plugin"], "normalize");
    assert_eq!(tried.body["steps"][0]["output"]["customer"], "CUS_1", "{:?}", tried.body);
    assert_eq!(tried.body["properties"]["customer"], "CUS_1");
    assert!(tried.body["error"].is_null(), "{:?}", tried.body);
    // A failing step says so, with the step's error; nothing was saved or stored.
    let bad = json!([{"plugin": "strtotime", "config": {"from": "customer", "to": "t"}}]);
    let failed = server.admin("POST", &path, Some(bad));
    assert_eq!(failed.status, 200);
    assert_eq!(failed.body["stage"], "transform");
    assert!(failed.body["steps"][0]["error"].is_string(), "{:?}", failed.body);
    let unknown = server.admin("POST", &path, Some(json!([{"plugin": "nope"}])));
    assert_eq!((unknown.status, unknown.body["error"]["field"].as_str()), (400, Some("[0].plugin")));
    assert_eq!(server.admin("GET", &format!("/webhooks/{id}"), None).body["transforms"], json!([]));
    let events = server.admin("GET", &format!("/events?webhook={id}"), None);
    assert_eq!(events.body["events"].as_array().unwrap().len(), 1, "only the test event");
}
