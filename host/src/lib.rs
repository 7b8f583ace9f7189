//! wasmhook turns incoming webhooks into workflow enrollments; its mapping logic is
//! extensible with sandboxed WebAssembly plugins.
//!
//! # Layout
//! - [`model`]: the domain's vocabulary as types (statuses, states, property types, workflows, steps, ids).
//! - [`value`]: plain property values, shared by every stage.
//! - [`ingest`]: `POST /hooks/{token}`: content type, size, JSON, batch, durable write, 202.
//! - [`pipeline`]: coerce → transform → match → enroll, batch by batch on worker threads.
//! - [`act`]: each enrollment runs its workflow's actions, step by step, resumably.
//! - [`secrets`]: secrets for custom code actions, encrypted at rest.
//! - [`flatten`]: payload → scalar fields by path.
//! - [`coerce`]: mapped fields → typed properties (the built-in type rules).
//! - [`plugins`]: the WebAssembly engine (limits, sandbox, bindings, built-ins).
//! - [`store`]: the SQLite file under the data dir.
//! - [`import`]: bulk record imports, chunk by chunk, resumable.
//! - [`api`]: the HTTP server (health, admin routes).
//! - [`telemetry`]: metrics, logs and request ids.
//! - [`cli`]: the command-line verbs (`serve`, `plugin run`, `bench`).
#![deny(missing_docs)]

pub mod act;
pub mod api;
pub mod cli;
pub mod coerce;
pub mod flatten;
pub mod http;
pub mod import;
pub mod ingest;
#[cfg(test)]
mod layers;
pub mod model;
pub mod node;
pub mod pipeline;
pub mod plugins;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod value;
pub mod work;
