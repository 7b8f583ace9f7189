//! `wasmhook-bench outbound`: what a custom code step that calls another system costs,
//! through the code the server runs (pipeline batches, then the act stage's steps on its
//! worker threads), against a loopback API in this process, in one run:
//! - the same kind of step without a request (the echo-action test guest), then the
//!   http-action test guest calling an API that answers at once: the cost of one outbound
//!   call;
//! - the same call to an API that answers after `--delay-ms`: the wall time against the
//!   ideal (every wait overlapped: the at-once time plus one delay), how many steps and
//!   requests were in flight at most, and the threads the act stage ran them on.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;

use super::actions::measure;
use crate::model::workflow::Action;
use crate::pipeline::worker::default_threads;
use crate::plugins::PluginEngine;
use crate::plugins::outbound::{Cidr, OutboundSettings};

const HTTP_ACTION: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_http_action.wasm");
const ECHO_ACTION: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_echo_action.wasm");

/// A loopback API answering every request with 200 after `delay`, one thread per
/// connection; counts requests in flight and their most.
struct Api {
    addr: String,
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
}

impl Api {
    fn start(delay: Duration) -> anyhow::Result<Api> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let (in_flight, most, served): (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<AtomicUsize>) = Default::default();
        let counters = (Arc::clone(&in_flight), Arc::clone(&most), Arc::clone(&served));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (in_flight, most, served) = (counters.0.clone(), counters.1.clone(), counters.2.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                        line.clear();
                    }
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(delay);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    served.fetch_add(1, Ordering::SeqCst);
                    let body = r#"{"ok":true}"#;
                    let _ = write!(
                        reader.into_inner(),
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Ok(Api { addr, in_flight, most, served })
    }

    fn step(&self) -> serde_json::Value {
        json!({"type": "custom_code", "plugin": "http",
               "inputs": {"url": {"value": format!("http://{}/contacts", self.addr)}},
               "allowed_hosts": [format!("http://{}", self.addr)],
               "timeout_ms": 1000})
    }
}

/// Measure the three rows with `enrollments` events and print a table.
pub fn run(enrollments: u64, delay_ms: u64) -> anyhow::Result<String> {
    let http = std::fs::read(HTTP_ACTION)?;
    let echo = std::fs::read(ECHO_ACTION)?;
    let uploads: [(&str, &[u8]); 2] = [("http", &http), ("echo", &echo)];
    let settings = OutboundSettings {
        allow: vec![Cidr::parse("127.0.0.1/32").map_err(anyhow::Error::msg)?],
        ..OutboundSettings::default()
    };
    let engine = Arc::new(PluginEngine::new()?.with_outbound(settings.policy()?));
    let at_once = Api::start(Duration::ZERO)?;
    let slow = Api::start(Duration::from_millis(delay_ms))?;
    let echo_step = json!({"type": "custom_code", "plugin": "echo", "inputs": {"name": {"value": "bench"}}});
    let actions =
        |step: serde_json::Value| -> anyhow::Result<Vec<Action>> { Ok(serde_json::from_value(json!([step]))?) };

    let none = measure(&engine, &uploads, enrollments, actions(echo_step)?)?;
    let fast = measure(&engine, &uploads, enrollments, actions(at_once.step())?)?;
    let slow_run = measure(&engine, &uploads, enrollments, actions(slow.step())?)?;
    let (none_s, none_rate) = (none.secs, none.rate);
    let (fast_s, fast_rate) = (fast.secs, fast.rate);
    let (slow_s, slow_rate) = (slow_run.secs, slow_run.rate);
    for api in [&at_once, &slow] {
        let served = api.served.load(Ordering::SeqCst) as u64;
        anyhow::ensure!(served == enrollments, "the API served {served} requests for {enrollments} steps");
        anyhow::ensure!(api.in_flight.load(Ordering::SeqCst) == 0, "a request was still open");
    }
    let ideal_s = fast_s + delay_ms as f64 / 1000.0;
    let per_ms = |secs: f64| secs * 1000.0 / enrollments as f64;
    let mut out = String::new();
    writeln!(
        out,
        "{enrollments} enrollments, one custom code step each; the act stage runs its steps on {} threads",
        default_threads()
    )?;
    writeln!(
        out,
        "| step | finished, s | enrollments/s | ms per enrollment | steps in flight at most | requests in flight at most | vs ideal |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|")?;
    writeln!(
        out,
        "| no request (echo-action) | {none_s:.2} | {none_rate:.0} | {:.2} | {} | 0 | |",
        per_ms(none_s),
        none.most_in_flight
    )?;
    writeln!(
        out,
        "| one request, API answers at once | {fast_s:.2} | {fast_rate:.0} | {:.2} | {} | {} | |",
        per_ms(fast_s),
        fast.most_in_flight,
        at_once.most.load(Ordering::SeqCst)
    )?;
    writeln!(
        out,
        "| one request, API answers after {delay_ms} ms | {slow_s:.2} | {slow_rate:.0} | {:.2} | {} | {} | {:.1}x (ideal {ideal_s:.2} s: every wait overlapped) |",
        per_ms(slow_s),
        slow_run.most_in_flight,
        slow.most.load(Ordering::SeqCst),
        slow_s / ideal_s
    )?;
    writeln!(
        out,
        "one outbound call costs {:.2} ms per step over a step without one",
        per_ms(fast_s) - per_ms(none_s)
    )?;
    Ok(out)
}
