//! `date-diff`: a custom code action computing the time from `from` to `to`.
//!
//! Inputs: `from` (required) and `to` (default: when the event was received), each unix
//! seconds (a number, e.g. the output of the `strtotime` transform) or a text date
//! (RFC 3339 `2024-03-10T09:15:00Z`, or `2024-03-10` as midnight UTC).
//! Outputs: `days` (whole days, rounded toward zero), `hours` (whole hours), `seconds`,
//! and `from_unix` / `to_unix` (datetime, unix seconds).

wit_bindgen::generate!({
    world: "action",
    path: "../../wit",
});

use exports::wasmhook::plugin::actor::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};

struct DateDiff;

fn error(code: &str, message: String) -> PluginError {
    PluginError { code: code.into(), message }
}

/// Unix seconds from a number or a date text.
fn unix(name: &str, value: &Value) -> Result<i64, PluginError> {
    match value {
        Value::Number(n) if n.is_finite() && n.abs() < 1e15 => Ok(n.trunc() as i64),
        Value::String(text) => {
            let text = text.trim();
            if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
                return Ok(at.timestamp());
            }
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|at| at.and_utc().timestamp())
                .ok_or_else(|| {
                    error(
                        "unparseable",
                        format!("input `{name}` is {text:?}; send unix seconds, RFC 3339 or YYYY-MM-DD"),
                    )
                })
        }
        Value::Null => Err(error("missing_input", format!("input `{name}` has no value"))),
        other => Err(error("bad_input", format!("input `{name}` is {other:?}; send a number or a date text"))),
    }
}

fn input<'a>(inputs: &'a [Property], name: &str) -> Option<&'a Value> {
    inputs.iter().find(|p| p.name == name).map(|p| &p.value).filter(|v| !matches!(v, Value::Null))
}

impl Guest for DateDiff {
    fn run(ctx: Context, inputs: Vec<Property>, _secrets: Vec<(String, String)>) -> Result<Vec<Property>, PluginError> {
        let from = unix("from", input(&inputs, "from").unwrap_or(&Value::Null))?;
        let to = match input(&inputs, "to") {
            Some(value) => unix("to", value)?,
            None => ctx.received_at_ms.div_euclid(1000),
        };
        let seconds = to - from;
        let number = |name: &str, n: i64| Property { name: name.into(), value: Value::Number(n as f64) };
        Ok(vec![
            number("days", seconds / 86_400),
            number("hours", seconds / 3_600),
            number("seconds", seconds),
            number("from_unix", from),
            number("to_unix", to),
        ])
    }
}

export!(DateDiff);
