//! `events list|show|replay|tail`: the event log, and following it live.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{Value, json};
use ureq::http::Method;

use super::client::{Body, CallError, Client, encode, query};
use super::output::{Format, cell, details, items, print, table};
use crate::model::ids::{IdKind, id_floor, id_time_ms};

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

/// Most events watched at once (one `ids=` lookup per poll); later ones show on arrival.
const MAX_WATCHED: usize = 100;

/// Largest page asked for.
const PAGE: u32 = 500;

/// What `tail` has shown and still watches.
struct Follow {
    format: Format,
    /// Show only events with this status (the others are still followed, to catch the
    /// moment they reach it).
    only: Option<String>,
    /// Events up to this one existed before the tail started: not shown.
    start_after: Option<String>,
    /// The time of the newest event seen, from its id (the server's clock).
    newest_ms: i64,
    /// Status last shown, per recent event.
    seen: HashMap<String, String>,
    /// `accepted` events whose outcome is still to be shown.
    watched: BTreeSet<String>,
}

impl Follow {
    /// Print `event` if it is new or its status changed, and keep watching it while it is
    /// `accepted`.
    fn show(&mut self, event: &Value) {
        let (id, now) = (cell(event, "id"), cell(event, "status"));
        if self.start_after.as_ref().is_some_and(|start| id <= *start) || self.seen.get(&id) == Some(&now) {
            return;
        }
        if self.only.as_ref().is_none_or(|only| *only == now) {
            match self.format {
                Format::Json => println!("{event}"),
                Format::Table => println!("{}", line(&row(event))),
            }
        }
        if now != "accepted" {
            self.watched.remove(&id);
        } else if self.watched.len() < MAX_WATCHED {
            self.watched.insert(id.clone());
        }
        self.newest_ms = self.newest_ms.max(id_time_ms(&id).unwrap_or(0));
        self.seen.insert(id, now);
    }

    /// Forget what no later poll reads again.
    fn prune(&mut self) {
        let (watch_from, seen_from) = (self.newest_ms - WATCH_MS, self.newest_ms - LATE_COMMIT);
        self.watched.retain(|id| id_time_ms(id).is_some_and(|t| t >= watch_from));
        let watched = &self.watched;
        self.seen.retain(|id, _| watched.contains(id) || id_time_ms(id).is_some_and(|t| t >= seen_from));
    }
}

/// Poll the log forever: each poll reads what arrived (from a short way before the newest
/// event seen) and looks the still-`accepted` events up by id, printing an event when
/// first seen and again when its status changes. Each poll costs the new events plus
/// one lookup, however busy the server is.
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
    let newest_ms = start_after.as_deref().and_then(id_time_ms).unwrap_or(0);
    let mut follow =
        Follow { format, only: status, start_after, newest_ms, seen: HashMap::new(), watched: BTreeSet::new() };
    if format == Format::Table {
        println!("{}", line(&HEADER.map(String::from)));
    }
    loop {
        let mut since = id_floor(IdKind::Event, (follow.newest_ms - LATE_COMMIT).max(0));
        loop {
            let q = query(&[
                ("webhook", webhook.clone()),
                ("limit", Some(PAGE.to_string())),
                ("since", Some(since.clone())),
            ]);
            let page = client.get(&format!("/events{q}"))?;
            items(&page, "events").iter().for_each(|event| follow.show(event));
            match page["next_since"].as_str() {
                Some(next) => since = next.to_string(),
                None => break,
            }
        }
        if !follow.watched.is_empty() {
            let ids = follow.watched.iter().cloned().collect::<Vec<_>>().join(",");
            let page = client.get(&format!("/events{}", query(&[("ids", Some(ids))])))?;
            items(&page, "events").iter().for_each(|event| follow.show(event));
        }
        follow.prune();
        std::io::Write::flush(&mut std::io::stdout()).map_err(|e| CallError::Input(format!("stdout: {e}")))?;
        std::thread::sleep(interval);
    }
}
