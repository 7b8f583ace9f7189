//! wasmhook turns incoming webhooks into workflow enrollments; its mapping logic is
//! extensible with sandboxed WebAssembly plugins.
//!
//! # Layout
//! From the bottom layer up (`docs/architecture.md`; a unit test holds imports to it):
//! - [`model`]: the domain's vocabulary as types (statuses, states, property types, workflows, steps, ids).
//! - [`value`]: plain property values, shared by every stage.
//! - [`flatten`]: payload → scalar fields by path.
//! - [`cpu_clock`]: the thread's CPU clock (plugin time limits, event costs).
//! - [`circuit`]: a breaker's state (failures in a row, pause, probe), for transforms and destinations.
//! - [`tally`]: counts per minute of what happened (events by status, latency, failures), flushed to the store.
//! - [`crash`]: crash points a test arms (`WASMHOOK_CRASH_AT`) to crash the ingest log's moments.
//! - [`coerce`]: mapped fields → typed properties (the built-in type rules).
//! - [`telemetry`]: metrics, logs and request ids.
//! - [`plugins`]: the WebAssembly engine (limits, sandbox, bindings, built-ins).
//! - [`store`]: storage, on the SQLite file under the data dir or a shared PostgreSQL database.
//! - [`secrets`]: secrets for custom code actions, encrypted at rest.
//! - [`work`]: thread plumbing the stages share (waker, pool, panics, plugin cache, the node's threads).
//! - [`http`]: the error answer and its JSON body, request bodies, blocking work.
//! - [`wizard`]: the set-up wizard's rules (name, mapping, transform chain, match rule).
//! - [`ingest`]: `POST /hooks/{token}`: checks, durable group commit, 202.
//! - [`pipeline`]: coerce → transform → match → enroll, batch by batch on worker threads.
//! - [`act`]: each enrollment runs its workflow's actions, step by step, resumably.
//! - [`import`]: bulk record imports, chunk by chunk, resumable.
//! - [`retention`]: the pruner: old events and ended enrollments deleted in small batches.
//! - [`watch`]: what the operator watches: the counts flushed, alerts evaluated and delivered.
//! - [`api`]: the HTTP API (router, admin routes, connection loop, UI).
//! - [`node`]: the composition root: starts and stops every part of a server.
//! - [`cli`]: the command-line verbs (`serve`, admin verbs, `plugin run`).
//! - [`bench`]: the benchmarks, run by the separate `wasmhook-bench` binary.
#![deny(missing_docs)]

pub(crate) mod act;
pub(crate) mod api;
pub mod bench;
pub(crate) mod circuit;
pub mod cli;
pub mod coerce;
pub(crate) mod cpu_clock;
pub(crate) mod crash;
pub mod flatten;
pub(crate) mod http;
pub(crate) mod import;
pub mod ingest;
#[cfg(test)]
mod layers;
pub(crate) mod model;
pub mod node;
pub(crate) mod pipeline;
pub mod plugins;
pub(crate) mod retention;
pub(crate) mod secrets;
pub(crate) mod store;
pub(crate) mod tally;
pub(crate) mod telemetry;
pub mod value;
pub(crate) mod watch;
pub(crate) mod wizard;
pub(crate) mod work;
