//! Steps that wait on another system hold no thread (issue 21, item 4): on a server whose
//! act stage has two threads, a dozen custom code steps wait on one API at the same time,
//! and while they wait, another workflow's steps run and finish.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{ok, ready_webhook, start_with};

use super::outbound_http::{call_step, set_up, workflow};

/// Requests held open at once before the test lets them go.
const WAITING: usize = 12;

/// How long the API holds a request at most, so a failing test ends instead of hanging.
const HOLD_AT_MOST: Duration = Duration::from_secs(15);

/// An API on loopback that holds every request open until the test releases them (or
/// [`HOLD_AT_MOST`] passes), counting how many are open, answered, and open at most.
struct HeldApi {
    addr: String,
    state: Arc<(Mutex<Held>, Condvar)>,
}

#[derive(Default)]
struct Held {
    open: usize,
    most: usize,
    answered: usize,
    released: bool,
}

impl HeldApi {
    fn start() -> HeldApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state: Arc<(Mutex<Held>, Condvar)> = Arc::default();
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let state = shared.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                        line.clear();
                    }
                    let (lock, changed) = &*state;
                    let mut held = lock.lock().unwrap();
                    held.open += 1;
                    held.most = held.most.max(held.open);
                    changed.notify_all();
                    let until = Instant::now() + HOLD_AT_MOST;
                    while !held.released && Instant::now() < until {
                        held = changed.wait_timeout(held, Duration::from_millis(100)).unwrap().0;
                    }
                    held.open -= 1;
                    held.answered += 1;
                    drop(held);
                    let body = r#"{"held":true}"#;
                    let _ = write!(
                        reader.into_inner(),
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        HeldApi { addr, state }
    }

    /// Wait until `open` requests are open at once; how many were, if fewer by the deadline.
    fn wait_open(&self, open: usize, within: Duration) -> Result<(), usize> {
        let (lock, changed) = &*self.state;
        let deadline = Instant::now() + within;
        let mut held = lock.lock().unwrap();
        while held.open < open {
            if Instant::now() >= deadline {
                return Err(held.most);
            }
            held = changed.wait_timeout(held, Duration::from_millis(100)).unwrap().0;
        }
        Ok(())
    }

    fn counts(&self) -> (usize, usize) {
        let held = self.state.0.lock().unwrap();
        (held.open, held.answered)
    }

    fn release(&self) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap().released = true;
        changed.notify_all();
    }
}

#[test]
fn steps_waiting_on_an_api_hold_no_thread_and_hold_up_no_other_workflow() {
    let api = HeldApi::start();
    let dir = tempfile::tempdir().unwrap();
    let options = ["--outbound-allow", "127.0.0.1/32", "--workers", "2"];
    let server = start_with(&dir.path().join("data"), None, &options);
    let (webhook, hook, _) = set_up(&server);
    let url = format!("http://{}/score", api.addr);
    workflow(&server, &webhook, json!([call_step(&url, &[format!("http://{}", api.addr)])]));
    for n in 2..=WAITING {
        let record = json!({"properties": {"external_id": format!("cus_{n}")}});
        ok(server.admin("POST", "/objects/contacts/records", Some(record)), "record");
    }
    let waiting: Vec<String> = (1..=WAITING)
        .map(|n| {
            let event = server.post_hook(&hook, &json!({"customer": format!("cus_{n}")}));
            assert_eq!(event.status, 202, "{}", event.text);
            event.body["event_id"].as_str().unwrap().to_string()
        })
        .collect();

    // Two threads, twelve steps waiting at once: waiting holds no thread.
    if let Err(most) = api.wait_open(WAITING, Duration::from_secs(10)) {
        api.release();
        panic!("only {most} of {WAITING} requests were open at once on a server with 2 step threads");
    }

    // Meanwhile another workflow's step runs and its enrollment finishes.
    let (other, other_hook) = ready_webhook(&server, "orders");
    let set = json!([{"type": "set_property", "property": "crm_status", "value": {"value": 7}}]);
    workflow(&server, &other, set);
    let event = server.post_hook(&other_hook, &json!({"customer": "cus_1"}));
    assert_eq!(event.status, 202, "{}", event.text);
    let finished = server.finished_enrollment(event.body["event_id"].as_str().unwrap());
    assert_eq!(finished["status"], "completed", "{finished:#}");
    assert_eq!(api.counts(), (WAITING, 0), "the waiting requests were answered before the other workflow finished");

    api.release();
    for event in &waiting {
        let enrollment = server.finished_enrollment(event);
        assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
        assert_eq!(enrollment["steps"][0]["outputs"]["status"], 200, "{enrollment:#}");
    }
    assert_eq!(api.counts(), (0, WAITING));
}
