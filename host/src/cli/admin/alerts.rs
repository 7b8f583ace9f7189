//! `alerts add|list|show|remove`: operational webhooks — where the server tells an admin of
//! trouble (failed or unmatched events, failed enrollments, breakers, the backlog), signed
//! with a secret's Standard Webhooks key.

use serde_json::{Map, Value, json};
use ureq::http::Method;

use super::client::{Body, CallError, Client, encode};
use super::output::{Format, cell, items, print, table};

/// Alert verbs.
#[derive(Debug, clap::Subcommand)]
pub enum AlertCommand {
    /// Register an alert: `URL --secret NAME --on KIND=THRESHOLD…`.
    Add {
        /// Where messages are POSTed (http or https).
        url: String,
        /// The secret (set with the API or UI) holding the `whsec_…` key that signs them.
        #[arg(long)]
        secret: String,
        /// A kind of trouble and its threshold, repeatable: `events_failed=N`,
        /// `events_unmatched=N`, `enrollments_failed=N`, `breaker_opened=N` (times in the
        /// window), `backlog=F` (a fraction of the backlog bound).
        #[arg(long = "on", value_name = "KIND=THRESHOLD", required = true)]
        on: Vec<String>,
        /// The window, seconds (60 to 86400; default 300): counts are summed over it, and
        /// one message per kind and subject is sent in it at most.
        #[arg(long)]
        window: Option<u64>,
        /// Only this webhook's events and transform breakers.
        #[arg(long)]
        webhook: Option<String>,
        /// What to call it (default: the URL's host).
        #[arg(long)]
        name: Option<String>,
    },
    /// Every alert.
    List,
    /// One alert and its latest messages.
    Show {
        /// The alert id (`alr_…`).
        id: String,
    },
    /// Delete an alert (its pending messages are not sent).
    Remove {
        /// The alert id (`alr_…`).
        id: String,
    },
}

/// Run an alert verb.
pub fn run(client: &Client, format: Format, command: AlertCommand) -> Result<(), CallError> {
    match command {
        AlertCommand::Add { url, secret, on, window, webhook, name } => {
            let mut kinds = Map::new();
            for pair in &on {
                let (kind, threshold) = pair
                    .split_once('=')
                    .ok_or_else(|| CallError::Input(format!("--on {pair}: write KIND=THRESHOLD")))?;
                let threshold: f64 = threshold
                    .trim()
                    .parse()
                    .map_err(|_| CallError::Input(format!("--on {pair}: the threshold is a number")))?;
                kinds.insert(kind.trim().to_string(), json!(threshold));
            }
            let body = json!({"url": url, "secret": secret, "on": kinds, "window_s": window, "webhook": webhook, "name": name});
            let answer = client.call(Method::POST, "/alerts", Body::Json(&body))?;
            print(format, &answer, |a| format!("alert {} registered: {}\n", cell(a, "id"), conditions(&a["on"])));
        }
        AlertCommand::List => {
            let answer = client.get("/alerts")?;
            print(format, &answer, |a| {
                let rows: Vec<Vec<String>> = items(a, "alerts").iter().map(row).collect();
                table(&["ID", "NAME", "URL", "WHEN", "WINDOW", "WEBHOOK"], &rows)
            });
        }
        AlertCommand::Show { id } => {
            let answer = client.get(&format!("/alerts/{}", encode(&id)))?;
            print(format, &answer, |a| {
                let mut out = table(&["ID", "NAME", "URL", "WHEN", "WINDOW", "WEBHOOK"], &[row(a)]);
                let rows: Vec<Vec<String>> = items(a, "messages")
                    .iter()
                    .map(|m| {
                        vec![
                            cell(m, "id"),
                            cell(m, "fired_at"),
                            cell(m, "kind"),
                            m["body"]["data"]["message"].as_str().unwrap_or("").to_string(),
                            cell(m, "status"),
                            cell(m, "attempts"),
                            m["last_error"].as_str().unwrap_or("").to_string(),
                        ]
                    })
                    .collect();
                out.push('\n');
                out.push_str(&table(&["MESSAGE", "FIRED", "KIND", "WHAT", "STATUS", "TRIES", "LAST ERROR"], &rows));
                out
            });
        }
        AlertCommand::Remove { id } => {
            let answer = client.call(Method::DELETE, &format!("/alerts/{}", encode(&id)), Body::Empty)?;
            print(format, &answer, |_| format!("alert {id} removed\n"));
        }
    }
    Ok(())
}

/// `events_unmatched ≥ 5, backlog ≥ 80%`.
fn conditions(on: &Value) -> String {
    let Some(on) = on.as_object() else { return String::new() };
    on.iter()
        .map(|(kind, threshold)| match (kind.as_str(), threshold.as_f64()) {
            ("backlog", Some(f)) => format!("backlog ≥ {:.0}%", f * 100.0),
            (kind, _) => format!("{kind} ≥ {threshold}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn row(alert: &Value) -> Vec<String> {
    let webhook = alert["webhook"]["name"].as_str().unwrap_or("all").to_string();
    vec![
        cell(alert, "id"),
        cell(alert, "name"),
        cell(alert, "url"),
        conditions(&alert["on"]),
        format!("{} s", cell(alert, "window_s")),
        webhook,
    ]
}
