//! `wasmhook plugin run`: one transform, locally, no server.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::plugins::{CallContext, Limits, LoadError, PluginEngine, PluginFailure, World, builtin};
use crate::value::{ValueError, properties_from_json, properties_to_json};

/// Arguments of `wasmhook plugin run`.
#[derive(Debug, Clone, clap::Args)]
pub struct PluginRunArgs {
    /// A built-in plugin name (`strtotime`, `normalize`) or a path to a `.wasm` component.
    pub plugin: String,
    /// A step setting, repeatable: `--config from=signed_up_at`.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub config: Vec<(String, String)>,
    /// The event's received-at as unix seconds (relative dates resolve against it); default: now.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub now: Option<i64>,
    /// CPU time limit per call, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub timeout_ms: u64,
    /// Memory limit, in MiB.
    #[arg(long, default_value_t = 16)]
    pub memory_mib: usize,
    /// Largest component admitted, in MiB (a JavaScript component needs ~12).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_size_mib: u32,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))
}

/// What a successful run produced.
#[derive(Debug)]
pub struct PluginRunOutput {
    /// The resulting properties as one line of JSON.
    pub output: String,
    /// What the guest printed.
    pub log: String,
}

/// Why `plugin run` failed; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum PluginRunError {
    /// stdin was not JSON.
    #[error("stdin is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// stdin was JSON but not an object of scalars.
    #[error("{0}")]
    Properties(#[from] ValueError),
    /// The plugin could not be read.
    #[error("cannot read plugin `{path}`: {source}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The plugin was refused at load.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The call failed.
    #[error("{0}")]
    Call(#[from] PluginFailure),
    /// The engine did not start.
    #[error("{0}")]
    Engine(#[from] crate::plugins::engine::EngineError),
}

/// Load the plugin, run it once on `stdin`, and return the JSON result.
pub fn plugin_run(args: &PluginRunArgs, stdin: &str) -> Result<PluginRunOutput, PluginRunError> {
    let json: serde_json::Value = serde_json::from_str(stdin)?;
    let properties = properties_from_json(&json)?;
    let limits = Limits {
        timeout: Duration::from_millis(args.timeout_ms),
        memory_bytes: args.memory_mib.saturating_mul(crate::plugins::limits::MIB),
        component_bytes: args.max_size_mib as usize * crate::plugins::limits::MIB,
        ..Limits::default()
    };
    let engine = PluginEngine::new()?;
    let bytes = match builtin::find(&args.plugin) {
        Some(b) => b.bytes.to_vec(),
        None => std::fs::read(&args.plugin)
            .map_err(|source| PluginRunError::Read { path: PathBuf::from(&args.plugin), source })?,
    };
    let plugin = engine.load(&bytes, World::Transform, &limits)?;
    let now_ms = match args.now {
        Some(s) => s.saturating_mul(1000),
        None => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
    };
    let call = CallContext { event_id: "cli".into(), webhook_id: "cli".into(), received_at_ms: now_ms };
    let report = engine.transform(&plugin, &call, &args.config, &properties, &limits);
    let properties = report.result?;
    Ok(PluginRunOutput { output: properties_to_json(&properties).to_string(), log: report.log })
}
