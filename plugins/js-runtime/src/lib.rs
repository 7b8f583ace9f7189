//! `js-runtime`: runs JavaScript custom code written in a workflow step, in the shape the
//! product's integrators already write:
//!
//! ```js
//! exports.main = async (event, callback) => {
//!   const { email } = event.inputFields;
//!   callback({ outputFields: { domain: email.split('@')[1] } });
//! };
//! ```
//!
//! The engine is Boa (JavaScript in Rust); each call starts it, runs `prelude.js` (module,
//! exports, process.env, console, require) and `http.js` (`fetch`, `axios` over the host's
//! `wasi:http` client), the step's source, then `driver.js`, which calls
//! `exports.main` and records its outcome; the promise jobs run to the end, and the
//! `outputFields` given to the callback (or returned) go back as JSON text.
//!
//! Starting the engine and its prelude is most of a call's cost, so the server snapshots
//! the component once after `wizer-initialize` started them (wasmtime's pre-initializer);
//! a call in the snapshot finds the engine started and only compiles and runs the source.
//! Nothing drawn at start is frozen into the snapshot: `Math.random` reads the host's
//! randomness when called, and `Date` the host's clock.

wit_bindgen::generate!({
    world: "script-runtime",
    path: "../../wit",
});

use boa_engine::object::builtins::JsFunction;
use boa_engine::{Context, JsError, JsResult, JsValue, NativeFunction, Script, Source, js_string};
use exports::wasmhook::plugin::script_runner::Guest as Runner;
use wasmhook::plugin::types::{Context as CallContext, PluginError};

mod http;

const PRELUDE: &str = include_str!("prelude.js");
const HTTP: &str = include_str!("http.js");
const DRIVER: &str = include_str!("driver.js");

struct Runtime;

fn error(code: &str, message: impl Into<String>) -> PluginError {
    PluginError { code: code.into(), message: message.into() }
}

/// `print(stream, text)`: a console line to stdout (1) or stderr (2), which the host keeps
/// in the step's log.
fn print(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let stream = args.first().and_then(JsValue::as_number).unwrap_or(1.0);
    let text = args.get(1).cloned().unwrap_or_default().to_string(context)?.to_std_string_escaped();
    if stream == 2.0 {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
    Ok(JsValue::undefined())
}

/// `__random()`: a number in [0, 1) from the host's randomness, drawn when called, so a
/// pre-initialized snapshot never carries a generator's state into every call.
fn random(_: &JsValue, _: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    let bits = wasi::random::insecure::get_insecure_random_u64() >> 11;
    // 53 random bits scaled into [0, 1), as a double holds them.
    Ok(JsValue::from(bits as f64 / (1u64 << 53) as f64))
}

/// A started engine: the context with the prelude run, the driver compiled, and maybe a
/// step's source compiled (not run: its top level runs in each call).
struct Started {
    context: Context,
    driver: JsFunction,
    compiled: Option<(String, Script)>,
}

thread_local! {
    /// The engine `wizer-initialize` started, in a pre-initialized snapshot; every call runs
    /// in a fresh instance of the snapshot, so each takes it once.
    static STARTED: std::cell::RefCell<Option<Started>> = const { std::cell::RefCell::new(None) };
}

/// The engine started at pre-initialization if there is one, else a new one.
fn started() -> Result<Started, PluginError> {
    match STARTED.with(|s| s.borrow_mut().take()) {
        Some(started) => Ok(started),
        None => start(),
    }
}

fn start() -> Result<Started, PluginError> {
    let mut context = context()?;
    let driver = context.eval(Source::from_bytes(DRIVER)).map_err(|e| error("internal", format!("driver: {e}")))?;
    let driver = driver
        .as_object()
        .and_then(|o| JsFunction::from_object(o.clone()))
        .ok_or_else(|| error("internal", "the driver is not a function"))?;
    Ok(Started { context, driver, compiled: None })
}

/// A context with the prelude run: what every call and check starts from.
fn context() -> Result<Context, PluginError> {
    let mut context = Context::default();
    context
        .register_global_builtin_callable(js_string!("__print"), 2, NativeFunction::from_fn_ptr(print))
        .map_err(|e| error("internal", format!("console: {e}")))?;
    context
        .register_global_builtin_callable(js_string!("__random"), 0, NativeFunction::from_fn_ptr(random))
        .map_err(|e| error("internal", format!("Math.random: {e}")))?;
    context
        .register_global_builtin_callable(js_string!("__http"), 4, NativeFunction::from_fn_ptr(http::call))
        .map_err(|e| error("internal", format!("fetch: {e}")))?;
    context.eval(Source::from_bytes(PRELUDE)).map_err(|e| error("internal", format!("prelude: {e}")))?;
    context.eval(Source::from_bytes(HTTP)).map_err(|e| error("internal", format!("http.js: {e}")))?;
    Ok(context)
}

/// A syntax error as the step shows it: `line L, column C: what`.
fn syntax(e: &JsError) -> PluginError {
    let text = e.to_string();
    // Boa ends a parse error's message with ` at line L, col C` and, for source without
    // a path, ` (native)`.
    let message = match text.rsplit_once(" at line ") {
        Some((what, at)) => match at.split_once(", col ") {
            Some((line, column)) => {
                let what = what.trim_start_matches("SyntaxError: ");
                let column: String = column.trim().chars().take_while(char::is_ascii_digit).collect();
                format!("line {}, column {column}: {what}", line.trim())
            }
            None => text.clone(),
        },
        None => text.clone(),
    };
    error("syntax", message)
}

/// What a thrown value says: `Name: message` for an error, its text otherwise.
fn thrown(value: &JsValue, context: &mut Context) -> String {
    if let Some(object) = value.as_object() {
        let name = object.get(js_string!("name"), context).ok().filter(|v| !v.is_undefined());
        let message = object.get(js_string!("message"), context).ok().filter(|v| !v.is_undefined());
        if let (Some(name), Some(message)) = (name, message) {
            let text = |v: JsValue, context: &mut Context| {
                v.to_string(context).map(|s| s.to_std_string_escaped()).unwrap_or_default()
            };
            let (name, message) = (text(name, context), text(message, context));
            return if message.is_empty() { name } else { format!("{name}: {message}") };
        }
    }
    value.to_string(context).map(|s| s.to_std_string_escaped()).unwrap_or_else(|_| "a value".into())
}

fn failed(e: JsError, context: &mut Context) -> PluginError {
    if let Ok(native) = e.try_native(context) {
        return error("thrown", native.to_string());
    }
    match e.into_opaque(context) {
        Ok(value) => error("thrown", thrown(&value, context)),
        Err(e) => error("thrown", e.to_string()),
    }
}

fn get(object: &JsValue, key: &str, context: &mut Context) -> JsValue {
    object.as_object().and_then(|o| o.get(boa_engine::JsString::from(key), context).ok()).unwrap_or_default()
}

fn run(source: &str, event: &str, secrets: Vec<(String, String)>) -> Result<String, PluginError> {
    let mut started = started()?;
    let ran = run_in(&mut started, source, event, secrets);
    // The instance is discarded after this call, so tearing the engine down (collecting
    // its whole heap) is wasted work.
    std::mem::forget(started);
    ran
}

fn run_in(
    started: &mut Started,
    source: &str,
    event: &str,
    secrets: Vec<(String, String)>,
) -> Result<String, PluginError> {
    let Started { context, driver, compiled } = started;
    let script = match compiled.take() {
        Some((compiled_source, script)) if compiled_source == source => script,
        _ => Script::parse(Source::from_bytes(source), None, context).map_err(|e| syntax(&e))?,
    };
    script.evaluate(context).map_err(|e| failed(e, context))?;
    let event: serde_json::Value =
        serde_json::from_str(event).map_err(|e| error("internal", format!("the event is not JSON: {e}")))?;
    let event = JsValue::from_json(&event, context).map_err(|e| failed(e, context))?;
    let env: serde_json::Map<String, serde_json::Value> =
        secrets.into_iter().map(|(name, value)| (name, serde_json::Value::String(value))).collect();
    let env = JsValue::from_json(&serde_json::Value::Object(env), context).map_err(|e| failed(e, context))?;
    let out = driver.call(&JsValue::undefined(), &[event, env], context).map_err(|e| failed(e, context))?;
    context.run_jobs().map_err(|e| failed(e, context))?;
    let called = get(&out, "called", context).to_boolean();
    if get(&out, "failed", context).to_boolean() && !called {
        let thrown_value = get(&out, "error", context);
        return Err(error("thrown", thrown(&thrown_value, context)));
    }
    if !called && !get(&out, "done", context).to_boolean() {
        return Err(error(
            "unfinished",
            "exports.main neither called the callback nor finished (it awaits a promise that never settles)",
        ));
    }
    let value = get(&out, "value", context);
    let fields = get(&value, "outputFields", context);
    if fields.is_undefined() || fields.is_null() {
        return Ok("{}".into());
    }
    if !fields.is_object() {
        return Err(error("invalid_output", "outputFields must be an object of name: value"));
    }
    let json = fields.to_json(context).map_err(|e| failed(e, context))?;
    Ok(json.map_or_else(|| "{}".into(), |j| j.to_string()))
}

impl Runner for Runtime {
    fn check(source: String) -> Result<(), PluginError> {
        let Started { mut context, .. } = started()?;
        Script::parse(Source::from_bytes(&source), None, &mut context).map(|_| ()).map_err(|e| syntax(&e))
    }

    fn run(
        _ctx: CallContext,
        source: String,
        event: String,
        secrets: Vec<(String, String)>,
    ) -> Result<String, PluginError> {
        run(&source, &event, secrets)
    }
}

impl crate::Guest for Runtime {
    /// Start the engine now, so a snapshot taken after this call holds it started, and
    /// compile `source` unless it is empty: a call then only runs the step's code
    /// (measured: `wasmhook-bench scripts`). The source's top level is not run here, so
    /// what it draws (`Math.random()`, `Date.now()`) is drawn in each call.
    fn wizer_initialize(source: String) {
        let Ok(mut started) = start() else { return };
        if !source.is_empty()
            && let Ok(script) = Script::parse(Source::from_bytes(&source), None, &mut started.context)
            && script.codeblock(&mut started.context).is_ok()
        {
            started.compiled = Some((source, script));
        }
        STARTED.with(|s| *s.borrow_mut() = Some(started));
    }
}

export!(Runtime);
