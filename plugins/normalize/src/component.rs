//! The WIT glue: adapts [`crate::parse_rules`] to the `transform` world.

wit_bindgen::generate!({
    world: "transform",
    path: "../../wit",
});

use exports::wasmhook::plugin::transformer::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};

struct Normalize;

fn to_wit(e: crate::NormalizeError) -> PluginError {
    PluginError { code: e.code.to_string(), message: e.message }
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 { format!("{}", n as i64) } else { format!("{n}") }
}

impl Guest for Normalize {
    fn transform(
        _ctx: Context,
        config: Vec<(String, String)>,
        mut properties: Vec<Property>,
    ) -> Result<Vec<Property>, PluginError> {
        let rules = crate::parse_rules(&config).map_err(to_wit)?;
        for (name, ops) in &rules {
            for property in properties.iter_mut().filter(|p| &p.name == name) {
                let text = match &property.value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => number_text(*n),
                    Value::Null | Value::Boolean(_) => continue,
                };
                let normalized = crate::apply_all(ops, &text).map_err(|e| {
                    to_wit(crate::NormalizeError { code: e.code, message: format!("{name}: {}", e.message) })
                })?;
                property.value = Value::String(normalized);
            }
        }
        Ok(properties)
    }
}

export!(Normalize);
