//! What operators see, through the real binary: `/metrics` after known traffic counts
//! exactly that traffic (ingest answers, events by status, stage and plugin-call
//! histograms, enrollments), and JSON logs tie an ingest request's id to its event.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{metric_sum, ok, ready_webhook, request, request_with, start, start_with};

#[test]
fn metrics_count_known_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let (webhook, hook) = ready_webhook(&server, "Orders");
    let chain = json!([{"plugin": "normalize", "config": {"customer": "trim"}}]);
    ok(server.admin("PUT", &format!("/webhooks/{webhook}/transforms"), Some(chain)), "transforms");
    let actions = json!([{"type": "custom_code", "plugin": "date-diff", "inputs": {"from": {"value": 1_700_000_000}},
                          "outputs": [{"name": "days", "type": "number"}]}]);
    let workflow = json!({"name": "w", "object": "contacts", "triggers": [webhook], "actions": actions});
    ok(server.admin("POST", "/workflows", Some(workflow)), "workflow");
    for n in 1..=5 {
        let record = json!({"properties": {"external_id": format!("cus_{n}")}});
        ok(server.admin("POST", "/objects/contacts/records", Some(record)), "record");
    }

    for customer in ["cus_1", " cus_2 ", "cus_3", "cus_4", "cus_5", "cus_nobody", "cus_gone"] {
        assert_eq!(server.post_hook(&hook, &json!({"customer": customer})).status, 202);
    }
    assert_eq!(request(&server.addr, "POST", &hook, None, Some("application/json"), b"{\"customer\":").status, 400);
    assert_eq!(request(&server.addr, "POST", &hook, None, Some("text/plain"), b"{}").status, 415);
    assert_eq!(request(&server.addr, "POST", "/hooks/whk_nope", None, Some("application/json"), b"{}").status, 404);
    server.drained(&webhook, Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let page = server.metrics();
        // The running gauge is read from the store before the counters are rendered, so
        // one scrape may see the last enrollment running and already counted as ended.
        let settled = metric_sum(&page, "wasmhook_enrollments_ended_total", &[]) >= 5.0
            && metric_sum(&page, "wasmhook_enrollments_running", &[]) == 0.0;
        if settled || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    // Ingest: the test event and seven deliveries accepted; one of each refusal.
    assert_eq!(metric_sum(&page, "wasmhook_ingest_requests_total", &[("status", "202")]), 8.0, "{page}");
    for status in ["400", "415", "404"] {
        assert_eq!(metric_sum(&page, "wasmhook_ingest_requests_total", &[("status", status)]), 1.0, "{status}");
    }
    assert_eq!(metric_sum(&page, "wasmhook_events_received_total", &[("status", "test_event")]), 1.0);
    assert_eq!(metric_sum(&page, "wasmhook_events_received_total", &[("status", "accepted")]), 7.0);
    // Events by final status, and how long each took from receipt.
    assert_eq!(metric_sum(&page, "wasmhook_events_processed_total", &[("status", "enrolled")]), 5.0, "{page}");
    assert_eq!(metric_sum(&page, "wasmhook_events_processed_total", &[("status", "unmatched")]), 2.0);
    assert_eq!(metric_sum(&page, "wasmhook_event_latency_seconds_count", &[]), 7.0);
    assert_eq!(metric_sum(&page, "wasmhook_event_latency_seconds_bucket", &[("le", "+Inf")]), 7.0);
    // Stage latency histograms: every event was coerced, transformed and matched; five enrolled.
    for (stage, count) in [("coerce", 7.0), ("transform", 7.0), ("match", 7.0), ("enroll", 5.0)] {
        assert_eq!(metric_sum(&page, "wasmhook_stage_duration_seconds_count", &[("stage", stage)]), count, "{stage}");
        assert_eq!(
            metric_sum(&page, "wasmhook_stage_duration_seconds_bucket", &[("stage", stage), ("le", "+Inf")]),
            count
        );
    }
    // Plugin calls by plugin, world and outcome, with their durations.
    let normalize = [("plugin", "normalize"), ("world", "transform")];
    assert_eq!(metric_sum(&page, "wasmhook_plugin_calls_total", &[normalize[0], normalize[1], ("outcome", "ok")]), 7.0);
    assert_eq!(metric_sum(&page, "wasmhook_plugin_call_duration_seconds_count", &normalize), 7.0);
    assert!(metric_sum(&page, "wasmhook_plugin_call_duration_seconds_sum", &normalize) > 0.0);
    let date_diff = [("plugin", "date-diff"), ("world", "action"), ("outcome", "ok")];
    assert_eq!(metric_sum(&page, "wasmhook_plugin_calls_total", &date_diff), 5.0);
    // Enrollments: started, ended, running; action steps by type and outcome.
    assert_eq!(metric_sum(&page, "wasmhook_enrollments_started_total", &[]), 5.0);
    assert_eq!(metric_sum(&page, "wasmhook_enrollments_ended_total", &[("status", "completed")]), 5.0);
    assert_eq!(metric_sum(&page, "wasmhook_enrollments_running", &[]), 0.0);
    assert_eq!(
        metric_sum(&page, "wasmhook_action_steps_total", &[("type", "custom_code"), ("outcome", "succeeded")]),
        5.0
    );
    assert_eq!(metric_sum(&page, "wasmhook_backlog_events", &[]), 0.0);

    // A failing plugin is counted by its outcome.
    let bad = json!([{"plugin": "normalize", "config": {"customer": "no-such-op"}}]);
    ok(server.admin("PUT", &format!("/webhooks/{webhook}/transforms"), Some(bad)), "transforms");
    assert_eq!(server.post_hook(&hook, &json!({"customer": "cus_1"})).status, 202);
    server.drained(&webhook, Duration::from_secs(20));
    // An event is counted once its batch has committed, a moment after the store shows it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let page = server.metrics();
        let failed = metric_sum(&page, "wasmhook_events_processed_total", &[("status", "failed")]);
        if failed > 0.0 || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        metric_sum(&page, "wasmhook_plugin_calls_total", &[("plugin", "normalize"), ("outcome", "guest_error")]),
        1.0
    );
    assert_eq!(metric_sum(&page, "wasmhook_events_processed_total", &[("status", "failed")]), 1.0);
}

#[test]
fn a_request_id_links_the_ingest_request_to_its_event_and_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = start_with(&dir.path().join("data"), Some((&log, "debug")), &["--log-format", "json"]);
    let (webhook, hook) = ready_webhook(&server, "Orders");
    let headers = [("Content-Type", "application/json"), ("X-Request-Id", "lb-7f3a9c")];
    let given = request_with(&server.addr, "POST", &hook, &headers, b"{\"customer\": \"cus_1\"}");
    assert_eq!((given.status, given.header("x-request-id").as_deref()), (202, Some("lb-7f3a9c")));
    let event_id = given.body["event_id"].as_str().unwrap().to_string();
    let made = request(&server.addr, "POST", &hook, None, Some("application/json"), b"{\"customer\": \"cus_2\"}");
    let made_id = made.header("x-request-id").expect("an id is made when none is given");
    assert!(made_id.starts_with("req_") && made_id.len() == 30, "{made_id}");
    let forged = [("Content-Type", "application/json"), ("X-Request-Id", "x\"} forged")];
    let replaced = request_with(&server.addr, "POST", &hook, &forged, b"{}");
    assert!(replaced.header("x-request-id").unwrap().starts_with("req_"), "a forged id is replaced");
    let admin = request(&server.addr, "GET", "/api/v1/webhooks", Some(&server.token), None, b"");
    assert!(admin.header("x-request-id").unwrap().starts_with("req_"), "admin answers carry one too");
    server.drained(&webhook, Duration::from_secs(20));
    let event = ok(server.admin("GET", &format!("/events/{event_id}"), None), "event");
    assert_eq!(event["request_id"], "lb-7f3a9c");
    let made_event =
        ok(server.admin("GET", &format!("/events/{}", made.body["event_id"].as_str().unwrap()), None), "e");
    assert_eq!(event_status(&made_event), "unmatched");
    assert_eq!(made_event["request_id"], made_id.as_str());
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(lines.iter().all(|l| l["timestamp"].is_string() && l["level"].is_string() && l["fields"].is_object()));
    let stored = lines
        .iter()
        .find(|l| l["fields"]["message"] == "event stored" && l["fields"]["event_id"] == event_id.as_str())
        .expect("ingest logs the stored event");
    assert_eq!(stored["span"]["request_id"], "lb-7f3a9c", "{stored}");
    assert_eq!(stored["span"]["path"], "/hooks/{token}", "the URL's token is not logged");
    let processed = lines
        .iter()
        .find(|l| l["fields"]["message"] == "event processed" && l["fields"]["event_id"] == event_id.as_str())
        .expect("the worker logs the processed event");
    assert_eq!(processed["fields"]["request_id"], "lb-7f3a9c", "{processed}");
    let token = hook.rsplit('/').next().unwrap();
    assert!(!text.contains(token), "a webhook token is in the log");
}

fn event_status(event: &Value) -> &str {
    event["status"].as_str().unwrap()
}
