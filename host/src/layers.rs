//! The layer order of the crate's top-level modules, checked: a module may use modules of
//! lower layers only (and itself). `docs/architecture.md` explains each layer; this list
//! is the one the test holds the code to.

/// Layers from the bottom up; modules on one line are peers and may not use each other.
const LAYERS: &[&[&str]] = &[
    // The domain's vocabulary and plain values: no I/O, used by everything; the thread's
    // CPU clock; the breakers' state machine; the crash points tests arm.
    &["model", "value", "flatten", "cpu_clock", "circuit", "crash"],
    // What the stages count per minute (in memory, until flushed): the vocabulary's words
    // counted, for every stage above, the plugins' breakers included.
    &["tally"],
    // Pure rules and leaf services: coercion, telemetry, the WebAssembly engine.
    &["coerce", "telemetry", "plugins"],
    // Storage (SQLite or PostgreSQL) behind one interface.
    &["store"],
    // Services on the store: secrets sealed at rest; the thread plumbing the stages share
    // (waker, pool, panic capture, plugin cache); HTTP plumbing (the error answer, bodies);
    // the set-up wizard's rules.
    &["secrets", "work", "http", "wizard"],
    // The event's journey, in order: a later stage may use an earlier one, never the reverse.
    &["ingest"],
    &["pipeline"],
    &["act", "import", "retention"],
    // The HTTP API: routes onto the stages; beside it, what the operator watches (the
    // counts flushed, alerts evaluated and sent).
    &["api", "watch"],
    // The composition root: starts and stops every part of a server.
    &["node"],
    // The command lines: the server's (flags, serve, admin verbs) and the benchmarks'.
    &["cli", "bench"],
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::LAYERS;

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| layer.contains(&module))
    }

    /// Every `crate::<module>` a file names in code (comment lines skipped).
    fn crate_paths(text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
        found
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn layers_only_point_down() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut upward = BTreeSet::new();
        let mut unplaced = BTreeSet::new();
        for file in &files {
            let relative = file.strip_prefix(&src).unwrap();
            let top = relative.components().next().unwrap().as_os_str().to_string_lossy();
            let module = top.trim_end_matches(".rs").to_string();
            if ["lib", "main", "bench_main", "layers"].contains(&module.as_str()) {
                continue;
            }
            let Some(own) = layer_of(&module) else {
                unplaced.insert(module);
                continue;
            };
            for used in crate_paths(&std::fs::read_to_string(file).unwrap()) {
                if used == module {
                    continue;
                }
                match layer_of(&used) {
                    Some(layer) if layer < own => {}
                    Some(_) => {
                        upward.insert((module.clone(), used, relative.display().to_string()));
                    }
                    None => {
                        unplaced.insert(used);
                    }
                }
            }
        }
        assert!(unplaced.is_empty(), "modules missing from LAYERS: {unplaced:?}");
        assert!(upward.is_empty(), "imports that point up or sideways (module, uses, file): {upward:?}");
    }

    #[test]
    fn a_path_in_code_is_found_and_one_in_a_comment_is_not() {
        let found = crate_paths("use crate::store::Store;\n// see crate::api\nlet x = crate::model::ids::now_ms();");
        assert_eq!(found.into_iter().collect::<Vec<_>>(), ["model", "store"]);
    }
}
