//! Panics caught at a stage's boundary (a wasmhook bug; plugin traps are values), turned
//! into a reason an event or enrollment can end with.

/// The text a panic carried, for a failure reason.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}
