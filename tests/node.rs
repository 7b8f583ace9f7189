//! A node started in this process (`wasmhook::node::Node`): it serves the same HTTP API as
//! `wasmhook serve`, runs an event to its enrollment, and stops with every background
//! thread joined; started again on the same data, it finds what the first one stored.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmhook::node::{Node, NodeOptions};

use crate::support::{self, Answer, hook_path, ok};

fn options(data_dir: &Path) -> NodeOptions {
    NodeOptions {
        listen: "127.0.0.1:0".into(),
        // The PostgreSQL pass gives each data dir its own database, as for `serve`.
        database: support::database_for(data_dir).map(|url| wasmhook::node::DatabaseSettings {
            url,
            lease: Duration::from_secs(30),
            ca: std::env::var_os("WASMHOOK_DATABASE_CA").map(Into::into),
        }),
        workers: 2,
        max_backlog: 1_000_000,
        request_timeout: Duration::from_secs(10),
        outbound: Default::default(),
        retention_days: 30.0,
    }
}

fn admin(node: &Node, method: &str, path: &str, body: Option<Value>) -> Answer {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let addr = node.addr().to_string();
    support::request(
        &addr,
        method,
        &format!("/api/v1{path}"),
        Some(node.admin_token()),
        Some("application/json"),
        &bytes,
    )
}

fn post(node: &Node, hook: &str, payload: &Value) -> Answer {
    let addr = node.addr().to_string();
    support::request(&addr, "POST", hook, None, Some("application/json"), payload.to_string().as_bytes())
}

/// Stop `node`, failing the test (instead of hanging it) if a thread does not end.
fn shut_down(node: Node) {
    let (done, stopped) = mpsc::channel();
    std::thread::spawn(move || done.send(node.shutdown()));
    let panicked = stopped.recv_timeout(Duration::from_secs(60)).expect("the node stopped within 60 s");
    assert!(panicked.is_empty(), "threads panicked: {panicked:?}");
}

#[test]
fn a_node_serves_enrolls_stops_and_starts_again_on_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &options(dir.path())).expect("the node starts");
    let running = node.running_threads();
    for part in ["wasmhook-ingest-writer", "wasmhook-pipeline", "wasmhook-pipeline-slow", "wasmhook-act"] {
        assert!(running.iter().any(|name| name == part), "{part} runs: {running:?}");
    }

    // The wizard through HTTP, then a delivery enrolls its contact.
    let property = json!({"name": "external_id", "type": "string", "unique": true});
    ok(admin(&node, "POST", "/objects/contacts/properties", Some(property)), "property");
    let record = json!({"properties": {"external_id": "cus_7"}});
    let record = ok(admin(&node, "POST", "/objects/contacts/records", Some(record)), "record");
    let webhook = ok(admin(&node, "POST", "/webhooks", Some(json!({"name": "orders"}))), "webhook");
    let id = webhook["id"].as_str().unwrap().to_string();
    let hook = hook_path(webhook["url"].as_str().unwrap());
    ok(post(&node, &hook, &json!({"customer": "cus_1"})), "test event");
    let mapping = json!({"properties": [{"path": "customer", "type": "string"}]});
    ok(admin(&node, "PUT", &format!("/webhooks/{id}/mapping"), Some(mapping)), "mapping");
    let rule = json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"});
    assert_eq!(ok(admin(&node, "PUT", &format!("/webhooks/{id}/match"), Some(rule)), "match")["state"], "ready");
    let workflow = json!({"name": "welcome", "object": "contacts", "enabled": true, "triggers": [id]});
    ok(admin(&node, "POST", "/workflows", Some(workflow)), "workflow");
    let accepted = ok(post(&node, &hook, &json!({"customer": "cus_7"})), "delivery");
    let event_id = accepted["event_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let event = loop {
        let event = ok(admin(&node, "GET", &format!("/events/{event_id}"), None), "event");
        if event["status"] != "accepted" {
            break event;
        }
        assert!(Instant::now() < deadline, "the event was not processed: {event}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(event["status"], "enrolled", "{event}");
    assert_eq!(event["matched_record_id"], record["id"], "{event}");

    // The node lists itself (one node on its own database), with the work it did: counted
    // in its next heartbeat.
    let deadline = Instant::now() + Duration::from_secs(15);
    let listed = loop {
        let nodes = ok(admin(&node, "GET", "/nodes", None), "nodes");
        let listed = nodes["nodes"].as_array().unwrap().clone();
        assert_eq!(listed.len(), 1, "{nodes}");
        if listed[0]["work"]["events_processed"].as_u64() >= Some(1) {
            break listed[0].clone();
        }
        assert!(Instant::now() < deadline, "no heartbeat counted the work: {nodes}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(listed["this_node"], true, "{listed}");
    assert_eq!(listed["live"], true, "{listed}");
    assert_eq!(listed["version"], env!("CARGO_PKG_VERSION"), "{listed}");
    assert_eq!(listed["address"], node.addr().to_string(), "{listed}");
    assert_eq!(listed["pid"], u64::from(std::process::id()), "{listed}");
    assert!(listed["work"]["events_received"].as_u64() >= Some(2), "{listed}");
    assert_eq!(listed["claims"], json!({"events": 0, "enrollments": 0}), "{listed}");
    let refused = admin(&node, "GET", "/nodes?all=maybe", None);
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["field"], "all");

    let token = node.admin_token().to_string();
    shut_down(node);

    // Started again on the same data: the same token, the event and its webhook are there.
    let again = Node::start(dir.path(), &options(dir.path())).expect("the node starts again");
    assert_eq!(again.admin_token(), token);
    assert!(!again.token_generated(), "the saved token is reused");
    let event = ok(admin(&again, "GET", &format!("/events/{event_id}"), None), "event after a restart");
    assert_eq!(event["status"], "enrolled");
    assert_eq!(ok(admin(&again, "GET", &format!("/webhooks/{id}"), None), "webhook")["state"], "ready");
    // The same node (its name is kept in the data dir), started again.
    let nodes = ok(admin(&again, "GET", "/nodes?all=true", None), "nodes");
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 1, "{nodes}");
    assert_eq!(nodes["nodes"][0]["id"], listed["id"], "{nodes}");
    assert!(nodes["nodes"][0]["started_at"].as_str() > listed["started_at"].as_str(), "{nodes}");
    assert_eq!(nodes["nodes"][0]["stopped_at"], Value::Null, "{nodes}");
    shut_down(again);
}
