//! Generated bindings for `wit/plugin.wit`, and their conversion to plain host types.
//! Nothing outside this module touches generated types.

use crate::value::{Property, Value};

/// Bindings for the `transform` world (and the shared `types` interface).
// Generated code carries the WIT's doc comments where it has them; not every item does.
#[allow(missing_docs)]
pub mod transform {
    wasmtime::component::bindgen!({
        world: "transform",
        path: "../wit",
        // Calls run on fibers, so an action can wait on the network without a thread.
        exports: { default: async },
    });
}

/// Bindings for the `action` world, sharing the `types` of [`transform`].
#[allow(missing_docs)]
pub mod action {
    wasmtime::component::bindgen!({
        world: "action",
        path: "../wit",
        exports: { default: async },
        with: {
            "wasmhook:plugin/types": super::transform::wasmhook::plugin::types,
        },
    });
}

/// Bindings for the `script` world (the runtime of source written in a step), sharing the
/// `types` of [`transform`].
#[allow(missing_docs)]
pub mod script {
    wasmtime::component::bindgen!({
        world: "script",
        path: "../wit",
        exports: { default: async },
        with: {
            "wasmhook:plugin/types": super::transform::wasmhook::plugin::types,
        },
    });
}

pub(crate) use transform::wasmhook::plugin::types as wit;

impl From<&Value> for wit::Value {
    fn from(v: &Value) -> Self {
        match v {
            Value::Null => wit::Value::Null,
            Value::String(s) => wit::Value::String(s.clone()),
            Value::Number(n) => wit::Value::Number(*n),
            Value::Boolean(b) => wit::Value::Boolean(*b),
        }
    }
}

impl From<wit::Value> for Value {
    fn from(v: wit::Value) -> Self {
        match v {
            wit::Value::Null => Value::Null,
            wit::Value::String(s) => Value::String(s),
            wit::Value::Number(n) => Value::Number(n),
            wit::Value::Boolean(b) => Value::Boolean(b),
        }
    }
}

impl From<&Property> for wit::Property {
    fn from(p: &Property) -> Self {
        wit::Property { name: p.name.clone(), value: (&p.value).into() }
    }
}

impl From<wit::Property> for Property {
    fn from(p: wit::Property) -> Self {
        Property { name: p.name, value: p.value.into() }
    }
}

/// Host properties as a guest would return them (host → WIT values), then checked and
/// converted back the way every plugin output is: the host side of the WIT boundary in one
/// call, for the fuzz targets and tests.
pub fn through_wit(properties: &[Property], cap: usize) -> Result<Vec<Property>, crate::plugins::PluginFailure> {
    let wit_side: Vec<wit::Property> = properties.iter().map(Into::into).collect();
    super::engine::check_output(wit_side, cap)
}

impl From<&crate::plugins::CallContext> for wit::Context {
    fn from(c: &crate::plugins::CallContext) -> Self {
        wit::Context {
            event_id: c.event_id.clone(),
            webhook_id: c.webhook_id.clone(),
            received_at_ms: c.received_at_ms,
        }
    }
}
