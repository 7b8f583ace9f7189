//! Payload → properties by path: nested objects join with `.`, array elements by index,
//! and a key that itself holds `.` or `\` is escaped with `\`. Only scalars become
//! properties; the raw payload is kept elsewhere, so nothing is lost.

use serde_json::Value as Json;

/// One scalar found in a payload, with its path (`data.object.id`, `items.0.sku`).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The escaped, dot-joined path.
    pub path: String,
    /// The scalar (string, number, boolean or null).
    pub value: Json,
}

/// Escape one key so `.` and `\` inside it cannot be confused with the separator.
pub fn escape_key(key: &str) -> String {
    if !key.contains(['.', '\\']) {
        return key.to_string();
    }
    let mut out = String::with_capacity(key.len() + 2);
    for c in key.chars() {
        if c == '.' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Every scalar of `payload` in document order, with its path. An empty key is an empty
/// segment (`{"": {"b": 1}}` → `.b`), so it can never collide with a key one level up.
pub fn flatten(payload: &Json) -> Vec<Field> {
    let mut fields = Vec::new();
    walk(payload, &mut String::new(), 0, &mut fields);
    fields
}

fn walk(value: &Json, prefix: &mut String, depth: usize, out: &mut Vec<Field>) {
    let mut descend = |segment: &str, child: &Json, prefix: &mut String| {
        let before = prefix.len();
        // The separator depends on depth, not on the prefix being empty: an empty key still
        // takes its own segment.
        if depth > 0 {
            prefix.push('.');
        }
        prefix.push_str(segment);
        walk(child, prefix, depth + 1, out);
        prefix.truncate(before);
    };
    match value {
        Json::Object(map) => {
            for (key, child) in map {
                descend(&escape_key(key), child, prefix);
            }
        }
        Json::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                descend(&index.to_string(), child, prefix);
            }
        }
        // A scalar payload has no fields; scalars inside objects and arrays do.
        scalar if depth > 0 => out.push(Field { path: prefix.clone(), value: scalar.clone() }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(payload: Json) -> Vec<(String, Json)> {
        flatten(&payload).into_iter().map(|f| (f.path, f.value)).collect()
    }

    #[test]
    fn nested_objects_and_arrays_flatten_by_path() {
        let payment = json!({
            "id": "evt_1",
            "data": {"object": {"id": 7, "amount": 4200, "paid": true, "refunded_at": null}},
            "items": [{"sku": "A-1"}, {"sku": "B-2"}]
        });
        assert_eq!(
            paths(payment),
            vec![
                ("id".into(), json!("evt_1")),
                ("data.object.id".into(), json!(7)),
                ("data.object.amount".into(), json!(4200)),
                ("data.object.paid".into(), json!(true)),
                ("data.object.refunded_at".into(), Json::Null),
                ("items.0.sku".into(), json!("A-1")),
                ("items.1.sku".into(), json!("B-2")),
            ]
        );
    }

    #[test]
    fn keys_with_dots_or_backslashes_are_escaped() {
        assert_eq!(paths(json!({"a.b": {"c\\d": 1}})), vec![("a\\.b.c\\\\d".into(), json!(1))]);
    }

    #[test]
    fn empty_containers_yield_nothing() {
        assert!(paths(json!({"tags": [], "meta": {}})).is_empty());
    }

    #[test]
    fn empty_keys_take_their_own_segment_and_never_collide() {
        // Found by the flatten fuzz target: `{"": {"b": 1}, "b": 2}` gave `b` twice.
        assert_eq!(
            paths(json!({"": {"b": 1}, "b": 2, "a": {"": 3}})),
            [(".b".into(), json!(1)), ("b".into(), json!(2)), ("a.".into(), json!(3))]
        );
        assert_eq!(paths(json!({"": 0})), [(String::new(), json!(0))]);
    }
}
