//! `wasmhook-bench match`: against objects of different sizes (10,000 and 1,000,000
//! records by default), in one run on this machine through the code the server runs:
//! the import rate that fills them, the raw unique-index lookup rate, and the pipeline's
//! drain rate for events that match (coerce + strtotime + match + enroll).

use std::fmt::Write;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde_json::{Map, Value as Json, json};

use crate::model::ids::{EventId, ImportId, RecordId, WebhookId, WorkflowId, new_token, now_ms};
use crate::model::import_columns::ImportFormat;
use crate::model::property::{PropertyDef, PropertyType};
use crate::model::webhook::{MappedProperty, MatchRule, TransformStep};
use crate::model::workflow::Action;
use crate::model::workflow::Workflow;
use crate::pipeline::config::TransformPlugins;
use crate::pipeline::worker::{default_threads, process_batch};
use crate::plugins::PluginEngine;
use crate::store::Store;
use crate::store::events::IngestJob;
use crate::store::imports::{Chunk, NewImport};

/// Rows per import transaction, as the importer does.
const CHUNK: usize = crate::import::CHUNK_ROWS;

/// Lookups per transaction, as the worker's batches do.
const PER_BATCH: usize = 256;

/// Events pushed through the pipeline per size.
const EVENTS: usize = 20_000;

struct Measured {
    records: u64,
    import_rows_per_s: f64,
    lookups_per_s: f64,
    events_per_s: f64,
    db_bytes: u64,
}

/// Measure each size and print a table with the ratio of each to the first.
pub fn run(sizes: &[u64], lookups: u32) -> anyhow::Result<String> {
    let mut rows = Vec::new();
    for &records in sizes {
        rows.push(measure(records, lookups)?);
    }
    let mut out = String::new();
    let first = rows.first().map_or((1.0, 1.0), |r| (r.lookups_per_s, r.events_per_s));
    writeln!(
        out,
        "| records | import, rows/s | unique-index lookups/s | vs first | pipeline drain, matching events/s | vs first | database |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|")?;
    for r in &rows {
        writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} | {} MiB |",
            r.records,
            r.import_rows_per_s,
            r.lookups_per_s,
            r.lookups_per_s / first.0,
            r.events_per_s,
            r.events_per_s / first.1,
            r.db_bytes / (1024 * 1024)
        )?;
    }
    Ok(out)
}

fn measure(records: u64, lookups: u32) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let started = Instant::now();
    fill(&store, records)?;
    let import_rows_per_s = records as f64 / started.elapsed().as_secs_f64();
    // Steady state: the import's pages moved from the WAL into the database file, as the
    // server's checkpoints do shortly after an import.
    store.checkpoint()?;

    // The worker's own kind of connection, as the match stage uses it.
    let worker = store.worker_connection()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut lookup_round = |count: u32| -> anyhow::Result<u32> {
        let mut found = 0u32;
        let mut left = count as usize;
        while left > 0 {
            let n = left.min(PER_BATCH);
            left -= n;
            let keys: Vec<Json> = (0..n).map(|_| Json::String(key(rng.random_range(1..=records as i64)))).collect();
            found += worker.batch(|b| {
                let mut hits = 0u32;
                for k in &keys {
                    hits += u32::from(b.record_id_by_unique("contacts", "external_id", k)?.is_some());
                }
                Ok(hits)
            })?;
        }
        Ok(found)
    };
    lookup_round(lookups)?; // warm-up: the steady state of a running server
    let started = Instant::now();
    let found = lookup_round(lookups)?;
    let lookups_per_s = f64::from(lookups) / started.elapsed().as_secs_f64();
    anyhow::ensure!(found == lookups, "only {found} of {lookups} keys were found");
    let events_per_s = drain_rate(&store, records)?;
    let db_bytes = std::fs::metadata(dir.path().join(crate::store::DB_FILE))?.len()
        + std::fs::metadata(dir.path().join(format!("{}-wal", crate::store::DB_FILE))).map_or(0, |m| m.len());
    Ok(Measured { records, import_rows_per_s, lookups_per_s, events_per_s, db_bytes })
}

/// Contacts with `external_id` and `email` (unique) and `score`, and `records` of them
/// (`external_id` = [`key`]`(1..=records)`), imported as the importer does.
pub(super) fn fill(store: &Store, records: u64) -> anyhow::Result<()> {
    let def = |name: &str, kind: PropertyType, unique: bool| PropertyDef {
        name: name.into(),
        label: name.into(),
        kind,
        options: Vec::new(),
        unique,
    };
    store
        .create_property("contacts", &def("external_id", PropertyType::String, true))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store.create_property("contacts", &def("email", PropertyType::String, true)).map_err(|e| anyhow::anyhow!("{e}"))?;
    store
        .create_property("contacts", &def("score", PropertyType::Number, false))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let unique = vec!["external_id".to_string(), "email".to_string()];
    let import = NewImport {
        id: &ImportId::from_text("imp_bench"),
        object: "contacts",
        spool_path: "-",
        bytes_total: 0,
        format: ImportFormat::Ndjson,
        columns: &[],
        start: (0, 0),
    };
    store.create_import(&import, now_ms())?;

    let mut line = 0i64;
    while (line as u64) < records {
        let take = CHUNK.min((records - line as u64) as usize);
        let rows: Vec<(i64, Map<String, Json>)> = (0..take)
            .map(|_| {
                line += 1;
                let row = json!({"external_id": key(line), "email": format!("person{line}@example.com"), "score": line % 100});
                (line, row.as_object().cloned().unwrap_or_default())
            })
            .collect();
        let chunk = Chunk { rows, refused: Vec::new(), bytes_done: 0, lines_done: line };
        let now = now_ms();
        store.apply_import_chunk(
            &ImportId::from_text("imp_bench"),
            "contacts",
            &unique,
            chunk,
            || RecordId::new(now),
            now,
        )?;
    }
    Ok(())
}

/// A ready webhook (strtotime on `created_at`, match `customer` on `external_id`) triggering
/// one workflow with `actions`; returns its token.
pub(super) fn ready_webhook(store: &Store, reenroll: bool, actions: Vec<Action>) -> anyhow::Result<String> {
    let now = now_ms();
    let token = new_token();
    let webhook =
        store.create_webhook(&WebhookId::new(now), "bench", &token, now).map_err(|e| anyhow::anyhow!("{e}"))?;
    ingest(store, &token, vec![br#"{"customer":"test"}"#.to_vec()])?;
    let mapped = |path: &str| MappedProperty {
        path: path.into(),
        label: path.into(),
        kind: PropertyType::String,
        options: vec![],
    };
    store.set_mapping(&webhook.id, &[mapped("customer"), mapped("created_at")])?;
    let step = TransformStep { plugin: "strtotime".into(), config: vec![("from".into(), "created_at".into())] };
    store.set_transforms(&webhook.id, &[step])?;
    let rule = MatchRule {
        object: "contacts".into(),
        webhook_property: "customer".into(),
        record_property: "external_id".into(),
    };
    store.set_match(&webhook.id, &rule)?;
    store.put_workflow(&Workflow {
        id: WorkflowId::new(now),
        name: "bench".into(),
        object: "contacts".into(),
        enabled: true,
        reenroll,
        triggers: vec![webhook.id.clone()],
        actions,
        created_at_ms: now,
    })?;
    Ok(token)
}

/// Commit `payloads` as one request to the webhook with `token`, as ingest does.
pub(super) fn ingest(store: &Store, token: &str, payloads: Vec<Vec<u8>>) -> anyhow::Result<()> {
    let now = now_ms();
    store.ingest_many(vec![IngestJob {
        request_id: None,
        token: token.to_string(),
        ids: payloads.iter().map(|_| EventId::new(now)).collect(),
        payloads,
        received_at_ms: now,
        delivery_ids: Box::new(|_, p| vec![None; p.len()]),
    }])?;
    Ok(())
}

/// A payload for `customer`, ~1 KB like the ingest benchmark's.
pub(super) fn payload(customer: &str) -> Vec<u8> {
    format!(r#"{{"customer":"{customer}","created_at":"2024-03-10T09:15:00Z","note":"{}"}}"#, "x".repeat(800))
        .into_bytes()
}

/// Run the pipeline worker's batch loop until no event is `accepted`; returns how many.
pub(super) fn drain(store: &Store, engine: &PluginEngine, plugins: &TransformPlugins) -> anyhow::Result<usize> {
    let threads = default_threads();
    let mut processed = 0usize;
    loop {
        let events = store.next_accepted(256)?;
        if events.is_empty() {
            return Ok(processed);
        }
        processed += events.len();
        process_batch(store, engine, plugins, &crate::tally::Tally::default(), threads, &events, None)?;
    }
}

/// A ready webhook (strtotime transform, match on `external_id`, one workflow), [`EVENTS`]
/// accepted events for random existing records, then the worker's own batch loop timed
/// until none is left.
fn drain_rate(store: &Store, records: u64) -> anyhow::Result<f64> {
    let token = ready_webhook(store, true, Vec::new())?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for _ in 0..EVENTS / 500 {
        let payloads = (0..500).map(|_| payload(&key(rng.random_range(1..=records as i64)))).collect();
        ingest(store, &token, payloads)?;
    }
    store.checkpoint()?;

    let worker = store.worker_connection()?;
    let engine = PluginEngine::new()?;
    let plugins = TransformPlugins::default();
    // Compiled before the clock starts, as `serve` does at start.
    plugins
        .cache
        .get(&worker, &engine, "strtotime", crate::plugins::World::Transform)
        .map_err(|e| anyhow::anyhow!(e))?;
    let started = Instant::now();
    let processed = drain(&worker, &engine, &plugins)?;
    let rate = processed as f64 / started.elapsed().as_secs_f64();
    anyhow::ensure!(processed == EVENTS, "processed {processed} of {EVENTS} events");
    Ok(rate)
}

/// The `external_id` of the `n`th benchmark record.
pub(super) fn key(n: i64) -> String {
    format!("cus_{n:08}")
}
