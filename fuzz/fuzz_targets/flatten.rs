//! Fuzz target `flatten`: the check is `tests/fuzz_checks::flatten_paths`, shared with the CI regression test.
#![no_main]

#[path = "../../tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::flatten_paths(data));
