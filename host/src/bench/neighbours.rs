//! `wasmhook-bench neighbours`: does a misbehaving plugin on one webhook slow the others?
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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use serde_json::{Value as Json, json};

use super::server::{Sent, Server, Until, paced};

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
    server.contacts(CONTACTS)?;
    let (test_event, mapping) = (json!({"customer": "cus_1"}), json!([{"path": "customer", "type": "string"}]));
    let chain = json!([{"plugin": "normalize", "config": {"customer": "trim,lowercase"}}]);
    let (healthy, healthy_hook) = server.ready_webhook("healthy", &test_event, &mapping, &chain)?;
    let workflow = json!({"name": "healthy", "object": "contacts", "triggers": [healthy], "actions": []});
    server.admin("POST", "/workflows", &workflow)?;
    let (mut hostile_ids, mut hostile_hooks) = (Vec::new(), Vec::new());
    if let Some(bytes) = hostile {
        let (status, body) = server.call("PUT", "/api/v1/plugins/hostile", "application/wasm", bytes)?;
        ensure!(status == 200, "uploading the hostile guest: {status} {body}");
        for (name, config) in HOSTILE {
            let config: serde_json::Map<String, Json> = config.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            let chain = json!([{"plugin": "hostile", "config": config}]);
            let (id, hook) = server.ready_webhook(name, &test_event, &mapping, &chain)?;
            hostile_ids.push(id);
            hostile_hooks.push(hook);
        }
    }
    // Payloads name a random contact, spaced and upper-cased for the healthy webhook's
    // normalize step to undo.
    let payload = |n: u32| json!({"customer": format!(" CUS_{} ", rand::random_range(0..CONTACTS)), "n": n});

    let stop = Arc::new(AtomicBool::new(false));
    let hostile_clients: Vec<_> = hostile_hooks
        .into_iter()
        .map(|hook| {
            let (addr, stop) = (server.addr.clone(), stop.clone());
            std::thread::spawn(move || {
                paced(&addr, &hook, HOSTILE_RATE, Until::Stopped, &stop, &AtomicU64::new(0), payload)
            })
        })
        .collect();
    let started = Instant::now();
    let healthy_clients: Vec<_> = (0..HEALTHY_CLIENTS)
        .map(|_| {
            let (addr, hook) = (server.addr.clone(), healthy_hook.clone());
            let (rate, seconds) = (plan.rate / HEALTHY_CLIENTS as f64, plan.seconds);
            std::thread::spawn(move || {
                paced(&addr, &hook, rate, Until::AllOf(seconds), &AtomicBool::new(false), &AtomicU64::new(0), payload)
            })
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
    // What the hostile webhooks still had waiting when the healthy one was done shows how
    // far behind they fell; how their events end is read once they are done too, so the
    // report does not depend on how fast this machine was at that moment (a plugin that
    // keeps timing out needs five full time limits before its breaker opens).
    let waiting = still_waiting(dir.path(), &healthy)?;
    for id in &hostile_ids {
        server.drained(id, Duration::from_secs(120))?;
    }
    drop(server);

    let mut outcome = read_outcomes(dir.path(), &healthy, &sent.acknowledged)?;
    for (webhook, n) in waiting {
        outcome.hostile.entry(webhook).or_default().waiting = n;
    }
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
    /// Events still waiting when the healthy webhook had drained.
    waiting: usize,
}

/// The data dir's database, opened to read beside a live server (WAL lets a reader in
/// beside the writer) or after it stopped.
fn read_only(dir: &Path) -> rusqlite::Result<rusqlite::Connection> {
    rusqlite::Connection::open_with_flags(dir.join(crate::store::DB_FILE), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
}

/// Events of the hostile webhooks still `accepted`, by webhook name, read from the live
/// server's database.
fn still_waiting(dir: &Path, healthy: &str) -> anyhow::Result<BTreeMap<String, usize>> {
    let db = read_only(dir)?;
    let mut rows = db.prepare(
        "SELECT w.name, count(*) FROM events e JOIN webhooks w ON w.id = e.webhook_id
         WHERE e.webhook_id != ?1 AND e.status = 'accepted' GROUP BY w.name",
    )?;
    let counts = rows.query_map([healthy], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    counts.map(|row| Ok(row.map(|(name, n)| (name, usize::try_from(n).unwrap_or(0)))?)).collect()
}

/// Read the stopped server's database: every acknowledged healthy event must be there and
/// settled.
fn read_outcomes(dir: &Path, healthy: &str, acknowledged: &[String]) -> anyhow::Result<Outcomes> {
    let db = read_only(dir)?;
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

/// The `q` quantile of `samples` (nearest rank), 0 when there are none.
pub(super) fn quantile(samples: &[f64], q: f64) -> f64 {
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
            total.waiting += ended.waiting;
        }
    }
    let list = |m: &BTreeMap<String, usize>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    writeln!(out, "healthy events: {}; lost: 0", list(&statuses))?;
    writeln!(out, "how the hostile events ended (and how many still waited when the healthy webhook had drained):")?;
    for (webhook, ended) in &hostile {
        let median = quantile(&ended.call_us, 0.5) / 1e3;
        writeln!(
            out,
            "- {webhook}: {} (median plugin call {median:.1} ms; {} waiting when the healthy webhook had drained)",
            list(&ended.statuses),
            ended.waiting
        )?;
    }
    Ok(out)
}
