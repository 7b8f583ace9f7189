//! Compiled plugins by name and version, shared by the stages that call plugins (the
//! pipeline's transforms, the act stage's custom code, the action test route).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::plugins::{Limits, LoadError, LoadedPlugin, PluginEngine, World, builtin};
use crate::store::{Store, StoreError};

/// Loaded plugins by name, kept across batches: a built-in is compiled once; an upload is
/// reloaded only when its stored sha256 changes (a replaced plugin applies to the events
/// processed after the upload).
#[derive(Default)]
pub struct PluginCache {
    loaded: Mutex<HashMap<String, (String, Arc<LoadedPlugin>)>>,
    /// Pinned versions of uploads, by sha256.
    pinned: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
}

impl PluginCache {
    /// Plugin `name` at version `sha256` when pinned (uploads kept by content), else its
    /// current version.
    pub fn get_pinned(
        &self,
        store: &Store,
        engine: &PluginEngine,
        name: &str,
        sha256: Option<&str>,
        world: World,
    ) -> Result<Arc<LoadedPlugin>, String> {
        let Some(sha) = sha256.filter(|_| builtin::find(name).is_none()) else {
            return self.get(store, engine, name, world);
        };
        if let Some(plugin) = self.lock_pinned().get(sha) {
            return Ok(plugin.clone());
        }
        // Compiled without the lock held: a large component (a JavaScript one takes seconds)
        // must not hold up every other plugin lookup meanwhile.
        let (_, bytes) = store
            .plugin_version(sha)
            .map_err(|e| format!("plugin `{name}` could not be read: {e}"))?
            .ok_or_else(|| format!("plugin `{name}` version {sha} is not stored"))?;
        let plugin = engine.load_recorded(&bytes, world, &Limits::default(), sha).map_err(|e| match e {
            LoadError::Corrupted { .. } => corrupted(name, &e),
            e => format!("plugin `{name}` version {sha} cannot load: {e}"),
        })?;
        self.lock_pinned().insert(sha.to_string(), plugin.clone());
        Ok(plugin)
    }

    fn lock_pinned(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LoadedPlugin>>> {
        self.pinned.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Arc<LoadedPlugin>)>> {
        self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The plugin called `name`, loading it if it is new or was replaced.
    pub fn get(
        &self,
        store: &Store,
        engine: &PluginEngine,
        name: &str,
        world: World,
    ) -> Result<Arc<LoadedPlugin>, String> {
        let unreadable = |e: StoreError| format!("plugin `{name}` could not be read: {e}");
        let missing = || format!("plugin `{name}` does not exist");
        let current_sha = match builtin::find(name) {
            Some(_) => None,
            None => Some(store.plugin_sha256(name).map_err(unreadable)?.ok_or_else(missing)?),
        };
        if let Some((sha, plugin)) = self.lock_loaded().get(name)
            && current_sha.as_ref().is_none_or(|current| current == sha)
        {
            return Ok(plugin.clone());
        }
        // Compiled without the lock held (see get_pinned).
        let bytes: std::borrow::Cow<'_, [u8]> = match builtin::find(name) {
            Some(b) => b.bytes.into(),
            None => store.plugin_bytes(name).map_err(unreadable)?.ok_or_else(missing)?.1.into(),
        };
        let limits = Limits::default();
        let plugin = match &current_sha {
            Some(recorded) => engine.load_recorded(&bytes, world, &limits, recorded),
            None => engine.load(&bytes, world, &limits),
        }
        .map_err(|e| match e {
            LoadError::Corrupted { .. } => corrupted(name, &e),
            e => format!("plugin `{name}` cannot load: {e}"),
        })?;
        self.lock_loaded().insert(name.to_string(), (plugin.sha256.clone(), plugin.clone()));
        Ok(plugin)
    }
}

/// The failure reason of a plugin whose stored bytes were damaged: stored events would
/// otherwise run code nobody uploaded (or fail with a puzzling trap).
fn corrupted(name: &str, e: &LoadError) -> String {
    format!("plugin `{name}` is corrupted: {e}")
}
