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
    let js = Forms::prepare(&engine, Language::Javascript, SNIPPET)?;
    let py = Forms::prepare(&engine, Language::Python, PYTHON_SNIPPET)?;
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
        ("JavaScript source step, runtime as built", Box::new(|i| keep(0, script(&engine, &js.plain, SNIPPET, i)))),
        (
            "JavaScript source step, shared pre-initialized runtime",
            Box::new(|i| keep(1, script(&engine, &js.shared, SNIPPET, i))),
        ),
        (
            "JavaScript source step, its own snapshot (source compiled)",
            Box::new(|i| keep(2, script(&engine, &js.own, SNIPPET, i))),
        ),
        ("Rust action (date-diff)", Box::new(|i| keep(3, date_diff_call(&engine, &date_diff, i)))),
        ("(reference) empty JavaScript main, shared runtime", Box::new(|i| keep(4, empty(&engine, &js.shared, i)))),
        (
            "(reference) compile the snippet only, shared runtime",
            Box::new(|i| keep(5, compile_only(&engine, &js.shared, i))),
        ),
        ("Python source step, runtime as built", Box::new(|i| keep(6, script(&engine, &py.plain, PYTHON_SNIPPET, i)))),
        (
            "Python source step, shared pre-initialized runtime",
            Box::new(|i| keep(7, script(&engine, &py.shared, PYTHON_SNIPPET, i))),
        ),
        (
            "Python source step, its own snapshot (source compiled)",
            Box::new(|i| keep(8, script(&engine, &py.own, PYTHON_SNIPPET, i))),
        ),
    ];
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
    js.describe(&mut out, "JavaScript")?;
    py.describe(&mut out, "Python")?;
    Ok(out)
}

/// A language's runtime in its three forms, and what making each cost.
struct Forms {
    plain: Arc<LoadedPlugin>,
    shared: Arc<LoadedPlugin>,
    own: Arc<LoadedPlugin>,
    language: Language,
    compiled: Duration,
    shared_made: Duration,
    own_made: Duration,
}

impl Forms {
    /// Compile `language`'s runtime as built, make its shared snapshot and `source`'s own.
    fn prepare(engine: &Arc<PluginEngine>, language: Language, source: &str) -> anyhow::Result<Forms> {
        let started = Instant::now();
        let unbounded = Limits { component_bytes: usize::MAX, ..Limits::default() };
        let plain = engine.load(builtin::runtime(language), World::Script, &unbounded)?;
        let compiled = started.elapsed();
        let started = Instant::now();
        engine.prepare_runtime(language).map_err(anyhow::Error::msg)?;
        let shared_made = started.elapsed();
        let shared = engine.runtime(language)?;
        anyhow::ensure!(!Arc::ptr_eq(&plain, &shared), "the {} runtime was not pre-initialized", language.as_str());
        let started = Instant::now();
        let sha256 = crate::plugins::source_sha256(source);
        engine.prepare_source(language, source, &sha256).map_err(anyhow::Error::msg)?;
        let own_made = started.elapsed();
        let own = engine.script_runtime(language, source, &sha256)?;
        anyhow::ensure!(!Arc::ptr_eq(&own, &shared), "the {} snippet has no snapshot of its own", language.as_str());
        Ok(Forms { plain, shared, own, language, compiled, shared_made, own_made })
    }

    /// One line: sizes and how long each form took to make.
    fn describe(&self, out: &mut String, name: &str) -> anyhow::Result<()> {
        writeln!(
            out,
            "{name} runtime as built: {:.1} MB, compiled in {:.1} s; shared snapshot: {:.1} MB, made and compiled in \
             {:.1} s; the snippet's own: {:.1} MB in {:.1} s",
            builtin::runtime(self.language).len() as f64 / 1e6,
            self.compiled.as_secs_f64(),
            self.shared.size as f64 / 1e6,
            self.shared_made.as_secs_f64(),
            self.own.size as f64 / 1e6,
            self.own_made.as_secs_f64()
        )?;
        Ok(())
    }
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

/// One call of the scoring snippet in `source`'s language.
fn script(engine: &PluginEngine, runtime: &LoadedPlugin, source: &str, i: usize) -> CallReport {
    let emails = ["ada@example.com", "grace@hopper.org", "linus@kernel.org"];
    let event = serde_json::json!({
        "inputFields": {"email": emails[i % emails.len()], "plan": if i.is_multiple_of(2) { "pro" } else { "free" }},
        "object": {"objectType": "contacts", "objectId": "rec_bench"},
        "callbackId": format!("enr_bench/{i}"),
    })
    .to_string();
    let secrets = [("SCORING_KEY".to_string(), "sk_bench".to_string())];
    wasmtime_wasi::runtime::in_tokio(engine.script(runtime, &call(i), source, &event, &secrets, &limits(), &[]))
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
