//! An example custom code action that reaches another system: it looks a contact up in a
//! CRM by email, the way a HubSpot-style API answers
//! (`GET {base_url}/crm/v3/objects/contacts/{email}?idProperty=email` with
//! `Authorization: Bearer <CRM_KEY>` → `{"id": "…", "properties": {"company": "…",
//! "lifecyclestage": "…"}}`), and returns `found`, `crm_id`, `company` and
//! `lifecycle_stage` for the workflow to write onto the record.
//!
//! Step (`base_url` must be in `allowed_hosts`):
//!
//! ```json
//! {"type": "custom_code", "plugin": "crm-lookup",
//!  "inputs": {"email": "record.email", "base_url": {"value": "https://api.crm.example.com"}},
//!  "secrets": ["CRM_KEY"], "allowed_hosts": ["https://api.crm.example.com"],
//!  "outputs": [{"name": "found", "type": "boolean"}, {"name": "crm_id", "type": "string"},
//!              {"name": "company", "type": "string"}, {"name": "lifecycle_stage", "type": "string"}]}
//! ```
//!
//! A 404 is an answer (`found: false`); any other status of 400 or more fails the try with
//! `http_status`, which the host retries on the step's schedule when it was a 429 or 5xx.
//! Build: `cargo build --release --target wasm32-wasip2 -p crm-lookup`.

wit_bindgen::generate!({
    world: "action",
    path: "../../wit",
});

use exports::wasmhook::plugin::actor::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};
use wasmhook_http::{Request, encode};

struct CrmLookup;

fn input(inputs: &[Property], name: &str) -> Result<String, PluginError> {
    match inputs.iter().find(|p| p.name == name).map(|p| &p.value) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        _ => {
            Err(PluginError { code: "missing_input".into(), message: format!("input `{name}` (a string) is required") })
        }
    }
}

fn plugin_error(e: wasmhook_http::Error) -> PluginError {
    PluginError { code: e.code().into(), message: e.to_string() }
}

fn text(value: Option<&serde_json::Value>) -> Value {
    match value {
        Some(serde_json::Value::String(s)) => Value::String(s.clone()),
        Some(serde_json::Value::Number(n)) => Value::String(n.to_string()),
        _ => Value::Null,
    }
}

impl Guest for CrmLookup {
    fn run(_ctx: Context, inputs: Vec<Property>, secrets: Vec<(String, String)>) -> Result<Vec<Property>, PluginError> {
        let email = input(&inputs, "email")?;
        let base = input(&inputs, "base_url")?;
        let key =
            secrets.iter().find(|(name, _)| name == "CRM_KEY").map(|(_, value)| value.as_str()).ok_or_else(|| {
                PluginError { code: "missing_secret".into(), message: "the step must give the secret CRM_KEY".into() }
            })?;
        let url = format!(
            "{}/crm/v3/objects/contacts/{}?idProperty=email&properties=company,lifecyclestage",
            base.trim_end_matches('/'),
            encode(&email)
        );
        let answer = Request::get(url).bearer(key).header("accept", "application/json").send().map_err(plugin_error)?;
        let property = |name: &str, value: Value| Property { name: name.into(), value };
        if answer.status == 404 {
            return Ok(vec![property("found", Value::Boolean(false))]);
        }
        let contact: serde_json::Value =
            answer.error_for_status().map_err(plugin_error)?.json().map_err(plugin_error)?;
        let properties = &contact["properties"];
        Ok(vec![
            property("found", Value::Boolean(true)),
            property("crm_id", text(contact.get("id"))),
            property("company", text(properties.get("company"))),
            property("lifecycle_stage", text(properties.get("lifecyclestage"))),
        ])
    }
}

export!(CrmLookup);
