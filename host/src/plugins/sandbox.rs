//! The per-call store state: WASI with nothing granted, clocks frozen at the event's
//! received-at, deterministic randomness, bounded output capture and a memory limiter.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::ResourceLimiter;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, subscribe};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

use super::engine::CallContext;

/// Store data for one plugin call.
pub struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Enforces the memory cap and remembers whether it was hit.
    pub limiter: MemoryLimiter,
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl SandboxState {
    /// A sandbox that grants nothing: no files, env, args, network; time stands still at
    /// `call.received_at_ms`, and randomness is a function of the event id.
    pub fn new(call: &CallContext, memory_bytes: usize, output: &CapturedOutput) -> Self {
        let received = Duration::from_millis(u64::try_from(call.received_at_ms).unwrap_or(0));
        let seed: [u8; 32] = Sha256::digest(call.event_id.as_bytes()).into();
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(output.clone())
            .stderr(output.clone())
            .wall_clock(FrozenWallClock(received))
            .monotonic_clock(FrozenMonotonicClock)
            .secure_random(wasmtime_wasi::Deterministic::new(seed.to_vec()))
            .insecure_random(wasmtime_wasi::Deterministic::new(
                seed.iter().rev().copied().collect(),
            ))
            .insecure_random_seed(u128::from_le_bytes(
                seed[..16].try_into().unwrap_or([0; 16]),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        SandboxState {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit: memory_bytes,
                hit: false,
            },
        }
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
        clock.func_wrap(
            name,
            |mut store: StoreContextMut<'_, SandboxState>, (_when,): (u64,)| {
                let table = &mut store.data_mut().table;
                let elapsed = table.push(Elapsed)?;
                Ok((subscribe(table, elapsed)?,))
            },
        )?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Caps linear memory and table growth; records a hit so the failure can be typed.
pub struct MemoryLimiter {
    limit: usize,
    /// Set when the guest asked for more memory than allowed.
    pub hit: bool,
}

/// Upper bound on table elements; tables hold function references, a few thousand is plenty.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            // An error (not `Ok(false)`) makes the growth trap, so the guest cannot limp on.
            return Err(wasmtime::Error::msg("memory limit reached"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// A wall clock that always reads the event's received-at time.
struct FrozenWallClock(Duration);

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that never advances, so guests cannot time the host.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Guest stdout/stderr: keeps the first `capacity` bytes, counts the rest, never fails
/// a write (a chatty plugin is not a broken one).
#[derive(Clone)]
pub struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

struct Captured {
    capacity: usize,
    kept: Vec<u8>,
    dropped: u64,
}

impl CapturedOutput {
    /// An empty capture that keeps at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        CapturedOutput {
            inner: Arc::new(Mutex::new(Captured {
                capacity,
                kept: Vec::new(),
                dropped: 0,
            })),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut c = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let room = c.capacity.saturating_sub(c.kept.len());
        let take = room.min(bytes.len());
        c.kept.extend_from_slice(&bytes[..take]);
        c.dropped += (bytes.len() - take) as u64;
    }

    /// The kept text (lossy UTF-8) and the number of bytes dropped.
    pub fn take(&self) -> (String, u64) {
        let c = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (String::from_utf8_lossy(&c.kept).into_owned(), c.dropped)
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Writes are accepted whole in permits of this size; the capture decides what it keeps.
const WRITE_PERMIT: usize = 64 * 1024;

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
