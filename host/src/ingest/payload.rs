//! A request body → one payload per event, within bounds: a nesting depth checked on the
//! raw bytes before any parse (so no parser recursion is ever spent on it), then key
//! length and value count per event, so no payload can make flattening, storage or the
//! admin screens pay for more than a real webhook ever needs.

use serde_json::Value as Json;

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

/// Why a body was refused. The ingest route answers `Malformed` as 400 `malformed_json`
/// and `Refused` as 422 with its code, naming the event at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {message} (line {line}, column {column})")]
    Malformed {
        /// The parser's reason.
        message: String,
        /// Where it stopped (1-based).
        line: usize,
        /// Where it stopped (1-based).
        column: usize,
    },
    /// JSON that the bounds or the event shape refuse.
    #[error("{message}")]
    Refused {
        /// `unprocessable_payload`, `payload_too_deep`, `payload_key_too_long` or
        /// `payload_too_many_values`.
        code: &'static str,
        /// The event at fault: `$`, or `$[i]` in a batch.
        at: String,
        /// Why, for people.
        message: String,
    },
}

/// Parse the body and split it into one payload per event, each checked against the
/// bounds above and given its parsed form.
pub fn split(bytes: &[u8]) -> Result<Split, PayloadError> {
    check_depth(bytes)?;
    let json: Json = serde_json::from_slice(bytes).map_err(|e| PayloadError::Malformed {
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
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

fn unprocessable(at: &str, message: impl ToString) -> PayloadError {
    refuse("unprocessable_payload", at, message)
}

/// A refusal with its code, naming the event (`$` or `$[i]`) at fault.
fn refuse(code: &'static str, at: &str, message: impl ToString) -> PayloadError {
    PayloadError::Refused { code, at: at.to_string(), message: message.to_string() }
}

/// Refuse nesting deeper than [`MAX_DEPTH`] by counting brackets outside strings. A batch's
/// array adds one level, which is allowed for.
fn check_depth(bytes: &[u8]) -> Result<(), PayloadError> {
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
fn check_values(event: &Json, at: &str) -> Result<(), PayloadError> {
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

#[cfg(test)]
mod tests {
    use super::{MAX_DEPTH, PayloadError, split};

    fn refusal(body: &[u8]) -> (&'static str, String) {
        match split(body) {
            Err(PayloadError::Refused { code, at, .. }) => (code, at),
            other => panic!("{:?}", other.map(|s| s.payloads.len())),
        }
    }

    #[test]
    fn refusals_name_their_rule_and_the_event_at_fault() {
        let malformed = split(b"{\"a\": 1,\n}").err().unwrap();
        assert!(matches!(malformed, PayloadError::Malformed { line: 2, .. }), "{malformed:?}");
        assert!(malformed.to_string().starts_with("the body is not valid JSON: "), "{malformed}");
        assert_eq!(refusal(br#"[{"a": 1}, 2]"#), ("unprocessable_payload", "$[1]".to_string()));
        assert_eq!(refusal(b"[]"), ("unprocessable_payload", "$".to_string()));
        assert_eq!(refusal(b"\"text\""), ("unprocessable_payload", "$".to_string()));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert_eq!(refusal(deep.as_bytes()), ("payload_too_deep", "$".to_string()));
        let split = split(br#"[{"a": 1}, {"b": 2}]"#).unwrap();
        assert!(split.batch);
        assert_eq!(split.payloads, [br#"{"a":1}"#.to_vec(), br#"{"b":2}"#.to_vec()]);
    }
}
