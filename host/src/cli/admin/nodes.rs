//! `nodes [--all]`: the nodes serving from the server's database, from their heartbeats.

use serde_json::Value;

use super::client::{CallError, Client};
use super::output::{Format, cell, items, print, table};

/// The live nodes (with `all`, those that stopped or went silent in the last day too).
pub fn list(client: &Client, format: Format, all: bool) -> Result<(), CallError> {
    let answer = client.get(if all { "/nodes?all=true" } else { "/nodes" })?;
    print(format, &answer, |a| {
        let rows: Vec<Vec<String>> = items(a, "nodes").iter().map(row).collect();
        table(
            &[
                "ID",
                "STATE",
                "ADDRESS",
                "VERSION",
                "HEARTBEAT",
                "CLAIMS (EVENTS/ENROLLMENTS)",
                "RECEIVED",
                "PROCESSED",
                "STEPS",
                "IMPORTED",
            ],
            &rows,
        )
    });
    Ok(())
}

/// One node's row: `*` marks the node that answered.
fn row(node: &Value) -> Vec<String> {
    let state = match (node["live"].as_bool(), node["stopped_at"].is_null()) {
        (Some(true), _) => "live",
        (_, false) => "stopped",
        _ => "silent",
    };
    let mark = if node["this_node"] == Value::Bool(true) { " *" } else { "" };
    let age = node["heartbeat_age_s"].as_f64().map_or_else(|| "-".into(), |s| format!("{s:.1} s ago"));
    let work = &node["work"];
    vec![
        format!("{}{mark}", cell(node, "id")),
        state.into(),
        cell(node, "address"),
        cell(node, "version"),
        age,
        format!("{}/{}", cell(&node["claims"], "events"), cell(&node["claims"], "enrollments")),
        cell(work, "events_received"),
        cell(work, "events_processed"),
        cell(work, "steps_run"),
        cell(work, "rows_imported"),
    ]
}
