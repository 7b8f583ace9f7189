//! Per-plugin resource limits, with the design's defaults.

use std::time::Duration;

/// One mebibyte.
pub const MIB: usize = 1 << 20;

/// The largest linear memory any plugin may be granted; the pooling allocator's slot size.
pub const MAX_MEMORY_CEILING: usize = 256 * MIB;

/// The largest component an admin may admit (`max_size_mib` at upload): a JavaScript
/// component carries its engine and weighs ~12 MiB.
pub const MAX_COMPONENT_CEILING: usize = 64 * MIB;

/// Limits applied to every call of one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU time per call, checked at epoch deadlines (default 100 ms); a call also ends after
    /// 20 times this in wall time (at least 2 s; 20 s for an action, which may wait on HTTP,
    /// and is ended at that bound even while it waits).
    pub timeout: Duration,
    /// Linear memory per instance; growth past it traps (default 16 MiB).
    pub memory_bytes: usize,
    /// Size of the returned properties: names plus values (default 1 MiB).
    pub output_bytes: usize,
    /// Size of the component file accepted at load (default 8 MiB).
    pub component_bytes: usize,
    /// Captured stdout + stderr kept per call; the rest is counted, not kept (default 64 KiB).
    pub log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_millis(100),
            memory_bytes: 16 * MIB,
            output_bytes: MIB,
            component_bytes: 8 * MIB,
            log_bytes: 64 * 1024,
        }
    }
}
