//! Delay steps through the real binary (issue 26, item 4): an enrollment waits a time, or
//! until a date read from its record moved by an offset; the wait is a due time in the
//! store, so a server killed while it waits resumes it after the restart and ends it when
//! due, never before. A waiting enrollment says what it waits for and until when.

use crate::support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::{Server, ok, ready_webhook, start};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn workflow(server: &Server, name: &str, webhook: &str, actions: Value) -> String {
    let spec = json!({"name": name, "object": "contacts", "triggers": [webhook], "actions": actions});
    ok(server.admin("POST", "/workflows", Some(spec)), "workflow")["id"].as_str().unwrap().to_string()
}

/// The enrollment of `workflow`, once `done` holds for it.
fn enrollment_of(server: &Server, workflow: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = server.admin("GET", &format!("/workflows/{workflow}/enrollments"), None).body;
        if let Some(id) = all["enrollments"][0]["id"].as_str() {
            let e = server.admin("GET", &format!("/enrollments/{id}"), None).body;
            if done(&e) {
                return e;
            }
        }
        assert!(Instant::now() < deadline, "{what}: {all}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_delay_outlives_a_restart_and_ends_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "Renewals");
    for property in [json!({"name": "note", "type": "string"}), json!({"name": "renews", "type": "datetime"})] {
        ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    }
    // Renews in 6 s (unix seconds, as strtotime writes them); the second workflow wakes 2 s before.
    let renews_s = now_ms() / 1000 + 6;
    let record = json!({"properties": {"external_id": "cus_1", "renews": renews_s}});
    ok(server.admin("POST", "/objects/contacts/records", Some(record)), "record");
    let then_note = |text: &str| json!({"type": "set_property", "property": "note", "value": {"value": text}});
    let waits = workflow(&server, "Wait 4 s", &webhook, json!([{"type": "delay", "for_s": 4}, then_note("waited")]));
    let until = json!([{"type": "delay", "until": "record.renews", "offset_s": -2}]);
    let before_renewal = workflow(&server, "Before renewal", &webhook, until);

    assert_eq!(server.post_hook(&hook, &json!({"customer": "cus_1"})).status, 202);
    let waiting = enrollment_of(&server, &waits, "the delay began", |e| e["steps_run"] == 1);
    assert_eq!(waiting["status"], "running");
    assert_eq!(
        (waiting["steps"][0]["type"].as_str(), waiting["steps"][0]["outcome"].as_str()),
        (Some("delay"), Some("waiting"))
    );
    let due_ms = waiting["steps"][0]["until_ms"].as_i64().unwrap();
    let started_ms = waiting["steps"][0]["started_at_ms"].as_i64().unwrap();
    assert_eq!(due_ms, started_ms + 4_000, "{waiting}");
    assert_eq!(waiting["waiting"]["for"], "delay", "{waiting}");
    assert_eq!(waiting["waiting"]["step"], "0");
    assert_eq!(waiting["waiting"]["until"], waiting["steps"][0]["until"]);
    let other = enrollment_of(&server, &before_renewal, "the dated delay began", |e| e["steps_run"] == 1);
    assert_eq!(other["steps"][0]["until_ms"], (renews_s - 2) * 1000, "{other}");
    assert_eq!(other["steps"][0]["value"], renews_s, "the value read is shown");

    // Killed while both wait: nothing ran early, and the restart resumes them.
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    assert!(now_ms() < due_ms, "the kill came after the delay was due; the test machine is too slow to tell");
    let server = start(dir.path());
    let done = enrollment_of(&server, &waits, "the delay ended", |e| e["status"] != "running");
    assert_eq!(done["status"], "completed", "{done}");
    let outcomes: Vec<&str> =
        done["steps"].as_array().unwrap().iter().map(|s| s["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["waiting", "succeeded", "succeeded"], "{done}");
    let ended_ms = done["steps"][1]["started_at_ms"].as_i64().unwrap();
    assert!(ended_ms >= due_ms, "ended {} ms early", due_ms - ended_ms);
    assert!(ended_ms < due_ms + 10_000, "ended {} ms late", ended_ms - due_ms);
    assert!(done.get("waiting").is_none(), "{done}");
    let found = server.admin("GET", "/objects/contacts/records?external_id=cus_1", None).body;
    assert_eq!(found["records"][0]["properties"]["note"], "waited");
    let dated = enrollment_of(&server, &before_renewal, "the dated delay ended", |e| e["status"] != "running");
    assert_eq!(dated["status"], "completed", "{dated}");
    assert!(dated["steps"][1]["started_at_ms"].as_i64().unwrap() >= (renews_s - 2) * 1000);
}

#[test]
fn delays_are_checked_when_saved() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, _) = ready_webhook(&server, "Renewals");
    for property in [json!({"name": "note", "type": "string"}), json!({"name": "renews", "type": "date"})] {
        ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    }
    let refused = [
        (json!({"type": "delay", "for_s": 0}), "actions[0].for_s"),
        (json!({"type": "delay", "for_s": 40_000_000}), "actions[0].for_s"),
        (json!({"type": "delay"}), "actions[0]"),
        (json!({"type": "delay", "for_s": 5, "until": "record.renews"}), "actions[0]"),
        (json!({"type": "delay", "for_s": 5, "offset_s": 60}), "actions[0].offset_s"),
        (json!({"type": "delay", "until": "record.note"}), "actions[0].until"),
        (json!({"type": "delay", "until": "record.nope"}), "actions[0].until"),
        (json!({"type": "delay", "until": {"value": "next week"}}), "actions[0].until"),
    ];
    for (action, field) in refused {
        let spec = json!({"name": "w", "object": "contacts", "triggers": [webhook], "actions": [action]});
        let answer = server.admin("POST", "/workflows", Some(spec));
        assert_eq!(answer.status, 400, "{action}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["field"], field, "{action}: {:?}", answer.body);
    }
    for action in [
        json!({"type": "delay", "until": "record.renews", "offset_s": -86_400}),
        json!({"type": "delay", "until": {"value": "2027-01-01"}}),
        json!({"type": "delay", "until": "trigger.customer"}),
    ] {
        let spec = json!({"name": "w", "object": "contacts", "triggers": [webhook], "actions": [action]});
        let answer = server.admin("POST", "/workflows", Some(spec));
        assert_eq!(answer.status, 201, "{action}: {:?}", answer.body);
    }
}
