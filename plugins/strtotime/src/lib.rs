//! PHP-compatible `strtotime`: the scanner and relative-time rules of timelib (the date
//! library inside PHP), in plain Rust, usable natively and as a wasmhook `transform` plugin.
//!
//! ```
//! use strtotime::{strtotime, ParsedZone};
//! // 2023-11-14 22:13:20 UTC is a Tuesday.
//! assert_eq!(strtotime("next monday 9am", 1_700_000_000, ParsedZone::Offset(0)), Ok(1_700_470_800));
//! ```
//!
//! Layout: `pattern` (longest-match engine) → `grammar` (timelib's rules) → `scan`
//! (rule actions) → `resolve` (fill from now, relative parts, zone).

#![deny(missing_docs)]

mod abbreviations;
mod calendar;
mod grammar;
mod pattern;
mod resolve;
mod scan;
mod zone;

#[cfg(target_arch = "wasm32")]
mod component;

pub use zone::ParsedZone;

/// Why a string could not be turned into a time (timelib's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrtotimeError(pub &'static str);

impl std::fmt::Display for StrtotimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for StrtotimeError {}

/// Parse `input` like PHP's `strtotime($input, $now)` with `zone` as the default time zone;
/// returns unix seconds.
pub fn strtotime(input: &str, now_unix: i64, zone: ParsedZone) -> Result<i64, StrtotimeError> {
    strtotime_micros(input, now_unix, zone).map(|(seconds, _)| seconds)
}

/// Like [`strtotime`], also returning the microseconds the input carried (`12:00:00.250`).
pub fn strtotime_micros(input: &str, now_unix: i64, zone: ParsedZone) -> Result<(i64, i64), StrtotimeError> {
    let bytes = input.as_bytes();
    if bytes.is_empty() {
        return Err(StrtotimeError("Empty string"));
    }
    // timelib trims like this: an all-blank input keeps one blank and means "now".
    let is_space = |c: u8| c.is_ascii_whitespace() || c == 0x0b;
    let (mut s, mut e) = (0, bytes.len() - 1);
    while is_space(bytes[s]) && s < e {
        s += 1;
    }
    while is_space(bytes[e]) && e > s {
        e -= 1;
    }
    let parsed = scan::scan(&bytes[s..=e]).map_err(StrtotimeError)?;
    resolve::resolve(&parsed, now_unix, zone).map_err(StrtotimeError)
}
