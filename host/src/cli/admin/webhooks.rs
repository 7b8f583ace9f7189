//! `webhook create|list|show|map|transforms|match|signature|retention`: the wizard's steps
//! and a webhook's settings as verbs.

use std::path::PathBuf;

use serde_json::{Value, json};
use ureq::http::Method;

use super::client::{Body, CallError, Client, encode, read_json, read_text};
use super::output::{Format, cell, details, items, print, table};

/// Webhook verbs.
#[derive(Debug, clap::Subcommand)]
pub enum WebhookCommand {
    /// Create a webhook event; prints its secret URL (send the test event there).
    Create {
        /// Its name (1 to 255 characters).
        name: String,
    },
    /// All webhooks, with their state.
    List,
    /// One webhook: URL, test event, mapping, transforms, match, signature settings.
    Show {
        /// The webhook id (`wh_…`).
        id: String,
    },
    /// Map test-event fields to typed properties: `customer.email=string`,
    /// `plan=enum:free,pro`, `seats=number`, `trial=boolean`; or the API's body from a file.
    Map {
        /// The webhook id.
        id: String,
        /// `PATH=TYPE` pairs; TYPE is string, number, boolean or enum:OPTION,OPTION….
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        properties: Vec<String>,
        /// A JSON file (`-` for stdin) with `{"properties": [{path, type, label?, options?}]}`.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Show the transform chain, or set it: steps as `PLUGIN` or `PLUGIN:KEY=VALUE,KEY=VALUE`
    /// in order, or a JSON array of `{plugin, config}` from a file.
    Transforms {
        /// The webhook id.
        id: String,
        /// The steps, in order.
        #[arg(conflicts_with_all = ["file", "clear"])]
        steps: Vec<String>,
        /// A JSON file (`-` for stdin) with `[{"plugin": …, "config": {…}}]`.
        #[arg(long, conflicts_with = "clear")]
        file: Option<PathBuf>,
        /// Remove every step.
        #[arg(long)]
        clear: bool,
    },
    /// Set the enrollment property: the event property whose value must equal a unique
    /// property of exactly one record of the object.
    Match {
        /// The webhook id.
        id: String,
        /// The object whose records are matched (e.g. `contacts`).
        #[arg(long)]
        object: String,
        /// The event property holding the key (after mapping and transforms).
        #[arg(long)]
        webhook_property: String,
        /// The record's unique property it must equal.
        #[arg(long)]
        record_property: String,
    },
    /// Show the signature check, set it (`--scheme` and a secret) or remove it.
    Signature {
        /// The webhook id.
        id: String,
        /// standard-webhooks, github, stripe, shopify, slack or hmac-sha256.
        #[arg(long, conflicts_with = "remove")]
        scheme: Option<String>,
        /// The shared secret (visible to other local users in the process list; prefer
        /// --secret-file).
        #[arg(long, requires = "scheme", conflicts_with = "secret_file")]
        secret: Option<String>,
        /// A file holding the shared secret (`-` for stdin); surrounding whitespace is ignored.
        #[arg(long, requires = "scheme")]
        secret_file: Option<PathBuf>,
        /// Accepted clock skew of signed timestamps, in seconds.
        #[arg(long, requires = "scheme")]
        tolerance_s: Option<i64>,
        /// hmac-sha256: the header carrying the signature.
        #[arg(long, requires = "scheme")]
        header: Option<String>,
        /// hmac-sha256: `hex` or `base64`.
        #[arg(long, requires = "scheme")]
        encoding: Option<String>,
        /// hmac-sha256: text before the signature in the header (e.g. `sha256=`).
        #[arg(long, requires = "scheme")]
        prefix: Option<String>,
        /// Stop checking signatures.
        #[arg(long)]
        remove: bool,
    },
    /// Show how long the webhook's events are kept, set its own retention, or go back to the
    /// server's (`serve --retention-days`).
    Retention {
        /// The webhook id.
        id: String,
        /// Days its events are kept after they arrive (fractions allowed).
        #[arg(long, conflicts_with = "default")]
        days: Option<f64>,
        /// Use the server's retention again.
        #[arg(long)]
        default: bool,
    },
}

/// Run one webhook verb.
pub fn run(client: &Client, format: Format, command: WebhookCommand) -> Result<(), CallError> {
    match command {
        WebhookCommand::Create { name } => {
            let answer = client.call(Method::POST, "/webhooks", Body::Json(&json!({"name": name})))?;
            print(format, &answer, summary);
        }
        WebhookCommand::List => {
            let answer = client.get("/webhooks")?;
            print(format, &answer, |a| {
                let rows: Vec<Vec<String>> = items(a, "webhooks")
                    .iter()
                    .map(|w| {
                        vec![
                            cell(w, "id"),
                            cell(w, "name"),
                            cell(w, "state"),
                            items(&w["mapping"], "properties").len().to_string(),
                            w["transforms"].as_array().map_or(0, Vec::len).to_string(),
                            cell(w, "created_at"),
                        ]
                    })
                    .collect();
                let mut out = table(&["ID", "NAME", "STATE", "MAPPED", "TRANSFORMS", "CREATED"], &rows);
                out.push_str(&format!("{} of {} webhooks\n", cell(a, "count"), cell(a, "limit")));
                out
            });
        }
        WebhookCommand::Show { id } => print(format, &client.get(&path(&id, ""))?, details),
        WebhookCommand::Map { id, properties, file } => {
            let body = match file {
                Some(file) => read_json(&file)?,
                None => json!({"properties": properties.iter().map(|p| mapped(p)).collect::<Result<Vec<_>, _>>()?}),
            };
            let answer = client.call(Method::PUT, &path(&id, "/mapping"), Body::Json(&body))?;
            print(format, &answer, summary);
        }
        WebhookCommand::Transforms { id, steps, file, clear } => {
            let chain = match (file, clear) {
                (Some(file), _) => Some(read_json(&file)?),
                (None, true) => Some(json!([])),
                (None, false) if steps.is_empty() => None,
                (None, false) => Some(Value::Array(steps.iter().map(|s| step(s)).collect::<Result<_, _>>()?)),
            };
            let answer = match chain {
                Some(chain) => client.call(Method::PUT, &path(&id, "/transforms"), Body::Json(&chain))?,
                None => client.get(&path(&id, ""))?,
            };
            print(format, &answer["transforms"], |chain| {
                let rows: Vec<Vec<String>> = chain
                    .as_array()
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .enumerate()
                    .map(|(n, s)| vec![(n + 1).to_string(), cell(s, "plugin"), config_text(&s["config"])])
                    .collect();
                if rows.is_empty() {
                    "no transform steps\n".into()
                } else {
                    table(&["STEP", "PLUGIN", "CONFIG"], &rows)
                }
            });
        }
        WebhookCommand::Match { id, object, webhook_property, record_property } => {
            let body =
                json!({"object": object, "webhook_property": webhook_property, "record_property": record_property});
            let answer = client.call(Method::PUT, &path(&id, "/match"), Body::Json(&body))?;
            print(format, &answer, summary);
        }
        WebhookCommand::Signature {
            id,
            scheme,
            secret,
            secret_file,
            tolerance_s,
            header,
            encoding,
            prefix,
            remove,
        } => {
            let answer = if remove {
                client.call(Method::DELETE, &path(&id, "/signature"), Body::Empty)?;
                json!({"removed": true})
            } else if let Some(scheme) = scheme {
                let secret = match (secret, secret_file) {
                    (Some(secret), _) => secret,
                    (None, Some(file)) => read_text(&file)?.trim().to_string(),
                    (None, None) => return Err(CallError::Input("--scheme needs --secret or --secret-file".into())),
                };
                let mut body = json!({"scheme": scheme, "secret": secret});
                for (key, value) in [("header", header), ("encoding", encoding), ("prefix", prefix)] {
                    if let Some(value) = value {
                        body[key] = json!(value);
                    }
                }
                if let Some(tolerance) = tolerance_s {
                    body["tolerance_s"] = json!(tolerance);
                }
                client.call(Method::PUT, &path(&id, "/signature"), Body::Json(&body))?
            } else {
                client.get(&path(&id, "/signature"))?
            };
            print(format, &answer, |a| if remove { "signature check removed\n".into() } else { details(a) });
        }
        WebhookCommand::Retention { id, days, default } => {
            let answer = match (days, default) {
                (Some(days), _) => {
                    client.call(Method::PUT, &path(&id, "/retention"), Body::Json(&json!({"days": days})))?
                }
                (None, true) => client.call(Method::DELETE, &path(&id, "/retention"), Body::Empty)?,
                (None, false) => client.get(&path(&id, ""))?,
            };
            print(format, &answer["retention"], |r| {
                let whose = if r["source"] == "webhook" { "its own" } else { "the server's default" };
                let days = r["days"].as_f64().map_or_else(|| cell(r, "days"), |d| d.to_string());
                format!("events kept {days} days after they arrive ({whose})\n")
            });
        }
    }
    Ok(())
}

fn path(id: &str, rest: &str) -> String {
    format!("/webhooks/{}{rest}", encode(id))
}

/// The lines people need after a change: id, name, state, URL.
fn summary(webhook: &Value) -> String {
    let keys = ["id", "name", "state", "url", "test_event_id"];
    details(&Value::Object(keys.iter().map(|k| (k.to_string(), webhook[*k].clone())).collect()))
}

/// `path=type` or `path=enum:a,b` → a mapping entry.
fn mapped(pair: &str) -> Result<Value, CallError> {
    let bad = || CallError::Input(format!("`{pair}`: expected PATH=TYPE (string, number, boolean, enum:A,B…)"));
    let (path, kind) = pair.rsplit_once('=').ok_or_else(bad)?;
    if path.is_empty() {
        return Err(bad());
    }
    Ok(match kind.split_once(':') {
        Some(("enum", options)) => {
            json!({"path": path, "type": "enum", "options": options.split(',').collect::<Vec<_>>()})
        }
        Some(_) => return Err(bad()),
        None => json!({"path": path, "type": kind}),
    })
}

/// `plugin` or `plugin:key=value,key=value` → a transform step.
fn step(text: &str) -> Result<Value, CallError> {
    let (plugin, settings) = text.split_once(':').unwrap_or((text, ""));
    let mut config = serde_json::Map::new();
    for setting in settings.split(',').filter(|s| !s.is_empty()) {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| CallError::Input(format!("`{text}`: settings are KEY=VALUE, comma-separated")))?;
        config.insert(key.to_string(), json!(value));
    }
    Ok(json!({"plugin": plugin, "config": config}))
}

fn config_text(config: &Value) -> String {
    config.as_object().map_or_else(String::new, |c| {
        c.iter().map(|(k, v)| format!("{k}={}", super::output::text(v))).collect::<Vec<_>>().join(" ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_arguments_become_api_bodies() {
        assert_eq!(mapped("customer.email=string").unwrap(), json!({"path": "customer.email", "type": "string"}));
        assert_eq!(
            mapped("plan=enum:free,pro").unwrap(),
            json!({"path": "plan", "type": "enum", "options": ["free", "pro"]})
        );
        assert!(mapped("plan").is_err());
        assert!(mapped("a=list:x").is_err());
        assert_eq!(
            step("strtotime:from=signed_up,to=signed_up_unix").unwrap(),
            json!({"plugin": "strtotime", "config": {"from": "signed_up", "to": "signed_up_unix"}})
        );
        assert_eq!(step("normalize").unwrap(), json!({"plugin": "normalize", "config": {}}));
        assert!(step("normalize:oops").is_err());
    }
}
