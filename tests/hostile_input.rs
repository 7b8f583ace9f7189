//! Hostile bodies against a ready webhook of the real binary: every JSONTestSuite parsing
//! file gets a 4xx or 202 (never a 5xx or a hang, `n_` files never 202), the server stays
//! up and processes what it accepted; nesting, key length and value count are bounded
//! with clear 422s that store nothing.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use support::{Server, ready_webhook, request, start};

fn post(server: &Server, hook: &str, body: &[u8]) -> support::Answer {
    request(&server.addr, "POST", hook, None, Some("application/json"), body)
}

fn stored(server: &Server, webhook: &str) -> usize {
    let log = server.admin("GET", &format!("/events?webhook={webhook}&limit=500"), None);
    log.body["events"].as_array().map_or(0, Vec::len)
}

/// Whether a body is, by shape, one event or a batch of them (the test's oracle).
fn is_events(body: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(_)) => true,
        Ok(Value::Array(items)) => !items.is_empty() && items.iter().all(Value::is_object),
        _ => false,
    }
}

#[test]
fn every_json_test_suite_file_gets_a_clear_answer_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "hostile");
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/JSONTestSuite/test_parsing");
    let mut files: Vec<_> = std::fs::read_dir(&suite).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 318, "the whole suite is there");
    // (prefix, status) → count, printed as the sweep's summary.
    let mut summary: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let mut accepted = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(file).unwrap();
        let answer = post(&server, &hook, &body);
        let status = answer.status;
        assert!(status == 202 || (400..500).contains(&status), "{name}: {status} {:?}", answer.body);
        if status != 202 {
            assert!(answer.body["error"]["code"].is_string(), "{name}: a JSON error body, got {:?}", answer.body);
        }
        match &name[..2] {
            "n_" => assert_ne!(status, 202, "{name} is not JSON and must be refused"),
            "y_" => assert_eq!(status == 202, is_events(&body), "{name}: {status} {:?}", answer.body),
            _ => {}
        }
        if status == 202 {
            accepted += answer.body["events"].as_array().map_or(1, Vec::len);
        }
        *summary.entry((name[..2].to_string(), status)).or_default() += 1;
    }
    println!("JSONTestSuite sweep (prefix, status → files): {summary:?}");
    assert!(summary.keys().any(|(p, s)| p == "y_" && *s == 202), "valid objects were accepted");
    let health = request(&server.addr, "GET", "/healthz", None, None, b"");
    assert_eq!(health.status, 200, "still up after the sweep");
    // Everything accepted is processed (no one is matched: `customer` is absent or unknown).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let pending = server.admin("GET", &format!("/events?webhook={webhook}&status=accepted"), None);
        if pending.body["events"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "accepted events were not processed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The test event and every accepted event are in the log; nothing refused is.
    assert_eq!(stored(&server, &webhook), accepted + 1);
}

/// `{"a":{"a":…{"a":1}…}}` with `levels` objects.
fn nested(levels: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels))
}

#[test]
fn nesting_key_length_and_value_count_are_bounded_with_clear_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "bounds");
    let refuse = |body: &[u8], code: &str, field: &str| {
        let answer = post(&server, &hook, body);
        assert_eq!(answer.status, 422, "{code}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["code"], code);
        assert_eq!(answer.body["error"]["field"], field, "{:?}", answer.body);
        answer.body["error"]["message"].as_str().unwrap().to_string()
    };
    // Depth: 64 levels pass (also inside a batch); 65, or 100,000 unclosed, do not.
    assert_eq!(post(&server, &hook, nested(64).as_bytes()).status, 202);
    assert_eq!(post(&server, &hook, format!("[{}]", nested(64)).as_bytes()).status, 202);
    assert!(refuse(nested(65).as_bytes(), "payload_too_deep", "$").contains("deeper than 64 levels"));
    refuse("[".repeat(100_000).as_bytes(), "payload_too_deep", "$");
    // Brackets inside strings are not nesting.
    let text = json!({"note": "{[".repeat(200), "escaped": "\\\"{{{{"}).to_string();
    assert_eq!(post(&server, &hook, text.as_bytes()).status, 202);
    // Keys: 1,024 bytes pass, 1,025 do not; the batch element is named.
    let key = |len: usize| json!({ "k".repeat(len): 1 });
    assert_eq!(post(&server, &hook, key(1024).to_string().as_bytes()).status, 202);
    assert!(refuse(key(1025).to_string().as_bytes(), "payload_key_too_long", "$").contains("1025 bytes"));
    let batch = json!([{"a": 1}, {"b": 2}, key(5000)]).to_string();
    refuse(batch.as_bytes(), "payload_key_too_long", "$[2]");
    // Values: the object itself plus 9,999 fields pass; one more does not.
    let wide = |fields: usize| {
        let map: serde_json::Map<String, Value> = (0..fields).map(|i| (format!("f{i}"), json!(i))).collect();
        Value::Object(map).to_string()
    };
    assert_eq!(post(&server, &hook, wide(9_999).as_bytes()).status, 202);
    refuse(wide(10_000).as_bytes(), "payload_too_many_values", "$");
    // A flat array of 400,000 numbers (under the 1 MiB body limit) is bounded the same way.
    let numbers = format!(r#"{{"n":[{}0]}}"#, "0,".repeat(400_000));
    assert!(numbers.len() < 1024 * 1024);
    refuse(numbers.as_bytes(), "payload_too_many_values", "$");
    // Test event + the five accepted bodies (one of them a batch of one); no refusal stored.
    assert_eq!(stored(&server, &webhook), 6);
}
