//! The memory cap: growth past the limit traps, and the hit is remembered so the failure
//! is reported as `memory_limit` rather than a bare trap.

use wasmtime::ResourceLimiter;

/// Caps linear memory and table growth; records a hit so the failure can be typed.
pub struct MemoryLimiter {
    limit: usize,
    /// Set when the guest asked for more memory than allowed.
    pub hit: bool,
    /// The largest size a linear memory of the instance had, bytes (its initial size
    /// included: creating a memory asks the limiter too).
    pub peak: usize,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes of linear memory.
    pub fn new(limit: usize) -> Self {
        MemoryLimiter { limit, hit: false, peak: 0 }
    }
}

/// Upper bound on table elements; tables hold function references, a few thousand is plenty.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            // An error (not `Ok(false)`) makes the growth trap, so the guest cannot limp on.
            return Err(wasmtime::Error::msg("memory limit reached"));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
