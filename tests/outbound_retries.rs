//! Retries on the product's schedule (issue 21): a custom code try that failed from outside
//! (its last request answered 429 or 5xx or got no answer, or the plugin returned the error
//! code `retry`) runs again later, the wait doubling from the step's `retry.first_s` (or as
//! the answer's `Retry-After` asks), until `retry.for_s` after the first try; a 400 ends the
//! step at once. The wait is the enrollment's due time in the store, so a server killed
//! while a retry waits runs it after the restart. The API is a scripted one on loopback.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::outbound_http::{Api, api, api_on, call_step, set_up, try_step, workflow};
use crate::support::{Server, request, start_with};

fn server(data: &std::path::Path) -> Server {
    start_with(data, None, &["--outbound-allow", "127.0.0.1/32"])
}

/// A scripted API and a server that may reach it (`more`: further `serve` options), set up
/// as in `outbound_http`: the webhook, its hook path and the record `cus_1`.
struct Scene {
    api: Api,
    server: Server,
    webhook: String,
    hook: String,
    record: String,
    _dir: tempfile::TempDir,
}

fn scene(more: &[&str]) -> Scene {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(&dir.path().join("data"), None, &[&["--outbound-allow", "127.0.0.1/32"], more].concat());
    let (webhook, hook, record) = set_up(&server);
    Scene { api, server, webhook, hook, record, _dir: dir }
}

/// A step calling `GET /contacts/cus_1` on `addr` with its own retry schedule.
fn retrying_step(addr: &str, retry: Value) -> Value {
    let mut step = call_step(&format!("http://{addr}/contacts/cus_1"), &[format!("http://{addr}")]);
    step["retry"] = retry;
    step
}

/// Post an event to `hook`; its enrollment's id.
fn enroll(server: &Server, hook: &str) -> String {
    let event = server.post_hook(hook, &json!({"customer": "cus_1"}));
    assert_eq!(event.status, 202, "{}", event.text);
    let event_id = event.body["event_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let event = server.admin("GET", &format!("/events/{event_id}"), None).body;
        if let Some(id) = event["enrollments"][0]["enrollment_id"].as_str() {
            return id.to_string();
        }
        assert!(Instant::now() < deadline, "event {event_id} enrolled nothing: {event}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The enrollment once `done` holds for it (polled; 30 s at most).
fn enrollment_when(server: &Server, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let enrollment = server.admin("GET", &format!("/enrollments/{id}"), None).body;
        if done(&enrollment) {
            return enrollment;
        }
        assert!(Instant::now() < deadline, "enrollment {id} never {what}: {enrollment:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finished(server: &Server, id: &str) -> Value {
    enrollment_when(server, id, "finished", |e| e["status"] != "running")
}

fn waiting_for_a_retry(server: &Server, id: &str) -> Value {
    enrollment_when(server, id, "waited for a retry", |e| {
        e["steps"].as_array().is_some_and(|s| s.iter().any(|s| s["outcome"] == "retrying"))
    })
}

fn reasons(enrollment: &Value) -> Vec<String> {
    let steps = enrollment["steps"].as_array().expect("steps");
    steps.iter().map(|s| format!("{} {}", s["outcome"].as_str().unwrap(), s["reason"].as_str().unwrap_or(""))).collect()
}

fn scripted(api: &Api, answers: &[(u16, &'static str)]) {
    api.script.lock().unwrap().extend(answers.iter().copied());
}

#[test]
fn a_5xx_waits_a_minute_by_default_and_a_400_fails_at_once() {
    let Scene { api, server, webhook, record, .. } = scene(&[]);
    let step = call_step(&format!("http://{}/contacts/cus_1", api.addr), &[format!("http://{}", api.addr)]);
    let calling = workflow(&server, &webhook, json!([step]));

    scripted(&api, &[(503, "")]);
    let step = try_step(&server, &calling, &record);
    assert_eq!(step["outcome"], "retrying", "{step:#}");
    let reason = step["reason"].as_str().unwrap();
    let request = format!("GET http://{}/contacts/cus_1 answered 503; try 2 at ", api.addr);
    assert!(reason.contains(&request) && reason.ends_with("(in 60 s)"), "{reason}");

    scripted(&api, &[(400, "")]);
    let step = try_step(&server, &calling, &record);
    assert_eq!(step["outcome"], "failed", "{step:#}");
    let reason = step["reason"].as_str().unwrap();
    assert!(reason.contains("answered 400") && !reason.contains("try 2"), "{reason}");
    assert_eq!(api.seen.lock().unwrap().len(), 2, "one request per try, no retry inside a try");
}

#[test]
fn server_errors_are_retried_with_doubling_waits_until_an_answer_succeeds() {
    let Scene { api, server, webhook, hook, .. } = scene(&[]);
    workflow(&server, &webhook, json!([retrying_step(&api.addr, json!({"first_s": 1, "max_s": 3}))]));
    scripted(&api, &[(500, ""), (502, ""), (503, "")]);
    let id = enroll(&server, &hook);
    let enrollment = finished(&server, &id);
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    let reasons = reasons(&enrollment);
    assert_eq!(reasons.len(), 4, "{reasons:#?}");
    // 1 s, then 2 s, then 4 s capped at max_s.
    for (i, (code, wait)) in [(500, "1 s"), (502, "2 s"), (503, "3 s")].into_iter().enumerate() {
        let said = &reasons[i];
        assert!(said.starts_with("retrying ") && said.contains(&format!("answered {code}; try {}", i + 2)), "{said}");
        assert!(said.ends_with(&format!("(in {wait})")), "{said}");
    }
    assert_eq!(reasons[3], "succeeded ");
    let attempts: Vec<u64> =
        enrollment["steps"].as_array().unwrap().iter().map(|s| s["attempt"].as_u64().unwrap()).collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    assert_eq!(api.seen.lock().unwrap().len(), 4);

    // Metrics name the destination by the step's allowed_hosts entry, never the URL.
    let destination = format!("destination=\"http://{}\"", api.addr);
    assert_eq!(metric(&server, "wasmhook_outbound_requests_total{", &[&destination, "answer=\"500\""]), 1.0);
    assert_eq!(metric(&server, "wasmhook_outbound_requests_total{", &[&destination, "answer=\"200\""]), 1.0);
    assert_eq!(metric(&server, "wasmhook_outbound_request_duration_seconds_count{", &[&destination]), 4.0);
}

/// The value of the `/metrics` line that starts with `name` and has every one of `labels`.
pub(crate) fn metric(server: &Server, name: &str, labels: &[&str]) -> f64 {
    let answer = request(&server.addr, "GET", "/metrics", Some(&server.token), None, b"");
    assert_eq!(answer.status, 200);
    let line = answer.text.lines().find(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)));
    let line = line.unwrap_or_else(|| panic!("no {name} {labels:?} in\n{}", answer.text));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_429_is_retried_when_its_retry_after_says() {
    let Scene { api, server, webhook, hook, .. } = scene(&[]);
    // Twenty seconds by the step's schedule, one by the answer's Retry-After.
    workflow(&server, &webhook, json!([retrying_step(&api.addr, json!({"first_s": 20}))]));
    scripted(&api, &[(429, "Retry-After: 1\r\n")]);
    let started = Instant::now();
    let id = enroll(&server, &hook);
    let enrollment = finished(&server, &id);
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    assert!(started.elapsed() < Duration::from_secs(15), "the schedule's 20 s wait was used, not Retry-After's 1 s");
    let reasons = reasons(&enrollment);
    assert!(
        reasons[0].contains("answered 429; try 2 at ") && reasons[0].ends_with("(in 1 s, as its Retry-After asked)")
    );
    assert_eq!(api.seen.lock().unwrap().len(), 2);
}

#[test]
fn an_api_that_is_down_is_retried_until_it_is_up() {
    // A free port with nothing listening on it yet.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir.path().join("data"));
    let (webhook, hook, _) = set_up(&server);
    workflow(&server, &webhook, json!([retrying_step(&addr, json!({"first_s": 1, "max_s": 1}))]));
    let id = enroll(&server, &hook);
    let waiting = waiting_for_a_retry(&server, &id);
    let reason = &reasons(&waiting)[0];
    assert!(reason.contains(&format!("GET http://{addr}/contacts/cus_1 got no answer")), "{reason}");

    let api = api_on(TcpListener::bind(&addr).expect("the port is still free"));
    let enrollment = finished(&server, &id);
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    assert_eq!(api.seen.lock().unwrap().len(), 1);
}

#[test]
fn a_plugin_that_asks_for_a_retry_gets_them_until_the_schedule_ends() {
    let Scene { server, webhook, hook, .. } = scene(&[]);
    let step = json!({"type": "custom_code", "plugin": "crm", "inputs": {"fail_with": {"value": "retry"}},
                      "retry": {"first_s": 1, "max_s": 1, "for_s": 2}});
    workflow(&server, &webhook, json!([step]));
    let id = enroll(&server, &hook);
    let enrollment = finished(&server, &id);
    assert_eq!(enrollment["status"], "failed", "{enrollment:#}");
    let reasons = reasons(&enrollment);
    let (last, earlier) = reasons.split_last().unwrap();
    assert!((1..=3).contains(&earlier.len()), "{reasons:#?}");
    assert!(earlier.iter().all(|r| r.starts_with("retrying ") && r.contains("the plugin asked to be retried; try ")));
    assert!(
        last.starts_with("failed ")
            && last.contains("the plugin asked to be retried; gave up after")
            && last.ends_with("(retries stop 2 s after the first try)"),
        "{last}"
    );
}

#[test]
fn a_retry_waiting_when_the_server_is_killed_runs_after_the_restart() {
    let api = api();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = server(&data);
    let (webhook, hook, _) = set_up(&first);
    workflow(&first, &webhook, json!([retrying_step(&api.addr, json!({"first_s": 2}))]));
    scripted(&api, &[(503, "")]);
    let id = enroll(&first, &hook);
    waiting_for_a_retry(&first, &id);
    first.child.kill().unwrap(); // SIGKILL while the retry waits
    first.child.wait().unwrap();

    let second = server(&data);
    let enrollment = finished(&second, &id);
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    let reasons = reasons(&enrollment);
    assert_eq!(reasons.len(), 2, "{reasons:#?}");
    assert!(reasons[0].contains("answered 503; try 2 at "), "{}", reasons[0]);
    assert_eq!(reasons[1], "succeeded ");
    assert_eq!(api.seen.lock().unwrap().len(), 2, "exactly one retry: {:?}", api.seen.lock().unwrap());
}

#[test]
fn a_destination_that_keeps_failing_is_paused_and_its_steps_wait_for_the_probe() {
    let Scene { api, server, webhook, hook, .. } =
        scene(&["--outbound-breaker-failures", "2", "--outbound-breaker-pause", "4"]);
    workflow(&server, &webhook, json!([retrying_step(&api.addr, json!({"first_s": 1, "max_s": 1}))]));
    scripted(&api, &[(503, ""); 20]);
    let id = enroll(&server, &hook);
    let paused =
        format!("http://{} is paused after 2 failed requests in a row; the try did not run; try 4 at ", api.addr);
    let held = enrollment_when(&server, &id, "held by the breaker", |e| {
        e["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["reason"].as_str().is_some_and(|r| r.contains(&paused))))
    });
    let reasons = reasons(&held);
    assert_eq!(reasons.len(), 3, "{reasons:#?}");
    assert!(reasons[2].starts_with("retrying ") && reasons[2].ends_with(" s, when the pause ends)"), "{reasons:#?}");
    assert_eq!(api.seen.lock().unwrap().len(), 2, "the held try sent nothing");
    let destination = format!("destination=\"http://{}\"", api.addr);
    assert_eq!(metric(&server, "wasmhook_outbound_held_tries_total{", &[&destination]), 1.0);

    // The API recovers: when the pause ends, the held step is the probe and completes.
    api.script.lock().unwrap().clear();
    let enrollment = finished(&server, &id);
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    assert_eq!(api.seen.lock().unwrap().len(), 3, "two failures, nothing during the pause, then the probe");
}
