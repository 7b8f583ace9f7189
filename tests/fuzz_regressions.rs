//! Every saved fuzz input (`fuzz/regressions/<target>/`: crashes once found and fixed;
//! `fuzz/seeds/<target>/`: starting points) and every JSONTestSuite file, through every fuzz
//! target's check, on the pinned toolchain: CI's short variant of `fuzz/run.sh`.

use crate::fuzz_checks;

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.is_file()).collect();
    found.sort();
    found
}

#[test]
fn every_saved_input_passes_every_fuzz_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let suite = files(&root.join("tests/fixtures/JSONTestSuite/test_parsing"));
    assert_eq!(suite.len(), 318);
    let mut ran = 0;
    for (target, check) in fuzz_checks::TARGETS {
        let mut inputs = suite.clone();
        inputs.extend(files(&root.join("fuzz/seeds").join(target)));
        inputs.extend(files(&root.join("fuzz/regressions").join(target)));
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target} fails on {}", input.display());
            ran += 1;
        }
    }
    assert!(ran >= 6 * 318);
}
