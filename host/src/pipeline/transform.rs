//! The webhook's transform chain: each step's output feeds the next and is kept on the
//! event with the sha256 of the plugin that produced it.

use serde::Serialize;
use serde_json::Value as Json;

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
    /// One entry per step that ran.
    pub steps: Vec<StepTrace>,
}

/// What one step of the chain did, kept on the event (`transforms`) and answered by a
/// preview.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = TransformTrace)]
pub struct StepTrace {
    /// The plugin's name.
    pub plugin: String,
    /// The sha256 of the component that ran (absent if it could not be loaded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// How long the call took, in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    /// What the plugin printed (stdout and stderr), when it printed anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The properties it returned, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub output: Option<Json>,
    /// Why it failed: `timeout`, `memory_limit`, `trap`, `guest_error`, `invalid_output`,
    /// or `paused` (its circuit breaker is open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// The failure, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StepTrace {
    fn new(plugin: &str) -> StepTrace {
        StepTrace {
            plugin: plugin.to_string(),
            sha256: None,
            duration_us: None,
            log: None,
            output: None,
            outcome: None,
            error: None,
        }
    }
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
                records.push(StepTrace { error: Some(why.clone()), ..StepTrace::new(&step.plugin) });
                return ChainResult { result: Err(fail(why)), steps: records };
            }
        };
        let breaker = step_key(&call.webhook_id, index, &loaded.sha256, &step.config);
        if let Err(why) = config.breakers().admit(&step.plugin, &breaker) {
            records.push(StepTrace {
                sha256: Some(loaded.sha256.clone()),
                outcome: Some("paused"),
                error: Some(why.clone()),
                ..StepTrace::new(&step.plugin)
            });
            return ChainResult { result: Err(fail(why)), steps: records };
        }
        let limits = Limits::default();
        let report = engine.transform(&loaded, call, &step.config, &properties, &limits);
        crate::telemetry::metrics::plugin_called(&step.plugin, "transform", report.outcome(), report.duration);
        config.breakers().record(&breaker, report.result.as_ref().map(|_| ()));
        let mut record = StepTrace {
            sha256: Some(loaded.sha256.clone()),
            duration_us: Some(u64::try_from(report.duration.as_micros()).unwrap_or(u64::MAX)),
            log: (!report.log.is_empty()).then_some(report.log),
            ..StepTrace::new(&step.plugin)
        };
        match report.result {
            Ok(out) => {
                record.output = Some(properties_to_json(&out));
                records.push(record);
                properties = out;
            }
            Err(failure) => {
                record.error = Some(failure.to_string());
                record.outcome = Some(failure.kind());
                records.push(record);
                return ChainResult { result: Err(fail(failure.to_string())), steps: records };
            }
        }
    }
    ChainResult { result: Ok(properties), steps: records }
}
