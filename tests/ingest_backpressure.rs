//! Backpressure against the real binary: past the backlog bound ingest answers 503 with
//! `Retry-After` and stores nothing, then accepts again once the pipeline catches up; the
//! refusals (backlog and rate limit) are counted in `/metrics`.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Server, ready_webhook, request, start_with};

const HOSTILE: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_hostile.wasm");

/// The value of one series in a Prometheus text exposition (0 if absent).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
}

fn waiting(server: &Server, webhook: &str) -> usize {
    let pending = server.admin("GET", &format!("/events?webhook={webhook}&status=accepted&limit=500"), None);
    pending.body["events"].as_array().map_or(usize::MAX, Vec::len)
}

#[test]
fn past_the_backlog_bound_ingest_answers_503_and_recovers_when_the_pipeline_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    // One plugin thread and a transform that spins to its 100 ms deadline: ~10 events/s.
    let server = start_with(dir.path(), None, &["--max-backlog", "10", "--workers", "1"]);
    let (webhook, hook) = ready_webhook(&server, "slow");
    let wasm = std::fs::read(HOSTILE).unwrap();
    let upload =
        request(&server.addr, "PUT", "/api/v1/plugins/spin", Some(&server.token), Some("application/wasm"), &wasm);
    assert_eq!(upload.status, 200, "{:?}", upload.body);
    let chain = json!([{"plugin": "spin", "config": {"mode": "loop"}}]);
    assert_eq!(server.admin("PUT", &format!("/webhooks/{webhook}/transforms"), Some(chain)).status, 200);

    let (mut accepted, mut refused) = (0u32, 0u32);
    for n in 0..40 {
        let answer = server.post_hook(&hook, &json!({"customer": "cus_1", "n": n}));
        match answer.status {
            202 => accepted += 1,
            503 => {
                refused += 1;
                assert_eq!(answer.body["error"]["code"], "backlog_full", "{:?}", answer.body);
                assert!(answer.body["error"]["message"].as_str().unwrap().contains("the bound is 10"));
                assert!(answer.headers.to_ascii_lowercase().contains("retry-after: 5"), "{}", answer.headers);
            }
            other => panic!("unexpected {other}: {:?}", answer.body),
        }
    }
    assert!((10..=13).contains(&accepted), "about the bound is accepted, got {accepted}");
    assert_eq!(accepted + refused, 40);
    let metrics = server.metrics();
    assert_eq!(sample(&metrics, "wasmhook_backlog_bound"), 10.0);
    assert_eq!(sample(&metrics, "wasmhook_backlog_refused_total"), f64::from(refused));
    assert_eq!(
        sample(&metrics, r#"wasmhook_ingest_requests_total{status="503",code="backlog_full"}"#),
        f64::from(refused)
    );

    // Once the pipeline has caught up, ingest accepts again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while waiting(&server, &webhook) > 0 {
        assert!(Instant::now() < deadline, "the backlog did not drain");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.post_hook(&hook, &json!({"customer": "cus_1", "n": "after"})).status, 202);
    let log = server.admin("GET", &format!("/events?webhook={webhook}&limit=500"), None);
    assert_eq!(log.body["events"].as_array().unwrap().len(), 2 + accepted as usize, "refused requests stored nothing");
    let metrics = server.metrics();
    assert_eq!(
        sample(&metrics, r#"wasmhook_ingest_requests_total{status="202",code="accepted"}"#),
        f64::from(1 + accepted + 1)
    );
}

#[test]
fn rate_limited_requests_are_counted_per_webhook_and_metrics_need_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), None, &[]);
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "limited"})));
    let id = created.body["id"].as_str().unwrap();
    let hook = support::hook_path(created.body["url"].as_str().unwrap());
    let limit = json!({"per_second": 0.1, "burst": 2});
    assert_eq!(server.admin("PUT", &format!("/webhooks/{id}/rate-limit"), Some(limit)).status, 200);
    let statuses: Vec<u16> = (0..5).map(|n| server.post_hook(&hook, &json!({ "n": n })).status).collect();
    assert_eq!(statuses, [202, 202, 429, 429, 429]);
    let metrics = server.metrics();
    assert_eq!(sample(&metrics, &format!(r#"wasmhook_rate_limited_total{{webhook="{id}"}}"#)), 3.0);
    assert_eq!(sample(&metrics, r#"wasmhook_ingest_requests_total{status="429",code="rate_limited"}"#), 3.0);
    assert_eq!(sample(&metrics, "wasmhook_backlog_refused_total"), 0.0);
    assert_eq!(request(&server.addr, "GET", "/metrics", None, None, b"").status, 401);
    assert_eq!(request(&server.addr, "GET", "/metrics", Some("wrong"), None, b"").status, 401);
}
