//! What one batch of events is processed with: the settings of their webhooks, the
//! enabled workflows and the loaded plugins, read once per batch rather than per event.
//! A settings change applies from the next batch on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::breaker::Breakers;
use crate::model::webhook::Webhook;
use crate::model::workflow::Workflow;
use crate::plugins::{Limits, LoadError, LoadedPlugin, PluginEngine, World, builtin};
use crate::store::events::StoredEvent;
use crate::store::{Store, StoreError};

/// Settings for one batch.
pub struct BatchConfig {
    webhooks: HashMap<String, Webhook>,
    /// Enabled workflows only.
    workflows: Vec<Workflow>,
    plugins: HashMap<String, Result<Arc<LoadedPlugin>, String>>,
    /// The worker's plugin breakers (a preview gets fresh ones, so it always runs).
    breakers: Arc<Breakers>,
}

impl BatchConfig {
    /// Read what `events` need: each distinct webhook once, the workflows once, and each
    /// plugin their transform chains name (through `cache`).
    pub fn load(
        store: &Store,
        engine: &PluginEngine,
        cache: &PluginCache,
        events: &[StoredEvent],
    ) -> Result<BatchConfig, StoreError> {
        let mut webhooks = HashMap::new();
        for event in events {
            if !webhooks.contains_key(&event.webhook_id)
                && let Some(webhook) = store.webhook_any(&event.webhook_id)?
            {
                webhooks.insert(event.webhook_id.clone(), webhook);
            }
        }
        Self::with_webhooks(store, engine, cache, webhooks)
    }

    /// The settings for trying `webhook` as given (perhaps with an unsaved transform chain)
    /// on its own events.
    pub fn for_preview(store: &Store, engine: &PluginEngine, webhook: Webhook) -> Result<BatchConfig, StoreError> {
        let webhooks = HashMap::from([(webhook.id.clone(), webhook)]);
        Self::with_webhooks(store, engine, &PluginCache::default(), webhooks)
    }

    fn with_webhooks(
        store: &Store,
        engine: &PluginEngine,
        cache: &PluginCache,
        webhooks: HashMap<String, Webhook>,
    ) -> Result<BatchConfig, StoreError> {
        let mut plugins = HashMap::new();
        for step in webhooks.values().flat_map(|w| &w.transforms) {
            if !plugins.contains_key(&step.plugin) {
                plugins.insert(step.plugin.clone(), cache.get(store, engine, &step.plugin, World::Transform));
            }
        }
        let workflows = store.list_workflows()?.into_iter().filter(|w| w.enabled).collect();
        Ok(BatchConfig { webhooks, workflows, plugins, breakers: cache.breakers.clone() })
    }

    /// The webhook that received an event; `None` once it is gone.
    pub fn webhook(&self, id: &str) -> Option<&Webhook> {
        self.webhooks.get(id)
    }

    /// The loaded plugin called `name`, or why it cannot run.
    pub fn plugin(&self, name: &str) -> Result<Arc<LoadedPlugin>, String> {
        self.plugins.get(name).cloned().unwrap_or_else(|| Err(format!("plugin `{name}` was not loaded")))
    }

    /// The breakers plugin calls of this batch go through.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// Enabled workflows of `object` that `webhook_id` triggers.
    pub fn workflows_for<'a>(&'a self, webhook_id: &'a str, object: &'a str) -> impl Iterator<Item = &'a Workflow> {
        self.workflows.iter().filter(move |w| w.object == object && w.triggers.iter().any(|t| t == webhook_id))
    }
}

/// Loaded plugins by name, kept across batches: a built-in is compiled once; an upload is
/// reloaded only when its stored sha256 changes (a replaced plugin applies to the events
/// processed after the upload).
#[derive(Default)]
pub struct PluginCache {
    loaded: Mutex<HashMap<String, (String, Arc<LoadedPlugin>)>>,
    /// Pinned versions of uploads, by sha256.
    pinned: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    /// Which of them are paused for timing out again and again.
    breakers: Arc<Breakers>,
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
