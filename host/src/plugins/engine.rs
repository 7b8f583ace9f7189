//! Compile components once, keep an `InstancePre` per plugin, and run every call in a
//! fresh pooled instance under a CPU-time limit (checked at epoch deadlines) and a memory cap.
//!
//! Calls run on fibers (wasmtime's async support): a transform never waits and is run to
//! its end on the calling thread; an action's HTTP requests are awaited, so a step waiting
//! on another system holds an instance and a fiber stack but no thread.

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use super::bindings::{action, script, transform, wit};
use super::cpu_budget::{CpuBudget, MIN_WALL, MIN_WALL_ACTION, Meter, Metered};
use super::limits::{Limits, MAX_MEMORY_CEILING};
use super::outbound::{AllowedHost, Exchanges, OutboundHooks, OutboundPolicy};
use super::outcome::{CallReport, LoadError, PluginFailure};
use super::sandbox::{CapturedOutput, SandboxState};
use super::source_snapshots::{MAX_SOURCE_SNAPSHOTS, SourceSnapshots};
use crate::model::workflow::Language;
use crate::value::Property;

/// How often the epoch advances; timeouts are rounded up to whole ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Instances that may be live at once: the actions in flight plus one per transform
/// thread, with room to spare.
const POOL_INSTANCES: u32 = 256;

/// Action calls in flight at once, each holding a pooled instance while it waits on the
/// network; the next ones wait for a slot (without a thread).
pub const ACTION_SLOTS: usize = 128;

/// Bytes of each pooled memory kept mapped between instances (reset in place, not unmapped).
const KEEP_RESIDENT: usize = 2 * 1024 * 1024;

/// CPU time the script runtime's initializer may take (it starts the engine, ~4 ms here,
/// and compiles a step's source).
const PREINIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The built-in script runtime's compiled forms.
#[derive(Default)]
struct ScriptRuntime {
    /// As built: the engine starts on every call.
    plain: Option<Arc<LoadedPlugin>>,
    /// The pre-initialized snapshot, once made.
    started: Option<Arc<LoadedPlugin>>,
    /// Whether making the snapshot has started (it is made once: a failure is logged and
    /// calls keep the runtime as built).
    preparing: bool,
}

/// CPU time a syntax check may take: parsing the largest source a step may hold
/// (100 KB) takes a few ms.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// A source's snapshot is kept under its language and hash: the same text can be valid
/// in two languages (`x = 1`).
type SourceKey = (Language, String);

/// Deepest guest stack; a runaway recursion ends as a `trap` long before the host's stack.
const MAX_WASM_STACK: usize = 512 * 1024;

/// Which WIT world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    /// `wasmhook:plugin/transform`: rewrites an event's properties.
    Transform,
    /// `wasmhook:plugin/action`: a workflow's custom code step.
    Action,
    /// `wasmhook:plugin/script`: the runtime of custom code written in a step (JavaScript).
    Script,
}

impl World {
    /// The world's name as written in the WIT (`transform`, `action`).
    pub fn name(self) -> &'static str {
        match self {
            World::Transform => "transform",
            World::Action => "action",
            World::Script => "script",
        }
    }

    /// The interface the world exports, fully qualified.
    fn export(self) -> &'static str {
        match self {
            World::Transform => "wasmhook:plugin/transformer@0.1.0",
            World::Action => "wasmhook:plugin/actor@0.1.0",
            World::Script => "wasmhook:plugin/script-runner@0.1.0",
        }
    }
}

/// The event a call works for: its id, webhook and received-at time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// Event id.
    pub event_id: String,
    /// Webhook id.
    pub webhook_id: String,
    /// Received-at in unix milliseconds; the guest's clock reads this.
    pub received_at_ms: i64,
}

enum Pre {
    Transform(transform::TransformPre<SandboxState>),
    Action(action::ActionPre<SandboxState>),
    Script(script::ScriptPre<SandboxState>),
}

/// A compiled, linked, validated component, ready to instantiate.
pub struct LoadedPlugin {
    /// Hex SHA-256 of the component bytes.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: usize,
    /// The world it implements.
    pub world: World,
    pre: Pre,
}

/// Compiles and runs plugins. Cheap to share behind an `Arc`; calls may run on many threads.
pub struct PluginEngine {
    engine: Engine,
    /// WASI with nothing granted: what transforms are instantiated with.
    linker: Linker<SandboxState>,
    /// The same plus `wasi:http`, for actions (their requests go through `outbound`).
    action_linker: Linker<SandboxState>,
    outbound: OutboundPolicy,
    action_slots: tokio::sync::Semaphore,
    cache: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    /// Each language's runtime, by [`Language::index`]: held without hashing its
    /// component again per call, and locked while it compiles so two first callers do
    /// not both compile it.
    runtimes: [Mutex<ScriptRuntime>; 2],
    /// Snapshots of a runtime with a step's source compiled, by language and hash.
    sources: Mutex<SourceSnapshots<SourceKey, LoadedPlugin>>,
    // Dropping the sender stops the epoch ticker thread.
    _ticker: Sender<()>,
}

/// Failure to build the engine itself (a host configuration problem, not a plugin's).
#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin engine: {0}")]
pub struct EngineError(String);

/// How instances get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// Pre-reserved slots reused across calls (the production setting).
    Pooling,
    /// mmap per instance; kept for comparison in `wasmhook-bench`.
    OnDemand,
}

impl PluginEngine {
    /// Build an engine with the pooling allocator, epoch interruption and WASI p2 linked.
    pub fn new() -> Result<Self, EngineError> {
        Self::with_allocation(Allocation::Pooling)
    }

    /// Build an engine with the given allocation strategy.
    pub fn with_allocation(allocation: Allocation) -> Result<Self, EngineError> {
        let mut pool = PoolingAllocationConfig::new();
        // Pooling makes a fresh instance per call cheap: slots are reused, and memory
        // images are mapped copy-on-write instead of copied.
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 4)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 4)
            .total_stacks(POOL_INSTANCES)
            .max_memory_size(MAX_MEMORY_CEILING)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            // Keep touched pages resident between calls and, with PAGEMAP_SCAN (Linux 6.7+),
            // reset only the pages a call dirtied: no madvise, no page faults on the next call.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(Enabled::Auto)
            .table_keep_resident(64 * 1024);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .memory_init_cow(true)
            .allocation_strategy(match allocation {
                Allocation::Pooling => InstanceAllocationStrategy::Pooling(pool),
                Allocation::OnDemand => InstanceAllocationStrategy::OnDemand,
            });
        let engine = Engine::new(&config).map_err(|e| EngineError(format!("{e:#}")))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| super::sandbox::link_frozen_sleep(&mut linker))
            .map_err(|e| EngineError(format!("{e:#}")))?;

        let (tx, rx) = mpsc::channel::<()>();
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("wasmhook-epoch".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(EPOCH_TICK) {
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| EngineError(e.to_string()))?;

        let mut action_linker = linker.clone();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut action_linker)
            .map_err(|e| EngineError(format!("{e:#}")))?;
        let outbound = OutboundPolicy::new(Vec::new(), None).map_err(|e| EngineError(e.to_string()))?;
        Ok(PluginEngine {
            engine,
            linker,
            action_linker,
            outbound,
            action_slots: tokio::sync::Semaphore::new(ACTION_SLOTS),
            cache: Mutex::new(HashMap::new()),
            runtimes: Default::default(),
            sources: Mutex::new(SourceSnapshots::new(MAX_SOURCE_SNAPSHOTS)),
            _ticker: tx,
        })
    }

    /// The breakers of the destinations action plugins send to.
    pub fn breakers(&self) -> &super::outbound::Breakers {
        self.outbound.breakers()
    }

    /// Send a request of the host's own (a `send_webhook` step) under the same outbound
    /// settings and breakers as the plugins' requests.
    pub async fn send(
        &self,
        destination: &AllowedHost,
        outgoing: super::outbound::Outgoing<'_>,
    ) -> super::outbound::HostSent {
        self.outbound.send(destination, outgoing).await
    }

    /// This engine with the server's outbound settings (`--outbound-allow`, `--outbound-ca`).
    pub fn with_outbound(mut self, outbound: OutboundPolicy) -> Self {
        self.outbound = outbound;
        self
    }

    /// Compile (or fetch from cache) a component and check it implements `expected`.
    pub fn load(&self, bytes: &[u8], expected: World, limits: &Limits) -> Result<Arc<LoadedPlugin>, LoadError> {
        self.load_as(bytes, Some(expected), limits, None)
    }

    /// [`load`](Self::load) stored bytes that were uploaded with sha256 `recorded`: bytes
    /// that no longer hash to it (a damaged database page, a hand edit) are refused before
    /// they are compiled, with the one hash the load computes anyway. Their size was
    /// admitted at upload (an admin may grant more than the default), so it is not checked.
    pub fn load_recorded(
        &self,
        bytes: &[u8],
        expected: World,
        limits: &Limits,
        recorded: &str,
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        self.load_as(bytes, Some(expected), limits, Some(recorded))
    }

    /// Compile (or fetch from cache) a component of either world, whichever it exports:
    /// one compilation, for uploads that say nothing about their world.
    pub fn load_any(&self, bytes: &[u8], limits: &Limits) -> Result<Arc<LoadedPlugin>, LoadError> {
        self.load_as(bytes, None, limits, None)
    }

    fn load_as(
        &self,
        bytes: &[u8],
        expected: Option<World>,
        limits: &Limits,
        recorded: Option<&str>,
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        if recorded.is_none() && bytes.len() > limits.component_bytes {
            return Err(LoadError::TooLarge { size: bytes.len(), limit: limits.component_bytes });
        }
        let sha256 = hex::encode(Sha256::digest(bytes));
        if let Some(recorded) = recorded.filter(|r| *r != sha256) {
            return Err(LoadError::Corrupted { actual: sha256, recorded: recorded.to_string() });
        }
        let key = |world: World| format!("{sha256}/{}", world.name());
        let candidates = expected.map_or(vec![World::Transform, World::Action], |w| vec![w]);
        if let Some(hit) = candidates.iter().find_map(|w| self.lock_cache().get(&key(*w)).cloned()) {
            return Ok(hit);
        }
        let loaded = self.compile(bytes, expected, &candidates, sha256.clone())?;
        self.lock_cache().insert(key(loaded.world), loaded.clone());
        Ok(loaded)
    }

    /// Compile `bytes` (hash `sha256`) as one of the `candidates` worlds, link it, and check
    /// its exports; kept by no cache.
    fn compile(
        &self,
        bytes: &[u8],
        expected: Option<World>,
        candidates: &[World],
        sha256: String,
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let exports: Vec<String> =
            component.component_type().exports(&self.engine).map(|(name, _)| name.to_string()).collect();
        let world = match candidates.iter().find(|w| exports.iter().any(|e| e == w.export())) {
            Some(world) => *world,
            None => return Err(LoadError::WrongWorld(wrong_world_message(expected, &exports))),
        };
        let linker = match world {
            World::Transform => &self.linker,
            World::Action | World::Script => &self.action_linker,
        };
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            let imports_http =
                component.component_type().imports(&self.engine).any(|(name, _)| name.starts_with("wasi:http/"));
            if world == World::Transform && imports_http {
                LoadError::UnsatisfiedImport(
                    "a transform may not import `wasi:http`: transforms make no network requests, so a replay \
                     computes what the first run did; call other systems from an action"
                        .to_string(),
                )
            } else {
                LoadError::UnsatisfiedImport(format!("{e:#}"))
            }
        })?;
        let pre = match world {
            World::Transform => Pre::Transform(
                transform::TransformPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?,
            ),
            World::Action => {
                Pre::Action(action::ActionPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?)
            }
            World::Script => {
                Pre::Script(script::ScriptPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?)
            }
        };
        Ok(Arc::new(LoadedPlugin { sha256, size: bytes.len(), world, pre }))
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LoadedPlugin>>> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run a `transform` plugin on `properties` with the step's `config`, on this thread.
    pub fn transform(
        &self,
        plugin: &LoadedPlugin,
        call: &CallContext,
        config: &[(String, String)],
        properties: &[Property],
        limits: &Limits,
    ) -> CallReport {
        let properties: Vec<wit::Property> = properties.iter().map(Into::into).collect();
        let mut run = Run::new(limits);
        let Pre::Transform(pre) = &plugin.pre else {
            return run.wrong_world(plugin.world, World::Transform);
        };
        let (mut store, budget) = self.store(&run, call, limits, World::Transform, Arc::from([]));
        let called = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.wasmhook_plugin_transformer().call_transform(&mut store, &call.into(), config, &properties).await
        };
        // Never pending: nothing a transform may call waits, and its deadlines do not yield.
        let raw = super::block_on::block_on(Metered::new(called, budget.meter()));
        run.ended(raw, &store.data().limiter, limits)
    }

    /// Run an `action` plugin with its `inputs` and the `secrets` it names; its HTTP
    /// requests may go to `allowed` hosts only (none: no request is sent). Awaiting the
    /// requests holds no thread; it must be polled inside a Tokio runtime (the one its
    /// requests run on), and it ends by the action's wall bound (20 s) whatever it waits on.
    pub async fn action(
        &self,
        plugin: &LoadedPlugin,
        call: &CallContext,
        inputs: &[Property],
        secrets: &[(String, String)],
        limits: &Limits,
        allowed: &[AllowedHost],
    ) -> CallReport {
        let inputs: Vec<wit::Property> = inputs.iter().map(Into::into).collect();
        let mut run = Run::new(limits);
        let Pre::Action(pre) = &plugin.pre else {
            return run.wrong_world(plugin.world, World::Action);
        };
        let _slot = match self.slot().await {
            Ok(slot) => slot,
            Err(stopped) => return run.report(Err(stopped)),
        };
        let (mut store, budget) = self.store(&run, call, limits, World::Action, allowed.into());
        let called = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.wasmhook_plugin_actor().call_run(&mut store, &call.into(), &inputs, secrets).await
        };
        let raw = match within_wall(&budget, called).await {
            Ok(raw) => raw,
            Err(timeout) => return run.report(Err(timeout)),
        };
        run.ended(raw, &store.data().limiter, limits)
    }

    /// Run custom code written in a step: `source` on the script runtime `runtime`, with the
    /// `event` object (JSON text) and the `secrets` it names as `process.env`, under the
    /// limits and rules of an action call (its requests to `allowed` hosts only). The
    /// outputs are the `outputFields` the code gave, each a string, number, boolean or null.
    #[allow(clippy::too_many_arguments)]
    pub async fn script(
        &self,
        runtime: &LoadedPlugin,
        call: &CallContext,
        source: &str,
        event: &str,
        secrets: &[(String, String)],
        limits: &Limits,
        allowed: &[AllowedHost],
    ) -> CallReport {
        let mut run = Run::new(limits);
        let Pre::Script(pre) = &runtime.pre else {
            return run.wrong_world(runtime.world, World::Script);
        };
        let _slot = match self.slot().await {
            Ok(slot) => slot,
            Err(stopped) => return run.report(Err(stopped)),
        };
        let (mut store, budget) = self.store(&run, call, limits, World::Script, allowed.into());
        let called = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.wasmhook_plugin_script_runner().call_run(&mut store, &call.into(), source, event, secrets).await
        };
        let raw = match within_wall(&budget, called).await {
            Ok(raw) => raw.map(|returned| returned.and_then(|json| output_fields(&json))),
            Err(timeout) => return run.report(Err(timeout)),
        };
        run.ended(raw, &store.data().limiter, limits)
    }

    /// Whether `source` compiles on the script runtime `runtime`: the runtime's refusal
    /// (code `syntax`, a message that starts `line L, column C: `) if not.
    pub async fn check_script(
        &self,
        runtime: &LoadedPlugin,
        source: &str,
        limits: &Limits,
    ) -> Result<(), PluginFailure> {
        let mut run = Run::new(limits);
        let Pre::Script(pre) = &runtime.pre else {
            return run.wrong_world(runtime.world, World::Script).result.map(drop);
        };
        let call = CallContext { event_id: "check".into(), webhook_id: String::new(), received_at_ms: 0 };
        let (mut store, budget) = self.store(&run, &call, limits, World::Script, Arc::from([]));
        let called = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.wasmhook_plugin_script_runner().call_check(&mut store, source).await
        };
        let raw = within_wall(&budget, called).await?;
        run.ended(raw.map(|checked| checked.map(|()| Vec::new())), &store.data().limiter, limits).result.map(drop)
    }

    /// The built-in runtime of source in `language`, the fastest one ready: the shared
    /// pre-initialized snapshot (engine started; JavaScript 0.38 ms a call, Python 0.42 ms)
    /// once it is made, else the runtime as built (the engine starts on every call: 5.2 ms,
    /// 21 ms), compiled on first use (seconds). The first call also starts making the
    /// snapshot on a thread of its own (~9 s), so a workflow saved with source runs
    /// at once and soon faster.
    pub fn runtime(self: &Arc<Self>, language: Language) -> Result<Arc<LoadedPlugin>, LoadError> {
        let (plain, prepare) = {
            let mut held = self.lock_runtime(language);
            if let Some(started) = &held.started {
                return Ok(started.clone());
            }
            let plain = match &held.plain {
                Some(plain) => plain.clone(),
                None => {
                    let plain = self.load_script_runtime(language)?;
                    held.plain = Some(plain.clone());
                    plain
                }
            };
            (plain, !std::mem::replace(&mut held.preparing, true))
        };
        if prepare {
            // Meanwhile calls run on the runtime as built.
            self.in_background(move |engine| {
                if let Err(e) = engine.prepare_runtime(language) {
                    tracing::warn!(language = language.as_str(), error = %e, "the runtime could not be pre-initialized");
                }
            });
        }
        Ok(plain)
    }

    /// The fastest runtime ready for `source` in `language` (hash `sha256`): its own
    /// snapshot with the source compiled, else [`runtime`](Self::runtime)'s shared one;
    /// asks for the source's own snapshot (made on a thread of its own) if it was never
    /// asked for.
    pub fn script_runtime(
        self: &Arc<Self>,
        language: Language,
        source: &str,
        sha256: &str,
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        if let Some(own) = self.lock_sources().get(&(language, sha256.to_string())) {
            return Ok(own);
        }
        self.want_snapshot(language, source, sha256);
        self.runtime(language)
    }

    /// Ask for a snapshot of the runtime with `source` compiled, made in the background
    /// (seconds) unless it was asked for before: saving a workflow asks for its sources'.
    pub fn want_snapshot(self: &Arc<Self>, language: Language, source: &str, sha256: &str) {
        if !self.lock_sources().want((language, sha256.to_string()), source) {
            return;
        }
        // Ends when the queue is empty; meanwhile its sources run on the shared snapshot.
        self.in_background(move |engine| {
            loop {
                // Taken in a statement of its own: a guard in a `while let` would live
                // through the body, which locks again.
                let job = engine.lock_sources().next_job();
                let Some((key, source)) = job else { break };
                let (language, sha256) = (key.0, key.1.as_str());
                let started = Instant::now();
                match engine.preinitialize(language, &source) {
                    Ok(snapshot) => {
                        tracing::info!(
                            language = language.as_str(),
                            source_sha256 = %sha256,
                            seconds = started.elapsed().as_secs_f64(),
                            "a step's source is compiled into a snapshot of its own"
                        );
                        engine.lock_sources().made(key, snapshot);
                    }
                    Err(e) => tracing::warn!(
                        language = language.as_str(),
                        source_sha256 = %sha256,
                        error = %e,
                        "no snapshot for a step's source"
                    ),
                }
            }
        });
    }

    /// Run `job` on a one-shot, low-priority `wasmhook-preinit` thread that ends by itself
    /// (nothing waits for it). Without a thread the job is dropped with a warning: what it
    /// would have made stays unmade, and calls keep the slower runtime.
    fn in_background(self: &Arc<Self>, job: impl FnOnce(&PluginEngine) + Send + 'static) {
        let engine = Arc::clone(self);
        let spawned = std::thread::Builder::new().name("wasmhook-preinit".into()).spawn(move || {
            crate::cpu_clock::yield_cpu_to_ingest();
            job(&engine);
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread to pre-initialize the script runtime");
        }
    }

    /// Make the snapshot of `source` (hash `sha256`) now, on this thread, unless it exists
    /// (the benchmark and tests, which measure it).
    pub fn prepare_source(&self, language: Language, source: &str, sha256: &str) -> Result<(), String> {
        let key = (language, sha256.to_string());
        if self.lock_sources().get(&key).is_some() {
            return Ok(());
        }
        let snapshot = self.preinitialize(language, source)?;
        self.lock_sources().made(key, snapshot);
        Ok(())
    }

    fn lock_sources(&self) -> std::sync::MutexGuard<'_, SourceSnapshots<SourceKey, LoadedPlugin>> {
        self.sources.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Make the pre-initialized snapshot of `language`'s runtime now, on this thread, unless
    /// it exists: what [`runtime`](Self::runtime) starts in the background, for callers
    /// that want it before the first call (the start-up warm-up, the benchmark, tests).
    pub fn prepare_runtime(&self, language: Language) -> Result<(), String> {
        {
            let mut held = self.lock_runtime(language);
            if held.started.is_some() {
                return Ok(());
            }
            held.preparing = true;
        }
        let started = Instant::now();
        let snapshot = self.preinitialize(language, "")?;
        tracing::info!(
            language = language.as_str(),
            seconds = started.elapsed().as_secs_f64(),
            snapshot_bytes = snapshot.size,
            "the runtime of source written in steps is pre-initialized"
        );
        self.lock_runtime(language).started = Some(snapshot);
        Ok(())
    }

    /// Whether `language`'s runtime runs from its pre-initialized snapshot yet.
    pub fn runtime_preinitialized(&self, language: Language) -> bool {
        self.lock_runtime(language).started.is_some()
    }

    fn lock_runtime(&self, language: Language) -> std::sync::MutexGuard<'_, ScriptRuntime> {
        self.runtimes[language.index()].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The runtime of `language` as built, compiled.
    fn load_script_runtime(&self, language: Language) -> Result<Arc<LoadedPlugin>, LoadError> {
        // Built in, so not held to an upload's size limit.
        let unbounded = Limits { component_bytes: usize::MAX, ..Limits::default() };
        self.load_as(super::builtin::runtime(language), Some(World::Script), &unbounded, None)
    }

    /// Run the runtime's initializer once in a sandbox like a call's (nothing granted), with
    /// `source` to compile ("": none), and compile the snapshot taken after it (kept by no
    /// cache: the callers bound how many they keep).
    fn preinitialize(&self, language: Language, source: &str) -> Result<Arc<LoadedPlugin>, String> {
        let limits = Limits { timeout: PREINIT_TIMEOUT, ..Limits::default() };
        let run = Run::new(&limits);
        let call = CallContext { event_id: "preinit".into(), webhook_id: String::new(), received_at_ms: 0 };
        let (mut store, budget) = self.store(&run, &call, &limits, World::Script, Arc::from([]));
        let snapshot = super::preinit::snapshot(
            &mut store,
            &self.action_linker,
            super::builtin::runtime(language),
            source,
            &budget,
        )?;
        let sha256 = hex::encode(Sha256::digest(&snapshot));
        self.compile(&snapshot, Some(World::Script), &[World::Script], sha256)
            .map_err(|e| format!("the snapshot does not load: {e}"))
    }

    /// Whether `source` in `language` compiles: the syntax error (`line L, column C: …`),
    /// or why it could not be checked. Blocks while the runtime compiles on first use.
    pub async fn check_source(self: &Arc<Self>, language: Language, source: &str) -> Result<(), String> {
        let runtime =
            self.runtime(language).map_err(|e| format!("the {} runtime cannot load: {e}", language.as_str()))?;
        let limits = Limits { timeout: CHECK_TIMEOUT, ..Limits::default() };
        match self.check_script(&runtime, source, &limits).await {
            Ok(()) => Ok(()),
            Err(PluginFailure::GuestError { code, message }) if code == "syntax" => Err(message),
            Err(failure) => Err(format!("the source could not be checked: {failure}")),
        }
    }

    /// [`action`](Self::action), blocking this thread until it ends (for callers outside an
    /// async runtime: the CLI, tests).
    pub fn action_blocking(
        &self,
        plugin: &LoadedPlugin,
        call: &CallContext,
        inputs: &[Property],
        secrets: &[(String, String)],
        limits: &Limits,
        allowed: &[AllowedHost],
    ) -> CallReport {
        wasmtime_wasi::runtime::in_tokio(self.action(plugin, call, inputs, secrets, limits, allowed))
    }

    /// One of the [`ACTION_SLOTS`] an action or script call holds while it runs or waits.
    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, PluginFailure> {
        // Never closed: the semaphore lives as long as the engine borrowed here.
        self.action_slots
            .acquire()
            .await
            .map_err(|_| PluginFailure::Trap { message: "the plugin engine stopped".into() })
    }

    /// A fresh store for one call of `world`, with its limits and time budget set.
    fn store(
        &self,
        run: &Run,
        call: &CallContext,
        limits: &Limits,
        world: World,
        allowed: Arc<[AllowedHost]>,
    ) -> (Store<SandboxState>, CpuBudget) {
        let memory = limits.memory_bytes.min(MAX_MEMORY_CEILING);
        let outbound = OutboundHooks::new(allowed, self.outbound.clone(), run.output.clone(), run.exchanges.clone());
        let mut store =
            Store::new(&self.engine, SandboxState::new(call, seed(call, world), memory, &run.output, outbound));
        store.limiter(|state| &mut state.limiter);
        // Source written in a step may wait on requests as an action does.
        let action = matches!(world, World::Action | World::Script);
        let min_wall = if action { MIN_WALL_ACTION } else { MIN_WALL };
        let budget = CpuBudget::start(limits.timeout, min_wall, Arc::new(Meter::default()), action);
        store.set_epoch_deadline(budget.first_deadline());
        let deadlines = budget.clone();
        store.epoch_deadline_callback(move |_| Ok(deadlines.on_deadline()));
        (store, budget)
    }
}

/// The randomness of a call of `world`: a plugin's is a function of the event, so a replay
/// computes what the first run did; source written in a step gets fresh randomness on
/// every call, as `Math.random` has in the product.
fn seed(call: &CallContext, world: World) -> [u8; 32] {
    static SCRIPT_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut digest = Sha256::new();
    digest.update(call.event_id.as_bytes());
    if world == World::Script {
        let nth = SCRIPT_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        digest.update(call.received_at_ms.to_le_bytes());
        digest.update(nth.to_le_bytes());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        digest.update(now.as_nanos().to_le_bytes());
    }
    digest.finalize().into()
}

/// `called`, metered, ended by the call's wall bound even while it waits (a running call
/// ends at an epoch deadline; a waiting one is dropped with the requests it awaited).
async fn within_wall<T>(
    budget: &CpuBudget,
    called: impl std::future::Future<Output = wasmtime::Result<T>>,
) -> Result<wasmtime::Result<T>, PluginFailure> {
    let wall = budget.wall_limit();
    tokio::time::timeout(wall, Metered::new(called, budget.meter()))
        .await
        .map_err(|_| PluginFailure::Timeout { limit_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX) })
}

/// A script's `outputFields` (a JSON object of scalars) as the properties an action returns.
fn output_fields(json: &str) -> Result<Vec<wit::Property>, wit::PluginError> {
    let refused = |message: String| wit::PluginError { code: "invalid_output".into(), message };
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| refused(format!("outputFields is not a JSON object: {e}")))?;
    fields
        .into_iter()
        .map(|(name, value)| {
            let value = crate::value::Value::from_json(&name, &value)
                .map_err(|e| refused(format!("{e}; outputFields hold strings, numbers, booleans or null")))?;
            Ok(wit::Property { name, value: (&value).into() })
        })
        .collect()
}

/// One call's report in the making: its start, captured output and requests.
struct Run {
    started: Instant,
    output: CapturedOutput,
    exchanges: Exchanges,
    memory_bytes: usize,
}

impl Run {
    fn new(limits: &Limits) -> Run {
        Run {
            started: Instant::now(),
            output: CapturedOutput::new(limits.log_bytes),
            exchanges: Exchanges::default(),
            memory_bytes: 0,
        }
    }

    fn wrong_world(&mut self, has: World, wanted: World) -> CallReport {
        let message = format!("plugin implements `{}`, not `{}`", has.name(), wanted.name());
        self.report(Err(PluginFailure::Trap { message }))
    }

    fn ended(
        &mut self,
        raw: wasmtime::Result<Result<Vec<wit::Property>, wit::PluginError>>,
        limiter: &super::sandbox::MemoryLimiter,
        limits: &Limits,
    ) -> CallReport {
        let result = classify(raw, limiter.hit, limits, &self.output);
        self.memory_bytes = limiter.peak;
        self.report(result)
    }

    fn report(&mut self, result: Result<Vec<Property>, PluginFailure>) -> CallReport {
        let (log, log_dropped_bytes) = self.output.take();
        CallReport {
            result,
            log,
            log_dropped_bytes,
            duration: self.started.elapsed(),
            requests: self.exchanges.take(),
            memory_bytes: self.memory_bytes,
        }
    }
}

fn wrong_world_message(expected: Option<World>, exports: &[String]) -> String {
    let Some(expected) = expected else {
        return format!(
            "component is not a wasmhook plugin: it must export `{}` or `{}`, but exports [{}]",
            World::Transform.export(),
            World::Action.export(),
            exports.join(", ")
        );
    };
    let other = match expected {
        World::Transform => World::Action,
        World::Action | World::Script => World::Transform,
    };
    if exports.iter().any(|e| e == other.export()) {
        format!(
            "component implements the `{}` world, but a `{}` plugin was expected (it must export `{}`)",
            other.name(),
            expected.name(),
            expected.export()
        )
    } else {
        format!(
            "component is not a wasmhook `{}` plugin: it must export `{}`, but exports [{}]",
            expected.name(),
            expected.export(),
            exports.join(", ")
        )
    }
}

/// Turn the raw wasmtime result into a typed outcome.
fn classify(
    raw: wasmtime::Result<Result<Vec<wit::Property>, wit::PluginError>>,
    memory_hit: bool,
    limits: &Limits,
    output: &CapturedOutput,
) -> Result<Vec<Property>, PluginFailure> {
    match raw {
        Ok(Ok(props)) => check_output(props, limits.output_bytes),
        Ok(Err(e)) => Err(PluginFailure::GuestError { code: e.code, message: e.message }),
        Err(_) if memory_hit => Err(PluginFailure::MemoryLimit { limit_bytes: limits.memory_bytes }),
        Err(e) => match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                Err(PluginFailure::Timeout { limit_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX) })
            }
            Some(trap) => Err(PluginFailure::Trap { message: trap_message(&trap.to_string(), output) }),
            None => Err(PluginFailure::Trap { message: trap_message(&format!("{e:#}"), output) }),
        },
    }
}

/// Prefer the guest's own panic message (printed to stderr by Rust's panic hook).
fn trap_message(trap: &str, output: &CapturedOutput) -> String {
    let (log, _) = output.take();
    let panic = log.rfind("panicked at").map(|start| {
        let mut lines = log[start..].lines();
        let location = lines.next().unwrap_or("").trim_end_matches(':');
        let message = lines.next().unwrap_or("").trim();
        format!("{message} ({location})")
    });
    match panic {
        Some(p) => format!("guest panicked: {p}; {trap}"),
        None => trap.to_string(),
    }
}

/// Names must be unique and non-empty, numbers finite, and the total within the cap.
pub(crate) fn check_output(props: Vec<wit::Property>, cap: usize) -> Result<Vec<Property>, PluginFailure> {
    let mut size = 0usize;
    let mut seen = std::collections::HashSet::with_capacity(props.len());
    for p in &props {
        size += p.name.len()
            + match &p.value {
                wit::Value::String(s) => s.len(),
                _ => 8,
            };
        if p.name.is_empty() {
            return Err(PluginFailure::InvalidOutput { reason: "a property has an empty name".into() });
        }
        if !seen.insert(p.name.as_str()) {
            return Err(PluginFailure::InvalidOutput { reason: format!("property `{}` returned twice", p.name) });
        }
        if let wit::Value::Number(n) = p.value
            && !n.is_finite()
        {
            return Err(PluginFailure::InvalidOutput {
                reason: format!("property `{}` is not a finite number", p.name),
            });
        }
    }
    if size > cap {
        return Err(PluginFailure::InvalidOutput {
            reason: format!("output is {size} bytes; the limit is {cap} bytes"),
        });
    }
    Ok(props.into_iter().map(Into::into).collect())
}
