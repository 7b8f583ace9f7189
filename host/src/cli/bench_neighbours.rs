//! `wasmhook bench neighbours`: does a misbehaving plugin on one webhook slow the others?
//!
//! Each phase starts the real server (this binary's `serve`) on a fresh data dir and sends
//! a healthy webhook (normalize transform, match, one workflow) a steady, paced load; in
//! the "beside hostile" phases, webhooks whose transform loops forever, counts to 40 million (tens of ms) (slow
//! but within its limit), allocates past its memory limit, recurses until the stack
//! overflows, returns 4 MiB, or panics get a load of their own at the same time. Phases
//! alternate in one run. Reported per phase: the healthy webhook's acknowledgement latency
//! (from the request's scheduled send time, so a stall is not hidden by a client that
//! waits), its processing latency (received → outcome decided, from the events' own
//! timestamps) and rate, and how the hostile events ended. Every acknowledged event is
//! checked to be stored and settled: the run fails if one is lost.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use serde_json::{Value as Json, json};

/// The hostile webhooks: a name and its transform step's config.
const HOSTILE: &[(&str, &[(&str, &str)])] = &[
    ("loop", &[("mode", "loop")]),
    ("spin", &[("mode", "spin"), ("iterations", "40000000")]),
    ("grow", &[("mode", "grow")]),
    ("recurse", &[("mode", "recurse")]),
    ("big-output", &[("mode", "big-output")]),
    ("panic", &[("mode", "panic")]),
];

/// Requests per second each hostile webhook is sent.
const HOSTILE_RATE: f64 = 20.0;

/// Client threads sharing the healthy load.
const HEALTHY_CLIENTS: usize = 4;

/// Contacts imported; healthy events name one at random.
const CONTACTS: usize = 5_000;

/// Admin token the bench gives its servers.
const TOKEN: &str = "bench-neighbours-admin-token-0123456789";

/// The test guest this binary was built with, when built from the repository.
pub const DEFAULT_HOSTILE_PLUGIN: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_hostile.wasm");

/// How a run is shaped.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Seconds of load per phase.
    pub seconds: f64,
    /// Healthy requests per second.
    pub rate: f64,
    /// Alone / beside pairs, interleaved.
    pub rounds: u32,
    /// The hostile guest component.
    pub hostile_plugin: PathBuf,
}

/// Run the phases and render the tables.
pub fn run(plan: &Plan) -> anyhow::Result<String> {
    let hostile = std::fs::read(&plan.hostile_plugin)
        .with_context(|| format!("reading the hostile guest {}", plan.hostile_plugin.display()))?;
    let mut phases = Vec::new();
    for _ in 0..plan.rounds.max(1) {
        phases.push(phase(plan, None)?);
        phases.push(phase(plan, Some(&hostile))?);
    }
    render(plan, &phases)
}

/// What one phase measured.
struct Phase {
    beside: bool,
    acked: usize,
    refused: usize,
    ack_ms: Vec<f64>,
    processed_ms: Vec<f64>,
    processed_per_s: f64,
    healthy_statuses: BTreeMap<String, usize>,
    hostile: BTreeMap<String, Ended>,
}

fn phase(plan: &Plan, hostile: Option<&[u8]>) -> anyhow::Result<Phase> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path())?;
    let (healthy, healthy_hook) = server.set_up_healthy()?;
    let mut hostile_hooks = Vec::new();
    if let Some(bytes) = hostile {
        let (status, body) = server.call("PUT", "/api/v1/plugins/hostile", "application/wasm", bytes)?;
        ensure!(status == 200, "uploading the hostile guest: {status} {body}");
        for (name, config) in HOSTILE {
            let config: serde_json::Map<String, Json> = config.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            let chain = json!([{"plugin": "hostile", "config": config}]);
            hostile_hooks.push(server.ready_webhook(name, &chain)?.1);
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let hostile_clients: Vec<_> = hostile_hooks
        .into_iter()
        .map(|hook| {
            let (addr, stop) = (server.addr.clone(), stop.clone());
            std::thread::spawn(move || paced(&addr, &hook, HOSTILE_RATE, None, &stop))
        })
        .collect();
    let started = Instant::now();
    let healthy_clients: Vec<_> = (0..HEALTHY_CLIENTS)
        .map(|_| {
            let (addr, hook) = (server.addr.clone(), healthy_hook.clone());
            let (rate, seconds) = (plan.rate / HEALTHY_CLIENTS as f64, plan.seconds);
            std::thread::spawn(move || paced(&addr, &hook, rate, Some(seconds), &AtomicBool::new(false)))
        })
        .collect();
    let mut sent = Sent::default();
    for client in healthy_clients {
        sent.merge(client.join().map_err(|_| anyhow!("a healthy client panicked"))??);
    }
    let load_s = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for client in hostile_clients {
        client.join().map_err(|_| anyhow!("a hostile client panicked"))??;
    }
    server.drained(&healthy, Duration::from_secs(120))?;
    drop(server);

    let outcome = read_outcomes(dir.path(), &healthy, &sent.acknowledged)?;
    let span_s = outcome.span_ms / 1e3;
    Ok(Phase {
        beside: hostile.is_some(),
        acked: sent.acknowledged.len(),
        refused: sent.refused,
        ack_ms: sent.latencies_ms,
        processed_per_s: if span_s > 0.0 { outcome.processed_ms.len() as f64 / span_s.max(load_s) } else { 0.0 },
        processed_ms: outcome.processed_ms,
        healthy_statuses: outcome.healthy_statuses,
        hostile: outcome.hostile,
    })
}

/// What a client sent and what came back.
#[derive(Default)]
struct Sent {
    acknowledged: Vec<String>,
    refused: usize,
    latencies_ms: Vec<f64>,
}

impl Sent {
    fn merge(&mut self, other: Sent) {
        self.acknowledged.extend(other.acknowledged);
        self.refused += other.refused;
        self.latencies_ms.extend(other.latencies_ms);
    }
}

/// Post to `hook` at `rate` a second, for `seconds` or until `stop`. Latency counts from
/// each request's scheduled time.
fn paced(addr: &str, hook: &str, rate: f64, seconds: Option<f64>, stop: &AtomicBool) -> anyhow::Result<Sent> {
    let mut client = Client::connect(addr)?;
    let mut sent = Sent::default();
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    for n in 0u32.. {
        let due = started + interval * n;
        if stop.load(Ordering::Relaxed) || seconds.is_some_and(|s| (due - started).as_secs_f64() >= s) {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let payload = json!({"customer": format!(" CUS_{} ", rand::random_range(0..CONTACTS)), "n": n});
        let (status, body) =
            client.send("POST", hook, &[("Content-Type", "application/json")], payload.to_string().as_bytes())?;
        match status {
            202 => {
                sent.latencies_ms.push(due.elapsed().as_secs_f64() * 1e3);
                let body: Json = serde_json::from_slice(&body)?;
                let id = body["event_id"].as_str().ok_or_else(|| anyhow!("a 202 without an event id: {body}"))?;
                sent.acknowledged.push(id.to_string());
            }
            503 | 429 => sent.refused += 1,
            other => bail!("ingest answered {other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    Ok(sent)
}

/// What the store says about a phase's events.
struct Outcomes {
    processed_ms: Vec<f64>,
    span_ms: f64,
    healthy_statuses: BTreeMap<String, usize>,
    hostile: BTreeMap<String, Ended>,
}

/// How one hostile webhook's events ended.
#[derive(Default)]
struct Ended {
    /// Events by status (and transform outcome).
    statuses: BTreeMap<String, usize>,
    /// Durations of the plugin calls that ran, µs.
    call_us: Vec<f64>,
}

/// Read the stopped server's database: every acknowledged healthy event must be there and
/// settled.
fn read_outcomes(dir: &Path, healthy: &str, acknowledged: &[String]) -> anyhow::Result<Outcomes> {
    let db = rusqlite::Connection::open_with_flags(
        dir.join(crate::store::DB_FILE),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut healthy_statuses = BTreeMap::new();
    let mut processed_ms = Vec::with_capacity(acknowledged.len());
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let mut one = db.prepare(
        "SELECT webhook_id, status, received_at_ms, json_extract(detail_json, '$.processed_at_ms') FROM events WHERE id = ?1",
    )?;
    for id in acknowledged {
        let row: Option<(String, String, i64, Option<i64>)> = rusqlite::OptionalExtension::optional(
            one.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))),
        )?;
        let Some((webhook, status, received, processed)) = row else { bail!("acknowledged event {id} was lost") };
        ensure!(webhook == healthy, "event {id} belongs to {webhook}");
        let processed = processed.ok_or_else(|| anyhow!("event {id} is {status}, never processed"))?;
        processed_ms.push((processed - received) as f64);

        first = first.min(received);
        last = last.max(processed);
        *healthy_statuses.entry(status).or_insert(0) += 1;
    }
    // How each hostile webhook's events ended (status, and for failures the transform
    // outcome), and how long its plugin calls took.
    let mut hostile: BTreeMap<String, Ended> = BTreeMap::new();
    let mut rows = db.prepare(
        "SELECT w.name, e.status, coalesce(json_extract(e.detail_json, '$.transforms[0].outcome'), ''),
                json_extract(e.detail_json, '$.transforms[0].duration_us')
         FROM events e JOIN webhooks w ON w.id = e.webhook_id
         WHERE e.webhook_id != ?1 AND e.id IS NOT w.test_event_id",
    )?;
    let outcomes = rows.query_map([healthy], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<i64>>(3)?))
    })?;
    for outcome in outcomes {
        let (webhook, status, kind, duration) = outcome?;
        let ended = hostile.entry(webhook).or_default();
        let how = if kind.is_empty() { status } else { format!("{status}/{kind}") };
        *ended.statuses.entry(how).or_insert(0) += 1;
        ended.call_us.extend(duration.map(|us| us as f64));
    }
    let span_ms = if processed_ms.is_empty() { 0.0 } else { (last - first) as f64 };
    Ok(Outcomes { processed_ms, span_ms, healthy_statuses, hostile })
}

fn quantile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}

fn render(plan: &Plan, phases: &[Phase]) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "healthy webhook paced at {:.0} req/s for {:.0} s per phase; beside it, {} hostile webhooks at {HOSTILE_RATE:.0} req/s each ({})",
        plan.rate,
        plan.seconds,
        HOSTILE.len(),
        HOSTILE.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(
        out,
        "| phase | acknowledged | refused | ack p50 ms | ack p99 ms | processing p50 ms | processing p99 ms | processed/s | lost |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for p in phases {
        writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} | 0 |",
            if p.beside { "beside hostile" } else { "alone" },
            p.acked,
            p.refused,
            quantile(&p.ack_ms, 0.5),
            quantile(&p.ack_ms, 0.99),
            quantile(&p.processed_ms, 0.5),
            quantile(&p.processed_ms, 0.99),
            p.processed_per_s,
        )?;
    }
    let pooled = |beside: bool, f: &dyn Fn(&Phase) -> Vec<f64>| -> Vec<f64> {
        phases.iter().filter(|p| p.beside == beside).flat_map(f).collect()
    };
    let ack_p99 = |beside| quantile(&pooled(beside, &|p| p.ack_ms.clone()), 0.99);
    let processing_p99 = |beside| quantile(&pooled(beside, &|p| p.processed_ms.clone()), 0.99);
    let rate =
        |beside| pooled(beside, &|p| vec![p.processed_per_s]).iter().sum::<f64>() / f64::from(plan.rounds.max(1));
    writeln!(
        out,
        "beside / alone: ack p99 {:.2}x, processing p99 {:.2}x, processed/s {:.2}x",
        ack_p99(true) / ack_p99(false).max(1e-9),
        processing_p99(true) / processing_p99(false).max(1e-9),
        rate(true) / rate(false).max(1e-9)
    )?;
    let mut statuses = BTreeMap::new();
    let mut hostile: BTreeMap<&str, Ended> = BTreeMap::new();
    for p in phases {
        for (k, v) in &p.healthy_statuses {
            *statuses.entry(k.clone()).or_insert(0) += v;
        }
        for (webhook, ended) in &p.hostile {
            let total = hostile.entry(webhook).or_default();
            for (k, v) in &ended.statuses {
                *total.statuses.entry(k.clone()).or_insert(0) += v;
            }
            total.call_us.extend(&ended.call_us);
        }
    }
    let list = |m: &BTreeMap<String, usize>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    writeln!(out, "healthy events: {}; lost: 0", list(&statuses))?;
    writeln!(out, "hostile events when the healthy webhook had drained (`accepted` = still waiting):")?;
    for (webhook, ended) in &hostile {
        let median = quantile(&ended.call_us, 0.5) / 1e3;
        writeln!(out, "- {webhook}: {} (median plugin call {median:.1} ms)", list(&ended.statuses))?;
    }
    Ok(out)
}

/// A `wasmhook serve` child on a data dir, stopped on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("WASMHOOK_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting wasmhook serve")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().ok_or_else(|| anyhow!("serve exited before listening"))??;
            if let Some(url) = line.strip_prefix("listening on http://") {
                break url.trim().to_string();
            }
        };
        Ok(Server { child, addr })
    }

    /// One admin (or upload) call with `content_type`.
    fn call(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
        let auth = format!("Bearer {TOKEN}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", content_type)];
        let (status, body) = Client::connect(&self.addr)?.send(method, path, &headers, body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    fn admin(&self, method: &str, path: &str, body: &Json) -> anyhow::Result<Json> {
        let (status, text) =
            self.call(method, &format!("/api/v1{path}"), "application/json", body.to_string().as_bytes())?;
        ensure!(status < 300, "{method} {path}: {status} {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Json::Null))
    }

    /// The contacts, and a healthy webhook (normalize, match, one workflow): its id and path.
    fn set_up_healthy(&self) -> anyhow::Result<(String, String)> {
        self.admin(
            "POST",
            "/objects/contacts/properties",
            &json!({"name": "external_id", "type": "string", "unique": true}),
        )?;
        let rows: String = (0..CONTACTS).map(|i| format!("{{\"external_id\":\"cus_{i}\"}}\n")).collect();
        let (status, text) = self.call(
            "POST",
            "/api/v1/objects/contacts/records/import?wait=true",
            "application/x-ndjson",
            rows.as_bytes(),
        )?;
        ensure!(status < 300, "importing contacts: {status} {text}");
        let chain = json!([{"plugin": "normalize", "config": {"customer": "trim,lowercase"}}]);
        let (id, hook) = self.ready_webhook("healthy", &chain)?;
        self.admin(
            "POST",
            "/workflows",
            &json!({"name": "healthy", "object": "contacts", "triggers": [id], "actions": []}),
        )?;
        Ok((id, hook))
    }

    /// A webhook with a test event, `customer` mapped and matched, and `chain` as its
    /// transforms: its id and URL path.
    fn ready_webhook(&self, name: &str, chain: &Json) -> anyhow::Result<(String, String)> {
        let webhook = self.admin("POST", "/webhooks", &json!({ "name": name }))?;
        let id = webhook["id"].as_str().ok_or_else(|| anyhow!("no webhook id"))?.to_string();
        let url = webhook["url"].as_str().ok_or_else(|| anyhow!("no webhook url"))?;
        let hook = url.find("/hooks/").map(|at| url[at..].to_string()).ok_or_else(|| anyhow!("odd url {url}"))?;
        let (status, text) = self.call("POST", &hook, "application/json", br#"{"customer": "cus_1"}"#)?;
        ensure!(status == 202, "test event: {status} {text}");
        self.admin(
            "PUT",
            &format!("/webhooks/{id}/mapping"),
            &json!({"properties": [{"path": "customer", "type": "string"}]}),
        )?;
        self.admin("PUT", &format!("/webhooks/{id}/transforms"), chain)?;
        let rule = json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"});
        self.admin("PUT", &format!("/webhooks/{id}/match"), &rule)?;
        Ok((id, hook))
    }

    /// Wait until `webhook` has no event waiting.
    fn drained(&self, webhook: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let path = format!("/events?webhook={webhook}&status=accepted&limit=1");
        while self.admin("GET", &path, &Json::Null)?["events"].as_array().is_some_and(|e| !e.is_empty()) {
            ensure!(Instant::now() < deadline, "the healthy webhook's events were not processed within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keep-alive HTTP/1.1 client, enough for the bench's requests.
struct Client {
    addr: String,
    stream: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: &str) -> anyhow::Result<Client> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client { addr: addr.to_string(), stream: BufReader::new(stream) })
    }

    /// Send one request; reconnects once if the server had closed the connection.
    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        match self.try_send(method, path, headers, body) {
            Ok(answer) => Ok(answer),
            Err(_) => {
                *self = Client::connect(&self.addr)?;
                self.try_send(method, path, headers, body)
            }
        }
    }

    fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.addr, body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut line = String::new();
        ensure!(self.stream.read_line(&mut line)? > 0, "connection closed");
        let status: u16 =
            line.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            ensure!(self.stream.read_line(&mut line)? > 0, "connection closed in the headers");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok((status, body))
    }
}
