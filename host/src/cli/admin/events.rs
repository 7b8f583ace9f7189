//! `events list|show|replay|tail`: the event log, and following it live.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use ureq::http::Method;

use super::client::{Body, CallError, Client, encode, query};
use super::output::{Format, cell, details, items, print, table};
use crate::ids::{id_floor, id_time_ms};

/// Event verbs.
#[derive(Debug, clap::Subcommand)]
pub enum EventCommand {
    /// Events, newest first.
    List {
        /// Only this webhook's events.
        #[arg(long)]
        webhook: Option<String>,
        /// Only events with this status (accepted, enrolled, unmatched, failed, …).
        #[arg(long)]
        status: Option<String>,
        /// How many (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after this id (the `next` a previous page printed).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One event: payload, properties at each stage, trace, matched record, enrollments.
    Show {
        /// The event id (`evt_…`).
        id: String,
    },
    /// Run an event again through the current configuration; or, with `--webhook` and/or
    /// `--status`, every event that matches.
    Replay {
        /// The event id.
        #[arg(required_unless_present_any = ["webhook", "status"], conflicts_with_all = ["webhook", "status"])]
        id: Option<String>,
        /// Replay this webhook's events.
        #[arg(long)]
        webhook: Option<String>,
        /// Replay events with this status.
        #[arg(long)]
        status: Option<String>,
    },
    /// Follow new events as they arrive, and again as each settles (Ctrl-C stops).
    Tail {
        /// Only this webhook's events.
        #[arg(long)]
        webhook: Option<String>,
        /// Only events with this status.
        #[arg(long)]
        status: Option<String>,
        /// Milliseconds between polls.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
        interval_ms: u64,
    },
}

/// Run one event verb.
pub fn run(client: &Client, format: Format, command: EventCommand) -> Result<(), CallError> {
    match command {
        EventCommand::List { webhook, status, limit, cursor } => {
            let q = query(&[
                ("webhook", webhook),
                ("status", status),
                ("limit", Some(limit.to_string())),
                ("cursor", cursor),
            ]);
            let answer = client.get(&format!("/events{q}"))?;
            print(format, &answer, |a| {
                let rows: Vec<Vec<String>> = items(a, "events").iter().map(row).collect();
                let mut out = table(&HEADER, &rows);
                if let Some(next) = a["next_cursor"].as_str() {
                    out.push_str(&format!("more: --cursor {next}\n"));
                }
                out
            });
        }
        EventCommand::Show { id } => print(format, &client.get(&format!("/events/{}", encode(&id)))?, details),
        EventCommand::Replay { id: Some(id), .. } => {
            let answer = client.call(Method::POST, &format!("/events/{}/replay", encode(&id)), Body::Empty)?;
            print(format, &answer, |a| format!("replaying {}\n", cell(a, "event_id")));
        }
        EventCommand::Replay { id: None, webhook, status } => {
            let answer = client.call(
                Method::POST,
                "/events/replay",
                Body::Json(&json!({"webhook": webhook, "status": status})),
            )?;
            print(format, &answer, |a| format!("replaying {} events\n", cell(a, "replayed")));
        }
        EventCommand::Tail { webhook, status, interval_ms } => {
            tail(client, format, webhook, status, Duration::from_millis(interval_ms))?;
        }
    }
    Ok(())
}

const HEADER: [&str; 6] = ["ID", "WEBHOOK", "RECEIVED", "STATUS", "STAGE", "REASON"];

fn row(e: &Value) -> Vec<String> {
    ["id", "webhook_id", "received_at", "status", "stage", "reason"].iter().map(|k| cell(e, k)).collect()
}

/// One event per line in fixed columns, so a followed log stays aligned.
fn line(cells: &[String]) -> String {
    const WIDTHS: [usize; 5] = [30, 29, 24, 10, 9];
    let mut out = String::new();
    for (cell, width) in cells.iter().zip(WIDTHS) {
        out.push_str(&format!("{cell:<width$}  "));
    }
    out.push_str(cells.get(WIDTHS.len()).map_or("", String::as_str));
    out
}

/// How far back each poll re-reads: events commit up to a group commit after their id's
/// time, so a later poll can find one with a smaller id than the newest already seen.
const LATE_COMMIT: i64 = 2_000;

/// How long an `accepted` event is watched for its outcome.
const WATCH_MS: i64 = 60_000;

/// Largest page asked for.
const PAGE: u32 = 500;

/// Poll the log forever, printing each event when first seen and again when its status
/// changes while it is watched.
fn tail(
    client: &Client,
    format: Format,
    webhook: Option<String>,
    status: Option<String>,
    interval: Duration,
) -> Result<(), CallError> {
    let newest =
        client.get(&format!("/events{}", query(&[("webhook", webhook.clone()), ("limit", Some("1".into()))])))?;
    // Start from now: only events after the newest one are shown.
    let start_after = items(&newest, "events").first().map(|e| cell(e, "id"));
    let mut newest_ms = start_after.as_deref().and_then(id_time_ms);
    let mut seen: HashMap<String, String> = HashMap::new();
    if format == Format::Table {
        println!("{}", line(&HEADER.map(String::from)));
    }
    loop {
        // Re-read from the oldest watched event, or a short way before the newest seen.
        let oldest_open = seen.iter().filter(|(_, s)| *s == "accepted").filter_map(|(id, _)| id_time_ms(id)).min();
        let from_ms = match (newest_ms, oldest_open) {
            (Some(newest), open) => open.unwrap_or(newest).min(newest - LATE_COMMIT).max(newest - WATCH_MS),
            (None, _) => 0,
        };
        let mut since = id_floor("evt", from_ms);
        loop {
            let q = query(&[
                ("webhook", webhook.clone()),
                ("status", status.clone()),
                ("limit", Some(PAGE.to_string())),
                ("since", Some(since.clone())),
            ]);
            let page = client.get(&format!("/events{q}"))?;
            for event in items(&page, "events") {
                let (id, now) = (cell(event, "id"), cell(event, "status"));
                if start_after.as_ref().is_some_and(|start| id <= *start) {
                    continue;
                }
                if seen.get(&id) != Some(&now) {
                    match format {
                        Format::Json => println!("{event}"),
                        Format::Table => println!("{}", line(&row(event))),
                    }
                    newest_ms = newest_ms.max(id_time_ms(&id));
                    seen.insert(id, now);
                }
            }
            match page["next_since"].as_str() {
                Some(next) => since = next.to_string(),
                None => break,
            }
        }
        // Forget what no later poll re-reads.
        if let Some(newest) = newest_ms {
            seen.retain(|id, _| id_time_ms(id).is_some_and(|t| t >= newest - WATCH_MS));
        }
        std::io::Write::flush(&mut std::io::stdout()).map_err(|e| CallError::Input(format!("stdout: {e}")))?;
        std::thread::sleep(interval);
    }
}
