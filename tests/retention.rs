//! Retention through the real binary (`serve --retention-days 0.0001`, about 8.6 s): old
//! events and ended enrollments are pruned off the ingest path and counted; a webhook
//! with its own retention keeps its events; the test event and the row that keeps a
//! record from enrolling twice are never pruned (events still waiting and running
//! enrollments: `store/retention.rs`'s tests, which can hold them in those states).

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, metric_sum, ok, ready_webhook, run_bounded, start_with};

const SHORT_DAYS: &str = "0.0001";

fn events_of(server: &Server, webhook: &str) -> Vec<Value> {
    server.admin("GET", &format!("/events?webhook={webhook}&limit=500"), None).body["events"]
        .as_array()
        .expect("an event page")
        .clone()
}

fn enrollments_of(server: &Server, workflow: &str) -> Vec<Value> {
    let page = server.admin("GET", &format!("/workflows/{workflow}/enrollments"), None).body;
    page["enrollments"].as_array().expect("an enrollment page").clone()
}

fn pruned(server: &Server, table: &str) -> f64 {
    metric_sum(&server.metrics(), "wasmhook_pruned_rows_total", &[("table", table)])
}

/// Wait (up to 60 s) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn old_events_and_ended_enrollments_go_while_what_must_stay_stays() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), None, &["--retention-days", SHORT_DAYS]);
    let (short, short_hook) = ready_webhook(&server, "short");
    let (long, long_hook) = ready_webhook(&server, "long");
    let imported = server.import("contacts", b"{\"external_id\":\"cus_1\"}\n", true);
    assert_eq!(imported.body["created"], 1, "{:?}", imported.body);

    // The setting: shown on the webhook, bounded, settable and back to the default.
    let shown = server.admin("GET", &format!("/webhooks/{short}"), None).body;
    assert_eq!(shown["retention"], json!({"days": 0.0001, "source": "default"}));
    for (body, field) in [(json!({}), "days"), (json!({"days": 0}), "days"), (json!({"days": 40_000}), "days")] {
        let refused = server.admin("PUT", &format!("/webhooks/{long}/retention"), Some(body.clone()));
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(refused.body["error"]["field"], field);
    }
    let set = ok(server.admin("PUT", &format!("/webhooks/{long}/retention"), Some(json!({"days": 30}))), "set");
    assert_eq!(set["retention"], json!({"days": 30.0, "source": "webhook"}));
    let url = format!("http://{}", server.addr);
    let cli = |args: &[&str]| {
        let mut all = vec!["webhook", "retention", "--server", &url, "--token", &server.token];
        all.extend_from_slice(args);
        let out = run_bounded(&all, Duration::from_secs(30));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(cli(&[&long]), "events kept 30 days after they arrive (its own)\n");
    assert_eq!(cli(&[&short, "--days", "2"]), "events kept 2 days after they arrive (its own)\n");
    assert_eq!(cli(&[&short, "--default"]), "events kept 0.0001 days after they arrive (the server's default)\n");

    // Two workflows on the short webhook: one re-enrolls, one enrolls a record once.
    let workflow = |name: &str, reenroll: bool| {
        let body =
            json!({"name": name, "object": "contacts", "triggers": [short], "reenroll": reenroll, "actions": []});
        ok(server.admin("POST", "/workflows", Some(body)), "workflow")["id"].as_str().unwrap().to_string()
    };
    let (again, once) = (workflow("again", true), workflow("once", false));
    for n in 0..10 {
        for hook in [&short_hook, &long_hook] {
            assert_eq!(server.post_hook(hook, &json!({"customer": "cus_1", "n": n})).status, 202);
        }
    }
    server.drained(&short, Duration::from_secs(30));
    assert_eq!(enrollments_of(&server, &again).len(), 10);
    assert_eq!(enrollments_of(&server, &once).len(), 1);

    eventually("pruning the short webhook's events", || events_of(&server, &short).len() == 1);
    let test_event = server.admin("GET", &format!("/webhooks/{short}"), None).body["test_event_id"].clone();
    assert_eq!(events_of(&server, &short)[0]["id"], test_event, "the test event is kept");
    assert_eq!(events_of(&server, &long).len(), 11, "a webhook's own retention keeps its events");
    eventually("pruning ended enrollments", || enrollments_of(&server, &again).is_empty());
    let kept = enrollments_of(&server, &once);
    assert_eq!(kept.len(), 1, "the enrollment of a workflow that enrolls once stays: {kept:?}");
    assert!(pruned(&server, "events") >= 10.0);
    assert!(pruned(&server, "enrollments") >= 10.0);
    assert_eq!(pruned(&server, "enrollment_logs"), 1.0);
    let page = server.metrics();
    assert!(metric_sum(&page, "wasmhook_database_bytes", &[]) > 0.0, "{page}");

    // The kept row still refuses a second enrollment of the record.
    let sent = server.post_hook(&short_hook, &json!({"customer": "cus_1", "n": 99}));
    let event = sent.body["event_id"].as_str().unwrap().to_string();
    server.drained(&short, Duration::from_secs(30));
    assert_eq!(server.admin("GET", &format!("/events/{event}"), None).body["status"], "enrolled");
    assert_eq!(enrollments_of(&server, &once).len(), 1, "the record enrolled once, even after pruning");
}
