//! Time stands still for guests: both clocks read the event's received-at, and any sleep
//! is over as soon as it starts.

use std::time::Duration;

use wasmtime::StoreContextMut;
use wasmtime::component::Linker;
use wasmtime_wasi::p2::{Pollable, subscribe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use super::SandboxState;

/// A wall clock that always reads the event's received-at time.
pub(super) struct FrozenWallClock(pub(super) Duration);

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that never advances, so guests cannot time the host.
pub(super) struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A pollable that is ready at once: in frozen time every deadline has already passed.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

/// The WASI clocks package the linker provides (wasmtime-wasi 48).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replace the monotonic clock's `subscribe-*` with pollables that are ready at once.
///
/// wasmtime-wasi waits on a real timer for those, inside a host call where the epoch
/// deadline cannot interrupt: a guest `sleep(1 hour)` would hold a host thread for an hour.
/// With the guest's clock frozen, a sleep that ends immediately is also the honest answer.
pub fn link_frozen_sleep(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    for name in ["subscribe-duration", "subscribe-instant"] {
        clock.func_wrap(name, |mut store: StoreContextMut<'_, SandboxState>, (_when,): (u64,)| {
            let table = &mut store.data_mut().table;
            let elapsed = table.push(Elapsed)?;
            Ok((subscribe(table, elapsed)?,))
        })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}
