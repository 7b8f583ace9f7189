//! Three nodes on one PostgreSQL database: set up through different nodes, load spread over
//! all three, one node SIGKILLed mid-run. Every acknowledged event is processed exactly
//! once (one "event processed" log line across the nodes' logs, one final status), no
//! record is enrolled twice, and the dead node's claimed events are taken over after its
//! lease. A signature set through one node is enforced by another within the documented
//! refresh delay.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, hook_path, ok, psql, request};

const CUSTOMERS: usize = 400;
const CLIENTS: usize = 6;
/// Events each client sends: 1,200 in all, three per customer on average.
const PER_CLIENT: usize = 200;
/// The kill lands after this many acknowledgements.
const KILL_AFTER: usize = 400;
/// Seconds a claim holds: short, so the takeover is seen quickly.
const LEASE: &str = "2";

/// A node: its server, data dir and log file.
struct Node {
    server: Server,
    log: PathBuf,
}

/// Start a node on `database`, sharing the first node's admin token and secrets key (what
/// docs/deploy.md says to distribute).
fn node(root: &Path, name: &str, database: &str, shared_from: Option<&Path>) -> Node {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(first) = shared_from {
        for file in ["admin-token", "secrets.key"] {
            std::fs::copy(first.join(file), dir.join(file)).unwrap();
        }
    }
    let log = root.join(format!("{name}.log"));
    let server = support::start_with(
        &dir,
        Some((&log, "wasmhook=debug")),
        &["--database", database, "--lease", LEASE, "--log-format", "json"],
    );
    Node { server, log }
}

/// Contacts `cus_0` … `cus_{n-1}` with a unique `external_id`, made through `server`.
fn contacts(server: &Server, n: usize) {
    let property = json!({"name": "external_id", "type": "string", "unique": true});
    ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    let rows: String = (0..n).map(|i| format!("{{\"external_id\":\"cus_{i}\"}}\n")).collect();
    assert_eq!(server.import("contacts", rows.as_bytes(), true).body["created"], n);
}

/// Events each node logged as processed (committed): event id → how many times.
fn processed_lines(logs: &[&Path]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for log in logs {
        for line in std::fs::read_to_string(log).unwrap().lines() {
            let Ok(entry) = serde_json::from_str::<Value>(line) else { continue };
            if entry["fields"]["message"] == "event processed" {
                let id = entry["fields"]["event_id"].as_str().expect("event id").to_string();
                *seen.entry(id).or_default() += 1;
            }
        }
    }
    seen
}

#[test]
fn three_nodes_share_the_work_and_a_sigkilled_node_loses_and_repeats_nothing() {
    let root = tempfile::tempdir().unwrap();
    let database = support::new_database();
    let a = node(root.path(), "a", &database, None);
    let mut b = node(root.path(), "b", &database, Some(&root.path().join("a")));
    let c = node(root.path(), "c", &database, Some(&root.path().join("a")));

    // Set-up through different nodes: each acts on what another stored.
    contacts(&a.server, CUSTOMERS);
    // An upload through A, run by every node: each loads it from the database by hash.
    let normalize = std::fs::read(concat!(env!("WASMHOOK_GUEST_DIR"), "/normalize.wasm")).unwrap();
    let uploaded = request(
        &a.server.addr,
        "PUT",
        "/api/v1/plugins/shared-normalize",
        Some(&a.server.token),
        Some("application/wasm"),
        &normalize,
    );
    assert_eq!(uploaded.status, 200, "{:?}", uploaded.body);
    let webhook = ok(b.server.admin("POST", "/webhooks", Some(json!({"name": "orders"}))), "webhook");
    let webhook_id = webhook["id"].as_str().unwrap().to_string();
    let hook = hook_path(webhook["url"].as_str().unwrap());
    ok(c.server.post_hook(&hook, &json!({"customer": " CUS_0 "})), "test event");
    let mapping = json!({"properties": [{"path": "customer", "type": "string"}]});
    ok(c.server.admin("PUT", &format!("/webhooks/{webhook_id}/mapping"), Some(mapping)), "mapping");
    let chain = json!([{"plugin": "shared-normalize", "config": {"customer": "trim,lowercase"}}]);
    ok(c.server.admin("PUT", &format!("/webhooks/{webhook_id}/transforms"), Some(chain)), "transforms");
    let rule = json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"});
    assert_eq!(
        ok(a.server.admin("PUT", &format!("/webhooks/{webhook_id}/match"), Some(rule)), "match")["state"],
        "ready"
    );
    let workflow = ok(
        b.server.admin(
            "POST",
            "/workflows",
            Some(json!({"name": "first order", "object": "contacts", "triggers": [webhook_id], "actions": []})),
        ),
        "workflow",
    );
    let workflow_id = workflow["id"].as_str().unwrap().to_string();

    // Load over all three nodes, round robin; a client whose node is gone moves on.
    let addrs = [a.server.addr.clone(), b.server.addr.clone(), c.server.addr.clone()];
    let acknowledged: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let attempted: Arc<Mutex<HashSet<usize>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let b_dead = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (addrs, hook) = (addrs.clone(), hook.clone());
            let (acknowledged, attempted, next, b_dead) =
                (acknowledged.clone(), attempted.clone(), next.clone(), b_dead.clone());
            std::thread::spawn(move || {
                for n in 0..PER_CLIENT {
                    let customer = next.fetch_add(1, Ordering::Relaxed) % CUSTOMERS;
                    let mut node = (client + n) % addrs.len();
                    if node == 1 && b_dead.load(Ordering::Relaxed) {
                        node = 2;
                    }
                    attempted.lock().unwrap().insert(customer);
                    let body = json!({"customer": format!(" CUS_{customer} ")}).to_string();
                    let answer = request(&addrs[node], "POST", &hook, None, Some("application/json"), body.as_bytes());
                    match answer.status {
                        202 => {
                            let id = answer.body["event_id"].as_str().unwrap().to_string();
                            acknowledged.lock().unwrap().insert(id, customer);
                        }
                        // Node B was killed under this request: not acknowledged.
                        0 if node == 1 => {}
                        other => panic!("node {node}: unexpected status {other}: {:?}", answer.body),
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < KILL_AFTER {
        assert!(started.elapsed() < Duration::from_secs(60), "{KILL_AFTER} acknowledgements took over 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    b.server.child.kill().unwrap(); // SIGKILL, mid-run
    b.server.child.wait().unwrap();
    b_dead.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    eprintln!("acknowledged {} of {} requests; B killed after {KILL_AFTER}", acknowledged.len(), CLIENTS * PER_CLIENT);

    // A and C drain everything, B's claimed events included once its lease has run out.
    a.server.drained(&webhook_id, Duration::from_secs(60));
    let processed = processed_lines(&[&a.log, &b.log, &c.log]);
    for (id, customer) in &acknowledged {
        let event = a.server.admin("GET", &format!("/events/{id}"), None);
        assert_eq!(event.status, 200, "acknowledged event {id} lost");
        let status = event.body["status"].as_str().unwrap();
        assert!(status == "enrolled" || status == "already_enrolled", "{id}: {status} {:?}", event.body["reason"]);
        assert_eq!(event.body["properties"]["customer"], format!("cus_{customer}"), "{id}");
        // Once at most. None: B processed it, and the kill came between its commit and its
        // "event processed" line, which is written after the commit (seen once in many
        // runs); A and C are never killed, so a second processing would show here.
        let times = processed.get(id).copied().unwrap_or(0);
        assert!(times <= 1, "{id} was processed {times} times across the nodes");
    }
    let by_node: Vec<usize> = [&a.log, &b.log, &c.log]
        .iter()
        .map(|log| processed_lines(&[log]).keys().filter(|id| acknowledged.contains_key(*id)).count())
        .collect();
    eprintln!("processed by node (a, b, c): {by_node:?}");
    assert!(by_node.iter().all(|n| *n > 0), "every node processed events: {by_node:?}");

    let enrollments = a.server.admin("GET", &format!("/workflows/{workflow_id}/enrollments"), None);
    let records: Vec<&str> =
        enrollments.body["enrollments"].as_array().unwrap().iter().map(|e| e["record_id"].as_str().unwrap()).collect();
    let distinct: HashSet<&&str> = records.iter().collect();
    assert_eq!(records.len(), distinct.len(), "a record was enrolled twice");
    let acknowledged_customers: HashSet<usize> = acknowledged.values().copied().collect();
    let attempted = attempted.lock().unwrap().len();
    assert!(
        records.len() >= acknowledged_customers.len() && records.len() <= attempted,
        "{} records enrolled; {} customers acknowledged, {attempted} attempted",
        records.len(),
        acknowledged_customers.len()
    );
}

#[test]
fn a_signature_set_through_one_node_is_enforced_by_another_within_the_refresh_delay() {
    let root = tempfile::tempdir().unwrap();
    let database = support::new_database();
    let a = node(root.path(), "a", &database, None);
    let c = node(root.path(), "c", &database, Some(&root.path().join("a")));
    let (webhook_id, hook) = support::ready_webhook(&a.server, "signed");
    assert_eq!(c.server.post_hook(&hook, &json!({"customer": "cus_1"})).status, 202);

    let signature = json!({"scheme": "github", "secrets": ["It's a Secret to Everybody"]});
    ok(a.server.admin("PUT", &format!("/webhooks/{webhook_id}/signature"), Some(signature)), "signature");
    // Node C re-reads settings every second (docs/deploy.md); allow a few rounds of slack.
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        let answer = c.server.post_hook(&hook, &json!({"customer": "cus_1"}));
        if answer.status == 401 {
            break answer;
        }
        assert_eq!(answer.status, 202);
        assert!(Instant::now() < deadline, "node C still accepts unsigned requests 5 s after the change");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(refused.body["error"]["code"], "signature_missing");
}

#[test]
fn events_claimed_by_a_node_that_died_are_taken_over_once_its_lease_runs_out() {
    let root = tempfile::tempdir().unwrap();
    let database = support::new_database();
    let mut a = node(root.path(), "a", &database, None);
    contacts(&a.server, 5);
    let (webhook_id, hook) = support::ready_webhook(&a.server, "orders");
    let ids: Vec<String> = (0..5)
        .map(|i| {
            let sent = ok(a.server.post_hook(&hook, &json!({"customer": format!("cus_{i}")})), "event");
            sent["event_id"].as_str().unwrap().to_string()
        })
        .collect();
    a.server.drained(&webhook_id, Duration::from_secs(30));
    a.server.child.kill().unwrap();
    a.server.child.wait().unwrap();
    let dead = std::fs::read_to_string(root.path().join("a").join("node-id")).unwrap();

    // As if node A had claimed these five and died before finishing them: accepted, claimed
    // by A, its lease running for another 4 s.
    let lease_until = psql(&database, "SELECT (extract(epoch FROM now()) * 1000)::bigint + 4000");
    let list = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ");
    psql(
        &database,
        &format!(
            "UPDATE events SET status = 'accepted', stage = NULL, reason = NULL,
                 claimed_by = '{dead}', lease_until_ms = {lease_until} WHERE id IN ({list})"
        ),
    );
    let c = node(root.path(), "c", &database, Some(&root.path().join("a")));
    // While the lease holds, node C leaves them alone...
    std::thread::sleep(Duration::from_millis(1_000));
    let held = psql(&database, &format!("SELECT count(*) FROM events WHERE status = 'accepted' AND id IN ({list})"));
    let now = psql(&database, "SELECT (extract(epoch FROM now()) * 1000)::bigint");
    let nodes = ok(c.server.admin("GET", "/nodes?all=true", None), "nodes");
    if now.parse::<i64>().unwrap() < lease_until.parse::<i64>().unwrap() {
        assert_eq!(held, "5", "events taken before their claim ran out");
        // The listing shows whose they are: node A's (killed: no last heartbeat said so).
        let a_listed = nodes["nodes"].as_array().unwrap().iter().find(|n| n["id"] == dead.as_str()).cloned();
        let a_listed = a_listed.unwrap_or_else(|| panic!("node A is listed: {nodes}"));
        assert_eq!(a_listed["claims"]["events"], 5, "{nodes}");
        assert_eq!(a_listed["stopped_at"], Value::Null, "{nodes}");
    }
    // ...then takes them over, once each.
    c.server.drained(&webhook_id, Duration::from_secs(30));
    for id in &ids {
        let event = c.server.admin("GET", &format!("/events/{id}"), None).body;
        // Matched, with no workflow to enroll into: processed to its end.
        assert_eq!(event["status"], "no_workflow", "{id}: {event}");
    }
    let log = std::fs::read_to_string(&c.log).unwrap();
    let took_over: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["fields"]["message"] == "took over events whose claim ran out")
        .collect();
    // In one batch or several (a new webhook's first batches are small).
    assert!(took_over.iter().all(|t| t["fields"]["from"] == dead.as_str()), "{took_over:?}");
    assert_eq!(took_over.iter().map(|t| t["fields"]["events"].as_u64().unwrap()).sum::<u64>(), 5, "{took_over:?}");
    let processed = processed_lines(&[&c.log]);
    assert!(ids.iter().all(|id| processed.get(id) == Some(&1)), "{processed:?}");
}

/// `GET /nodes` from `server`, `all` or only the live ones: node id → the node.
fn nodes(server: &Server, all: bool) -> HashMap<String, Value> {
    let nodes = ok(server.admin("GET", if all { "/nodes?all=true" } else { "/nodes" }, None), "nodes");
    nodes["nodes"].as_array().unwrap().iter().map(|n| (n["id"].as_str().unwrap().to_string(), n.clone())).collect()
}

/// The name node `name` keeps in its data dir.
fn node_id(root: &Path, name: &str) -> String {
    std::fs::read_to_string(root.join(name).join("node-id")).unwrap().trim().to_string()
}

#[test]
fn every_node_lists_the_cluster_and_a_node_stopped_cleanly_leaves_the_live_list() {
    let root = tempfile::tempdir().unwrap();
    let database = support::new_database();
    let a = node(root.path(), "a", &database, None);
    let mut c = node(root.path(), "c", &database, Some(&root.path().join("a")));
    let (a_id, c_id) = (node_id(root.path(), "a"), node_id(root.path(), "c"));
    assert_ne!(a_id, c_id);
    let (webhook_id, hook) = support::ready_webhook(&a.server, "orders");
    for n in 0..5 {
        ok(c.server.post_hook(&hook, &json!({"customer": format!("cus_{n}")})), "event");
    }
    a.server.drained(&webhook_id, Duration::from_secs(30));

    // Both list both, each marking itself; node C's work shows in a heartbeat within seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    let listed = loop {
        let listed = nodes(&a.server, false);
        if listed.get(&c_id).and_then(|n| n["work"]["events_received"].as_u64()) >= Some(5) {
            break listed;
        }
        assert!(Instant::now() < deadline, "node C's heartbeat never counted its 5 events: {listed:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (id, server, this_node) in [(&a_id, &a.server, true), (&c_id, &c.server, false)] {
        let node = &listed[id];
        assert_eq!(node["live"], true, "{node}");
        assert_eq!(node["this_node"], this_node, "{node}");
        assert_eq!(node["address"], server.addr.as_str(), "{node}");
        assert_eq!(node["version"], env!("CARGO_PKG_VERSION"), "{node}");
        assert_eq!(node["pid"], server.child.id(), "{node}");
        assert!(node["heartbeat_age_s"].as_f64().unwrap() < 10.0, "{node}");
    }
    assert_eq!(nodes(&c.server, false)[&c_id]["this_node"], true);
    // The work of the cluster is in the nodes' counts: events received (the test event
    // went to A, five to C) and processed (by either).
    let work = |field: &str| listed.values().map(|n| n["work"][field].as_u64().unwrap()).sum::<u64>();
    assert!(work("events_received") >= 6, "{listed:?}");
    assert!(work("events_processed") >= 5, "{listed:?}");

    // The CLI's table: both ids, the answering node starred.
    let out = support::run_bounded(
        &["nodes", "--server", &format!("http://{}", a.server.addr), "--token", &a.server.token],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains(&format!("{a_id} *")) && table.contains(&c_id), "{table}");
    assert_eq!(table.matches(" live ").count(), 2, "{table}");

    // Node C stops cleanly (SIGINT, as Ctrl-C): its last heartbeat says so, and the live
    // list drops it at once.
    let interrupted = std::process::Command::new("kill").args(["-INT", &c.server.child.id().to_string()]).status();
    assert!(interrupted.unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.server.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "node C did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
    let live = nodes(&a.server, false);
    assert_eq!(live.keys().collect::<Vec<_>>(), vec![&a_id], "{live:?}");
    let all = nodes(&a.server, true);
    assert_eq!(all[&c_id]["live"], false, "{all:?}");
    assert!(all[&c_id]["stopped_at"].is_string(), "{all:?}");
    let out = support::run_bounded(
        &["nodes", "--all", "--server", &format!("http://{}", a.server.addr), "--token", &a.server.token],
        Duration::from_secs(60),
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().any(|l| l.starts_with(&c_id) && l.contains(" stopped ")), "{table}");
}

#[test]
fn a_webhook_rate_limit_holds_across_the_cluster_not_per_node() {
    let root = tempfile::tempdir().unwrap();
    let database = support::new_database();
    let a = node(root.path(), "a", &database, None);
    let shared = Some(root.path().join("a"));
    let b = node(root.path(), "b", &database, shared.as_deref());
    let c = node(root.path(), "c", &database, shared.as_deref());
    let (webhook_id, hook) = support::ready_webhook(&a.server, "limited");
    let (per_second, burst) = (40.0, 20.0);
    let limit = json!({"per_second": per_second, "burst": burst});
    ok(a.server.admin("PUT", &format!("/webhooks/{webhook_id}/rate-limit"), Some(limit)), "rate limit");
    // Every node re-reads limits within a second (docs/deploy.md); a few rounds of slack,
    // which also lets the shared bucket fill to its burst.
    std::thread::sleep(Duration::from_millis(3_000));

    // A flood on all three nodes at once: one sender per node.
    let flood = Duration::from_secs(4);
    let started = Instant::now();
    let senders: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|n| {
            let (addr, hook) = (n.server.addr.clone(), hook.clone());
            std::thread::spawn(move || {
                let (mut admitted, mut limited) = (0u64, 0u64);
                while started.elapsed() < flood {
                    let body = json!({"customer": "cus_1"}).to_string();
                    let answer = request(&addr, "POST", &hook, None, Some("application/json"), body.as_bytes());
                    match answer.status {
                        202 => admitted += 1,
                        429 => {
                            assert_eq!(answer.body["error"]["code"], "rate_limited", "{:?}", answer.body);
                            limited += 1;
                        }
                        other => panic!("{other}: {:?}", answer.body),
                    }
                    // Hundreds of requests a second per node, ten times the limit at least:
                    // a flood, without taking the cores the suite's other tests run on.
                    std::thread::sleep(Duration::from_millis(2));
                }
                (admitted, limited)
            })
        })
        .collect();
    let counts: Vec<(u64, u64)> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    let took = started.elapsed().as_secs_f64();
    let admitted: u64 = counts.iter().map(|c| c.0).sum();
    // One bucket for the cluster: its burst plus its rate over the flood, within 10% (a
    // bucket per node would admit about three times as much).
    let expected = burst + per_second * took;
    let off = (admitted as f64 - expected).abs() / expected;
    eprintln!("rate limit across 3 nodes: {admitted} admitted in {took:.2} s ({counts:?}); one bucket: {expected:.0}");
    assert!(
        off <= 0.10,
        "{admitted} admitted in {took:.2} s by three nodes ({counts:?}); one bucket admits {expected:.0}"
    );
    assert!(counts.iter().all(|&(_, limited)| limited > 0), "every node refused some: {counts:?}");
}

/// Whether every connection to `database` (other than psql's own) uses TLS: (with TLS,
/// without), counted by the server.
fn tls_connections(database: &str) -> (usize, usize) {
    let name = database.rsplit('/').next().unwrap();
    let server = &database[..database.len() - name.len() - 1];
    let counts = psql(
        &format!("{server}/postgres"),
        &format!(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = '{name}'"
        ),
    );
    let (with, without) = counts.split_once('|').expect("two counts");
    (with.parse().unwrap(), without.parse().unwrap())
}

#[test]
fn nodes_reach_the_database_over_verified_tls_and_refuse_an_unknown_certificate() {
    let ca = std::env::var("WASMHOOK_DATABASE_CA")
        .expect("WASMHOOK_DATABASE_CA names the test server's CA: run the suite with `bash .ci/test`");
    let root = tempfile::tempdir().unwrap();
    let database = support::new_database();

    // Required and verified against the CA: the node serves, every connection is TLS.
    let required = format!("{database}?sslmode=require");
    let dir = root.path().join("a");
    let a = support::start_with(&dir, None, &["--database", &required, "--database-ca", &ca]);
    support::ready_webhook(&a, "over-tls");
    let (with, without) = tls_connections(&database);
    assert!(with > 0 && without == 0, "{with} TLS and {without} plain connections");
    drop(a);

    // The same server checked against the Mozilla roots instead: its certificate is refused
    // and the node does not start.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhook"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(root.path().join("b"))
        .args(["--database", &required])
        .env_remove("WASMHOOK_DATABASE_CA")
        .env_remove("WASMHOOK_DATABASE_URL");
    let refused = support::run_command_bounded(command, Duration::from_secs(30));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("invalid peer certificate: UnknownIssuer"), "{stderr}");

    // A CA file without a certificate is refused by name.
    let empty = root.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhook"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(root.path().join("c"))
        .args(["--database", &required, "--database-ca"])
        .arg(&empty);
    let refused = support::run_command_bounded(command, Duration::from_secs(30));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("empty.pem: no certificate in the file"), "{stderr}");
}

/// The cells of the table row of `out` that starts with `cells` (`| a | b |`).
fn table_row<'a>(out: &'a str, cells: &[&str]) -> Vec<&'a str> {
    let start = format!("| {} |", cells.join(" | "));
    let line = out.lines().find(|l| l.starts_with(&start)).unwrap_or_else(|| panic!("no row {start:?} in\n{out}"));
    line.trim_matches('|').split('|').map(str::trim).collect()
}

/// The number a cell starts with (`"1234 (0.75)"` → 1234).
fn number(cell: &str) -> f64 {
    let first = cell.split_whitespace().next().unwrap_or_default();
    first.parse().unwrap_or_else(|_| panic!("no number in cell {cell:?}"))
}

/// `wasmhook-bench nodes` small: one ingest row per setup and client count, the drain of
/// every count's events (the bench itself fails if the replay finds fewer than were
/// acknowledged), PostgreSQL's CPU per drained event, each setup against the SQLite node.
#[test]
fn the_nodes_bench_measures_every_setup_at_every_client_count_and_drains_all_it_acknowledged() {
    let server = support::pg_server();
    let args = [
        "nodes",
        "--postgres",
        &server,
        "--events",
        "600",
        "--clients",
        "2,6",
        "--records",
        "100",
        "--most-nodes",
        "2",
    ];
    let out = support::run_bench_bounded(&args, Duration::from_secs(300));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for setup in ["1 node, SQLite", "1 node, PostgreSQL", "2 nodes, PostgreSQL"] {
        for clients in ["2", "6"] {
            let row = table_row(&stdout, &[setup, clients]);
            assert!(number(row[2]) > 0.0, "ingest rate of {setup} at {clients} clients: {row:?}");
            // Against the SQLite node at the same count, on the PostgreSQL rows only.
            assert_eq!(row[2].contains('('), setup.contains("PostgreSQL"), "{row:?}");
        }
        // 600 events per count, two counts.
        let row = table_row(&stdout, &[setup, "1200"]);
        assert!(number(row[2]) > 0.0, "drain rate of {setup}: {row:?}");
        let per_event = row[4];
        if setup.contains("PostgreSQL") {
            assert!(number(per_event) > 0.0, "PostgreSQL CPU per drained event of {setup}: {row:?}");
        } else {
            assert_eq!(per_event, "—", "{row:?}");
        }
        assert!(number(row[5]) > 0.0, "record import rate of {setup}: {row:?}");
    }
    assert!(stdout.contains("PG 2 nodes / 1 node: ingest = "), "{stdout}");
}
