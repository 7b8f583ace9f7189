//! Fuzz target `signature`: the check is `tests/fuzz_checks::signature`, shared with the CI regression test.
#![no_main]

#[path = "../../tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::signature(data));
