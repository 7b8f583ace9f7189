//! The dashboard's API (issue 26, item 3): `GET /stats` serves a webhook's events per
//! bucket by status over the last hour or day, latency and transform-time percentiles,
//! the backlog, and what needs attention, with names, from the per-minute counts the
//! stages flush. Driven through the real binary: events of known outcomes go in, the
//! series and totals come out.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, ok, ready_webhook, start};

/// `GET /stats…` once `done` holds for it (polled; 30 s at most).
fn stats_when(server: &Server, query: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = ok(server.admin("GET", &format!("/stats{query}"), None), "stats");
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "stats never {what}: {stats:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sum of a status over the series' buckets.
fn series_sum(stats: &Value, status: &str) -> u64 {
    stats["series"].as_array().unwrap().iter().map(|b| b["counts"][status].as_u64().unwrap_or(0)).sum()
}

#[test]
fn stats_serve_events_by_status_percentiles_and_what_needs_attention_with_names() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let (webhook, hook) = ready_webhook(&server, "orders");
    let (other, other_hook) = ready_webhook(&server, "signups");
    ok(
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_1"}}))),
        "record",
    );
    // orders: 3 matched (no workflow), 4 unmatched; signups: 2 unmatched.
    let matched = (0..3).map(|_| json!({"customer": "cus_1"}));
    for payload in matched.chain((0..4).map(|i| json!({"customer": format!("nobody_{i}")}))) {
        assert_eq!(server.post_hook(&hook, &payload).status, 202);
    }
    for i in 0..2 {
        assert_eq!(server.post_hook(&other_hook, &json!({"customer": format!("x_{i}")})).status, 202);
    }

    let query = format!("?webhook={webhook}&window=1h");
    let stats = stats_when(&server, &query, "counted orders' 7 events", |s| {
        s["totals"]["no_workflow"] == 3 && s["totals"]["unmatched"] == 4
    });
    assert_eq!(stats["window"], "1h");
    assert_eq!(stats["bucket_s"], 60);
    assert_eq!(stats["webhook"], json!({"id": webhook, "name": "orders"}));
    assert_eq!(stats["totals"]["test_event"], 1, "the captured test event is counted at receipt: {stats:#}");
    let buckets = stats["series"].as_array().unwrap();
    assert!((60..=61).contains(&buckets.len()), "a bucket per minute of the hour: {}", buckets.len());
    assert_eq!(series_sum(&stats, "unmatched"), 4);
    assert_eq!(series_sum(&stats, "no_workflow"), 3);
    let statuses: Vec<&str> = stats["statuses"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(statuses, ["test_event", "no_workflow", "unmatched"], "present statuses, in the stacking order");
    assert_eq!(stats["latency_ms"]["count"], 7, "{stats:#}");
    let (p50, p99) = (stats["latency_ms"]["p50"].as_f64().unwrap(), stats["latency_ms"]["p99"].as_f64().unwrap());
    assert!(p50 > 0.0 && p50 <= p99, "{stats:#}");
    assert_eq!(stats["transform_ms"]["count"], 7);
    assert!(stats["backlog"]["bound"].as_u64().unwrap() > 0);
    // Only orders needs attention in orders' view, by name.
    let attention = &stats["attention"]["webhooks"];
    assert_eq!(
        attention,
        &json!([{"webhook": {"id": webhook, "name": "orders"}, "unmatched": 4, "failed": 0, "breakers_opened": 0}])
    );

    // Every webhook, over the day: both, worst first, in 10-minute buckets.
    let all = stats_when(&server, "?window=1d", "counted signups too", |s| s["totals"]["unmatched"] == 6);
    assert_eq!(all["bucket_s"], 600);
    assert!(all["webhook"].is_null());
    assert!((144..=145).contains(&all["series"].as_array().unwrap().len()));
    assert_eq!(series_sum(&all, "unmatched"), 6);
    let names: Vec<&str> = all["attention"]["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["webhook"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders", "signups"]);
    assert_eq!(all["attention"]["webhooks"][1]["webhook"]["id"], other);

    // The counts outlive a restart (they are in the store, not in memory).
    drop(server);
    let server = start(&dir.path().join("data"));
    let again = ok(server.admin("GET", &format!("/stats{query}"), None), "stats");
    assert_eq!(again["totals"], stats["totals"]);

    let refused = server.admin("GET", "/stats?window=2h", None);
    assert_eq!((refused.status, refused.body["error"]["field"].as_str()), (400, Some("window")), "{}", refused.text);
    assert_eq!(server.admin("GET", "/stats?webhook=wh_nope", None).status, 404);
}
