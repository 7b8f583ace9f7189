//! What one batch of events is processed with: the settings of their webhooks, the
//! enabled workflows and the loaded plugins, read once per batch rather than per event.
//! A settings change applies from the next batch on.

use std::collections::HashMap;
use std::sync::Arc;

use super::breaker::Breakers;
use crate::model::ids::WebhookId;
use crate::model::webhook::Webhook;
use crate::model::workflow::Workflow;
use crate::plugins::{LoadedPlugin, PluginEngine, World};
use crate::store::events::StoredEvent;
use crate::store::{Store, StoreError};
use crate::work::plugin_cache::PluginCache;

/// The pipeline's plugins, kept across batches: compiled transforms, and the breakers of
/// the steps that run them (a webhook moving lanes keeps its breaker).
#[derive(Default)]
pub struct TransformPlugins {
    /// Compiled plugins by name and version.
    pub cache: PluginCache,
    /// Which steps are paused for timing out again and again.
    pub breakers: Arc<Breakers>,
}

/// Settings for one batch.
pub struct BatchConfig {
    webhooks: HashMap<WebhookId, Webhook>,
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
        plugins: &TransformPlugins,
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
        Self::with_webhooks(store, engine, plugins, webhooks)
    }

    /// The settings for trying `webhook` as given (perhaps with an unsaved transform chain)
    /// on its own events.
    pub fn for_preview(store: &Store, engine: &PluginEngine, webhook: Webhook) -> Result<BatchConfig, StoreError> {
        let webhooks = HashMap::from([(webhook.id.clone(), webhook)]);
        Self::with_webhooks(store, engine, &TransformPlugins::default(), webhooks)
    }

    fn with_webhooks(
        store: &Store,
        engine: &PluginEngine,
        kept: &TransformPlugins,
        webhooks: HashMap<WebhookId, Webhook>,
    ) -> Result<BatchConfig, StoreError> {
        let mut plugins = HashMap::new();
        for step in webhooks.values().flat_map(|w| &w.transforms) {
            if !plugins.contains_key(&step.plugin) {
                plugins.insert(step.plugin.clone(), kept.cache.get(store, engine, &step.plugin, World::Transform));
            }
        }
        let workflows = store.list_workflows()?.into_iter().filter(|w| w.enabled).collect();
        Ok(BatchConfig { webhooks, workflows, plugins, breakers: kept.breakers.clone() })
    }

    /// The webhook that received an event; `None` once it is gone.
    pub fn webhook(&self, id: &WebhookId) -> Option<&Webhook> {
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
    pub fn workflows_for<'a>(
        &'a self,
        webhook_id: &'a WebhookId,
        object: &'a str,
    ) -> impl Iterator<Item = &'a Workflow> {
        self.workflows.iter().filter(move |w| w.object == object && w.triggers.iter().any(|t| t == webhook_id))
    }
}
