//! `wasmhook bench`: what one strtotime call costs as a fresh pooled instance, a fresh
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

struct Row {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Row {
    fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    }
}

fn measure(name: &'static str, iterations: u32, mut call: impl FnMut(usize)) -> Row {
    // Warm-up: page in code and slots so the table shows the steady state.
    for i in 0..(iterations / 10).max(10) as usize {
        call(i);
    }
    let samples = (0..iterations as usize)
        .map(|i| {
            let start = Instant::now();
            call(i);
            start.elapsed()
        })
        .collect();
    Row { name, samples }
}

fn wasm_row(
    name: &'static str,
    plugin: &str,
    allocation: Allocation,
    iterations: u32,
) -> anyhow::Result<Row> {
    let engine = PluginEngine::with_allocation(allocation)?;
    let builtin =
        builtin::find(plugin).ok_or_else(|| anyhow::anyhow!("{plugin} is not built in"))?;
    let limits = Limits::default();
    let plugin = engine.load(builtin.bytes, World::Transform, &limits)?;
    // For normalize, a rule on an absent property: the call does no work, leaving the
    // cost of the instance itself.
    let config = match builtin.name {
        "strtotime" => vec![("from".to_string(), "d".to_string())],
        _ => vec![("absent".to_string(), "trim".to_string())],
    };
    let call = CallContext {
        event_id: "bench".into(),
        webhook_id: "bench".into(),
        received_at_ms: NOW_MS,
    };
    let mut failures = 0u32;
    let row = measure(name, iterations, |i| {
        let properties = [Property::new(
            "d",
            Value::String(INPUTS[i % INPUTS.len()].to_string()),
        )];
        if engine
            .transform(&plugin, &call, &config, &properties, &limits)
            .result
            .is_err()
        {
            failures += 1;
        }
    });
    anyhow::ensure!(
        failures == 0,
        "{failures} strtotime calls failed during the benchmark"
    );
    Ok(row)
}

/// Run every variant `iterations` times and render the table.
pub fn run(iterations: u32) -> anyhow::Result<String> {
    let iterations = iterations.max(100);
    let native = measure("native Rust (same parser, no wasm)", iterations, |i| {
        let parsed = strtotime::strtotime(
            INPUTS[i % INPUTS.len()],
            NOW_MS / 1000,
            strtotime::ParsedZone::Offset(0),
        );
        std::hint::black_box(parsed).ok();
    });
    let rows = [
        wasm_row(
            "wasm, fresh instance, pooling allocator",
            "strtotime",
            Allocation::Pooling,
            iterations,
        )?,
        wasm_row(
            "wasm, fresh instance, on-demand allocator",
            "strtotime",
            Allocation::OnDemand,
            iterations,
        )?,
        native,
        wasm_row(
            "(reference) empty transform, fresh pooled instance",
            "normalize",
            Allocation::Pooling,
            iterations,
        )?,
    ];
    let mut out = String::new();
    writeln!(
        out,
        "strtotime, {iterations} calls per row, inputs cycled from {} formats",
        INPUTS.len()
    )?;
    writeln!(
        out,
        "| variant | median µs | p90 µs | p99 µs | calls/s (1 thread) |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for row in &rows {
        let median = row.quantile(0.5);
        writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.2} | {:.0} |",
            row.name,
            median,
            row.quantile(0.9),
            row.quantile(0.99),
            if median > 0.0 { 1e6 / median } else { 0.0 }
        )?;
    }
    let pooled = rows[0].quantile(0.5);
    writeln!(
        out,
        "pooled / on-demand = {:.2}; pooled / native = {:.1}",
        pooled / rows[1].quantile(0.5),
        pooled / rows[2].quantile(0.5).max(1e-9)
    )?;
    Ok(out)
}
