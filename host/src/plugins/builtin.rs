//! Plugins embedded in the binary, always available by name and never deletable.

use super::engine::World;

/// A plugin shipped inside the `wasmhook` binary.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// The name admins and transform chains use.
    pub name: &'static str,
    /// The world it implements.
    pub world: World,
    /// The component bytes.
    pub bytes: &'static [u8],
    /// One line on what it does.
    pub summary: &'static str,
}

/// Every built-in plugin, by name.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "strtotime",
        world: World::Transform,
        bytes: include_bytes!(concat!(env!("WASMHOOK_GUEST_DIR"), "/strtotime.wasm")),
        summary: "parse a date/time string like PHP's strtotime into a unix timestamp",
    },
    Builtin {
        name: "normalize",
        world: World::Transform,
        bytes: include_bytes!(concat!(env!("WASMHOOK_GUEST_DIR"), "/normalize.wasm")),
        summary: "trim, change case, keep digits or canonicalise e-mail on chosen properties",
    },
    Builtin {
        name: "date-diff",
        world: World::Action,
        bytes: include_bytes!(concat!(env!("WASMHOOK_GUEST_DIR"), "/date_diff.wasm")),
        summary: "custom code action: days, hours and seconds from `from` to `to` (default: the event's time)",
    },
];

/// The runtime of `"language": "javascript"` custom code (the `script` world, on the Boa
/// engine); not a plugin of its own, so not in [`BUILTINS`].
pub const JAVASCRIPT: &[u8] = include_bytes!(concat!(env!("WASMHOOK_GUEST_DIR"), "/js_runtime.wasm"));

/// The runtime of `"language": "python"` custom code (the `script` world, on RustPython);
/// not a plugin of its own either.
pub const PYTHON: &[u8] = include_bytes!(concat!(env!("WASMHOOK_GUEST_DIR"), "/py_runtime.wasm"));

/// The runtime component of `language`.
pub fn runtime(language: crate::model::workflow::Language) -> &'static [u8] {
    match language {
        crate::model::workflow::Language::Javascript => JAVASCRIPT,
        crate::model::workflow::Language::Python => PYTHON,
    }
}

/// Look up a built-in by name.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}
