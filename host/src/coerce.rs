//! Built-in type rules: a mapped payload value becomes a typed property, or the event
//! fails at stage `coerce` with a reason naming the path and the value.

use serde_json::Value as Json;

use crate::value::Value;

/// The largest integer a JSON number (an f64) holds exactly: 2^53.
const MAX_EXACT_INT: u64 = 1 << 53;

/// The types a mapped property can have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappedType {
    /// Any scalar, as text.
    String,
    /// One of the declared option values.
    Enum(Vec<String>),
    /// A finite number that a JSON number holds exactly.
    Number,
    /// `true`/`false` and their common spellings.
    Boolean,
}

/// Why a value does not fit its mapped type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {value} {why}")]
pub struct CoerceError {
    /// The property path.
    pub path: String,
    /// The offending value, as JSON.
    pub value: String,
    /// What was wrong.
    pub why: String,
}

/// Coerce `value` found at `path` to `target`. `null` stays `null` whatever the type.
pub fn coerce(path: &str, value: &Json, target: &MappedType) -> Result<Value, CoerceError> {
    let fail = |why: &str| CoerceError { path: path.to_string(), value: value.to_string(), why: why.to_string() };
    if value.is_null() {
        return Ok(Value::Null);
    }
    match target {
        MappedType::String => match value {
            Json::String(s) => Ok(Value::String(s.clone())),
            // serde_json prints integers exactly and floats in shortest round-trip form.
            Json::Number(n) => Ok(Value::String(n.to_string())),
            Json::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(fail("is not a scalar")),
        },
        MappedType::Number => match value {
            Json::Number(n) => number_from_json(n).ok_or_else(|| fail(NumberTextError::Inexact.reason())),
            Json::String(s) => number_from_text(s).map(Value::Number).map_err(|e| fail(e.reason())),
            _ => Err(fail("is not a number")),
        },
        MappedType::Boolean => match value {
            Json::Bool(b) => Ok(Value::Boolean(*b)),
            Json::String(s) => boolean_from_text(s).map(Value::Boolean).ok_or_else(|| fail(BOOLEAN_SPELLINGS)),
            Json::Number(n) => match n.as_f64() {
                Some(1.0) => Ok(Value::Boolean(true)),
                Some(0.0) => Ok(Value::Boolean(false)),
                _ => Err(fail("is not a boolean (only the numbers 1 and 0 are)")),
            },
            _ => Err(fail("is not a boolean")),
        },
        MappedType::Enum(options) => {
            let text = match value {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                Json::Bool(b) => b.to_string(),
                _ => return Err(fail("is not a scalar")),
            };
            if options.contains(&text) {
                Ok(Value::String(text))
            } else {
                Err(fail(&format!("is not one of the options [{}]", options.join(", "))))
            }
        }
    }
}

fn number_from_json(n: &serde_json::Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        return (i.unsigned_abs() <= MAX_EXACT_INT).then_some(Value::Number(i as f64));
    }
    if n.as_u64().is_some() {
        // Beyond i64, so certainly beyond 2^53.
        return None;
    }
    n.as_f64().filter(|x| x.is_finite()).map(Value::Number)
}

/// Why text is not a number under the type rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberTextError {
    /// Not written as a number at all.
    NotNumeric,
    /// Beyond what an f64 holds.
    NotFinite,
    /// An integer a JSON number cannot hold exactly.
    Inexact,
}

impl NumberTextError {
    /// The reason, completing "<value> …".
    pub fn reason(self) -> &'static str {
        match self {
            NumberTextError::NotNumeric => "is not numeric text",
            NumberTextError::NotFinite => "is not a finite number",
            NumberTextError::Inexact => "cannot be held exactly as a number (beyond ±2^53)",
        }
    }
}

/// Text as a number under the type rules: trimmed, decimal or exponent notation, finite,
/// and an integer only if a JSON number holds it exactly.
pub fn number_from_text(s: &str) -> Result<f64, NumberTextError> {
    let t = s.trim();
    let numeric = !t.is_empty()
        && t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E'))
        && t.bytes().any(|c| c.is_ascii_digit());
    if !numeric {
        return Err(NumberTextError::NotNumeric);
    }
    let x: f64 = t.parse().map_err(|_| NumberTextError::NotNumeric)?;
    if !x.is_finite() {
        return Err(NumberTextError::NotFinite);
    }
    // Integral text must fit exactly; compare as an integer, not after rounding to f64.
    if !t.contains(['.', 'e', 'E']) {
        let exact = t.parse::<i128>().ok().filter(|i| i.unsigned_abs() <= u128::from(MAX_EXACT_INT));
        if exact.is_none() {
            return Err(NumberTextError::Inexact);
        }
    }
    Ok(x)
}

/// The boolean spellings the type rules take, as a refusal says them.
pub const BOOLEAN_SPELLINGS: &str = "is not a boolean (true/false, yes/no, 1/0, on/off)";

/// Text as a boolean: `true/false`, `yes/no`, `1/0`, `on/off`, any case, trimmed.
pub fn boolean_from_text(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(value: Json, target: MappedType) -> Value {
        coerce("p", &value, &target).unwrap()
    }

    fn err(value: Json, target: MappedType) -> String {
        coerce("order.total", &value, &target).unwrap_err().to_string()
    }

    #[test]
    fn strings_take_any_scalar_in_canonical_form() {
        assert_eq!(ok(json!(12.50), MappedType::String), Value::String("12.5".into()));
        assert_eq!(
            ok(json!(12345678901234567890u64), MappedType::String),
            Value::String("12345678901234567890".into())
        );
        assert_eq!(ok(json!(false), MappedType::String), Value::String("false".into()));
        assert_eq!(ok(Json::Null, MappedType::String), Value::Null);
    }

    #[test]
    fn numbers_accept_numeric_text_and_refuse_precision_loss() {
        assert_eq!(ok(json!(" 1e3 "), MappedType::Number), Value::Number(1000.0));
        assert_eq!(ok(json!("-0.5"), MappedType::Number), Value::Number(-0.5));
        assert_eq!(ok(json!(9007199254740992i64), MappedType::Number), Value::Number(9_007_199_254_740_992.0));
        assert!(err(json!(9007199254740993i64), MappedType::Number).contains("2^53"));
        assert!(err(json!("9007199254740993"), MappedType::Number).contains("2^53"));
        assert!(err(json!("NaN"), MappedType::Number).contains("numeric"));
        assert!(err(json!("inf"), MappedType::Number).contains("numeric"));
        assert!(err(json!("1e999"), MappedType::Number).contains("finite"));
        let message = err(json!("twelve"), MappedType::Number);
        assert_eq!(message, "`order.total`: \"twelve\" is not numeric text");
    }

    #[test]
    fn booleans_accept_common_spellings_only() {
        for t in ["true", "YES", "1", "On"] {
            assert_eq!(ok(json!(t), MappedType::Boolean), Value::Boolean(true), "{t}");
        }
        for f in ["false", "no", "0", "OFF"] {
            assert_eq!(ok(json!(f), MappedType::Boolean), Value::Boolean(false), "{f}");
        }
        assert_eq!(ok(json!(1), MappedType::Boolean), Value::Boolean(true));
        assert!(err(json!(2), MappedType::Boolean).contains("1 and 0"));
        assert!(err(json!("maybe"), MappedType::Boolean).contains("not a boolean"));
    }

    #[test]
    fn enums_accept_declared_options_only() {
        let plan = MappedType::Enum(vec!["free".into(), "pro".into()]);
        assert_eq!(ok(json!("pro"), plan.clone()), Value::String("pro".into()));
        assert!(err(json!("Pro"), plan).contains("not one of the options [free, pro]"));
    }

    #[test]
    fn objects_and_arrays_are_refused() {
        assert!(err(json!({"a": 1}), MappedType::String).contains("not a scalar"));
        assert!(err(json!([1]), MappedType::Number).contains("not a number"));
    }
}
