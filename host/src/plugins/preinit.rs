//! Pre-initialization of the built-in script runtime: run its `wizer-initialize` export
//! once (the JavaScript engine and its prelude started) and snapshot the instance into a
//! new component whose calls find them started. wasmtime's pre-initializer (Wizer) does
//! the work; the snapshot is a `script` component (with the initializer still exported,
//! never called again).

use wasmtime::Store;
use wasmtime::component::Linker;

use super::cpu_budget::{CpuBudget, Metered};
use super::sandbox::SandboxState;

/// The snapshot of the component `bytes` after its initializer ran in `store` (a call's
/// sandbox: nothing granted, `budget` bounding its time), its imports from `linker`.
pub(super) fn snapshot(
    store: &mut Store<SandboxState>,
    linker: &Linker<SandboxState>,
    bytes: &[u8],
    budget: &CpuBudget,
) -> Result<Vec<u8>, String> {
    let mut wizer = wasmtime_wizer::Wizer::new();
    // Removing the initializer leaves the component lifting a core export that is gone
    // (wasmtime-wizer 48 drops it from the core module only): the snapshot keeps it, and
    // the host never calls it.
    wizer.keep_init_func(true);
    let made =
        wizer.run_component(store, bytes, async |store, component| linker.instantiate_async(store, component).await);
    // Never pending: the initializer waits on nothing.
    let (snapshot, _) = super::block_on::block_on(Metered::new(made, budget.meter()))
        .map_err(|e| format!("pre-initializing the runtime failed: {e:#}"))?;
    Ok(snapshot)
}
