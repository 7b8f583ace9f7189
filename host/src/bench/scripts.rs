//! `wasmhook-bench scripts`: what one call of custom code costs, each in a fresh pooled
//! instance, interleaved in one run: JavaScript written in a step on the built-in runtime
//! (as built: the engine starts every call; the shared snapshot with the engine started;
//! the source's own snapshot, its code compiled too), the same snippet in Python on its
//! runtime (as built, shared snapshot, own snapshot), the componentize-js action
//! (`plugins/lead-score-js`, when it is built), and the Rust `date-diff` action; with each
//! call's linear memory and what preparing cost.

use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::calls::{Row, Variant, measure_interleaved};
use crate::model::workflow::Language;
use crate::plugins::{CallContext, CallReport, Limits, LoadedPlugin, PluginEngine, World, builtin};
use crate::value::{Property, Value};

/// The issue's snippet without the network: inputs destructured, a secret read, a score
/// computed, outputs called back.
const SNIPPET: &str = r#"exports.main = async (event, callback) => {
  const { email, plan } = event.inputFields;
  const url = `https://api.example.com/score?email=${encodeURIComponent(email)}`;
  const auth = { headers: { Authorization: `Bearer ${process.env.SCORING_KEY}` } };
  const data = { score: (email.length * 7 + (plan === 'pro' ? 30 : 0)) % 100, url, auth };
  callback({ outputFields: { score: data.score, tier: data.score > 50 ? 'hot' : 'cold' } });
};
"#;

/// The same snippet in the product's Python shape.
const PYTHON_SNIPPET: &str = r#"import os

def main(event):
    fields = event["inputFields"]
    email, plan = fields["email"], fields["plan"]
    url = "https://api.example.com/score?email=" + email
    auth = {"headers": {"Authorization": "Bearer " + os.getenv("SCORING_KEY")}}
    score = (len(email) * 7 + (30 if plan == "pro" else 0)) % 100
    return {"outputFields": {"score": score, "tier": "hot" if score > 50 else "cold"}}
"#;

/// The componentize-js action, where `npm run build` puts it (tests/js_plugin.rs builds it).
const LEAD_SCORE_JS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/lead-score-js/dist/lead-score.wasm");

/// Received-at of every call (2024-03-01 12:00 UTC).
const NOW_MS: i64 = 1_709_294_400_000;

/// Measure every variant `iterations` times, interleaved, and render the table.
pub fn run(iterations: u32) -> anyhow::Result<String> {
    let engine = Arc::new(PluginEngine::new()?);
    let started = Instant::now();
    let plain = engine.load(
        builtin::JAVASCRIPT,
        World::Script,
        &Limits { component_bytes: usize::MAX, ..Limits::default() },
    )?;
    let compiled = started.elapsed();
    let started = Instant::now();
    engine.prepare_runtime(Language::Javascript).map_err(anyhow::Error::msg)?;
    let preinitialized = started.elapsed();
    let snapshot = engine.runtime(Language::Javascript)?;
    anyhow::ensure!(!Arc::ptr_eq(&plain, &snapshot), "the runtime was not pre-initialized");
    let started = Instant::now();
    let sha256 = crate::plugins::source_sha256(SNIPPET);
    engine.prepare_source(Language::Javascript, SNIPPET, &sha256).map_err(anyhow::Error::msg)?;
    let own_made = started.elapsed();
    let own = engine.script_runtime(Language::Javascript, SNIPPET, &sha256)?;
    anyhow::ensure!(!Arc::ptr_eq(&own, &snapshot), "the snippet has no snapshot of its own");
    let started = Instant::now();
    let (py_plain, py_shared, py_own) = python(&engine)?;
    let python_made = started.elapsed();
    let date_diff = engine.load(
        builtin::find("date-diff").ok_or_else(|| anyhow::anyhow!("date-diff is built in"))?.bytes,
        World::Action,
        &Limits::default(),
    )?;
    let lead_score = match std::fs::read(LEAD_SCORE_JS) {
        Ok(bytes) => {
            Some(engine.load(&bytes, World::Action, &Limits { component_bytes: usize::MAX, ..Limits::default() })?)
        }
        Err(_) => None,
    };

    let memory = std::cell::RefCell::new(vec![0usize; 10]);
    let keep = |row: usize, report: CallReport| {
        memory.borrow_mut()[row] = report.memory_bytes;
        report.result.is_ok()
    };
    let mut variants: Vec<Variant<'_>> = vec![
        ("JavaScript source step, runtime as built", Box::new(|i| keep(0, script(&engine, &plain, i)))),
        (
            "JavaScript source step, shared pre-initialized runtime",
            Box::new(|i| keep(1, script(&engine, &snapshot, i))),
        ),
        ("JavaScript source step, its own snapshot (source compiled)", Box::new(|i| keep(2, script(&engine, &own, i)))),
        ("Rust action (date-diff)", Box::new(|i| keep(3, date_diff_call(&engine, &date_diff, i)))),
        ("(reference) empty JavaScript main, shared runtime", Box::new(|i| keep(4, empty(&engine, &snapshot, i)))),
        (
            "(reference) compile the snippet only, shared runtime",
            Box::new(|i| keep(5, compile_only(&engine, &snapshot, i))),
        ),
    ];
    let python_rows: [Variant<'_>; 3] = [
        ("Python source step, runtime as built", Box::new(|i| keep(6, python_call(&engine, &py_plain, i)))),
        (
            "Python source step, shared pre-initialized runtime",
            Box::new(|i| keep(7, python_call(&engine, &py_shared, i))),
        ),
        (
            "Python source step, its own snapshot (source compiled)",
            Box::new(|i| keep(8, python_call(&engine, &py_own, i))),
        ),
    ];
    variants.extend(python_rows);
    if let Some(lead_score) = &lead_score {
        variants.push((
            "componentize-js action (lead-score-js)",
            Box::new(|i| keep(9, lead_score_call(&engine, lead_score, i))),
        ));
    }
    let rows = measure_interleaved(iterations, &mut variants)?;
    drop(variants);
    let memory = memory.into_inner();

    let mut out = String::new();
    writeln!(
        out,
        "custom code, one call each in a fresh pooled instance, {} calls per row in interleaved rounds",
        rows[0].samples.len()
    )?;
    writeln!(out, "| variant | median µs | p90 µs | p99 µs | calls/s (1 thread) | linear memory per instance |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    for (row, bytes) in rows.iter().zip(&memory) {
        line(&mut out, row, *bytes)?;
    }
    if lead_score.is_none() {
        writeln!(
            out,
            "| componentize-js action (lead-score-js) | not built: `npm ci && npm run build` in plugins/lead-score-js | | | | |"
        )?;
    }
    let median = |i: usize| rows[i].quantile(0.5).max(1e-9);
    writeln!(
        out,
        "as built / shared = {:.1}; shared / own = {:.2}; own / Rust action = {:.1}",
        median(0) / median(1),
        median(1) / median(2),
        median(2) / median(3)
    )?;
    writeln!(
        out,
        "Python: as built / shared = {:.1}; shared / own = {:.2}; own / Rust action = {:.1}; Python own / JavaScript own = {:.2}",
        median(6) / median(7),
        median(7) / median(8),
        median(8) / median(3),
        median(8) / median(2)
    )?;
    if lead_score.is_some() {
        writeln!(out, "componentize-js / own snapshot = {:.1}", median(9) / median(2))?;
    }
    writeln!(
        out,
        "runtime as built: {:.1} MB, compiled in {:.1} s; shared snapshot: {:.1} MB, made and compiled in {:.1} s; \
         the snippet's own: {:.1} MB in {:.1} s",
        builtin::JAVASCRIPT.len() as f64 / 1e6,
        compiled.as_secs_f64(),
        snapshot.size as f64 / 1e6,
        preinitialized.as_secs_f64(),
        own.size as f64 / 1e6,
        own_made.as_secs_f64()
    )?;
    writeln!(
        out,
        "Python runtime as built: {:.1} MB; its shared snapshot: {:.1} MB, the snippet's own: {:.1} MB; \
         all three compiled and made in {:.1} s",
        builtin::PYTHON.len() as f64 / 1e6,
        py_shared.size as f64 / 1e6,
        py_own.size as f64 / 1e6,
        python_made.as_secs_f64()
    )?;
    Ok(out)
}

/// The Python runtime as built, its shared snapshot and the snippet's own.
#[allow(clippy::type_complexity)]
fn python(engine: &Arc<PluginEngine>) -> anyhow::Result<(Arc<LoadedPlugin>, Arc<LoadedPlugin>, Arc<LoadedPlugin>)> {
    let plain =
        engine.load(builtin::PYTHON, World::Script, &Limits { component_bytes: usize::MAX, ..Limits::default() })?;
    engine.prepare_runtime(Language::Python).map_err(anyhow::Error::msg)?;
    let shared = engine.runtime(Language::Python)?;
    anyhow::ensure!(!Arc::ptr_eq(&plain, &shared), "the Python runtime was not pre-initialized");
    let sha256 = crate::plugins::source_sha256(PYTHON_SNIPPET);
    engine.prepare_source(Language::Python, PYTHON_SNIPPET, &sha256).map_err(anyhow::Error::msg)?;
    let own = engine.script_runtime(Language::Python, PYTHON_SNIPPET, &sha256)?;
    anyhow::ensure!(!Arc::ptr_eq(&own, &shared), "the Python snippet has no snapshot of its own");
    Ok((plain, shared, own))
}

fn python_call(engine: &PluginEngine, runtime: &LoadedPlugin, i: usize) -> CallReport {
    let emails = ["ada@example.com", "grace@hopper.org", "linus@kernel.org"];
    let event = serde_json::json!({
        "inputFields": {"email": emails[i % emails.len()], "plan": if i.is_multiple_of(2) { "pro" } else { "free" }},
        "object": {"objectType": "contacts", "objectId": "rec_bench"},
        "callbackId": format!("enr_bench/{i}"),
    })
    .to_string();
    let secrets = [("SCORING_KEY".to_string(), "sk_bench".to_string())];
    wasmtime_wasi::runtime::in_tokio(engine.script(runtime, &call(i), PYTHON_SNIPPET, &event, &secrets, &limits(), &[]))
}

fn line(out: &mut String, row: &Row, memory: usize) -> anyhow::Result<()> {
    let memory = if memory == 0 { "—".to_string() } else { format!("{:.1} MiB", memory as f64 / (1024.0 * 1024.0)) };
    writeln!(out, "| {} | {} | {memory} |", row.name, row.cells())?;
    Ok(())
}

fn call(i: usize) -> CallContext {
    CallContext { event_id: format!("evt_bench_{i}"), webhook_id: "wh_bench".into(), received_at_ms: NOW_MS }
}

fn limits() -> Limits {
    // The default 100 ms would do; a loaded machine should not fail a bench call.
    Limits { timeout: Duration::from_secs(1), ..Limits::default() }
}

fn script(engine: &PluginEngine, runtime: &LoadedPlugin, i: usize) -> CallReport {
    let emails = ["ada@example.com", "grace@hopper.org", "linus@kernel.org"];
    let event = serde_json::json!({
        "inputFields": {"email": emails[i % emails.len()], "plan": if i.is_multiple_of(2) { "pro" } else { "free" }},
        "object": {"objectType": "contacts", "objectId": "rec_bench"},
        "callbackId": format!("enr_bench/{i}"),
    })
    .to_string();
    let secrets = [("SCORING_KEY".to_string(), "sk_bench".to_string())];
    wasmtime_wasi::runtime::in_tokio(engine.script(runtime, &call(i), SNIPPET, &event, &secrets, &limits(), &[]))
}

fn empty(engine: &PluginEngine, runtime: &LoadedPlugin, i: usize) -> CallReport {
    let source = "exports.main = async () => ({});";
    wasmtime_wasi::runtime::in_tokio(engine.script(runtime, &call(i), source, "{}", &[], &limits(), &[]))
}

/// A syntax check of the snippet: an instance, the engine taken started, the source parsed
/// and compiled, nothing run.
fn compile_only(engine: &PluginEngine, runtime: &LoadedPlugin, _: usize) -> CallReport {
    let checked = wasmtime_wasi::runtime::in_tokio(engine.check_script(runtime, SNIPPET, &limits()));
    CallReport {
        result: checked.map(|()| Vec::new()),
        log: String::new(),
        log_dropped_bytes: 0,
        duration: Duration::ZERO,
        requests: Vec::new(),
        memory_bytes: 0,
    }
}

fn date_diff_call(engine: &PluginEngine, plugin: &LoadedPlugin, i: usize) -> CallReport {
    let from = Property::new("from", Value::Number((NOW_MS / 1000 - 86_400 * (i as i64 % 30)) as f64));
    engine.action_blocking(plugin, &call(i), &[from], &[], &limits(), &[])
}

fn lead_score_call(engine: &PluginEngine, plugin: &LoadedPlugin, i: usize) -> CallReport {
    let inputs = [
        Property::new("email", Value::String("ada@example.com".into())),
        Property::new("plan", Value::String(if i.is_multiple_of(2) { "pro" } else { "free" }.into())),
        Property::new("seats", Value::Number(12.0)),
    ];
    engine.action_blocking(plugin, &call(i), &inputs, &[], &limits(), &[])
}
