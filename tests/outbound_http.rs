//! Action plugins that call other systems (issue 21, first slice): a real component makes
//! HTTP requests through `wasi:http` to an API this test runs on loopback (and only there).
//! An allowed host is called with the step's bearer secret and its answer lands on the
//! record; a host the step does not list, or a private address the server was not opened
//! to (`--outbound-allow`), is refused before anything is sent, with the reason in the
//! step's log; bad `allowed_hosts` entries are refused when the workflow is saved; a
//! transform that imports `wasi:http` is refused at upload.

use crate::support;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::{Server, ok, ready_webhook, start, start_with};

const HTTP_ACTION: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_http_action.wasm");
const HTTP_TRANSFORM: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_http_transform.wasm");
pub(crate) const SECRET: &str = "sk_test_outbound_5b3c91";

/// A tiny API on loopback: answers each request with the next scripted answer (status,
/// extra header lines) while there is one, then 200 with JSON naming its path; keeps
/// `METHOD target | authorization` of each request it saw, and its headers (names in
/// lower case) and body.
pub(crate) struct Api {
    pub(crate) addr: String,
    pub(crate) seen: Arc<Mutex<Vec<String>>>,
    pub(crate) requests: Arc<Mutex<Vec<Request>>>,
    pub(crate) script: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
}

/// A request's headers and body, as the API saw them.
pub(crate) type Request = (Vec<(String, String)>, Vec<u8>);

pub(crate) fn api() -> Api {
    api_on(TcpListener::bind("127.0.0.1:0").unwrap())
}

/// [`api`] on a listener the caller bound (a port chosen before the API exists).
pub(crate) fn api_on(listener: TcpListener) -> Api {
    let addr = listener.local_addr().unwrap().to_string();
    let (seen, script) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(VecDeque::new())));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (log, answers, kept) = (seen.clone(), Arc::clone(&script), requests.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let (mut auth, mut length, mut headers) = (String::new(), 0usize, Vec::new());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap_or((&header, ""));
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                match name.trim().to_ascii_lowercase().as_str() {
                    "authorization" => auth = value.trim().to_string(),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let target = line.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            log.lock().unwrap().push(format!("{target} | {auth}"));
            kept.lock().unwrap().push((headers, body));
            let path = target.split(' ').nth(1).unwrap_or("").to_string();
            let (status, extra) = answers.lock().unwrap().pop_front().unwrap_or((200, ""));
            // `/big`: a body over the 5 MiB a plugin may read.
            let answer = if path == "/big" {
                "x".repeat(6 * 1024 * 1024)
            } else {
                json!({"tier": "gold", "path": path}).to_string()
            };
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Scripted\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    Api { addr, seen, requests, script }
}

/// Contacts with the properties the step writes, the plugin, the secret, a ready webhook,
/// and the record `cus_1`: the webhook's id and hook path, and the record's id.
pub(crate) fn set_up(server: &Server) -> (String, String, String) {
    for property in [json!({"name": "crm_status", "type": "number"}), json!({"name": "crm_body", "type": "string"})] {
        ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    }
    let uploaded = server.upload_plugin("crm", HTTP_ACTION);
    assert_eq!(uploaded.status, 200, "{}", uploaded.text);
    assert_eq!(server.admin("PUT", "/secrets/API_KEY", Some(json!({"value": SECRET}))).status, 204);
    let (webhook, hook) = ready_webhook(server, "signups");
    let record = ok(
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_1"}}))),
        "record",
    );
    (webhook, hook, record["id"].as_str().unwrap().to_string())
}

pub(crate) fn call_step(url: &str, allowed: &[String]) -> Value {
    json!({"type": "custom_code", "plugin": "crm", "inputs": {"url": {"value": url}}, "secrets": ["API_KEY"],
           "allowed_hosts": allowed,
           "outputs": [{"name": "status", "type": "number"}, {"name": "body", "type": "string"}]})
}

pub(crate) fn workflow(server: &Server, webhook: &str, actions: Value) -> String {
    let saved = json!({"name": "crm", "object": "contacts", "triggers": [webhook], "actions": actions});
    ok(server.admin("POST", "/workflows", Some(saved)), "workflow")["id"].as_str().unwrap().to_string()
}

/// Try step 0 of `workflow` against `record`: its step entry.
pub(crate) fn try_step(server: &Server, workflow: &str, record: &str) -> Value {
    let tried =
        server.admin("POST", &format!("/workflows/{workflow}/actions/0/test"), Some(json!({"record_id": record})));
    ok(tried, "action test")["step"].clone()
}

#[test]
fn an_action_calls_an_allowed_api_with_its_secret_and_the_answer_lands_on_the_record() {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(&dir.path().join("data"), None, &["--outbound-allow", "127.0.0.1/32"]);
    let (webhook, hook, record) = set_up(&server);
    let url = format!("http://{}/contacts/cus_1?key=query-value", api.addr);
    let actions = json!([
        call_step(&url, &[format!("http://{}", api.addr)]),
        {"type": "set_property", "property": "crm_status", "value": "action.0.status"},
        {"type": "set_property", "property": "crm_body", "value": "action.0.body"},
    ]);
    workflow(&server, &webhook, actions);
    let event = server.post_hook(&hook, &json!({"customer": "cus_1"}));
    assert_eq!(event.status, 202, "{}", event.text);
    let enrollment = server.finished_enrollment(event.body["event_id"].as_str().unwrap());
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");

    assert_eq!(*api.seen.lock().unwrap(), [format!("GET /contacts/cus_1?key=query-value | Bearer {SECRET}")]);
    let properties =
        server.admin("GET", &format!("/objects/contacts/records/{record}"), None).body["properties"].clone();
    assert_eq!(properties["crm_status"], 200);
    let body: Value = serde_json::from_str(properties["crm_body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"tier": "gold", "path": "/contacts/cus_1?key=query-value"}));

    // The step's log names the request and its answer, without the query or the secret.
    let log = enrollment["steps"][0]["log"].as_str().unwrap_or_default().to_string();
    assert!(log.contains(&format!("GET http://{}/contacts/cus_1 -> 200", api.addr)), "{log}");
    assert!(!log.contains("query-value"), "{log}");
    assert!(!enrollment.to_string().contains(SECRET), "{enrollment}");
}

#[test]
fn a_host_the_step_does_not_list_is_refused_and_nothing_is_sent() {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(&dir.path().join("data"), None, &["--outbound-allow", "127.0.0.1/32"]);
    let (webhook, _, record) = set_up(&server);
    let url = format!("http://{}/contacts/cus_1", api.addr);
    // The same host on another port, and https on the right one: neither is this URL.
    let allowed = ["http://127.0.0.1:1".to_string(), format!("https://{}", api.addr)];
    let listed = workflow(&server, &webhook, json!([call_step(&url, &allowed)]));
    let step = try_step(&server, &listed, &record);
    assert_eq!(step["outcome"], "failed", "{step:#}");
    assert!(step["reason"].as_str().unwrap().contains("HttpRequestDenied"), "{step:#}");
    let log = step["log"].as_str().unwrap();
    assert!(
        log.contains(&format!("refused GET http://{}/contacts/cus_1: not in the step's allowed_hosts", api.addr)),
        "{log}"
    );
    assert!(api.seen.lock().unwrap().is_empty(), "the API saw {:?}", api.seen.lock().unwrap());
    // The metric names no host the plugin chose.
    let refused = ["destination=\"not_allowed\"", "answer=\"refused\""];
    assert_eq!(super::outbound_retries::metric(&server, "wasmhook_outbound_requests_total{", &refused), 1.0);

    // A step without allowed_hosts may send nothing at all.
    let bare = json!({"type": "custom_code", "plugin": "crm", "inputs": {"url": {"value": url}}});
    let unlisted = workflow(&server, &webhook, json!([bare]));
    let step = try_step(&server, &unlisted, &record);
    assert!(step["reason"].as_str().unwrap().contains("HttpRequestDenied"), "{step:#}");
    assert!(api.seen.lock().unwrap().is_empty());
}

#[test]
fn without_outbound_allow_a_loopback_address_is_refused_at_connect() {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let (webhook, _, record) = set_up(&server);
    let url = format!("http://{}/contacts/cus_1", api.addr);
    let calling = workflow(&server, &webhook, json!([call_step(&url, &[format!("http://{}", api.addr)])]));
    let step = try_step(&server, &calling, &record);
    assert_eq!(step["outcome"], "failed", "{step:#}");
    assert!(step["reason"].as_str().unwrap().contains("DestinationIpProhibited"), "{step:#}");
    let log = step["log"].as_str().unwrap();
    assert!(log.contains("is a loopback address") && log.contains("--outbound-allow"), "{log}");
    assert!(api.seen.lock().unwrap().is_empty(), "the API saw {:?}", api.seen.lock().unwrap());
}

#[test]
fn allowed_hosts_are_checked_when_the_workflow_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let (webhook, _, _) = set_up(&server);
    for (entry, says) in [
        ("api.example.com", "needs a scheme"),
        ("https://*.com", "wildcard"),
        ("https://a.example.com/v1", "nothing more"),
    ] {
        let actions = json!([call_step("https://api.example.com/", &[entry.to_string()])]);
        let saved = json!({"name": "crm", "object": "contacts", "triggers": [webhook], "actions": actions});
        let refused = server.admin("POST", "/workflows", Some(saved));
        assert_eq!(refused.status, 400, "{entry}: {}", refused.text);
        assert_eq!(refused.body["error"]["field"], "actions[0].allowed_hosts[0]", "{}", refused.text);
        assert!(refused.body["error"]["message"].as_str().unwrap().contains(says), "{}", refused.text);
    }
}

#[test]
fn a_transform_that_imports_wasi_http_is_refused_at_upload_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let bytes = std::fs::read(HTTP_TRANSFORM).expect("guest built by host/build.rs");
    let refused = support::request(
        &server.addr,
        "PUT",
        "/api/v1/plugins/fetcher",
        Some(&server.token),
        Some("application/wasm"),
        &bytes,
    );
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.body["error"]["code"], "plugin_refused");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("a transform may not import `wasi:http`") && message.contains("action"), "{message}");
    // The same kind of component as an action is fine (the action guest uploads in the tests above).
    assert!(
        server.admin("GET", "/plugins", None).body["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "fetcher")
    );
}

#[test]
fn a_response_over_5_mib_is_cut_and_the_step_fails_saying_so() {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(&dir.path().join("data"), None, &["--outbound-allow", "127.0.0.1/32"]);
    let (webhook, _, record) = set_up(&server);
    let url = format!("http://{}/big", api.addr);
    let big = workflow(&server, &webhook, json!([call_step(&url, &[format!("http://{}", api.addr)])]));
    let step = try_step(&server, &big, &record);
    assert_eq!(step["outcome"], "failed", "{step:#}");
    assert!(step["reason"].as_str().unwrap().contains("reading the response"), "{step:#}");
    let log = step["log"].as_str().unwrap();
    assert!(log.contains(&format!("GET {url}: the response body is over 5242880 bytes; reading stopped")), "{log}");
    assert_eq!(api.seen.lock().unwrap().len(), 1);
}

#[test]
fn the_outbound_bench_runs_steps_with_and_without_a_request_to_the_end() {
    let args = ["outbound", "--enrollments", "20", "--delay-ms", "5"];
    let out = crate::support::run_bench_bounded(&args, std::time::Duration::from_secs(180));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for row in [
        "| no request (echo-action) |",
        "| one request, API answers at once |",
        "| one request, API answers after 5 ms |",
    ] {
        assert!(stdout.contains(row), "no {row:?} in\n{stdout}");
    }
    // The slow row had steps and requests in flight, and was compared with its ideal.
    let slow = stdout.lines().find(|l| l.contains("answers after 5 ms")).unwrap();
    let cells: Vec<&str> = slow.split('|').map(str::trim).collect();
    let steps: u32 = cells[5].parse().unwrap_or_else(|_| panic!("{slow}"));
    let requests: u32 = cells[6].parse().unwrap_or_else(|_| panic!("{slow}"));
    assert!(steps >= requests && requests >= 1, "{slow}");
    assert!(cells[7].contains("x (ideal"), "{slow}");
    assert!(stdout.contains("one outbound call costs"), "{stdout}");
}
