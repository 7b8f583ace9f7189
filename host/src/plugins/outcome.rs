//! Typed results of loading and calling a plugin.

use std::time::Duration;

use super::outbound::Exchange;
use crate::value::Property;

/// Why a component was refused at load time.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component file is larger than allowed.
    #[error("component is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a valid WebAssembly component.
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// The component exports the other world, or neither.
    #[error("{0}")]
    WrongWorld(String),
    /// Stored bytes no longer hash to what was recorded at upload.
    #[error("its stored bytes hash to {actual} but were uploaded as {recorded}; upload it again, then replay")]
    Corrupted {
        /// The hash of the bytes as read.
        actual: String,
        /// The hash recorded at upload.
        recorded: String,
    },
    /// The component imports something the sandbox does not provide.
    #[error("component imports what the sandbox does not provide: {0}")]
    UnsatisfiedImport(String),
}

/// Why a plugin call failed. Each variant is an event's failure reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginFailure {
    /// The call ran past its CPU time limit.
    #[error("timeout: the plugin ran longer than {limit_ms} ms")]
    Timeout {
        /// The limit that was hit.
        limit_ms: u64,
    },
    /// The guest tried to grow its memory past the limit.
    #[error("memory_limit: the plugin tried to use more than {limit_bytes} bytes of memory")]
    MemoryLimit {
        /// The limit that was hit.
        limit_bytes: usize,
    },
    /// The guest trapped (panic, unreachable, stack overflow, ...).
    #[error("trap: {message}")]
    Trap {
        /// The trap, with the guest's panic message when it printed one.
        message: String,
    },
    /// The guest returned an error value on purpose.
    #[error("guest_error: {code}: {message}")]
    GuestError {
        /// The guest's code.
        code: String,
        /// The guest's message.
        message: String,
    },
    /// The guest returned something the host cannot accept.
    #[error("invalid_output: {reason}")]
    InvalidOutput {
        /// What was wrong.
        reason: String,
    },
}

impl PluginFailure {
    /// The outcome's stable name: `timeout`, `memory_limit`, `trap`, `guest_error`, `invalid_output`.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginFailure::Timeout { .. } => "timeout",
            PluginFailure::MemoryLimit { .. } => "memory_limit",
            PluginFailure::Trap { .. } => "trap",
            PluginFailure::GuestError { .. } => "guest_error",
            PluginFailure::InvalidOutput { .. } => "invalid_output",
        }
    }
}

/// What one call produced: the properties or a failure, and what the guest printed.
#[derive(Debug, Clone)]
pub struct CallReport {
    /// The new properties (transform) or outputs (action), or why there are none.
    pub result: Result<Vec<Property>, PluginFailure>,
    /// The guest's stdout and stderr, interleaved, truncated to the log limit.
    pub log: String,
    /// Bytes the guest printed beyond the log limit (dropped).
    pub log_dropped_bytes: u64,
    /// Wall time of instantiate + call.
    pub duration: Duration,
    /// The HTTP requests an action made, in the order they ended.
    pub requests: Vec<Exchange>,
    /// The largest linear memory of the call's instance, bytes (0 if none was made).
    pub memory_bytes: usize,
}

impl CallReport {
    /// `ok`, or the failure's kind (`timeout`, `trap`, ...): the metrics label.
    pub fn outcome(&self) -> &'static str {
        self.result.as_ref().map_or_else(PluginFailure::kind, |_| "ok")
    }
}
