//! A request body → one payload per event, within bounds: a nesting depth checked on the
//! raw bytes before any parse (so no parser recursion is ever spent on it), then key
//! length and value count per event, so no payload can make flattening, storage or the
//! admin screens pay for more than a real webhook ever needs.

use axum::http::StatusCode;
use serde_json::Value as Json;

use crate::http::ApiError;

/// Largest number of events in one batch.
pub const MAX_BATCH: usize = 1000;

/// Deepest nesting of objects and arrays (a top-level object is depth 1).
pub const MAX_DEPTH: usize = 64;

/// Longest object key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Most values (scalars, objects and arrays) in one event.
pub const MAX_VALUES: usize = 10_000;

/// A body split into one payload per event.
pub struct Split {
    /// Each event's bytes, as stored.
    pub payloads: Vec<Vec<u8>>,
    /// Each event's parsed form (for dedup by body path).
    pub parsed: Vec<Json>,
    /// Whether the body was an array (the answer then lists every event).
    pub batch: bool,
}

/// Parse the body and split it into one payload per event, each checked against the
/// bounds above and given its parsed form.
pub fn split(bytes: &[u8]) -> Result<Split, ApiError> {
    check_depth(bytes)?;
    let json: Json = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e} (line {}, column {})", e.line(), e.column()),
        )
    })?;
    match json {
        object @ Json::Object(_) => {
            check_values(&object, "$")?;
            Ok(Split { payloads: vec![bytes.to_vec()], parsed: vec![object], batch: false })
        }
        Json::Array(items) => {
            if items.is_empty() {
                return Err(unprocessable("$", "an empty array holds no events"));
            }
            if items.len() > MAX_BATCH {
                return Err(unprocessable("$", format!("a batch holds at most {MAX_BATCH} events")));
            }
            let (payloads, parsed) = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let at = format!("$[{i}]");
                    match item {
                        Json::Object(_) => {
                            check_values(&item, &at)?;
                            serde_json::to_vec(&item).map(|bytes| (bytes, item)).map_err(|e| unprocessable(&at, e))
                        }
                        other => {
                            Err(unprocessable(&at, format!("batch element {i} is {}, not an object", kind(&other))))
                        }
                    }
                })
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .unzip();
            Ok(Split { payloads, parsed, batch: true })
        }
        other => {
            Err(unprocessable("$", format!("the payload is {}; send an object or an array of objects", kind(&other))))
        }
    }
}

fn unprocessable(field: &str, message: impl ToString) -> ApiError {
    refuse("unprocessable_payload", field, message)
}

/// A 422 with its code, naming the event (`$` or `$[i]`) at fault.
fn refuse(code: &'static str, field: &str, message: impl ToString) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message.to_string()).with_field(field)
}

/// Refuse nesting deeper than [`MAX_DEPTH`] by counting brackets outside strings. A batch's
/// array adds one level, which is allowed for.
fn check_depth(bytes: &[u8]) -> Result<(), ApiError> {
    let allowed = MAX_DEPTH + usize::from(bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'['));
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (offset, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > allowed {
                    return Err(refuse(
                        "payload_too_deep",
                        "$",
                        format!("the payload nests deeper than {MAX_DEPTH} levels (at byte {offset})"),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Refuse an event with a key longer than [`MAX_KEY_BYTES`] or more than [`MAX_VALUES`]
/// values; `at` names the event in the error (`$` or `$[i]`).
fn check_values(event: &Json, at: &str) -> Result<(), ApiError> {
    let mut count = 0usize;
    let mut pending = vec![event];
    while let Some(value) = pending.pop() {
        count += 1;
        if count > MAX_VALUES {
            return Err(refuse(
                "payload_too_many_values",
                at,
                format!("the event holds more than {MAX_VALUES} values (scalars, objects and arrays)"),
            ));
        }
        match value {
            Json::Object(map) => {
                if let Some(key) = map.keys().find(|k| k.len() > MAX_KEY_BYTES) {
                    let start: String = key.chars().take(40).collect();
                    let message = format!(
                        "a key of {} bytes (starting `{start}`) is longer than {MAX_KEY_BYTES} bytes",
                        key.len()
                    );
                    return Err(refuse("payload_key_too_long", at, message));
                }
                pending.extend(map.values());
            }
            Json::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    Ok(())
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
