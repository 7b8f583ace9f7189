//! Kill -9 under load: every event that was answered 202 is there after a restart and gets
//! processed, and no record is enrolled twice.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{hook_path, request, start};

const CUSTOMERS: usize = 40;
const CLIENTS: usize = 4;
/// Upper bound per client, so the load stops by itself even if the kill came late.
const MAX_PER_CLIENT: usize = 2_000;

#[test]
fn sigkill_under_load_loses_no_acknowledged_event_and_enrolls_no_record_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    server.admin(
        "POST",
        "/objects/contacts/properties",
        Some(json!({"name": "external_id", "type": "string", "unique": true})),
    );
    let rows: String = (0..CUSTOMERS).map(|i| format!("{{\"external_id\":\"cus_{i}\"}}\n")).collect();
    let import = server.import("contacts", rows.as_bytes(), true);
    assert_eq!(import.body["created"], CUSTOMERS);
    let webhook = server.admin("POST", "/webhooks", Some(json!({"name": "orders"}))).body;
    let webhook_id = webhook["id"].as_str().unwrap().to_string();
    let hook = hook_path(webhook["url"].as_str().unwrap());
    server.post_hook(&hook, &json!({"customer": "cus_0", "total": "1.00"}));
    server.admin(
        "PUT",
        &format!("/webhooks/{webhook_id}/mapping"),
        Some(json!({"properties": [{"path": "customer", "type": "string"}, {"path": "total", "type": "number"}]})),
    );
    server.admin(
        "PUT",
        &format!("/webhooks/{webhook_id}/match"),
        Some(json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"})),
    );
    let workflow = server
        .admin(
            "POST",
            "/workflows",
            Some(json!({"name": "first order", "object": "contacts", "triggers": [webhook_id], "actions": []})),
        )
        .body;
    let workflow_id = workflow["id"].as_str().unwrap().to_string();

    // Several clients post until the server dies under them.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (addr, hook, acknowledged, stop) =
                (server.addr.clone(), hook.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                for n in 0..MAX_PER_CLIENT {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body =
                        json!({"customer": format!("cus_{}", (c * 7 + n) % CUSTOMERS), "total": format!("{n}.50")});
                    let answer =
                        request(&addr, "POST", &hook, None, Some("application/json"), body.to_string().as_bytes());
                    match answer.status {
                        202 => acknowledged.lock().unwrap().push(answer.body["event_id"].as_str().unwrap().to_string()),
                        0 => break, // connection refused or reset: the server is gone
                        other => panic!("unexpected status {other}: {:?}", answer.body),
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300, "only {} events acknowledged before the kill", acknowledged.len());

    // Restart on the same data dir: the worker drains what was accepted but not finished.
    let server = start(dir.path());
    let left = server.admin("GET", &format!("/events?webhook={webhook_id}&status=accepted&limit=500"), None);
    eprintln!(
        "acknowledged before SIGKILL: {}; still accepted right after restart: {}",
        acknowledged.len(),
        left.body["events"].as_array().map_or(0, Vec::len)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = server.admin("GET", &format!("/events?webhook={webhook_id}&status=accepted&limit=1"), None);
        if pending.body["events"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "accepted events were not processed after the restart");
        std::thread::sleep(Duration::from_millis(100));
    }
    for id in &acknowledged {
        let event = server.admin("GET", &format!("/events/{id}"), None);
        assert_eq!(event.status, 200, "acknowledged event {id} is missing after SIGKILL");
        let status = event.body["status"].as_str().unwrap();
        assert!(status == "enrolled" || status == "already_enrolled", "{id}: {status} {:?}", event.body["reason"]);
    }
    let enrollments = server.admin("GET", &format!("/workflows/{workflow_id}/enrollments"), None);
    let records: Vec<&str> =
        enrollments.body["enrollments"].as_array().unwrap().iter().map(|e| e["record_id"].as_str().unwrap()).collect();
    let distinct: HashSet<&&str> = records.iter().collect();
    assert_eq!(records.len(), distinct.len(), "a record was enrolled twice");
    assert_eq!(records.len(), CUSTOMERS, "every customer ordered at least once");
}
