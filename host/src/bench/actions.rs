//! `wasmhook-bench actions`: enrollments/s from accepted events to finished enrollments,
//! through the code the server runs (pipeline batches, then the act stage's steps), for
//! a workflow with one custom code step (the built-in `date-diff`) and one `set_property`,
//! against the same workflow without actions, in one run.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::matching::{drain, fill, ingest, key, payload, ready_webhook};
use crate::act::runner::Act;
use crate::model::workflow::Action;
use crate::pipeline::config::TransformPlugins;
use crate::pipeline::worker::default_threads;
use crate::plugins::{PluginEngine, World};
use crate::secrets::Vault;
use crate::store::Store;

/// Measure both workflows with `enrollments` events (one per record) and print a table.
pub fn run(enrollments: u64) -> anyhow::Result<String> {
    let actions: Vec<Action> = serde_json::from_value(json!([
        {"type": "custom_code", "plugin": "date-diff", "inputs": {"from": "trigger.created_at_unix"},
         "outputs": [{"name": "days", "type": "number"}]},
        {"type": "set_property", "property": "score", "value": "action.0.days"}
    ]))?;
    let engine = Arc::new(PluginEngine::new()?);
    let without = measure(&engine, &[], enrollments, Vec::new())?;
    let with = measure(&engine, &[], enrollments, actions)?;
    let mut out = String::new();
    writeln!(out, "| workflow | enrollments | finished, s | enrollments/s | vs no actions |")?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for (name, run) in [("no actions", &without), ("date-diff custom code + set_property", &with)] {
        let Measured { secs, rate, .. } = run;
        writeln!(out, "| {name} | {enrollments} | {secs:.2} | {rate:.0} | {:.2} |", rate / without.rate)?;
    }
    Ok(out)
}

/// One workflow's run, from accepted events to every enrollment finished.
pub(super) struct Measured {
    /// Seconds it took.
    pub(super) secs: f64,
    /// Enrollments finished per second.
    pub(super) rate: f64,
    /// The most steps the act stage had in flight at once.
    pub(super) most_in_flight: usize,
}

/// [`Measured`] for `enrollments` accepted events (each action run once, and succeeded)
/// on `engine`, with `uploads` (action plugins, by name) stored first.
pub(super) fn measure(
    engine: &Arc<PluginEngine>,
    uploads: &[(&str, &[u8])],
    enrollments: u64,
    actions: Vec<Action>,
) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    fill(&store, enrollments)?;
    for (name, bytes) in uploads {
        use sha2::Digest as _;
        let sha256 = hex::encode(sha2::Sha256::digest(bytes));
        let plugin = crate::store::plugins::UploadedPlugin {
            name: name.to_string(),
            world: "action".into(),
            sha256,
            size: bytes.len() as i64,
            uploaded_at_ms: crate::model::ids::now_ms(),
        };
        store.put_plugin(&plugin, bytes)?;
    }
    let steps_each = actions.len();
    let token = ready_webhook(&store, false, actions)?;
    let keys: Vec<i64> = (1..=enrollments as i64).collect();
    for part in keys.chunks(500) {
        ingest(&store, &token, part.iter().map(|&n| payload(&key(n))).collect())?;
    }
    store.checkpoint()?;
    let worker = store.worker_connection()?;
    let vault = Arc::new(Vault::open(dir.path())?);
    let plugins = TransformPlugins::default();
    let cache = &plugins.cache;
    // Compiled before the clock starts, as `serve` does at start.
    cache.get(&worker, engine, "strtotime", World::Transform).map_err(|e| anyhow::anyhow!(e))?;
    for name in std::iter::once("date-diff").chain(uploads.iter().map(|(name, _)| *name)) {
        cache.get(&worker, engine, name, World::Action).map_err(|e| anyhow::anyhow!(e))?;
    }
    let mut act = Act::new(store.worker_connection()?, engine.clone(), vault, default_threads())?;
    let started = Instant::now();
    let processed = drain(&worker, engine, &plugins)?;
    act.run_until_idle()?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(processed as u64 == enrollments, "processed {processed} of {enrollments} events");
    let workflow = store.list_workflows()?.pop().ok_or_else(|| anyhow::anyhow!("no workflow"))?;
    let finished = store.enrollments(&workflow.id)?;
    let completed =
        finished.iter().filter(|e| e.status == crate::model::workflow::EnrollmentStatus::Completed).count() as u64;
    let failed = finished.iter().flat_map(|e| e.steps.iter()).find(|s| !s.succeeded());
    anyhow::ensure!(failed.is_none(), "a step did not succeed: {failed:?}");
    anyhow::ensure!(completed == enrollments, "{completed} of {enrollments} enrollments completed");
    let steps = finished.iter().map(|e| e.steps.len()).sum::<usize>();
    anyhow::ensure!(steps as u64 == steps_each as u64 * enrollments, "{steps} steps ran for {enrollments} enrollments");
    Ok(Measured { secs, rate: enrollments as f64 / secs, most_in_flight: act.most_in_flight() })
}
