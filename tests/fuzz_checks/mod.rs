//! What each fuzz target checks, on one input. Shared by the libFuzzer targets in `fuzz/`
//! (nightly) and by `tests/fuzz_regressions.rs`, which runs every saved input through the
//! same checks on the pinned toolchain, in CI.
#![allow(dead_code)]

use std::collections::HashSet;

use serde_json::{Value as Json, json};
use wasmhook::coerce::{MappedType, coerce};
use wasmhook::flatten::flatten;
use wasmhook::ingest::signature::{Scheme, Verifier};
use wasmhook::value::{Property, Value};

/// One input through one target's checks; panics on a violation.
pub type Check = fn(&[u8]);

/// Every target: its name (the `fuzz/fuzz_targets/<name>.rs` file) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("payload", payload),
    ("flatten", flatten_paths),
    ("coerce", coerce_types),
    ("strtotime", strtotime),
    ("signature", signature),
    ("wit_values", wit_values),
];

/// Ingest's body split never panics; what it accepts are objects within the bounds.
pub fn payload(data: &[u8]) {
    if let Ok(split) = wasmhook::ingest::payload::split(data) {
        assert_eq!(split.payloads.len(), split.parsed.len());
        for bytes in &split.payloads {
            let event: Json = serde_json::from_slice(bytes).expect("a stored payload is JSON");
            assert!(event.is_object());
        }
    }
}

/// Flattening gives one distinct path per scalar (escaping keeps `a.b` and `{a:{b}}` apart).
pub fn flatten_paths(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<Json>(data) else { return };
    let fields = flatten(&json);
    let mut seen = HashSet::new();
    for f in &fields {
        assert!(seen.insert(f.path.as_str()), "path `{}` appears twice", f.path);
        assert!(!f.value.is_object() && !f.value.is_array());
    }
    // A scalar payload has no fields.
    let expected = if json.is_object() || json.is_array() { scalars(&json) } else { 0 };
    assert_eq!(fields.len(), expected);
}

fn scalars(json: &Json) -> usize {
    match json {
        Json::Object(map) => map.values().map(scalars).sum(),
        Json::Array(items) => items.iter().map(scalars).sum(),
        _ => 1,
    }
}

/// Coercion never panics, and what it produces has the mapped type.
pub fn coerce_types(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<Json>(data) else { return };
    let targets = [
        MappedType::String,
        MappedType::Number,
        MappedType::Boolean,
        MappedType::Enum(vec!["a".into(), "B".into(), "1".into()]),
    ];
    for field in flatten(&json) {
        for target in &targets {
            if let Ok(value) = coerce(&field.path, &field.value, target) {
                match (target, &value) {
                    (_, Value::Null) => {}
                    (MappedType::Number, Value::Number(n)) => assert!(n.is_finite()),
                    (MappedType::Boolean, Value::Boolean(_)) => {}
                    (MappedType::String, Value::String(_)) => {}
                    (MappedType::Enum(options), Value::String(s)) => assert!(options.contains(s), "{s} is an option"),
                    (t, v) => panic!("coerced to {t:?} but got {v:?}"),
                }
            }
        }
    }
}

/// The native strtotime parser never panics (overflow checks on in fuzz builds) on any text,
/// reference time and zone.
pub fn strtotime(data: &[u8]) {
    if data.len() < 9 {
        return;
    }
    let now = i64::from_le_bytes(data[..8].try_into().expect("8 bytes")) >> (data[8] % 32);
    let text = String::from_utf8_lossy(&data[9..]);
    let zone = strtotime::ParsedZone::Offset(i64::from(data[8] as i8) * 900);
    let _ = strtotime::strtotime(&text, now, zone);
}

/// Signature checks never panic on any header, body and clock; a correctly signed GitHub
/// delivery of the same body always passes.
pub fn signature(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(3, |&b| b == 0xFF);
    let header = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let timestamp = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let scheme = match pick % 7 {
        0 => json!({"scheme": "standard-webhooks"}),
        1 => json!({"scheme": "github"}),
        2 => json!({"scheme": "stripe"}),
        3 => json!({"scheme": "shopify"}),
        4 => json!({"scheme": "slack"}),
        5 => json!({"scheme": "hmac-sha256", "header": "X-Sig", "encoding": "base64", "prefix": "v1="}),
        _ => json!({"scheme": "hmac-sha256", "header": "X-Sig", "timestamp_header": "X-Ts"}),
    };
    let scheme: Scheme = serde_json::from_value(scheme).expect("a valid scheme");
    let secret = if pick % 7 == 0 { "whsec_c2VjcmV0LWtleS1mb3ItZnV6emluZw==" } else { "secret-key-for-fuzzing" };
    let verifier = Verifier::new(scheme, &[secret.to_string()], 300).expect("a valid secret");
    let now = 1_700_000_000 + i64::from(pick);
    // Every header the schemes read gets a fuzzed value.
    let _ = verifier.verify(
        |name| {
            let n = name.to_ascii_lowercase();
            Some(if n.contains("timestamp") || n == "x-ts" || n == "webhook-id" { &timestamp } else { &header })
        },
        body,
        now,
    );
    // The round trip: a valid GitHub signature for this body verifies.
    let github =
        Verifier::new(serde_json::from_value(json!({"scheme": "github"})).expect("scheme"), &[secret.to_string()], 300)
            .expect("secret");
    let good = format!("sha256={}", hex_hmac(secret.as_bytes(), body));
    github.verify(|_| Some(good.as_str()), body, now).expect("a correct signature verifies");
}

fn hex_hmac(key: &[u8], body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Host values through the WIT boundary and back: valid ones come back equal, invalid ones
/// (empty or repeated names, non-finite numbers, over the cap) are refused, never passed on.
pub fn wit_values(data: &[u8]) {
    let mut properties = Vec::new();
    for (i, chunk) in data.chunks(9).enumerate() {
        let name = if chunk[0] % 17 == 0 { String::new() } else { format!("p{}", chunk[0] % 12) };
        let value = match chunk.get(1).copied().unwrap_or(0) % 4 {
            0 => Value::Null,
            1 => Value::Boolean(chunk.len() % 2 == 0),
            2 => {
                let mut bytes = [0u8; 8];
                for (b, src) in bytes.iter_mut().zip(chunk.iter().skip(1)) {
                    *b = *src;
                }
                Value::Number(f64::from_le_bytes(bytes))
            }
            _ => Value::String(format!("{i}:{}", String::from_utf8_lossy(chunk))),
        };
        properties.push(Property::new(name, value));
    }
    let cap = 64 + data.len() * 4;
    match wasmhook::plugins::through_wit(&properties, cap) {
        Ok(back) => assert_eq!(back, properties),
        Err(_) => {
            let names: HashSet<&str> = properties.iter().map(|p| p.name.as_str()).collect();
            let valid = names.len() == properties.len()
                && !names.contains("")
                && properties.iter().all(|p| !matches!(p.value, Value::Number(n) if !n.is_finite()));
            let size: usize = properties
                .iter()
                .map(|p| p.name.len() + if let Value::String(s) = &p.value { s.len() } else { 8 })
                .sum();
            assert!(!valid || size > cap, "valid output refused: {properties:?}");
        }
    }
}
