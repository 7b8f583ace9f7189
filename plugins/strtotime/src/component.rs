//! The WIT glue: the `transform` world around [`crate::strtotime_micros`].
//!
//! Config: `from` (required), `to` (default `<from>_unix`), `unit` (`s` or `ms`),
//! `timezone` (default `UTC`; IANA names, abbreviations, offsets).

wit_bindgen::generate!({
    world: "transform",
    path: "../../wit",
});

use exports::wasmhook::plugin::transformer::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};

use crate::ParsedZone;

struct Strtotime;

fn bad_config(message: String) -> PluginError {
    PluginError { code: "bad_config".into(), message }
}

impl Guest for Strtotime {
    fn transform(
        ctx: Context,
        config: Vec<(String, String)>,
        mut properties: Vec<Property>,
    ) -> Result<Vec<Property>, PluginError> {
        let get = |key: &str| config.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        for (key, _) in &config {
            if !matches!(key.as_str(), "from" | "to" | "unit" | "timezone") {
                return Err(bad_config(format!("unknown config key `{key}` (expected from, to, unit, timezone)")));
            }
        }
        let from = get("from").filter(|f| !f.is_empty()).ok_or_else(|| bad_config("`from` is required".into()))?;
        let to = get("to").map_or_else(|| format!("{from}_unix"), str::to_string);
        let millis = match get("unit").unwrap_or("s") {
            "s" => false,
            "ms" => true,
            other => {
                return Err(bad_config(format!("`unit` must be `s` or `ms`, not `{other}`")));
            }
        };
        let zone_name = get("timezone").unwrap_or("UTC");
        let zone =
            ParsedZone::from_config(zone_name).ok_or_else(|| bad_config(format!("unknown time zone `{zone_name}`")))?;

        let Some(source) = properties.iter().find(|p| p.name == from) else {
            // A mapped path missing from this payload yields no property, not an error.
            return Ok(properties);
        };
        let text = match &source.value {
            Value::String(s) => s.clone(),
            Value::Null => return Ok(properties),
            Value::Number(n) => format!("@{n}"),
            Value::Boolean(b) => {
                return Err(PluginError {
                    code: "unparseable".into(),
                    message: format!("`{from}` is a boolean ({b}), not a date"),
                });
            }
        };
        let now = ctx.received_at_ms.div_euclid(1000);
        let (seconds, micros) = crate::strtotime_micros(&text, now, zone).map_err(|e| PluginError {
            code: "unparseable".into(),
            message: format!("cannot parse {text:?} as a date/time ({e})"),
        })?;
        let value = if millis { seconds as f64 * 1000.0 + (micros / 1000) as f64 } else { seconds as f64 };
        properties.retain(|p| p.name != to);
        properties.push(Property { name: to, value: Value::Number(value) });
        Ok(properties)
    }
}

export!(Strtotime);
