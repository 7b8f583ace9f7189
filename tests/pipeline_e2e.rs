//! The product end to end through HTTP, against the real binary, a real SQLite file and
//! the real strtotime plugin: set up a webhook trigger, then watch payment events enroll
//! the right contact, and every other outcome stay visible with its reason.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, hook_path, ok, start};

const HOSTILE: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_hostile.wasm");
const ECHO_ACTION: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_echo_action.wasm");

fn payment(customer: &str, amount: Value, created_at: &str) -> Value {
    let mut p: Value = serde_json::from_str(include_str!("fixtures/payloads/payment_succeeded.json")).unwrap();
    p["data"]["object"]["customer"]["id"] = json!(customer);
    p["data"]["object"]["amount"] = amount;
    p["data"]["object"]["created_at"] = json!(created_at);
    p
}

/// Wait until the worker has finished with an event.
fn settled(server: &Server, event_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let event = server.admin("GET", &format!("/events/{event_id}"), None).body;
        if event["status"] != "accepted" {
            return event;
        }
        assert!(Instant::now() < deadline, "event {event_id} still accepted after 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Setup {
    server: Server,
    hook: String,
    webhook_id: String,
    workflow_id: String,
    ada: String,
    _dir: tempfile::TempDir,
}

/// Property, record, webhook, test event, mapping, transforms, match, workflow.
fn set_up() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    ok(
        server.admin(
            "POST",
            "/objects/contacts/properties",
            Some(json!({"name": "external_id", "type": "string", "unique": true})),
        ),
        "property",
    );
    let ada = ok(
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_PxQ81"}}))),
        "record",
    );
    let webhook = ok(server.admin("POST", "/webhooks", Some(json!({"name": "Stripe payments"}))), "webhook");
    let webhook_id = webhook["id"].as_str().unwrap().to_string();
    let hook = hook_path(webhook["url"].as_str().unwrap());
    let test = server.post_hook(&hook, &payment("cus_PxQ81", json!(4200), "2024-03-10T09:15:00Z"));
    assert_eq!(test.body["status"], "test_event");
    ok(
        server.admin(
            "PUT",
            &format!("/webhooks/{webhook_id}/mapping"),
            Some(json!({"properties": [
                {"path": "data.object.customer.id", "label": "Customer", "type": "string"},
                {"path": "data.object.amount", "label": "Amount (cents)", "type": "number"},
                {"path": "data.object.captured", "type": "boolean"},
                {"path": "data.object.created_at", "label": "Paid at", "type": "string"}
            ]})),
        ),
        "mapping",
    );
    ok(
        server.admin(
            "PUT",
            &format!("/webhooks/{webhook_id}/transforms"),
            Some(json!([{"plugin": "strtotime", "config": {"from": "data.object.created_at", "to": "paid_at_unix"}}])),
        ),
        "transforms",
    );
    let matched = ok(
        server.admin(
            "PUT",
            &format!("/webhooks/{webhook_id}/match"),
            Some(json!({"object": "contacts", "webhook_property": "data.object.customer.id", "record_property": "external_id"})),
        ),
        "match",
    );
    assert_eq!(matched["state"], "ready");
    let workflow = ok(
        server.admin(
            "POST",
            "/workflows",
            Some(json!({"name": "Thank paying customers", "object": "contacts", "enabled": true, "reenroll": false, "triggers": [webhook_id], "actions": []})),
        ),
        "workflow",
    );
    Setup {
        hook,
        webhook_id,
        workflow_id: workflow["id"].as_str().unwrap().to_string(),
        ada: ada["id"].as_str().unwrap().to_string(),
        server,
        _dir: dir,
    }
}

#[test]
fn a_payment_enrolls_the_matching_contact_once_with_every_stage_recorded() {
    let s = set_up();
    let sent = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!("4200"), "2024-03-10T09:15:00Z"));
    assert_eq!(sent.status, 202);
    assert_eq!(sent.body["status"], "accepted");
    let event = settled(&s.server, sent.body["event_id"].as_str().unwrap());
    assert_eq!(event["status"], "enrolled", "{event:#}");
    assert_eq!(event["matched_record_id"], s.ada);
    assert_eq!(event["coerced"]["data.object.amount"], 4200, "numeric text coerced to a number");
    assert_eq!(event["coerced"]["data.object.captured"], true);
    let step = &event["transforms"][0];
    assert_eq!(step["plugin"], "strtotime");
    assert_eq!(step["output"]["paid_at_unix"], 1_710_062_100);
    let builtin_sha = s.server.admin("GET", "/plugins", None).body["plugins"][0]["sha256"].clone();
    assert_eq!(step["sha256"], builtin_sha, "each event records the hash of the plugin it ran");
    assert_eq!(event["properties"]["paid_at_unix"], 1_710_062_100);
    let stages: Vec<&str> = event["trace"].as_array().unwrap().iter().map(|t| t["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["coerce", "transform", "match", "enroll"]);
    // RFC 3339 in UTC with milliseconds compares as text.
    let (received, processed) = (event["received_at"].as_str().unwrap(), event["processed_at"].as_str().unwrap());
    assert!(processed >= received && processed.ends_with('Z'), "received {received}, processed {processed}");
    assert_eq!(event["enrollments"][0]["workflow_id"], s.workflow_id);
    assert_eq!(event["payload"]["data"]["object"]["customer"]["id"], "cus_PxQ81");

    // Re-enrollment is off by default.
    let again = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!(990), "2024-03-11 10:00:00"));
    let again = settled(&s.server, again.body["event_id"].as_str().unwrap());
    assert_eq!(again["status"], "already_enrolled", "{again:#}");
    let enrollments = s.server.admin("GET", &format!("/workflows/{}/enrollments", s.workflow_id), None);
    assert_eq!(enrollments.body["enrollments"].as_array().unwrap().len(), 1);

    // On when the workflow says so.
    s.server.admin("PATCH", &format!("/workflows/{}", s.workflow_id), Some(json!({"reenroll": true})));
    let third = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!(1500), "2024-03-12 10:00:00"));
    assert_eq!(settled(&s.server, third.body["event_id"].as_str().unwrap())["status"], "enrolled");
    let enrollments = s.server.admin("GET", &format!("/workflows/{}/enrollments", s.workflow_id), None);
    assert_eq!(enrollments.body["enrollments"].as_array().unwrap().len(), 2);
}

#[test]
fn unmatched_events_say_why_and_replay_after_the_record_exists() {
    let s = set_up();
    let sent = s.server.post_hook(&s.hook, &payment("cus_NEW42", json!(4200), "2024-03-10T09:15:00Z"));
    let event_id = sent.body["event_id"].as_str().unwrap().to_string();
    let event = settled(&s.server, &event_id);
    assert_eq!(event["status"], "unmatched");
    assert_eq!(event["reason"], "no contacts record has external_id = \"cus_NEW42\"");
    assert_eq!(event["payload"]["data"]["object"]["customer"]["id"], "cus_NEW42", "the raw payload is kept");

    let mut missing = payment("x", json!(1), "2024-03-10");
    missing["data"]["object"]["customer"].as_object_mut().unwrap().remove("id");
    let missing = s.server.post_hook(&s.hook, &missing);
    let missing = settled(&s.server, missing.body["event_id"].as_str().unwrap());
    assert_eq!(missing["status"], "unmatched");
    assert!(missing["reason"].as_str().unwrap().contains("`data.object.customer.id` is missing"), "{missing:#}");

    s.server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_NEW42"}})));
    let replayed = s.server.admin("POST", &format!("/events/{event_id}/replay"), None);
    assert_eq!(replayed.status, 202);
    assert_eq!(settled(&s.server, &event_id)["status"], "enrolled");

    // Bulk replay by webhook and status.
    let bulk = s.server.admin("POST", "/events/replay", Some(json!({"webhook": s.webhook_id, "status": "unmatched"})));
    assert_eq!(bulk.status, 202);
    assert_eq!(bulk.body["replayed"], 1);
    let log = s.server.admin("GET", &format!("/events?webhook={}&status=unmatched", s.webhook_id), None);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut remaining = log.body["events"].as_array().unwrap().len();
    while remaining != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let log = s.server.admin("GET", &format!("/events?webhook={}&status=unmatched", s.webhook_id), None);
        remaining = log.body["events"].as_array().unwrap().len();
    }
    assert_eq!(remaining, 1, "the event without a key is unmatched again");
}

#[test]
fn coercion_and_transform_failures_name_the_stage_and_the_value() {
    let s = set_up();
    let bad_amount = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!("twelve"), "2024-03-10T09:15:00Z"));
    let event = settled(&s.server, bad_amount.body["event_id"].as_str().unwrap());
    assert_eq!(event["status"], "failed");
    assert_eq!(event["stage"], "coerce");
    assert_eq!(event["reason"], "`data.object.amount`: \"twelve\" is not numeric text");

    let bad_date = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!(4200), "the day after never"));
    let event = settled(&s.server, bad_date.body["event_id"].as_str().unwrap());
    assert_eq!(event["status"], "failed");
    assert_eq!(event["stage"], "transform");
    let reason = event["reason"].as_str().unwrap();
    assert!(reason.starts_with("step 1 (strtotime): guest_error: unparseable"), "{reason}");
    assert!(reason.contains("\"the day after never\""), "{reason}");
    assert_eq!(event["transforms"][0]["outcome"], "guest_error");
    assert_eq!(event["coerced"]["data.object.amount"], 4200, "the stages before the failure are kept");
}

#[test]
fn disabled_or_missing_workflows_leave_no_workflow_and_set_up_deliveries_can_be_replayed() {
    let s = set_up();
    s.server.admin("PATCH", &format!("/workflows/{}", s.workflow_id), Some(json!({"enabled": false})));
    let sent = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!(4200), "2024-03-10T09:15:00Z"));
    let event = settled(&s.server, sent.body["event_id"].as_str().unwrap());
    assert_eq!(event["status"], "no_workflow");
    assert!(event["reason"].as_str().unwrap().contains("no enabled contacts workflow"));

    // A fresh webhook collects not_ready events until it is set up; replay then runs them.
    let other = s.server.admin("POST", "/webhooks", Some(json!({"name": "Second shop"}))).body;
    let other_id = other["id"].as_str().unwrap().to_string();
    let other_hook = hook_path(other["url"].as_str().unwrap());
    s.server.post_hook(&other_hook, &json!({"customer": "cus_PxQ81"}));
    let early = s.server.post_hook(&other_hook, &json!({"customer": "cus_PxQ81"}));
    assert_eq!(early.body["status"], "not_ready");
    s.server.admin(
        "PUT",
        &format!("/webhooks/{other_id}/mapping"),
        Some(json!({"properties": [{"path": "customer", "type": "string"}]})),
    );
    s.server.admin(
        "PUT",
        &format!("/webhooks/{other_id}/match"),
        Some(json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"})),
    );
    s.server.admin(
        "PATCH",
        &format!("/workflows/{}", s.workflow_id),
        Some(json!({"enabled": true, "triggers": [s.webhook_id, other_id]})),
    );
    let early_id = early.body["event_id"].as_str().unwrap();
    assert_eq!(s.server.admin("POST", &format!("/events/{early_id}/replay"), None).status, 202);
    assert_eq!(settled(&s.server, early_id)["status"], "enrolled");
}

#[test]
fn match_and_transforms_are_checked_when_configured() {
    let s = set_up();
    s.server.admin("POST", "/objects/contacts/properties", Some(json!({"name": "email", "type": "string"})));
    let not_unique = s.server.admin(
        "PUT",
        &format!("/webhooks/{}/match", s.webhook_id),
        Some(
            json!({"object": "contacts", "webhook_property": "data.object.receipt_email", "record_property": "email"}),
        ),
    );
    assert_eq!(not_unique.status, 400);
    assert_eq!(not_unique.body["error"]["field"], "record_property");
    let no_plugin =
        s.server.admin("PUT", &format!("/webhooks/{}/transforms", s.webhook_id), Some(json!([{"plugin": "nope"}])));
    assert_eq!(no_plugin.body["error"]["field"], "[0].plugin");
    let actions = s.server.admin(
        "POST",
        "/workflows",
        Some(json!({"name": "x", "object": "contacts", "triggers": [], "actions": [{"type": "custom_code"}]})),
    );
    assert_eq!(actions.body["error"]["field"], "actions[0].plugin");
    assert!(
        actions.body["error"]["message"].as_str().unwrap().contains("name a `plugin`, or write `source`"),
        "{:?}",
        actions.body
    );
}

#[test]
fn plugins_are_checked_at_upload_and_in_use_ones_cannot_be_deleted() {
    let s = set_up();
    let upload = |name: &str, bytes: &[u8]| {
        support::request(
            &s.server.addr,
            "PUT",
            &format!("/api/v1/plugins/{name}"),
            Some(&s.server.token),
            Some("application/wasm"),
            bytes,
        )
    };
    let hostile = upload("tricky", &std::fs::read(HOSTILE).unwrap());
    assert_eq!(hostile.status, 200, "{:?}", hostile.body);
    assert_eq!(hostile.body["world"], "transform");
    assert_eq!(hostile.body["sha256"].as_str().unwrap().len(), 64);
    let action = upload("greeter", &std::fs::read(ECHO_ACTION).unwrap());
    assert_eq!(action.body["world"], "action");
    let garbage = upload("broken", b"\0asm not a component");
    assert_eq!(garbage.status, 422);
    assert_eq!(garbage.body["error"]["code"], "plugin_refused");
    let listed = s.server.admin("GET", "/plugins", None).body;
    let names: Vec<&str> = listed["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["strtotime", "normalize", "date-diff", "greeter", "tricky"]);

    // An action plugin cannot sit in a transform chain.
    let wrong =
        s.server.admin("PUT", &format!("/webhooks/{}/transforms", s.webhook_id), Some(json!([{"plugin": "greeter"}])));
    assert_eq!(wrong.status, 400);
    // An uploaded transform runs in the chain; a failing one fails the event with its outcome.
    s.server.admin(
        "PUT",
        &format!("/webhooks/{}/transforms", s.webhook_id),
        Some(json!([{"plugin": "tricky", "config": {"mode": "loop"}}])),
    );
    let sent = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!(1), "2024-03-10"));
    let event = settled(&s.server, sent.body["event_id"].as_str().unwrap());
    assert_eq!(event["stage"], "transform");
    assert_eq!(event["transforms"][0]["outcome"], "timeout");
    assert_eq!(event["transforms"][0]["sha256"], hostile.body["sha256"]);

    // Replacing the plugin applies to the events processed afterwards.
    let normalize = std::fs::read(concat!(env!("WASMHOOK_GUEST_DIR"), "/normalize.wasm")).unwrap();
    let replaced = upload("tricky", &normalize);
    assert_ne!(replaced.body["sha256"], hostile.body["sha256"]);
    let sent = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!(2), "2024-03-10"));
    let event = settled(&s.server, sent.body["event_id"].as_str().unwrap());
    assert_eq!(event["transforms"][0]["sha256"], replaced.body["sha256"]);
    assert_eq!(event["transforms"][0]["outcome"], "guest_error", "normalize refuses the op `loop`: {event:#}");

    let in_use = s.server.admin("DELETE", "/plugins/tricky", None);
    assert_eq!(in_use.status, 409);
    assert_eq!(in_use.body["error"]["code"], "in_use");
    assert_eq!(s.server.admin("DELETE", "/plugins/strtotime", None).status, 409);
    assert_eq!(s.server.admin("DELETE", "/plugins/greeter", None).status, 204);
}

#[test]
fn redeliveries_answer_with_the_original_id_and_enroll_nothing_again() {
    let s = set_up();
    let post_with_id = |delivery: Option<&str>, body: &Value| {
        let bytes = body.to_string();
        let mut stream = std::net::TcpStream::connect(&s.server.addr).unwrap();
        let header = delivery.map(|d| format!("webhook-id: {d}\r\n")).unwrap_or_default();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\n\r\n",
            s.hook,
            bytes.len()
        );
        use std::io::{Read, Write};
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(bytes.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
        serde_json::from_str::<Value>(body).unwrap()
    };
    let body = payment("cus_PxQ81", json!(4200), "2024-03-10T09:15:00Z");
    let first = post_with_id(Some("msg_2dQ9"), &body);
    assert_eq!(first["status"], "accepted");
    let again = post_with_id(Some("msg_2dQ9"), &body);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["event_id"], first["event_id"], "a redelivery is answered with the original id");
    assert_eq!(settled(&s.server, first["event_id"].as_str().unwrap())["status"], "enrolled");
    let duplicates = s.server.admin("GET", &format!("/events?webhook={}&status=duplicate", s.webhook_id), None);
    let duplicates = duplicates.body["events"].as_array().unwrap().clone();
    assert_eq!(duplicates.len(), 1, "the duplicate is kept and counted");
    assert!(duplicates[0]["reason"].as_str().unwrap().contains(first["event_id"].as_str().unwrap()));
    let enrollments = s.server.admin("GET", &format!("/workflows/{}/enrollments", s.workflow_id), None);
    assert_eq!(enrollments.body["enrollments"].as_array().unwrap().len(), 1);

    // Without a delivery id there is nothing to dedupe on.
    assert_eq!(post_with_id(None, &body)["status"], "accepted");
    assert_eq!(post_with_id(None, &body)["status"], "accepted");

    // A body path instead of the header (e.g. a provider's event id).
    let set = s.server.admin("PUT", &format!("/webhooks/{}/dedup", s.webhook_id), Some(json!({"body_path": "id"})));
    assert_eq!(set.body["dedup"], json!({"body_path": "id"}));
    let by_body = post_with_id(Some("ignored-now"), &body);
    assert_eq!(by_body["status"], "accepted");
    let by_body_again = post_with_id(Some("other-header"), &body);
    assert_eq!(by_body_again["status"], "duplicate");
    assert_eq!(by_body_again["event_id"], by_body["event_id"]);
    let mut other = body.clone();
    other["id"] = json!("evt_different");
    assert_eq!(post_with_id(None, &other)["status"], "accepted");

    let both = s.server.admin(
        "PUT",
        &format!("/webhooks/{}/dedup", s.webhook_id),
        Some(json!({"header": "a", "body_path": "b"})),
    );
    assert_eq!(both.status, 400);
}

#[test]
fn a_batch_of_events_for_few_records_enrolls_each_record_once() {
    let s = set_up();
    for n in 0..5 {
        let created = s.server.admin(
            "POST",
            "/objects/contacts/records",
            Some(json!({"properties": {"external_id": format!("cus_batch{n}")}})),
        );
        assert_eq!(created.status, 201, "{:?}", created.body);
    }
    // 200 events in one request (so the worker takes them in one batch, on several
    // threads): 40 per record, and a few that match nothing or fail coercion.
    let mut batch: Vec<Value> =
        (0..200).map(|i| payment(&format!("cus_batch{}", i % 5), json!(i), "2024-03-10T09:15:00Z")).collect();
    batch[7] = payment("cus_nobody", json!(1), "2024-03-10T09:15:00Z");
    batch[9] = payment("cus_batch1", json!("a lot"), "2024-03-10T09:15:00Z");
    let sent = s.server.post_hook(&s.hook, &Value::Array(batch));
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    let ids: Vec<String> =
        sent.body["event_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
    assert_eq!(ids.len(), 200);
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for id in &ids {
        *counts.entry(settled(&s.server, id)["status"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(counts.get("enrolled"), Some(&5), "{counts:?}");
    assert_eq!(counts.get("already_enrolled"), Some(&193), "{counts:?}");
    assert_eq!(counts.get("unmatched"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("failed"), Some(&1), "{counts:?}");
    let failed = settled(&s.server, &ids[9]);
    assert_eq!(failed["stage"], "coerce");
    assert!(failed["reason"].as_str().unwrap().contains("a lot"), "{failed:#}");
    let enrollments = s.server.admin("GET", &format!("/workflows/{}/enrollments", s.workflow_id), None);
    let mut enrolled: Vec<String> = enrollments.body["enrollments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record_id"].as_str().unwrap().to_string())
        .collect();
    enrolled.sort();
    enrolled.dedup();
    assert_eq!(enrolled.len(), 5, "each record enrolled exactly once");
}

#[test]
fn deleting_a_workflow_deletes_its_enrollments_and_leaves_the_events() {
    let s = set_up();
    let sent = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!(4200), "2024-03-10T09:15:00Z"));
    let event_id = sent.body["event_id"].as_str().unwrap().to_string();
    let event = settled(&s.server, &event_id);
    assert_eq!(event["status"], "enrolled", "{event:#}");
    let enrollment_id = event["enrollments"][0]["enrollment_id"].as_str().unwrap().to_string();
    let record_enrollments = format!("/objects/contacts/records/{}/enrollments", s.ada);
    let listed = ok(s.server.admin("GET", &record_enrollments, None), "record enrollments");
    assert_eq!(listed["enrollments"].as_array().unwrap().len(), 1, "{listed:#}");

    let deleted = s.server.admin("DELETE", &format!("/workflows/{}", s.workflow_id), None);
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    // Its enrollments go with it, on either backend (PostgreSQL's schema has no cascading key).
    let gone = s.server.admin("GET", &format!("/enrollments/{enrollment_id}"), None);
    assert_eq!(gone.status, 404, "{:?}", gone.body);
    let listed = ok(s.server.admin("GET", &record_enrollments, None), "record enrollments");
    assert_eq!(listed["enrollments"].as_array().unwrap().len(), 0, "{listed:#}");
    assert_eq!(s.server.admin("GET", &format!("/workflows/{}", s.workflow_id), None).status, 404);
    assert_eq!(s.server.admin("DELETE", &format!("/workflows/{}", s.workflow_id), None).status, 404);
    // The event stays, with what it did then.
    let event = s.server.admin("GET", &format!("/events/{event_id}"), None).body;
    assert_eq!(event["status"], "enrolled", "{event:#}");
    // A delivery now finds no workflow to enroll into.
    let later = s.server.post_hook(&s.hook, &payment("cus_PxQ81", json!(990), "2024-03-11 10:00:00"));
    let later = settled(&s.server, later.body["event_id"].as_str().unwrap());
    assert_eq!(later["status"], "no_workflow", "{later:#}");
}
