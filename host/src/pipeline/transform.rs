//! The webhook's transform chain: each step's output feeds the next and is kept on the
//! event with the sha256 of the plugin that produced it.

use serde_json::{Value as Json, json};

use super::breaker::step_key;
use super::config::BatchConfig;
use crate::model::webhook::TransformStep;
use crate::plugins::{CallContext, Limits, PluginEngine};
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
    engine: &PluginEngine,
    config: &BatchConfig,
    steps: &[TransformStep],
    call: &CallContext,
    mut properties: Vec<Property>,
) -> ChainResult {
    let mut records = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let fail = |why: String| format!("step {} ({}): {why}", index + 1, step.plugin);
        let loaded = match config.plugin(&step.plugin) {
            Ok(loaded) => loaded,
            Err(why) => {
                records.push(json!({"plugin": step.plugin, "error": why}));
                return ChainResult { result: Err(fail(why)), steps: records };
            }
        };
        let breaker = step_key(&call.webhook_id, index, &loaded.sha256, &step.config);
        if let Err(why) = config.breakers().admit(&step.plugin, &breaker) {
            records.push(json!({"plugin": step.plugin, "sha256": loaded.sha256, "outcome": "paused", "error": why}));
            return ChainResult { result: Err(fail(why)), steps: records };
        }
        let limits = Limits::default();
        let report = engine.transform(&loaded, call, &step.config, &properties, &limits);
        crate::telemetry::metrics::plugin_called(&step.plugin, "transform", report.outcome(), report.duration);
        config.breakers().record(&breaker, report.result.as_ref().map(|_| ()));
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
