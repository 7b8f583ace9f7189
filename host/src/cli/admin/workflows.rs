//! `workflow create|list|show`: workflows and their enrollments.

use std::path::PathBuf;

use serde_json::Value;
use ureq::http::Method;

use super::client::{Body, CallError, Client, encode, read_json};
use super::output::{Format, cell, details, items, print, table};

/// Workflow verbs.
#[derive(Debug, clap::Subcommand)]
pub enum WorkflowCommand {
    /// Create a workflow from a JSON file (`-` for stdin): `{name, object, triggers,
    /// actions, enabled?, reenroll?}`.
    Create {
        /// The workflow's JSON.
        file: PathBuf,
    },
    /// All workflows.
    List,
    /// One workflow with its actions; `--enrollments` lists its enrollments instead.
    Show {
        /// The workflow id (`wf_…`).
        id: String,
        /// List the workflow's enrollments, newest first.
        #[arg(long)]
        enrollments: bool,
    },
}

/// Run one workflow verb.
pub fn run(client: &Client, format: Format, command: WorkflowCommand) -> Result<(), CallError> {
    match command {
        WorkflowCommand::Create { file } => {
            let body = read_json(&file)?;
            print(format, &client.call(Method::POST, "/workflows", Body::Json(&body))?, summary);
        }
        WorkflowCommand::List => {
            let answer = client.get("/workflows")?;
            print(format, &answer, |a| {
                let rows: Vec<Vec<String>> = items(a, "workflows").iter().map(row).collect();
                table(&["ID", "NAME", "OBJECT", "ENABLED", "TRIGGERS", "ACTIONS"], &rows)
            });
        }
        WorkflowCommand::Show { id, enrollments: false } => {
            print(format, &client.get(&format!("/workflows/{}", encode(&id)))?, details);
        }
        WorkflowCommand::Show { id, enrollments: true } => {
            let answer = client.get(&format!("/workflows/{}/enrollments", encode(&id)))?;
            print(format, &answer, |a| {
                let rows: Vec<Vec<String>> = items(a, "enrollments")
                    .iter()
                    .map(|e| {
                        ["id", "record_id", "event_id", "status", "steps_run", "enrolled_at", "reason"]
                            .iter()
                            .map(|k| cell(e, k))
                            .collect()
                    })
                    .collect();
                table(&["ID", "RECORD", "EVENT", "STATUS", "STEPS", "ENROLLED", "REASON"], &rows)
            });
        }
    }
    Ok(())
}

fn row(w: &Value) -> Vec<String> {
    let count = |key: &str| w[key].as_array().map_or(0, Vec::len).to_string();
    vec![cell(w, "id"), cell(w, "name"), cell(w, "object"), cell(w, "enabled"), count("triggers"), count("actions")]
}

fn summary(w: &Value) -> String {
    table(&["ID", "NAME", "OBJECT", "ENABLED", "TRIGGERS", "ACTIONS"], &[row(w)])
}
