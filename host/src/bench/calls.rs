//! `wasmhook-bench`: what one strtotime call costs as a fresh pooled instance, a fresh
//! on-demand instance, and as native Rust, measured in one run on this machine.

use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::plugins::{Allocation, CallContext, Limits, PluginEngine, World, builtin};
use crate::value::{Property, Value};

/// Inputs cycled through, one per call: a mix of the format families.
const INPUTS: &[&str] = &[
    "next monday 9am",
    "2024-01-15T10:30:00Z",
    "Mon, 15 Jan 2024 10:30:00 +0000",
    "3 days ago",
    "12/25/2023 3:45pm",
    "last day of next month",
];

/// Received-at used for every call (2023-11-14 22:13:20 UTC).
const NOW_MS: i64 = 1_700_000_000_000;

/// One variant's samples.
pub(super) struct Row {
    /// The variant's name.
    pub(super) name: &'static str,
    /// One duration per call.
    pub(super) samples: Vec<Duration>,
}

impl Row {
    /// Median, p90, p99 (µs) and calls/s on one thread, as table cells.
    pub(super) fn cells(&self) -> String {
        let median = self.quantile(0.5);
        let rate = if median > 0.0 { 1e6 / median } else { 0.0 };
        format!("{median:.2} | {:.2} | {:.2} | {rate:.0}", self.quantile(0.9), self.quantile(0.99))
    }

    /// The `q` quantile of the samples, µs.
    pub(super) fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    }
}

/// One measured variant: a closure making call number `i`.
pub(super) type Variant<'a> = (&'static str, Box<dyn FnMut(usize) -> bool + 'a>);

/// A loaded transform and the engine it runs on, with the step config for the bench.
struct WasmCase {
    engine: PluginEngine,
    plugin: std::sync::Arc<crate::plugins::LoadedPlugin>,
    config: Vec<(String, String)>,
}

impl WasmCase {
    fn new(plugin: &str, allocation: Allocation) -> anyhow::Result<WasmCase> {
        let engine = PluginEngine::with_allocation(allocation)?;
        let builtin = builtin::find(plugin).ok_or_else(|| anyhow::anyhow!("{plugin} is not built in"))?;
        let plugin = engine.load(builtin.bytes, World::Transform, &Limits::default())?;
        // For normalize, a rule on an absent property: the call does no work, leaving the
        // cost of the instance itself.
        let config = match builtin.name {
            "strtotime" => vec![("from".to_string(), "d".to_string())],
            _ => vec![("absent".to_string(), "trim".to_string())],
        };
        Ok(WasmCase { engine, plugin, config })
    }

    fn call(&self, i: usize) -> bool {
        let call = CallContext { event_id: "bench".into(), webhook_id: "bench".into(), received_at_ms: NOW_MS };
        let properties = [Property::new("d", Value::String(INPUTS[i % INPUTS.len()].to_string()))];
        let limits = Limits::default();
        self.engine.transform(&self.plugin, &call, &self.config, &properties, &limits).result.is_ok()
    }
}

/// Rounds the variants are interleaved in, so machine noise hits all of them alike.
const ROUNDS: u32 = 20;

/// Call every variant `iterations` times in interleaved rounds (after a warm-up), so
/// machine noise hits all of them alike.
pub(super) fn measure_interleaved(iterations: u32, variants: &mut [Variant<'_>]) -> anyhow::Result<Vec<Row>> {
    let mut rows: Vec<Row> = variants.iter().map(|(name, _)| Row { name, samples: Vec::new() }).collect();
    // Warm-up: page in code and pool slots so the table shows the steady state.
    for (_, call) in variants.iter_mut() {
        for i in 0..200 {
            call(i);
        }
    }
    let per_round = (iterations / ROUNDS).max(1) as usize;
    for round in 0..ROUNDS as usize {
        for ((name, call), row) in variants.iter_mut().zip(rows.iter_mut()) {
            for k in 0..per_round {
                let i = round * per_round + k;
                let start = Instant::now();
                let ok = call(i);
                row.samples.push(start.elapsed());
                anyhow::ensure!(ok, "{name}: call {i} failed during the benchmark");
            }
        }
    }
    Ok(rows)
}

/// Run every variant `iterations` times, interleaved, and render the table.
pub fn run(iterations: u32) -> anyhow::Result<String> {
    let iterations = iterations.max(ROUNDS);
    let pooled = WasmCase::new("strtotime", Allocation::Pooling)?;
    let on_demand = WasmCase::new("strtotime", Allocation::OnDemand)?;
    let empty = WasmCase::new("normalize", Allocation::Pooling)?;
    let mut variants: Vec<Variant<'_>> = vec![
        ("wasm, fresh instance, pooling allocator", Box::new(|i| pooled.call(i))),
        ("wasm, fresh instance, on-demand allocator", Box::new(|i| on_demand.call(i))),
        (
            "native Rust (same parser, no wasm)",
            Box::new(|i| {
                let input = INPUTS[i % INPUTS.len()];
                std::hint::black_box(strtotime::strtotime(input, NOW_MS / 1000, strtotime::ParsedZone::Offset(0)))
                    .is_ok()
            }),
        ),
        ("(reference) empty transform, fresh pooled instance", Box::new(|i| empty.call(i))),
    ];
    let rows = measure_interleaved(iterations, &mut variants)?;
    let mut out = String::new();
    writeln!(
        out,
        "strtotime, {} calls per row in {ROUNDS} interleaved rounds, inputs cycled from {} formats",
        rows[0].samples.len(),
        INPUTS.len()
    )?;
    writeln!(out, "| variant | median µs | p90 µs | p99 µs | calls/s (1 thread) |")?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for row in &rows {
        writeln!(out, "| {} | {} |", row.name, row.cells())?;
    }
    let median = |i: usize| rows[i].quantile(0.5).max(1e-9);
    writeln!(
        out,
        "pooled / on-demand = {:.2}; pooled / native = {:.1}; pooled - empty = {:.2} µs (the parse inside wasm)",
        median(0) / median(1),
        median(0) / median(2),
        median(0) - median(3)
    )?;
    Ok(out)
}
