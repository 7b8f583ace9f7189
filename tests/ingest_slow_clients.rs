//! Connection hygiene against the real binary (request timeout 1 s): slow headers, idle
//! keep-alive connections and slow bodies are cut off without holding up anyone else,
//! oversized heads answer 431, and no token (admin or webhook) reaches the log, even at
//! trace level.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Server, hook_path, request_with, start_with};

fn server(dir: &std::path::Path, log: Option<(&std::path::Path, &str)>) -> Server {
    start_with(dir, log, &["--request-timeout", "1"])
}

/// Read until the server closes the connection (or 10 s pass); what it sent, and when.
fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    (String::from_utf8_lossy(&got).into_owned(), started.elapsed())
}

#[test]
fn slow_and_idle_clients_are_cut_off_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), None);
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "slow"})));
    let id = created.body["id"].as_str().unwrap().to_string();
    let hook = hook_path(created.body["url"].as_str().unwrap());

    // Fifty clients that never finish their headers hold nothing up.
    let mut slowloris: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(format!("POST {hook} HTTP/1.1\r\nHost: x\r\nX-Slow: ").as_bytes()).unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    assert_eq!(server.post_hook(&hook, &json!({"n": 1})).status, 202);
    assert!(started.elapsed() < Duration::from_secs(1), "served while slow clients wait");
    for s in &mut slowloris {
        let (sent, after) = read_until_closed(s);
        assert!(after < Duration::from_secs(4), "a slow head is cut off after ~1 s, took {after:?}");
        assert!(!sent.contains("202"), "{sent}");
    }

    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (sent, after) = read_until_closed(&mut idle);
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
    assert!(after < Duration::from_secs(4), "idle keep-alive closed after ~1 s, took {after:?}");

    // A body that stops arriving: 408 with a JSON error, nothing stored.
    let mut slow_body = TcpStream::connect(&server.addr).unwrap();
    let head =
        format!("POST {hook} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n");
    slow_body.write_all(head.as_bytes()).unwrap();
    slow_body.write_all(br#"{"n": 2, "pad": ""#).unwrap();
    let (sent, after) = read_until_closed(&mut slow_body);
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(sent.contains(r#""code":"request_timeout""#), "{sent}");
    assert!(after < Duration::from_secs(4), "{after:?}");
    let log = server.admin("GET", &format!("/events?webhook={id}"), None);
    assert_eq!(log.body["events"].as_array().unwrap().len(), 1, "only the complete request was stored");
}

#[test]
fn oversized_request_heads_answer_431() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), None);
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "heads"})));
    let hook = hook_path(created.body["url"].as_str().unwrap());
    let json = [("Content-Type", "application/json")];
    assert_eq!(request_with(&server.addr, "POST", &hook, &json, b"{}").status, 202);
    let huge = "x".repeat(40 * 1024);
    let answer =
        request_with(&server.addr, "POST", &hook, &[("Content-Type", "application/json"), ("X-Huge", &huge)], b"{}");
    assert_eq!(answer.status, 431, "{}", answer.headers);
    let names: Vec<String> = (0..150).map(|i| format!("X-H{i}")).collect();
    let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    many.push(("Content-Type", "application/json"));
    assert_eq!(request_with(&server.addr, "POST", &hook, &many, b"{}").status, 431);
    // A normal request on a new connection is still fine.
    assert_eq!(request_with(&server.addr, "POST", &hook, &json, b"{}").status, 202);
}

#[test]
fn no_token_reaches_the_log_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    // Everything at trace except the compiler's own passes (hundreds of thousands of lines).
    let level = "trace,cranelift_codegen=info,cranelift_frontend=info,wasmtime_internal_cranelift=info";
    let server = server(&dir.path().join("data"), Some((&log, level)));
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "quiet"})));
    let token = created.body["token"].as_str().unwrap().to_string();
    let hook = hook_path(created.body["url"].as_str().unwrap());
    assert_eq!(server.post_hook(&hook, &json!({"customer": "a"})).status, 202);
    assert_eq!(server.post_hook(&hook, &json!({"customer": "b"})).status, 202);
    let wrong =
        request_with(&server.addr, "GET", "/api/v1/webhooks", &[("Authorization", "Bearer not-the-token")], b"");
    assert_eq!(wrong.status, 401);
    let rotated =
        server.admin("POST", &format!("/webhooks/{}/rotate-token", created.body["id"].as_str().unwrap()), None);
    let new_token = rotated.body["token"].as_str().unwrap().to_string();
    assert_eq!(server.admin("GET", "/events", None).status, 200);
    let metrics =
        request_with(&server.addr, "GET", "/metrics", &[("Authorization", &format!("Bearer {}", server.token))], b"");
    assert_eq!(metrics.status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 10, "the server did log at trace level:\n{text}");
    for (what, secret) in
        [("admin token", server.token.as_str()), ("webhook token", &token), ("rotated token", &new_token)]
    {
        assert!(!text.contains(secret), "the {what} is in the log");
    }
}
