//! A template for a wasmhook custom code action. Copy this crate, rename it, and replace
//! the body of `run`.
//!
//! Build:  `cargo build --release --target wasm32-wasip2 -p action-template`
//! Try:    upload `target/wasm32-wasip2/release/action_template.wasm` with
//!         `PUT /api/v1/plugins/my-action`, add a `custom_code` step to a workflow, and use
//!         `POST /api/v1/workflows/{id}/actions/{n}/test` against a real record.
//!
//! Contract (see `wit/plugin.wit`): `run` gets the event context, the inputs the workflow
//! maps (name → value: null, string, number or boolean) and only the secrets the step
//! names; it returns outputs (only those the step declares are kept, and they must have
//! the declared type) or a `plugin-error` that fails the enrollment with its message. The
//! sandbox has no files, network, environment, clock or randomness; each call is bounded
//! in CPU time and memory.

wit_bindgen::generate!({
    world: "action",
    path: "../../wit",
});

use exports::wasmhook::plugin::actor::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};

struct Template;

impl Guest for Template {
    fn run(
        _ctx: Context,
        inputs: Vec<Property>,
        _secrets: Vec<(String, String)>,
    ) -> Result<Vec<Property>, PluginError> {
        // Example: output `length`, the number of characters of the text input `text`.
        let text = match inputs.iter().find(|p| p.name == "text").map(|p| &p.value) {
            Some(Value::String(text)) => text,
            _ => {
                return Err(PluginError {
                    code: "missing_input".into(),
                    message: "input `text` (a string) is required".into(),
                });
            }
        };
        Ok(vec![Property { name: "length".into(), value: Value::Number(text.chars().count() as f64) }])
    }
}

export!(Template);
