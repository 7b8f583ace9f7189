//! Thread plumbing shared by the stages that run off the request path (the pipeline and
//! the act stage): waking a thread, a bounded fan-out over OS threads, panics turned into
//! reasons, and compiled plugins kept across batches.
//!
//! - [`waker`]: wakes a background thread, never blocking.
//! - [`pool`]: `map_parallel` over up to N threads.
//! - [`panic`]: the message a caught panic carried.
//! - [`plugin_cache`]: plugins compiled once per name and version.
//! - [`threads`]: a node's background threads, stopped and joined together.
//! - [`warm`]: the uploads in use compiled at start, off the request path.

pub mod panic;
pub mod plugin_cache;
pub mod pool;
pub mod threads;
pub mod waker;
pub mod warm;
