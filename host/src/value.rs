//! Plain Rust property values, the host-side twin of the WIT `value` variant.

use serde_json::{Map, Number, Value as Json};

/// One property value: the four scalar kinds a webhook payload can carry.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// Text.
    String(String),
    /// A number (IEEE-754 double, like JSON).
    Number(f64),
    /// `true` or `false`.
    Boolean(bool),
}

/// A named property value, e.g. `customer.email` or `signed_up_unix`.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Property name.
    pub name: String,
    /// Its value.
    pub value: Value,
}

impl Property {
    /// Build a property from a name and value.
    pub fn new(name: impl Into<String>, value: Value) -> Self {
        Property { name: name.into(), value }
    }
}

/// A JSON value that cannot be a property value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ValueError {
    /// Objects and arrays are not scalars.
    #[error("property `{name}` is an {kind}; only strings, numbers, booleans and null are property values")]
    NotScalar {
        /// The offending key.
        name: String,
        /// `object` or `array`.
        kind: &'static str,
    },
    /// The input was not a JSON object.
    #[error("expected a JSON object of properties, got {0}")]
    NotAnObject(&'static str),
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

impl Value {
    /// Convert a scalar JSON value; objects and arrays are refused.
    pub fn from_json(name: &str, json: &Json) -> Result<Value, ValueError> {
        Ok(match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Boolean(*b),
            // serde_json numbers always fit an f64 approximately; precision rules live in coerce.
            Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => Value::String(s.clone()),
            other => {
                return Err(ValueError::NotScalar { name: name.to_string(), kind: json_kind(other) });
            }
        })
    }

    /// The JSON form; integral numbers print without a fraction (`1700470800`, not `1700470800.0`).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Boolean(b) => Json::Bool(*b),
            Value::String(s) => Json::String(s.clone()),
            Value::Number(n) => number_to_json(*n),
        }
    }
}

/// Integral values within ±2^53 become JSON integers; others stay floats (NaN/inf become null).
fn number_to_json(n: f64) -> Json {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT {
        Json::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

/// Read a JSON object of scalar properties (the `plugin run` stdin format).
pub fn properties_from_json(json: &Json) -> Result<Vec<Property>, ValueError> {
    let Json::Object(map) = json else {
        return Err(ValueError::NotAnObject(json_kind(json)));
    };
    map.iter().map(|(k, v)| Ok(Property::new(k.clone(), Value::from_json(k, v)?))).collect()
}

/// Write properties as a JSON object, in order.
pub fn properties_to_json(properties: &[Property]) -> Json {
    let map: Map<String, Json> = properties.iter().map(|p| (p.name.clone(), p.value.to_json())).collect();
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_print_as_integers() {
        assert_eq!(Value::Number(1_700_470_800.0).to_json().to_string(), "1700470800");
        assert_eq!(Value::Number(-0.5).to_json().to_string(), "-0.5");
    }

    #[test]
    fn nested_values_are_refused_with_their_name() {
        let json = serde_json::json!({"customer": {"id": 7}});
        let err = properties_from_json(&json).unwrap_err();
        assert!(err.to_string().contains("`customer` is an object"), "{err}");
    }
}
