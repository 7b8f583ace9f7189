//! The JavaScript runtime of custom code written in a step (issue 22, first slice): the
//! built-in `script` component (Boa in WebAssembly) runs snippets in the product's shape
//! through the plugin engine, in a fresh sandboxed instance per call.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmhook::plugins::{CallContext, CallReport, Language, Limits, LoadedPlugin, PluginEngine, World, builtin};
use wasmhook::value::Value;

/// One engine with the runtime compiled, shared by this module's tests (a compile of the
/// 8 MB component takes seconds).
fn engine() -> &'static (PluginEngine, Arc<LoadedPlugin>) {
    static ENGINE: OnceLock<(PluginEngine, Arc<LoadedPlugin>)> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let engine = PluginEngine::new().unwrap();
        let runtime =
            engine.load(builtin::JAVASCRIPT, World::Script, &Limits::default()).expect("the JavaScript runtime loads");
        (engine, runtime)
    })
}

fn engine_and_runtime() -> (&'static PluginEngine, &'static LoadedPlugin) {
    let (engine, runtime) = engine();
    (engine, runtime)
}

fn run(source: &str, event: serde_json::Value, secrets: &[(&str, &str)]) -> CallReport {
    let (engine, runtime) = engine();
    let call = CallContext { event_id: "evt_js".into(), webhook_id: "wh_js".into(), received_at_ms: 1_709_294_400_000 };
    let secrets: Vec<(String, String)> = secrets.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    let limits = Limits { timeout: Duration::from_millis(500), ..Limits::default() };
    block_on(engine.script(runtime, &call, source, &event.to_string(), &secrets, &limits, &[]))
}

/// The engine's futures need a Tokio runtime only for network waits and the wall bound.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn output(report: &CallReport, name: &str) -> Value {
    let outputs = report.result.as_ref().unwrap_or_else(|e| panic!("{e}; log: {}", report.log));
    outputs.iter().find(|p| p.name == name).map(|p| p.value.clone()).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn a_snippet_in_the_products_shape_turns_inputs_and_a_secret_into_typed_outputs() {
    let source = r#"
exports.main = async (event, callback) => {
  const { email, plan, seats } = event.inputFields;
  console.log('scoring', email, { plan });
  const key = process.env.SCORING_KEY;
  callback({
    outputFields: {
      domain: email.split('@')[1],
      score: seats * 10,
      hot: plan === 'pro',
      keyLength: key.length,
      nothing: null,
    },
  });
};
"#;
    let event = serde_json::json!({"inputFields": {"email": "ada@example.com", "plan": "pro", "seats": 7}});
    let report = run(source, event, &[("SCORING_KEY", "sk_live_123")]);
    assert_eq!(output(&report, "domain"), Value::String("example.com".into()));
    assert_eq!(output(&report, "score"), Value::Number(70.0));
    assert_eq!(output(&report, "hot"), Value::Boolean(true));
    assert_eq!(output(&report, "keyLength"), Value::Number(11.0));
    assert_eq!(output(&report, "nothing"), Value::Null);
    assert!(report.log.contains(r#"scoring ada@example.com {"plan":"pro"}"#), "{}", report.log);
}

#[test]
fn outputs_may_be_returned_instead_of_called_back() {
    let source = "exports.main = async (event) => ({ outputFields: { twice: event.inputFields.n * 2 } });";
    let report = run(source, serde_json::json!({"inputFields": {"n": 21}}), &[]);
    assert_eq!(output(&report, "twice"), Value::Number(42.0));
}

#[test]
fn a_thrown_error_fails_the_call_with_its_message() {
    let source = "exports.main = async () => { throw new Error('the CRM said no'); };";
    let failure = run(source, serde_json::json!({"inputFields": {}}), &[]).result.unwrap_err();
    assert_eq!(failure.kind(), "guest_error", "{failure}");
    assert!(failure.to_string().contains("Error: the CRM said no"), "{failure}");

    let required = run("const axios = require('lodash'); exports.main = () => {};", serde_json::json!({}), &[]);
    let failure = required.result.unwrap_err();
    assert!(failure.to_string().contains("require('lodash')"), "{failure}");

    let missing = run("exports.notMain = () => {};", serde_json::json!({}), &[]).result.unwrap_err();
    assert!(missing.to_string().contains("exports.main"), "{missing}");

    let nested = "exports.main = (e, cb) => cb({ outputFields: { deep: { a: 1 } } });";
    let refused = run(nested, serde_json::json!({}), &[]).result.unwrap_err();
    assert_eq!(refused.kind(), "guest_error", "{refused}");
    assert!(refused.to_string().contains("deep"), "{refused}");
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let (engine, runtime) = engine();
    let good = "exports.main = async (event, callback) => callback({ outputFields: {} });";
    block_on(engine.check_script(runtime, good, &Limits::default())).unwrap();
    let bad = "exports.main = async (event, callback) => {\n  const x = ;\n};";
    let failure = block_on(engine.check_script(runtime, bad, &Limits::default())).unwrap_err();
    assert!(failure.to_string().contains("syntax: line 2, column"), "{failure}");
}

#[test]
fn an_endless_loop_ends_as_a_timeout_and_a_memory_blow_up_as_memory_limit() {
    let spin = run("exports.main = () => { for (;;) {} };", serde_json::json!({}), &[]).result.unwrap_err();
    assert_eq!(spin.kind(), "timeout", "{spin}");
    let grow = "exports.main = () => { const a = []; let s = 'x'; for (;;) { s = s + s; a.push(s + '!'); } };";
    let blown = run(grow, serde_json::json!({}), &[]).result.unwrap_err();
    assert!(["memory_limit", "trap"].contains(&blown.kind()), "{blown}");
}

/// An engine whose runtime is pre-initialized (the snapshot with the engine started), and
/// that runtime.
fn preinitialized() -> &'static (Arc<PluginEngine>, Arc<LoadedPlugin>) {
    static ENGINE: OnceLock<(Arc<PluginEngine>, Arc<LoadedPlugin>)> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let engine = Arc::new(PluginEngine::new().unwrap());
        engine.prepare_runtime(Language::Javascript).expect("the runtime pre-initializes");
        assert!(engine.runtime_preinitialized(Language::Javascript));
        let runtime = engine.runtime(Language::Javascript).expect("the snapshot loads");
        (engine, runtime)
    })
}

fn run_on(
    engine: &PluginEngine,
    runtime: &LoadedPlugin,
    source: &str,
    event: serde_json::Value,
    at_ms: i64,
) -> CallReport {
    let call = CallContext { event_id: "evt_same".into(), webhook_id: "wh_js".into(), received_at_ms: at_ms };
    let limits = Limits { timeout: Duration::from_millis(500), ..Limits::default() };
    block_on(engine.script(runtime, &call, source, &event.to_string(), &[], &limits, &[]))
}

#[test]
fn the_preinitialized_runtime_runs_code_as_built_and_each_call_starts_fresh() {
    let (engine, snapshot) = preinitialized();
    let (plain_engine, plain) = engine_and_runtime();
    assert_ne!(snapshot.sha256, plain.sha256, "the snapshot is a component of its own");
    // The same snippet gives the same outputs on both.
    let source = "exports.main = async (event, callback) => callback({ outputFields: \
                  { domain: event.inputFields.email.split('@')[1], n: event.inputFields.n * 3 } });";
    let event = serde_json::json!({"inputFields": {"email": "ada@example.com", "n": 14}});
    for report in
        [run_on(engine, snapshot, source, event.clone(), 1_000), run_on(plain_engine, plain, source, event, 1_000)]
    {
        assert_eq!(output(&report, "domain"), Value::String("example.com".into()));
        assert_eq!(output(&report, "n"), Value::Number(42.0));
    }

    // Nothing a call leaves behind reaches the next; randomness is drawn afresh on every
    // call (even of one event), and the clock reads each call's time, never the snapshot's.
    let counting = "globalThis.count = (globalThis.count || 0) + 1;\n\
                    exports.main = async () => ({ outputFields: { count: globalThis.count, r: Math.random(), now: Date.now() } });";
    for (engine, runtime) in [(engine.as_ref(), snapshot.as_ref()), (plain_engine, plain)] {
        let first = run_on(engine, runtime, counting, serde_json::json!({}), 1_700_000_000_000);
        let second = run_on(engine, runtime, counting, serde_json::json!({}), 1_700_000_005_000);
        assert_eq!(output(&first, "count"), Value::Number(1.0));
        assert_eq!(output(&second, "count"), Value::Number(1.0));
        assert_ne!(output(&first, "r"), output(&second, "r"), "Math.random repeated itself");
        assert_eq!(output(&first, "now"), Value::Number(1_700_000_000_000.0));
        assert_eq!(output(&second, "now"), Value::Number(1_700_000_005_000.0));
    }

    // Syntax checks and failures behave as on the runtime as built.
    let bad = "exports.main = async (event, callback) => {\n  const x = ;\n};";
    let refused = block_on(engine.check_source(Language::Javascript, bad)).unwrap_err();
    assert!(refused.starts_with("line 2, column"), "{refused}");
    let thrown = run_on(engine, snapshot, "exports.main = () => { throw new Error('no'); };", serde_json::json!({}), 1);
    assert!(thrown.result.unwrap_err().to_string().contains("Error: no"));
    let spin = run_on(engine, snapshot, "exports.main = () => { for (;;) {} };", serde_json::json!({}), 1);
    assert_eq!(spin.result.unwrap_err().kind(), "timeout");
}

#[test]
fn a_source_gets_a_snapshot_of_its_own_in_the_background_and_its_top_level_still_runs_per_call() {
    let engine = Arc::new(PluginEngine::new().unwrap());
    // Quotes, a backslash, a template, non-ASCII text and control characters survive the
    // trip into the initializer; what the top level draws is drawn in each call.
    let source = "const drawn = Math.random();\nconst at = Date.now();\n\
                  const greeting = `\"hé\" \\\\ ${'ok'}\\t`;\n\
                  exports.main = async () => ({ outputFields: { drawn, at, greeting } });";
    let sha256 = wasmhook::plugins::source_sha256(source);
    let first = engine.script_runtime(Language::Javascript, source, &sha256).unwrap();
    assert_eq!(first.sha256, engine.runtime(Language::Javascript).unwrap().sha256, "nothing of its own yet");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let own = loop {
        let picked = engine.script_runtime(Language::Javascript, source, &sha256).unwrap();
        if picked.sha256 != engine.runtime(Language::Javascript).unwrap().sha256 {
            break picked;
        }
        assert!(std::time::Instant::now() < deadline, "no snapshot of its own within 120 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    let one = run_on(&engine, &own, source, serde_json::json!({}), 1_700_000_000_000);
    let two = run_on(&engine, &own, source, serde_json::json!({}), 1_700_000_009_000);
    assert_eq!(output(&one, "greeting"), Value::String("\"hé\" \\ ok\t".into()));
    assert_ne!(output(&one, "drawn"), output(&two, "drawn"), "the top level's Math.random was frozen");
    assert_eq!(output(&one, "at"), Value::Number(1_700_000_000_000.0));
    assert_eq!(output(&two, "at"), Value::Number(1_700_000_009_000.0));
    // Another source on that snapshot is compiled in the call, as on the shared one.
    let other =
        run_on(&engine, &own, "exports.main = async () => ({ outputFields: { x: 7 } });", serde_json::json!({}), 1);
    assert_eq!(output(&other, "x"), Value::Number(7.0));
}
