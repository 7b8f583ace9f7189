//! A minimal `action` guest: greets its `name` input and reports which secrets it saw.

wit_bindgen::generate!({
    world: "action",
    path: "../../../wit",
});

use exports::wasmhook::plugin::actor::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};

struct EchoAction;

impl Guest for EchoAction {
    fn run(ctx: Context, inputs: Vec<Property>, secrets: Vec<(String, String)>) -> Result<Vec<Property>, PluginError> {
        let name = inputs
            .iter()
            .find(|p| p.name == "name")
            .and_then(|p| match &p.value {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .ok_or_else(|| PluginError {
                code: "missing_input".into(),
                message: "input `name` (string) is required".into(),
            })?;
        let secret_names: Vec<&str> = secrets.iter().map(|(k, _)| k.as_str()).collect();
        Ok(vec![
            Property { name: "greeting".into(), value: Value::String(format!("hello {name}")) },
            Property { name: "event".into(), value: Value::String(ctx.event_id) },
            Property { name: "secrets".into(), value: Value::String(secret_names.join(",")) },
        ])
    }
}

export!(EchoAction);
