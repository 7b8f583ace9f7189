//! `wasmhook-bench retention`: what pruning costs ingest. Two soaks at one request rate,
//! one after the other: the first with the default retention (30 days: nothing is old
//! enough to prune), the second with a short one, so the pruner deletes about as many
//! events as arrive for most of the load. Prints both soaks' tables (the second shows the
//! database size over time) and the acknowledgement percentiles side by side.

use std::fmt::Write as _;

use super::soak::{Plan, Soaked, run as soak};

/// The backlog bound of both runs: high enough that nothing is refused at the rates used.
const MAX_BACKLOG: u64 = 1_000_000;

/// Run both soaks and render the comparison.
pub fn run(seconds: f64, rate: f64, retention_days: f64, every: f64) -> anyhow::Result<String> {
    let plan = |retention_days| Plan { seconds, rate: Some(rate), every, max_backlog: MAX_BACKLOG, retention_days };
    let without = soak(&plan(None))?;
    let with = soak(&plan(Some(retention_days)))?;
    let mut out = String::new();
    writeln!(out, "## without pruning (retention 30 days)\n\n{}", without.report)?;
    writeln!(out, "## with pruning (retention {retention_days} days)\n\n{}", with.report)?;
    writeln!(
        out,
        "| {seconds:.0} s at {rate:.0} requests/s | ack p50, ms | ack p99, ms | events pruned | database at the end, MiB |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    let row = |out: &mut String, name: &str, s: &Soaked| {
        writeln!(out, "| {name} | {:.2} | {:.2} | {:.0} | {:.1} |", s.ack_ms.0, s.ack_ms.1, s.pruned, s.end_db_mib)
    };
    row(&mut out, "without pruning", &without)?;
    row(&mut out, "with pruning", &with)?;
    writeln!(
        out,
        "p99 with / without pruning: {:.2} (p50: {:.2})",
        with.ack_ms.1 / without.ack_ms.1.max(1e-9),
        with.ack_ms.0 / without.ack_ms.0.max(1e-9)
    )?;
    Ok(out)
}
