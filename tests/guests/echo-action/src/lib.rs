//! A minimal `action` guest: greets its `name` input and reports which secrets it saw.
//! Test knobs: input `spin` (a number) burns that many loop iterations first; input
//! `fail` (a string) returns it as a guest error; input `print` is printed to stdout.

wit_bindgen::generate!({
    world: "action",
    path: "../../../wit",
});

use exports::wasmhook::plugin::actor::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};

struct EchoAction;

impl Guest for EchoAction {
    fn run(ctx: Context, inputs: Vec<Property>, secrets: Vec<(String, String)>) -> Result<Vec<Property>, PluginError> {
        let input = |name: &str| inputs.iter().find(|p| p.name == name).map(|p| &p.value);
        if let Some(Value::Number(spin)) = input("spin") {
            let mut acc = 0u64;
            for i in 0..(*spin as u64) {
                acc = std::hint::black_box(acc.wrapping_mul(31).wrapping_add(i));
            }
            std::hint::black_box(acc);
        }
        if let Some(Value::String(reason)) = input("fail") {
            return Err(PluginError { code: "asked_to_fail".into(), message: reason.clone() });
        }
        if let Some(Value::String(text)) = input("print") {
            println!("{text}");
        }
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
            Property {
                name: "secret_values".into(),
                value: Value::String(secrets.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(",")),
            },
            Property { name: "length".into(), value: Value::Number(name.len() as f64) },
        ])
    }
}

export!(EchoAction);
