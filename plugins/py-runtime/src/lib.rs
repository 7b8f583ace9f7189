//! `py-runtime`: runs Python custom code written in a workflow step, in the shape the
//! product's integrators already write:
//!
//! ```python
//! import os, requests
//!
//! def main(event):
//!     email = event["inputFields"]["email"]
//!     return {"outputFields": {"domain": email.split("@")[1]}}
//! ```
//!
//! The interpreter is RustPython without its standard library files. What the code may
//! import is made here: `json` (`modules/json.py`, parsing in Rust), `os` (`getenv`,
//! `environ`: the step's secrets), `requests` (`modules/requests.py` over the host's
//! `wasi:http` client) and RustPython's built-in modules (`math`, `time`, …); any other
//! import fails naming the module. `print` goes to the step's log.
//!
//! Starting the interpreter is most of a call's cost (~9 ms), so the server snapshots the
//! component once after `wizer-initialize` started it (wasmtime's pre-initializer), with
//! a step's source compiled when there is one; a call in the snapshot finds the
//! interpreter started and only runs the step's code. The source's top level runs in each
//! call, not in the snapshot.

wit_bindgen::generate!({
    world: "script-runtime",
    path: "../../wit",
});

use exports::wasmhook::plugin::script_runner::Guest as Runner;
use rustpython_vm::builtins::{PyBaseExceptionRef, PyCode, PyDict};
use rustpython_vm::compiler::Mode;
use rustpython_vm::scope::Scope;
use rustpython_vm::vm::VmCompileError;
use rustpython_vm::{AsObject, Interpreter, PyObjectRef, PyRef, PyResult, VirtualMachine};
use wasmhook::plugin::types::{Context as CallContext, PluginError};

mod native;

/// The modules the code may import, made at start: (name, source).
const MODULES: &[(&str, &str)] = &[
    ("json", include_str!("modules/json.py")),
    ("os", include_str!("modules/os.py")),
    ("requests", include_str!("modules/requests.py")),
];

/// The step's code runs as this file in tracebacks and messages.
const STEP_FILE: &str = "<step>";

struct Runtime;

fn error(code: &str, message: impl Into<String>) -> PluginError {
    PluginError { code: code.into(), message: message.into() }
}

/// A started interpreter, its modules made, and maybe a step's source compiled (not run).
struct Started {
    interpreter: Interpreter,
    compiled: Option<(String, PyRef<PyCode>)>,
}

thread_local! {
    /// The interpreter `wizer-initialize` started, in a pre-initialized snapshot; every call
    /// runs in a fresh instance of the snapshot, so each takes it once.
    static STARTED: std::cell::RefCell<Option<Started>> = const { std::cell::RefCell::new(None) };
}

fn started() -> Result<Started, PluginError> {
    match STARTED.with(|s| s.borrow_mut().take()) {
        Some(started) => Ok(started),
        None => start(),
    }
}

fn start() -> Result<Started, PluginError> {
    let builder = Interpreter::builder(Default::default());
    let native = native::_wasmhook::module_def(&builder.ctx);
    let interpreter = builder.add_native_module(native).build();
    interpreter.enter(|vm| {
        for (name, source) in MODULES {
            install(vm, name, source).map_err(|e| error("internal", format!("module {name}: {}", said(vm, &e))))?;
        }
        Ok::<_, PluginError>(())
    })?;
    Ok(Started { interpreter, compiled: None })
}

/// Run `source` as module `name` and put it in `sys.modules`.
fn install(vm: &VirtualMachine, name: &str, source: &str) -> PyResult<()> {
    let code = vm.compile(source, Mode::Exec, format!("<{name}>")).map_err(|e| e.into_pyexception(vm, Some(source)))?;
    let module = vm.new_module(name, vm.ctx.new_dict(), None);
    vm.run_code_obj(code, Scope::with_builtins(None, module.dict(), vm))?;
    vm.sys_module.get_attr("modules", vm)?.set_item(name, module.into(), vm)
}

/// A syntax error as the step shows it: `line L, column C: what`.
fn syntax(e: &VmCompileError) -> PluginError {
    let (line, column) = match e {
        VmCompileError::Compile(compile) => compile.python_location(),
        VmCompileError::Warning(_) => (0, 0),
    };
    let what = e.to_string();
    // RustPython may end the message with the place again.
    let what = what.split(" at line ").next().unwrap_or(&what).to_string();
    error("syntax", format!("line {line}, column {column}: {what}"))
}

/// What a raised exception says: `Name: message`.
fn said(vm: &VirtualMachine, e: &PyBaseExceptionRef) -> String {
    let name = e.class().name().to_string();
    let message = e.as_object().str(vm).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if message.is_empty() { name } else { format!("{name}: {message}") }
}

fn compile(vm: &VirtualMachine, source: &str) -> Result<PyRef<PyCode>, PluginError> {
    vm.compile(source, Mode::Exec, STEP_FILE.to_string()).map_err(|e| syntax(&e))
}

fn run(source: &str, event: &str, secrets: Vec<(String, String)>) -> Result<String, PluginError> {
    let Started { interpreter, compiled } = started()?;
    let ran = interpreter.enter(|vm| {
        let code = match compiled {
            Some((compiled_source, code)) if compiled_source == source => code,
            _ => compile(vm, source)?,
        };
        let raised = |e: PyBaseExceptionRef| error("thrown", said(vm, &e));
        let scope = vm.new_scope_with_builtins();
        scope.globals.set_item("__name__", vm.ctx.new_str("__main__").into(), vm).map_err(raised)?;
        vm.run_code_obj(code, scope.clone()).map_err(raised)?;
        let main = scope
            .globals
            .get_item("main", vm)
            .map_err(|_| error("thrown", "NameError: the code defines no main(event)"))?;
        // `os.environ` holds the step's secrets, set before main runs.
        let environ = vm.import("os", 0).and_then(|os| os.get_attr("environ", vm)).map_err(raised)?;
        for (name, value) in secrets {
            environ.set_item(name.as_str(), vm.ctx.new_str(value).into(), vm).map_err(raised)?;
        }
        let event: serde_json::Value =
            serde_json::from_str(event).map_err(|e| error("internal", format!("the event is not JSON: {e}")))?;
        let event = rustpython_vm::py_serde::deserialize(vm, event)
            .map_err(|e| error("internal", format!("the event does not convert: {e}")))?;
        let out = main.call((event,), vm).map_err(raised)?;
        outputs(vm, &out)
    });
    // The instance is discarded after this call, so tearing the interpreter down (freeing
    // every object of the heap one by one) is wasted work: it was about half of a call
    // (measured: 0.275 ms with the drop, 0.142 ms without, `wasmhook-bench scripts`).
    std::mem::forget(interpreter);
    ran
}

/// The `outputFields` of what main returned, as JSON text (`{}` when it returned none).
fn outputs(vm: &VirtualMachine, out: &PyObjectRef) -> Result<String, PluginError> {
    if vm.is_none(out) {
        return Ok("{}".into());
    }
    if out.downcast_ref::<PyDict>().is_none() {
        let kind = out.class().name().to_string();
        return Err(error(
            "invalid_output",
            format!("main(event) must return a dict such as {{'outputFields': {{...}}}}, not {kind}"),
        ));
    }
    let fields = match out.get_item("outputFields", vm) {
        Ok(fields) if !vm.is_none(&fields) => fields,
        _ => return Ok("{}".into()),
    };
    if fields.downcast_ref::<PyDict>().is_none() {
        return Err(error("invalid_output", "outputFields must be a dict of name: value"));
    }
    let serializer = rustpython_vm::py_serde::PyObjectSerializer::new(vm, &fields);
    serde_json::to_string(&serializer).map_err(|e| error("invalid_output", format!("outputFields: {e}")))
}

impl Runner for Runtime {
    fn check(source: String) -> Result<(), PluginError> {
        let Started { interpreter, .. } = started()?;
        interpreter.enter(|vm| compile(vm, &source).map(drop))
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
    /// Start the interpreter and make its modules now, so a snapshot taken after this call
    /// holds them, and compile `source` unless it is empty. The source's top level is not
    /// run here: what it does happens in each call.
    fn wizer_initialize(source: String) {
        let Ok(mut started) = start() else { return };
        if !source.is_empty() {
            let compiled = started.interpreter.enter(|vm| compile(vm, &source).ok());
            started.compiled = compiled.map(|code| (source, code));
        }
        STARTED.with(|s| *s.borrow_mut() = Some(started));
    }
}

export!(Runtime);
