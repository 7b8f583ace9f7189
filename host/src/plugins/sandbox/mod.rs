//! The per-call store state: WASI with nothing granted, clocks frozen at the event's
//! received-at, deterministic randomness, bounded output capture and a memory limiter.
//!
//! - [`output`]: bounded capture of the guest's stdout and stderr.
//! - [`frozen_time`]: clocks that stand still, and sleeps that end at once.
//! - [`limiter`]: the memory cap, remembering whether it was hit.

pub mod frozen_time;
pub mod limiter;
pub mod output;

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::outbound::OutboundHooks;

use super::engine::CallContext;
pub use frozen_time::link_frozen_sleep;
use frozen_time::{FrozenMonotonicClock, FrozenWallClock};
pub use limiter::MemoryLimiter;
pub use output::CapturedOutput;

/// Store data for one plugin call.
pub struct SandboxState {
    wasi: WasiCtx,
    pub(super) table: ResourceTable,
    /// Enforces the memory cap and remembers whether it was hit.
    pub limiter: MemoryLimiter,
    http: WasiHttpCtx,
    outbound: OutboundHooks,
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

// Linked for `action` components only; what they may reach is `outbound`'s to decide.
impl WasiHttpView for SandboxState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

impl SandboxState {
    /// A sandbox that grants nothing: no files, env, args, sockets (an action's HTTP requests
    /// go through `outbound`, which allows only its step's hosts); time stands still at
    /// `call.received_at_ms`, and randomness is a function of `seed`.
    pub(crate) fn new(
        call: &CallContext,
        seed: [u8; 32],
        memory_bytes: usize,
        output: &CapturedOutput,
        outbound: OutboundHooks,
    ) -> Self {
        let received = Duration::from_millis(u64::try_from(call.received_at_ms).unwrap_or(0));
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(output.clone())
            .stderr(output.clone())
            .wall_clock(FrozenWallClock(received))
            .monotonic_clock(FrozenMonotonicClock)
            .secure_random(wasmtime_wasi::Deterministic::new(seed.to_vec()))
            .insecure_random(wasmtime_wasi::Deterministic::new(seed.iter().rev().copied().collect()))
            .insecure_random_seed(u128::from_le_bytes(seed[..16].try_into().unwrap_or([0; 16])))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        SandboxState {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_bytes),
            http: WasiHttpCtx::new(),
            outbound,
        }
    }
}
