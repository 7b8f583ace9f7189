//! The WIT glue: adapts [`crate::split_name`] to the `transform` world. Generated
//! bindings stay in this module; the logic above uses plain Rust types.

wit_bindgen::generate!({
    world: "transform",
    path: "../../wit",
});

use exports::wasmhook::plugin::transformer::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};

struct Template;

impl Guest for Template {
    fn transform(
        _ctx: Context,
        config: Vec<(String, String)>,
        mut properties: Vec<Property>,
    ) -> Result<Vec<Property>, PluginError> {
        let settings = crate::settings(&config).map_err(|e| PluginError { code: "bad_config".into(), message: e.0 })?;
        let full = match properties.iter().find(|p| p.name == settings.from).map(|p| &p.value) {
            Some(Value::String(full)) => full.clone(),
            None | Some(Value::Null) => return Ok(properties),
            Some(_) => {
                return Err(PluginError {
                    code: "not_text".into(),
                    message: format!("`{}` is not a string", settings.from),
                });
            }
        };
        let (first, last) = crate::split_name(&full);
        // Printed lines show in the event's trace: say what the step did.
        println!("split `{}` into first and last name", settings.from);
        properties.retain(|p| p.name != settings.first && p.name != settings.last);
        properties.push(Property { name: settings.first, value: Value::String(first) });
        if let Some(last) = last {
            properties.push(Property { name: settings.last, value: Value::String(last) });
        }
        Ok(properties)
    }
}

export!(Template);
