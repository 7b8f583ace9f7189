//! The plugin engine: compiles WebAssembly components once, and runs each call in a
//! fresh, sandboxed, resource-limited instance.
//!
//! - [`bindings`]: the generated WIT bindings and their conversions (the only place they appear).
//! - [`limits`]: per-plugin limits (time, memory, output, size).
//! - [`sandbox`]: the per-call store: WASI with nothing granted, frozen clocks, captured output.
//! - [`engine`]: compile, cache, validate the world, call, classify failures.
//! - `cpu_budget`: a call's time limit, counted in the CPU time its polls used.
//! - `block_on`: a transform's call run to its end on the calling thread.
//! - `preinit`: the script runtime's snapshot with its engine started.
//! - [`source_snapshots`]: which steps' sources have a snapshot of their own.
//! - [`builtin`]: the plugins embedded in the binary.
//! - [`outbound`]: what an action's HTTP requests may reach (allowed hosts, no private network).

pub(crate) mod bindings;
mod block_on;
pub mod builtin;
mod cpu_budget;
pub mod engine;
pub mod limits;
pub mod outbound;
pub mod outcome;
mod preinit;
pub mod sandbox;
pub mod source_snapshots;

pub use crate::model::workflow::Language;
pub use bindings::through_wit;
pub use engine::{Allocation, CallContext, LoadedPlugin, PluginEngine, World};
pub use limits::Limits;
pub use outcome::{CallReport, LoadError, PluginFailure};

/// The hex SHA-256 a step's source is pinned by (and its snapshot kept under).
pub fn source_sha256(source: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(source.as_bytes()))
}
