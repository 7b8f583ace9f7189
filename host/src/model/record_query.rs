//! Which records a listing shows and in what order: the filters an admin asks for (a
//! property equals a value, text starts with a prefix), the sort, and the cursor that
//! continues a listing where its last page ended.

use serde_json::{Map, Value as Json};

use super::ids::RecordId;
use super::property::{PropertyDef, PropertyType};

/// The order of a listing: by creation (the record id, which starts with its creation
/// time) or by last update, either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSort {
    /// Oldest created first.
    Created,
    /// Newest created first (the default: what an admin looks for is usually recent).
    CreatedDesc,
    /// Least recently updated first.
    Updated,
    /// Most recently updated first.
    UpdatedDesc,
}

impl RecordSort {
    /// The names the API takes (`-` for descending).
    pub const NAMES: [&'static str; 4] = ["created", "-created", "updated", "-updated"];

    /// The sort named `text`, if any.
    pub fn parse(text: &str) -> Option<RecordSort> {
        match text {
            "created" => Some(RecordSort::Created),
            "-created" => Some(RecordSort::CreatedDesc),
            "updated" => Some(RecordSort::Updated),
            "-updated" => Some(RecordSort::UpdatedDesc),
            _ => None,
        }
    }

    /// Its API name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordSort::Created => "created",
            RecordSort::CreatedDesc => "-created",
            RecordSort::Updated => "updated",
            RecordSort::UpdatedDesc => "-updated",
        }
    }

    /// Whether the newest come first.
    pub fn descending(self) -> bool {
        matches!(self, RecordSort::CreatedDesc | RecordSort::UpdatedDesc)
    }

    /// Whether it orders by last update (else by creation).
    pub fn by_update(self) -> bool {
        matches!(self, RecordSort::Updated | RecordSort::UpdatedDesc)
    }
}

/// Where a listing continues: after the record with this sort key and id. Written for
/// clients as one opaque string that also names its sort, so a cursor cannot be reused
/// with another order (it would skip or repeat records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCursor {
    /// The sort it belongs to.
    pub sort: RecordSort,
    /// The last record's update time (unix ms) when sorted by update; unused by creation.
    pub at_ms: i64,
    /// The last record's id.
    pub id: RecordId,
}

impl RecordCursor {
    /// The cursor of the page after `record` in `sort`.
    pub fn after(sort: RecordSort, id: &RecordId, updated_at_ms: i64) -> RecordCursor {
        RecordCursor { sort, at_ms: if sort.by_update() { updated_at_ms } else { 0 }, id: id.clone() }
    }

    /// Its text for clients (URL-safe).
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let text = format!("{}|{}|{}", self.sort.as_str(), self.at_ms, self.id.as_str());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    /// A cursor a previous page gave, for listing in `sort`; why not, for people.
    pub fn decode(text: &str, sort: RecordSort) -> Result<RecordCursor, String> {
        use base64::Engine as _;
        let unreadable = || "not a cursor a records page gave (`next_cursor`)".to_string();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| unreadable())?;
        let text = String::from_utf8(bytes).map_err(|_| unreadable())?;
        let mut parts = text.splitn(3, '|');
        let (Some(named), Some(at_ms), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(unreadable());
        };
        let named = RecordSort::parse(named).ok_or_else(unreadable)?;
        if named != sort {
            return Err(format!(
                "this cursor continues a listing sorted by `{}`, not `{}`: give the same sort",
                named.as_str(),
                sort.as_str()
            ));
        }
        let at_ms = at_ms.parse().map_err(|_| unreadable())?;
        if !id.starts_with("rec_") {
            return Err(unreadable());
        }
        Ok(RecordCursor { sort, at_ms, id: RecordId::from_text(id) })
    }
}

/// One condition of a listing.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordCondition {
    /// The property holds this value (numbers by value: `42` equals `42.0`).
    Equals {
        /// The property.
        property: String,
        /// The value, typed as the property is.
        value: Json,
        /// Whether the property is unique (then one indexed lookup finds the record).
        unique: bool,
    },
    /// The property's text starts with this, ignoring case.
    Prefix {
        /// The property.
        property: String,
        /// The prefix, lowercased.
        lowercase: String,
    },
    /// Some text property, or the record id, starts with this, ignoring case (a search box).
    AnyPrefix {
        /// The prefix, lowercased.
        lowercase: String,
    },
}

/// Why a condition was refused: the query parameter, and why for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCondition {
    /// The query parameter (`plan`, `name.prefix`, ...).
    pub field: String,
    /// Why.
    pub message: String,
}

impl RecordCondition {
    /// `property=text` for the property `def`: the text read as the property's type.
    pub fn equals(def: &PropertyDef, text: &str) -> Result<RecordCondition, BadCondition> {
        let refused = |message: String| BadCondition { field: def.name.clone(), message };
        let value = match def.kind {
            PropertyType::Number | PropertyType::Date | PropertyType::Datetime => match text.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Json::from(n),
                _ if def.kind != PropertyType::Number => Json::String(text.to_string()),
                _ => return Err(refused(format!("`{text}` is not a number"))),
            },
            PropertyType::Boolean => match text {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                _ => return Err(refused(format!("`{text}` is not `true` or `false`"))),
            },
            PropertyType::Enum if !def.options.iter().any(|o| o == text) => {
                return Err(refused(format!("`{text}` is not one of the options: {}", def.options.join(", "))));
            }
            PropertyType::String | PropertyType::Enum => Json::String(text.to_string()),
        };
        Ok(RecordCondition::Equals { property: def.name.clone(), value, unique: def.unique })
    }

    /// `property.prefix=text` for the property `def` (text properties only).
    pub fn prefix(def: &PropertyDef, text: &str) -> Result<RecordCondition, BadCondition> {
        if !matches!(def.kind, PropertyType::String | PropertyType::Enum | PropertyType::Date | PropertyType::Datetime)
        {
            return Err(BadCondition {
                field: format!("{}.prefix", def.name),
                message: format!("`{}` is a {} property: a prefix applies to text", def.name, def.kind),
            });
        }
        Ok(RecordCondition::Prefix { property: def.name.clone(), lowercase: text.to_lowercase() })
    }

    /// Whether a record with this id and these properties meets the condition.
    pub fn holds(&self, id: &RecordId, properties: &Map<String, Json>) -> bool {
        match self {
            RecordCondition::Equals { property, value, .. } => properties.get(property).is_some_and(|v| same(v, value)),
            RecordCondition::Prefix { property, lowercase } => {
                properties.get(property).is_some_and(|v| starts_with(v, lowercase))
            }
            RecordCondition::AnyPrefix { lowercase } => {
                id.as_str().to_lowercase().starts_with(lowercase.as_str())
                    || properties.values().any(|v| starts_with(v, lowercase))
            }
        }
    }
}

/// Values equal as a property holds them: numbers by value, the rest exactly.
fn same(held: &Json, wanted: &Json) -> bool {
    match (held, wanted) {
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// A text value starting with `lowercase`, ignoring case.
fn starts_with(value: &Json, lowercase: &str) -> bool {
    value.as_str().is_some_and(|s| s.to_lowercase().starts_with(lowercase))
}

/// All of a listing's conditions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordFilter {
    /// Every one must hold.
    pub conditions: Vec<RecordCondition>,
}

impl RecordFilter {
    /// Whether a record meets every condition.
    pub fn holds(&self, id: &RecordId, properties: &Map<String, Json>) -> bool {
        self.conditions.iter().all(|c| c.holds(id, properties))
    }

    /// A unique property's value the records must hold, if a condition names one: then at
    /// most one record can match, found by one indexed lookup instead of a scan.
    pub fn unique_value(&self) -> Option<(&str, &Json)> {
        self.conditions.iter().find_map(|c| match c {
            RecordCondition::Equals { property, value, unique: true } => Some((property.as_str(), value)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn def(name: &str, kind: PropertyType, unique: bool) -> PropertyDef {
        PropertyDef { name: name.into(), label: name.into(), kind, options: vec!["free".into(), "pro".into()], unique }
    }

    #[test]
    fn a_cursor_round_trips_and_is_refused_for_another_sort_or_when_garbled() {
        let cursor = RecordCursor::after(RecordSort::UpdatedDesc, &RecordId::from_text("rec_01ABC"), 1_700_000_000_123);
        let text = cursor.encode();
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{text}");
        assert_eq!(RecordCursor::decode(&text, RecordSort::UpdatedDesc), Ok(cursor));
        let other = RecordCursor::decode(&text, RecordSort::Created).unwrap_err();
        assert!(other.contains("sorted by `-updated`"), "{other}");
        for garbled in ["", "!!", "bm90IGEgY3Vyc29y", &text[..12]] {
            assert!(RecordCursor::decode(garbled, RecordSort::UpdatedDesc).is_err(), "{garbled}");
        }
        let by_creation = RecordCursor::after(RecordSort::Created, &RecordId::from_text("rec_9"), 55);
        assert_eq!(by_creation.at_ms, 0, "creation order is the id's");
    }

    #[test]
    fn conditions_read_the_text_as_the_property_type_and_match_by_value() {
        let props = json!({"score": 42, "plan": "pro", "vip": true, "name": "Ada Lovelace"});
        let props = props.as_object().unwrap();
        let id = RecordId::from_text("rec_1");
        let score = RecordCondition::equals(&def("score", PropertyType::Number, false), "42.0").unwrap();
        assert!(score.holds(&id, props));
        assert_eq!(
            RecordCondition::equals(&def("score", PropertyType::Number, false), "lots").unwrap_err().field,
            "score"
        );
        assert!(RecordCondition::equals(&def("vip", PropertyType::Boolean, false), "true").unwrap().holds(&id, props));
        assert!(RecordCondition::equals(&def("vip", PropertyType::Boolean, false), "yes").is_err());
        assert!(RecordCondition::equals(&def("plan", PropertyType::Enum, false), "gold").is_err());
        let plan = RecordCondition::equals(&def("plan", PropertyType::Enum, false), "free").unwrap();
        assert!(!plan.holds(&id, props));
        let name = RecordCondition::prefix(&def("name", PropertyType::String, false), "ADA l").unwrap();
        assert!(name.holds(&id, props));
        let refused = RecordCondition::prefix(&def("score", PropertyType::Number, false), "4").unwrap_err();
        assert_eq!(refused.field, "score.prefix");
        assert!(
            !RecordCondition::AnyPrefix { lowercase: "love".into() }.holds(&id, props),
            "a prefix, not a substring"
        );
        assert!(RecordCondition::AnyPrefix { lowercase: "ada".into() }.holds(&id, props));
        assert!(RecordCondition::AnyPrefix { lowercase: "rec_1".into() }.holds(&id, props));
        let filter = RecordFilter { conditions: vec![score, plan] };
        assert!(!filter.holds(&id, props), "every condition must hold");
    }

    #[test]
    fn a_unique_equality_is_found_by_lookup() {
        let email = RecordCondition::equals(&def("email", PropertyType::String, true), "a@b.c").unwrap();
        let filter = RecordFilter { conditions: vec![RecordCondition::AnyPrefix { lowercase: "a".into() }, email] };
        assert_eq!(filter.unique_value(), Some(("email", &json!("a@b.c"))));
    }
}
