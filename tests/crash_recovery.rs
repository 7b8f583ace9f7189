//! Kill -9 under load, again and again: every event that was answered 202 is there after
//! the last restart and gets processed, and no record is enrolled twice.
//!
//! Each cycle starts the server on the same data dir, puts four clients on it and kills it
//! after a varying number of acknowledgements, so kills land mid-ingest, mid-batch and
//! while the previous cycle's leftovers are being drained.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Server, hook_path, request, start};

/// More customers than events sent, so most events enroll a new record and the kills hit
/// enrollments being written, not only `already_enrolled` ones.
const CUSTOMERS: usize = 6_000;
const CLIENTS: usize = 4;
const CYCLES: usize = 20;
/// Upper bound per client and cycle, so the load stops by itself even if the kill came late.
const MAX_PER_CLIENT: usize = 2_000;

/// A webhook mapped and matched to `contacts`, triggering one workflow: (webhook, hook
/// path, workflow).
fn set_up(server: &Server) -> (String, String, String) {
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
    (webhook_id, hook, workflow["id"].as_str().unwrap().to_string())
}

/// What the clients saw across all cycles.
#[derive(Default)]
struct Sent {
    /// Event id → the customer it was for, for every request answered 202.
    acknowledged: Mutex<HashMap<String, usize>>,
    /// Every customer a request was sent for, answered or not (a kill can land after the
    /// commit but before the answer).
    attempted: Mutex<HashSet<usize>>,
    /// Sequence number of the next request, across clients and cycles.
    next: AtomicUsize,
}

/// Put `CLIENTS` clients on `server` and SIGKILL it once `kill_after` more events are
/// acknowledged; returns how many were acknowledged in this cycle.
fn load_then_kill(mut server: Server, hook: &str, sent: &Arc<Sent>, kill_after: usize) -> usize {
    let before = sent.acknowledged.lock().unwrap().len();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (addr, hook, sent, stop) = (server.addr.clone(), hook.to_string(), sent.clone(), stop.clone());
            std::thread::spawn(move || {
                for _ in 0..MAX_PER_CLIENT {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let customer = sent.next.fetch_add(1, Ordering::Relaxed) % CUSTOMERS;
                    sent.attempted.lock().unwrap().insert(customer);
                    let body = json!({"customer": format!("cus_{customer}"), "total": "9.50"});
                    let answer =
                        request(&addr, "POST", &hook, None, Some("application/json"), body.to_string().as_bytes());
                    match answer.status {
                        202 => {
                            let id = answer.body["event_id"].as_str().unwrap().to_string();
                            sent.acknowledged.lock().unwrap().insert(id, customer);
                        }
                        0 => break, // connection refused or reset: the server is gone
                        other => panic!("unexpected status {other}: {:?}", answer.body),
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while sent.acknowledged.lock().unwrap().len() < before + kill_after && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    sent.acknowledged.lock().unwrap().len() - before
}

#[test]
fn twenty_sigkills_under_load_lose_no_acknowledged_event_and_enroll_no_record_twice() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path());
    let (webhook_id, hook, workflow_id) = set_up(&first);
    let sent = Arc::new(Sent::default());
    let mut server = Some(first);
    for cycle in 0..CYCLES {
        // 40 to 230 acknowledgements: the kill lands at a different point each time.
        let kill_after = 40 + (cycle * 67) % 191;
        let live = server.take().unwrap_or_else(|| start(dir.path()));
        let acked = load_then_kill(live, &hook, &sent, kill_after);
        assert!(acked >= kill_after, "cycle {cycle}: only {acked} of {kill_after} acknowledged before the kill");
    }

    // The last restart drains whatever every kill left `accepted`.
    let server = start(dir.path());
    let acknowledged = sent.acknowledged.lock().unwrap().clone();
    eprintln!(
        "{CYCLES} SIGKILLs; acknowledged: {}; still accepted right after the last restart: {}",
        acknowledged.len(),
        server.count_events(&webhook_id, Some("accepted"))
    );
    server.drained(&webhook_id, Duration::from_secs(120));
    let mut lost = Vec::new();
    for id in acknowledged.keys() {
        let event = server.admin("GET", &format!("/events/{id}"), None);
        if event.status != 200 {
            lost.push(id.clone());
            continue;
        }
        let status = event.body["status"].as_str().unwrap();
        assert!(status == "enrolled" || status == "already_enrolled", "{id}: {status} {:?}", event.body["reason"]);
    }
    assert!(lost.is_empty(), "{} acknowledged events lost: {lost:?}", lost.len());

    let enrollments = server.admin("GET", &format!("/workflows/{workflow_id}/enrollments"), None);
    let records: Vec<&str> =
        enrollments.body["enrollments"].as_array().unwrap().iter().map(|e| e["record_id"].as_str().unwrap()).collect();
    let distinct: HashSet<&&str> = records.iter().collect();
    assert_eq!(records.len(), distinct.len(), "a record was enrolled twice");
    // Every acknowledged customer is enrolled; beyond those, only customers whose request
    // committed just before a kill cut its answer off.
    let acknowledged_customers: HashSet<usize> = acknowledged.values().copied().collect();
    let attempted = sent.attempted.lock().unwrap().len();
    assert!(
        records.len() >= acknowledged_customers.len() && records.len() <= attempted,
        "{} records enrolled; {} customers acknowledged, {attempted} attempted",
        records.len(),
        acknowledged_customers.len()
    );
}
