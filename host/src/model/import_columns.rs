//! What a record import reads: its file format, and for CSV which column fills which
//! property (by header name unless the admin maps it).

use serde::{Deserialize, Serialize};

use super::property::PropertyDef;
use super::vocabulary;

vocabulary! {
    /// The format of an uploaded import file.
    ImportFormat, "import format" {
        /// One JSON object of properties per line.
        Ndjson = "ndjson",
        /// RFC 4180 CSV with a header row.
        Csv = "csv",
    }
}

impl ImportFormat {
    /// The format a `Content-Type` names: `text/csv` (or `application/csv`) is CSV, anything
    /// else NDJSON, as imports always took.
    pub fn from_content_type(content_type: Option<&str>) -> ImportFormat {
        let essence = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" | "application/csv" => ImportFormat::Csv,
            _ => ImportFormat::Ndjson,
        }
    }
}

/// One column of a CSV file: its header and the property it fills (none: left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportColumn {
    /// The header, as written in the file.
    pub column: String,
    /// The property its cells fill; `null` when the column is not imported.
    pub property: Option<String>,
}

/// Why a column mapping was refused: the request field (`map.<column>` or `body`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMapping {
    /// The query parameter or `body`.
    pub field: String,
    /// Why, for people.
    pub message: String,
}

/// Map the header row's `headers` to the object's properties. A column named in `explicit`
/// (`(column, property)`; an empty property leaves the column out) goes where it says;
/// any other column fills the property whose name or label equals its header, ignoring
/// case and surrounding spaces, and is left out if none does.
pub fn map_columns(
    headers: &[String],
    defs: &[PropertyDef],
    explicit: &[(String, String)],
) -> Result<Vec<ImportColumn>, BadMapping> {
    for (column, property) in explicit {
        let field = format!("map.{column}");
        if !headers.iter().any(|h| h == column) {
            let message = format!("the header row has no column `{column}`; its columns: {}", headers.join(", "));
            return Err(BadMapping { field, message });
        }
        if !property.is_empty() && !defs.iter().any(|d| d.name == *property) {
            let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
            let message = format!("no property `{property}` on this object; its properties: {}", names.join(", "));
            return Err(BadMapping { field, message });
        }
    }
    let mut columns: Vec<ImportColumn> = Vec::with_capacity(headers.len());
    for header in headers {
        if columns.iter().any(|c| c.column == *header) {
            let message = format!("the header row names `{header}` twice; rename one of the columns");
            return Err(BadMapping { field: "body".into(), message });
        }
        let property = match explicit.iter().find(|(column, _)| column == header) {
            Some((_, property)) => Some(property.clone()).filter(|p| !p.is_empty()),
            None => by_name(header, defs).map(|d| d.name.clone()),
        };
        if let Some(taken) = property.as_ref().and_then(|p| columns.iter().find(|c| c.property.as_ref() == Some(p))) {
            let message = format!(
                "columns `{}` and `{header}` both fill `{}`; map one of them elsewhere or leave it out (map.{header}=)",
                taken.column,
                property.as_deref().unwrap_or_default()
            );
            return Err(BadMapping { field: format!("map.{header}"), message });
        }
        columns.push(ImportColumn { column: header.clone(), property });
    }
    if columns.iter().all(|c| c.property.is_none()) {
        let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        let message = format!(
            "no column of the header row ({}) names a property ({}); map them with map.<column>=<property>",
            headers.join(", "),
            names.join(", ")
        );
        return Err(BadMapping { field: "body".into(), message });
    }
    Ok(columns)
}

/// The property a header names, by name or label, ignoring case and surrounding spaces.
fn by_name<'a>(header: &str, defs: &'a [PropertyDef]) -> Option<&'a PropertyDef> {
    let wanted = header.trim();
    defs.iter()
        .find(|d| d.name.eq_ignore_ascii_case(wanted))
        .or_else(|| defs.iter().find(|d| !d.label.is_empty() && d.label.trim().to_lowercase() == wanted.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::property::PropertyType;

    fn def(name: &str, label: &str, kind: PropertyType) -> PropertyDef {
        PropertyDef { name: name.into(), label: label.into(), kind, options: vec![], unique: false }
    }

    fn defs() -> Vec<PropertyDef> {
        vec![
            def("email", "Email", PropertyType::String),
            def("full_name", "Full name", PropertyType::String),
            def("score", "Score", PropertyType::Number),
            def("vip", "VIP", PropertyType::Boolean),
        ]
    }

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn headers_map_by_name_or_label_and_the_rest_is_left_out() {
        let columns = map_columns(&headers(&["EMAIL", " Full Name ", "score", "Notes"]), &defs(), &[]).unwrap();
        let mapped: Vec<Option<&str>> = columns.iter().map(|c| c.property.as_deref()).collect();
        assert_eq!(mapped, [Some("email"), Some("full_name"), Some("score"), None]);
    }

    #[test]
    fn an_explicit_mapping_wins_and_an_empty_one_leaves_the_column_out() {
        let explicit = vec![("Notes".to_string(), "full_name".to_string()), ("score".to_string(), String::new())];
        let columns = map_columns(&headers(&["email", "Notes", "score"]), &defs(), &explicit).unwrap();
        let mapped: Vec<Option<&str>> = columns.iter().map(|c| c.property.as_deref()).collect();
        assert_eq!(mapped, [Some("email"), Some("full_name"), None]);
    }

    #[test]
    fn refusals_name_the_field() {
        let refused = |h: &[&str], explicit: &[(&str, &str)]| {
            let explicit: Vec<(String, String)> =
                explicit.iter().map(|(c, p)| (c.to_string(), p.to_string())).collect();
            map_columns(&headers(h), &defs(), &explicit).unwrap_err()
        };
        assert_eq!(refused(&["email"], &[("Mail", "email")]).field, "map.Mail");
        assert_eq!(refused(&["email", "x"], &[("x", "nope")]).field, "map.x");
        assert_eq!(refused(&["email", "Email"], &[]).field, "map.Email", "two columns fill one property");
        assert_eq!(refused(&["email", "email"], &[]).field, "body", "a header named twice");
        assert_eq!(refused(&["a", "b"], &[]).field, "body", "nothing maps");
    }

    #[test]
    fn csv_is_chosen_by_content_type() {
        assert_eq!(ImportFormat::from_content_type(Some("text/csv; charset=utf-8")), ImportFormat::Csv);
        assert_eq!(ImportFormat::from_content_type(Some("application/x-ndjson")), ImportFormat::Ndjson);
        assert_eq!(ImportFormat::from_content_type(None), ImportFormat::Ndjson);
    }
}
