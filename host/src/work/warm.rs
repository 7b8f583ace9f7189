//! At start, compile the uploaded components the server will run (each upload's current
//! version, and the versions workflows pin) and pre-initialize the runtimes of source
//! written in steps on a background thread, so the first event after a restart does not
//! wait for a compile: a JavaScript component takes ~9 s here.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use super::threads::Threads;
use crate::model::workflow::{Action, Code, walk, written_sources};
use crate::plugins::{Limits, PluginEngine, World};
use crate::store::{Store, StoreError};

/// Start compiling in the background; failures are logged (the event that needs the
/// plugin fails with the reason, as it would without the warm-up).
pub fn spawn(store: Arc<Store>, engine: Arc<PluginEngine>, node: &Threads) -> std::io::Result<()> {
    let stopping = node.clone();
    node.spawn("wasmhook-warm", move || {
        // Acknowledging requests comes first, as for the pipeline's threads.
        super::pool::yield_cpu_to_ingest();
        let started = Instant::now();
        match warm(&store, &engine, &stopping) {
            Ok(count) => tracing::info!(count, seconds = started.elapsed().as_secs_f64(), "uploaded plugins compiled"),
            Err(e) => tracing::warn!(error = %e, "could not read the uploaded plugins to compile them"),
        }
    })
}

/// Compile every version in use into the engine's cache; how many loaded.
fn warm(store: &Store, engine: &Arc<PluginEngine>, node: &Threads) -> Result<usize, StoreError> {
    let mut versions: BTreeSet<String> = store.list_plugins()?.into_iter().map(|p| p.sha256).collect();
    let mut languages = BTreeSet::new();
    for workflow in store.list_workflows()? {
        walk(&workflow.actions, "", &mut |_, action| {
            if let Action::CustomCode(code) = action
                && let (Some(Code::Plugin(_)), Some(sha)) = (code.code(), &code.sha256)
            {
                versions.insert(sha.clone());
            }
        });
        for (language, source, sha256) in written_sources(&workflow.actions) {
            languages.insert(language);
            // Each source's own snapshot, made by the engine's worker meanwhile.
            engine.want_snapshot(language, source, sha256);
        }
    }
    let mut loaded = 0;
    // The runtimes of source written in steps, pre-initialized, before the uploads: a
    // workflow saved with source must run at once, and at its fastest.
    for language in languages {
        match engine.prepare_runtime(language) {
            Ok(()) => loaded += 1,
            Err(e) => tracing::warn!(language = language.as_str(), error = %e, "a built-in runtime does not load"),
        }
    }
    // A node stopping meanwhile stops between two compiles.
    for sha in versions.into_iter().take_while(|_| !node.stopping()) {
        let Some((world, bytes)) = store.plugin_version(&sha)? else { continue };
        let world = if world == World::Action.name() { World::Action } else { World::Transform };
        match engine.load_recorded(&bytes, world, &Limits::default(), &sha) {
            Ok(_) => loaded += 1,
            Err(e) => tracing::warn!(sha256 = %sha, error = %e, "an uploaded plugin does not load"),
        }
    }
    Ok(loaded)
}
