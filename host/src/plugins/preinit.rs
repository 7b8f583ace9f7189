//! Pre-initialization of the built-in script runtime: run its `wizer-initialize` export
//! once (the JavaScript engine and its prelude started, and maybe a step's source
//! compiled) and snapshot the instance into a new component whose calls find them ready.
//! wasmtime's pre-initializer (Wizer) does the work; the snapshot is a `script` component
//! (with the initializer still exported, never called again).

use wasmtime::Store;
use wasmtime::component::Linker;

use super::cpu_budget::{CpuBudget, Metered};
use super::sandbox::SandboxState;

/// The snapshot of the component `bytes` after its initializer ran with `source` in
/// `store` (a call's sandbox: nothing granted, `budget` bounding its time), its imports
/// from `linker`.
pub(super) fn snapshot(
    store: &mut Store<SandboxState>,
    linker: &Linker<SandboxState>,
    bytes: &[u8],
    source: &str,
    budget: &CpuBudget,
) -> Result<Vec<u8>, String> {
    let mut wizer = wasmtime_wizer::Wizer::new();
    // The initializer's argument goes in as a WAVE call (`wizer-initialize("…")`).
    wizer.init_func(format!("wizer-initialize({})", wave_string(source)));
    // Removing the initializer leaves the component lifting a core export that is gone
    // (wasmtime-wizer 48 drops it from the core module only): the snapshot keeps it, and
    // the host never calls it.
    wizer.keep_init_func(true);
    let made =
        wizer.run_component(store, bytes, async |store, component| linker.instantiate_async(store, component).await);
    // Never pending: the initializer waits on nothing.
    let (snapshot, _) = super::block_on::block_on(Metered::new(made, budget.meter()))
        .map_err(|e| format!("pre-initializing the runtime failed: {e:#}"))?;
    Ok(snapshot)
}

/// `text` as a WAVE string literal: quoted, with quotes, backslashes and control
/// characters escaped.
fn wave_string(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_source_becomes_a_wave_string_with_its_specials_escaped() {
        let source = "const s = `a \"q\" \\ p`;\n\tlog('ü', '\u{1}');\r\n";
        assert_eq!(super::wave_string(source), r#""const s = `a \"q\" \\ p`;\n\tlog('ü', '\u{1}');\r\n""#);
    }
}
