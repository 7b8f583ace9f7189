//! Property types: what a record property holds, and what a webhook field is mapped to.

use serde_json::{Map, Value as Json};

use super::vocabulary;

vocabulary! {
    /// The type of a record property or of a mapped webhook field.
    PropertyType, "property type" {
        /// Text.
        String = "string",
        /// One of a fixed list of options.
        Enum = "enum",
        /// A finite number.
        Number = "number",
        /// `true` / `false`.
        Boolean = "boolean",
        /// A day (record properties only; stored as unix time).
        Date = "date",
        /// A point in time (record properties only; stored as unix time).
        Datetime = "datetime",
    }
}

impl PropertyType {
    /// The type an admin means by `text`, accepting the aliases the API has always taken
    /// (`bool`, `enumeration`).
    pub fn from_admin(text: &str) -> Option<PropertyType> {
        match text {
            "bool" => Some(PropertyType::Boolean),
            "enumeration" => Some(PropertyType::Enum),
            other => PropertyType::parse(other).ok(),
        }
    }

    /// Whether a webhook field may be mapped to it (dates are mapped as strings and turned
    /// into unix time by a transform).
    pub fn is_mappable(self) -> bool {
        matches!(self, PropertyType::String | PropertyType::Enum | PropertyType::Number | PropertyType::Boolean)
    }

    /// Whether a property of this type may be unique (and so an enrollment property).
    pub fn may_be_unique(self) -> bool {
        matches!(self, PropertyType::String | PropertyType::Number)
    }

    /// Whether values of this type are stored as numbers.
    pub fn is_numeric(self) -> bool {
        matches!(self, PropertyType::Number | PropertyType::Date | PropertyType::Datetime)
    }
}

/// A property definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyDef {
    /// Machine name, e.g. `external_id`.
    pub name: String,
    /// Label for people.
    pub label: String,
    /// Its type.
    pub kind: PropertyType,
    /// Options of an `enum`.
    pub options: Vec<String>,
    /// Whether values are unique across the object's records.
    pub unique: bool,
}

/// A value a record property refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue {
    /// The property.
    pub property: String,
    /// Why, for people.
    pub message: String,
}

/// Check `incoming` values against the object's property definitions and put them `into`
/// a record's properties; `null` removes a property. The first refused value stops it.
pub fn check_values(
    defs: &[PropertyDef],
    incoming: Map<String, Json>,
    into: &mut Map<String, Json>,
) -> Result<(), InvalidValue> {
    for (name, value) in incoming {
        let Some(def) = defs.iter().find(|d| d.name == name) else {
            let message = format!("no property `{name}` on this object; define it first");
            return Err(InvalidValue { property: name, message });
        };
        let ok = match (&value, def.kind) {
            (Json::Null, _) => {
                into.remove(&name);
                continue;
            }
            (Json::String(_), PropertyType::String | PropertyType::Date | PropertyType::Datetime) => true,
            (Json::Number(_), kind) if kind.is_numeric() => true,
            (Json::Bool(_), PropertyType::Boolean) => true,
            (Json::String(s), PropertyType::Enum) => def.options.contains(s),
            _ => false,
        };
        if !ok {
            let message = format!("{value} is not a valid `{}` value for `{name}`", def.kind);
            return Err(InvalidValue { property: name, message });
        }
        into.insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    #[test]
    fn values_follow_their_property_types() {
        let def = |name: &str, kind, options: &[&str]| PropertyDef {
            name: name.into(),
            label: name.into(),
            kind,
            options: options.iter().map(|o| o.to_string()).collect(),
            unique: false,
        };
        let defs = [def("plan", PropertyType::Enum, &["free", "pro"]), def("seen", PropertyType::Date, &[])];
        let mut into = Map::new();
        into.insert("seen".into(), json!(1));
        let incoming = json!({"plan": "pro", "seen": null}).as_object().unwrap().clone();
        check_values(&defs, incoming, &mut into).unwrap();
        assert_eq!(json!(into), json!({"plan": "pro"}), "null removes, a valid option is kept");
        let refused = check_values(&defs, json!({"plan": "gold"}).as_object().unwrap().clone(), &mut into);
        assert_eq!(refused.unwrap_err().message, "\"gold\" is not a valid `enum` value for `plan`");
        let unknown = check_values(&defs, json!({"size": 1}).as_object().unwrap().clone(), &mut into).unwrap_err();
        assert_eq!(unknown.property, "size");
    }

    #[test]
    fn admin_aliases_and_mappable_types() {
        assert_eq!(PropertyType::from_admin("bool"), Some(PropertyType::Boolean));
        assert_eq!(PropertyType::from_admin("enumeration"), Some(PropertyType::Enum));
        assert_eq!(PropertyType::from_admin("datetime"), Some(PropertyType::Datetime));
        assert_eq!(PropertyType::from_admin("text"), None);
        let mappable: Vec<_> = PropertyType::ALL.iter().filter(|t| t.is_mappable()).map(|t| t.as_str()).collect();
        assert_eq!(mappable, ["string", "enum", "number", "boolean"]);
    }
}
