//! The webhook's transform chain: each step's output feeds the next and is kept on the
//! event with the sha256 of the plugin that produced it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};

use super::Pipeline;
use crate::plugins::{CallContext, Limits, LoadedPlugin, World, builtin};
use crate::store::webhooks::TransformStep;
use crate::value::{Property, properties_to_json};

/// What the chain produced: the final properties or the failing step's reason, and a
/// record per step.
pub struct ChainResult {
    /// Final properties, or why the chain stopped.
    pub result: Result<Vec<Property>, String>,
    /// One JSON object per step that ran.
    pub steps: Vec<Json>,
}

/// Run `steps` in order on `properties`.
pub fn run_chain(
    pipeline: &Pipeline<'_>,
    steps: &[TransformStep],
    call: &CallContext,
    mut properties: Vec<Property>,
) -> ChainResult {
    let mut records = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let fail = |why: String| format!("step {} ({}): {why}", index + 1, step.plugin);
        let loaded = match pipeline.plugins.get(pipeline, &step.plugin) {
            Ok(loaded) => loaded,
            Err(why) => {
                records.push(json!({"plugin": step.plugin, "error": why}));
                return ChainResult { result: Err(fail(why)), steps: records };
            }
        };
        let limits = Limits::default();
        let report = pipeline.engine.transform(&loaded, call, &step.config, &properties, &limits);
        let mut record = json!({
            "plugin": step.plugin,
            "sha256": loaded.sha256,
            "duration_us": report.duration.as_micros() as u64,
        });
        if !report.log.is_empty() {
            record["log"] = json!(report.log);
        }
        match report.result {
            Ok(out) => {
                record["output"] = properties_to_json(&out);
                records.push(record);
                properties = out;
            }
            Err(failure) => {
                record["error"] = json!(failure.to_string());
                record["outcome"] = json!(failure.kind());
                records.push(record);
                return ChainResult { result: Err(fail(failure.to_string())), steps: records };
            }
        }
    }
    ChainResult { result: Ok(properties), steps: records }
}

/// Loaded plugins by name, so an event does not re-read and re-hash a component: a
/// built-in is loaded once; an upload is reloaded only when its stored sha256 changes
/// (a replaced plugin applies to the events processed after the upload).
#[derive(Default)]
pub struct PluginCache {
    loaded: Mutex<HashMap<String, (String, Arc<LoadedPlugin>)>>,
}

impl PluginCache {
    fn get(&self, pipeline: &Pipeline<'_>, name: &str) -> Result<Arc<LoadedPlugin>, String> {
        let current_sha = match builtin::find(name) {
            Some(_) => None,
            None => match pipeline.store.plugin_sha256(name) {
                Ok(Some(sha)) => Some(sha),
                Ok(None) => return Err(format!("plugin `{name}` does not exist")),
                Err(e) => return Err(format!("plugin `{name}` could not be read: {e}")),
            },
        };
        let mut loaded = self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((sha, plugin)) = loaded.get(name)
            && current_sha.as_ref().is_none_or(|current| current == sha)
        {
            return Ok(plugin.clone());
        }
        let limits = Limits::default();
        let bytes: std::borrow::Cow<'_, [u8]> = match builtin::find(name) {
            Some(b) => b.bytes.into(),
            None => match pipeline.store.plugin_bytes(name) {
                Ok(Some((_, bytes))) => bytes.into(),
                Ok(None) => return Err(format!("plugin `{name}` does not exist")),
                Err(e) => return Err(format!("plugin `{name}` could not be read: {e}")),
            },
        };
        let plugin = pipeline
            .engine
            .load(&bytes, World::Transform, &limits)
            .map_err(|e| format!("plugin `{name}` cannot load: {e}"))?;
        loaded.insert(name.to_string(), (plugin.sha256.clone(), plugin.clone()));
        Ok(plugin)
    }
}
