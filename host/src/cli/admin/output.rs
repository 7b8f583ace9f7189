//! How admin verbs print: aligned tables and `key  value` details for people, or the
//! server's JSON unchanged for scripts (`--output json`).

use serde_json::Value;

/// The output format of admin verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// The server's JSON answer, pretty-printed (one compact line per event for `tail`).
    Json,
}

/// A field of a JSON object as table text: strings bare, `null` as `-`, the rest as JSON.
pub fn cell(value: &Value, key: &str) -> String {
    text(value.get(key).unwrap_or(&Value::Null))
}

/// A JSON value as table text.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The array under `key` of an answer (empty when absent).
pub fn items<'a>(answer: &'a Value, key: &str) -> &'a [Value] {
    answer.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push('\n');
    }
    out
}

/// A JSON object as `key  value` lines, keys aligned; nested values as compact JSON.
pub fn details(value: &Value) -> String {
    let Some(object) = value.as_object() else { return format!("{}\n", text(value)) };
    let rows: Vec<Vec<String>> = object.iter().map(|(k, v)| vec![k.clone(), text(v)]).collect();
    let width = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
    rows.iter().map(|r| format!("{:<width$}  {}\n", r[0], r[1])).collect()
}

/// Print an answer: JSON as is, or the table/details `render` makes of it.
pub fn print(format: Format, answer: &Value, render: impl FnOnce(&Value) -> String) {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(answer).unwrap_or_else(|_| answer.to_string())),
        Format::Table => print!("{}", render(answer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_align_and_nulls_show_as_dashes() {
        let rows = vec![vec!["wh_1".into(), "Signups".into()], vec!["wh_22".into(), "-".into()]];
        assert_eq!(table(&["ID", "NAME"], &rows), "ID     NAME\nwh_1   Signups\nwh_22  -\n");
        assert_eq!(cell(&json!({"a": null, "b": 3, "c": "x"}), "a"), "-");
        assert_eq!(details(&json!({"id": "e1", "steps": [1]})), "id     e1\nsteps  [1]\n");
    }
}
