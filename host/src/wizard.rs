//! The set-up wizard's rules, apart from HTTP: what a webhook's name, mapping, transform
//! chain and match rule must be. Each check returns the domain value or a [`Refusal`]
//! naming the field at fault, which the admin API answers as a 400.

use std::collections::HashSet;

use serde_json::{Map, Value as Json};

use crate::model::property::{PropertyDef, PropertyType};
use crate::model::webhook::{MappedProperty, MatchRule, TransformStep};
use crate::plugins::World;

/// Longest webhook name and property label (the product we replace allows 50 characters).
pub const MAX_LABEL: usize = 255;

/// Most mapped properties per webhook (the product we replace allows 50).
pub const MAX_MAPPED: usize = 5000;

/// Longest property path.
pub const MAX_PATH: usize = 1024;

/// Most options of an enum property (the product we replace allows 5,000 on a record
/// property; a mapping picks from far fewer).
pub const MAX_OPTIONS: usize = 1000;

/// Most steps in a transform chain.
pub const MAX_STEPS: usize = 32;

/// A refused setting: the field at fault (as the request names it) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The field, e.g. `properties[2].type`.
    pub field: String,
    /// Why, for people.
    pub message: String,
}

/// An enum's options: 1 to [`MAX_OPTIONS`], distinct, each 1 to [`MAX_LABEL`] characters.
/// `field` names the options in the request.
pub fn check_options(options: &[String], field: &str) -> Result<(), Refusal> {
    if options.is_empty() || options.len() > MAX_OPTIONS {
        return refuse(field, format!("an enum needs 1 to {MAX_OPTIONS} options ({} given)", options.len()));
    }
    let mut seen = HashSet::with_capacity(options.len());
    for (i, option) in options.iter().enumerate() {
        if option.is_empty() || option.chars().count() > MAX_LABEL {
            return refuse(format!("{field}[{i}]"), format!("an option is 1 to {MAX_LABEL} characters"));
        }
        if !seen.insert(option) {
            return refuse(format!("{field}[{i}]"), format!("`{option}` is an option already"));
        }
    }
    Ok(())
}

fn refuse<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { field: field.into(), message: message.into() })
}

/// A webhook's name, trimmed: 1 to [`MAX_LABEL`] characters.
pub fn check_name(name: &str) -> Result<String, Refusal> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_LABEL {
        return refuse("name", format!("name must be 1 to {MAX_LABEL} characters"));
    }
    Ok(name.to_string())
}

/// One mapping entry as an admin sends it.
#[derive(Debug, Clone)]
pub struct MappingEntry {
    /// The flattened payload path.
    pub path: String,
    /// The label; the path when left out or blank.
    pub label: Option<String>,
    /// The type's name (`string`, `enum`, `number`, `boolean`, or an alias).
    pub kind: String,
    /// An enum's options.
    pub options: Vec<String>,
}

/// A mapping as sent, checked: distinct paths of 1 to [`MAX_PATH`] bytes, labels to
/// [`MAX_LABEL`] characters, a mappable type (dates are mapped as strings and turned into
/// unix time by the `strtotime` transform), options exactly for enums.
pub fn check_mapping(entries: Vec<MappingEntry>) -> Result<Vec<MappedProperty>, Refusal> {
    if entries.len() > MAX_MAPPED {
        return refuse("properties", format!("at most {MAX_MAPPED} mapped properties"));
    }
    let mut seen = HashSet::with_capacity(entries.len());
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let field = |name: &str| format!("properties[{i}].{name}");
            if e.path.is_empty() || e.path.len() > MAX_PATH {
                return refuse(field("path"), format!("path must be 1 to {MAX_PATH} bytes"));
            }
            if !seen.insert(e.path.clone()) {
                return refuse(field("path"), format!("`{}` is mapped twice", e.path));
            }
            let label = e.label.map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).unwrap_or_else(|| e.path.clone());
            if label.chars().count() > MAX_LABEL {
                return refuse(field("label"), format!("labels are at most {MAX_LABEL} characters"));
            }
            let kind = match PropertyType::from_admin(&e.kind) {
                Some(kind) if kind.is_mappable() => kind,
                Some(_) => {
                    return refuse(
                        field("type"),
                        format!(
                            "`{}` cannot be a mapping type: map `{}` as `string` and add the `strtotime` transform to turn it into a unix timestamp",
                            e.kind, e.path
                        ),
                    );
                }
                None => {
                    return refuse(
                        field("type"),
                        format!("unknown type `{}` (expected string, enum, number or boolean)", e.kind),
                    );
                }
            };
            if kind == PropertyType::Enum {
                check_options(&e.options, &field("options"))?;
            } else if !e.options.is_empty() {
                return refuse(field("options"), "options are only for enum properties");
            }
            Ok(MappedProperty { path: e.path, label, kind, options: e.options })
        })
        .collect()
}

/// One transform step as an admin sends it.
#[derive(Debug, Clone)]
pub struct StepEntry {
    /// The plugin's name.
    pub plugin: String,
    /// Its settings.
    pub config: Map<String, Json>,
}

/// A transform chain as sent, checked: at most [`MAX_STEPS`] steps, each plugin exists
/// (`world_of` says its world) and is a transform, and config values are strings, numbers
/// or booleans (passed on as text).
pub fn check_chain(
    steps: Vec<StepEntry>,
    world_of: &dyn Fn(&str) -> Option<World>,
) -> Result<Vec<TransformStep>, Refusal> {
    if steps.len() > MAX_STEPS {
        return refuse("$", format!("a chain has at most {MAX_STEPS} steps"));
    }
    let mut chain = Vec::with_capacity(steps.len());
    for (i, step) in steps.into_iter().enumerate() {
        match world_of(&step.plugin) {
            None => return refuse(format!("[{i}].plugin"), format!("no plugin `{}`", step.plugin)),
            Some(world @ (World::Action | World::Script)) => {
                return refuse(
                    format!("[{i}].plugin"),
                    format!("`{}` is an `{}` plugin, not a transform", step.plugin, world.name()),
                );
            }
            Some(World::Transform) => {}
        }
        let mut config = Vec::with_capacity(step.config.len());
        for (key, value) in step.config {
            let text = match value {
                Json::String(s) => s,
                Json::Number(n) => n.to_string(),
                Json::Bool(b) => b.to_string(),
                _ => return refuse(format!("[{i}].config.{key}"), "config values are strings, numbers or booleans"),
            };
            config.push((key, text));
        }
        chain.push(TransformStep { plugin: step.plugin, config });
    }
    Ok(chain)
}

/// A match rule, checked against its object's properties (`None`: no such object): the
/// event property is named, and the record property exists and is unique (only a unique
/// property identifies one record).
pub fn check_match(rule: &MatchRule, defs: Option<&[PropertyDef]>) -> Result<(), Refusal> {
    if rule.webhook_property.is_empty() {
        return refuse("webhook_property", "name the event property that holds the key");
    }
    let Some(defs) = defs else {
        return refuse("object", format!("no object `{}`", rule.object));
    };
    match defs.iter().find(|d| d.name == rule.record_property) {
        Some(d) if d.unique => Ok(()),
        Some(_) => refuse(
            "record_property",
            format!(
                "`{}` is not unique on {}; only unique properties identify one record",
                rule.record_property, rule.object
            ),
        ),
        None => refuse("record_property", format!("no property `{}` on {}", rule.record_property, rule.object)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(path: &str, kind: &str, options: &[&str]) -> MappingEntry {
        MappingEntry {
            path: path.into(),
            label: None,
            kind: kind.into(),
            options: options.iter().map(|o| o.to_string()).collect(),
        }
    }

    fn field<T: std::fmt::Debug>(checked: Result<T, Refusal>) -> String {
        checked.unwrap_err().field
    }

    #[test]
    fn a_mapping_takes_mappable_types_with_their_aliases() {
        let mapped = check_mapping(vec![
            entry("email", "string", &[]),
            entry("plan", "enumeration", &["free", "pro"]),
            entry("paid", "bool", &[]),
        ])
        .unwrap();
        let kinds: Vec<_> = mapped.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [PropertyType::String, PropertyType::Enum, PropertyType::Boolean]);
        assert_eq!(mapped[0].label, "email", "the path is the default label");
    }

    #[test]
    fn a_mapping_refuses_naming_the_field() {
        let date = check_mapping(vec![entry("a", "string", &[]), entry("at", "datetime", &[])]).unwrap_err();
        assert_eq!(date.field, "properties[1].type");
        assert!(date.message.contains("strtotime"), "{}", date.message);
        assert_eq!(field(check_mapping(vec![entry("a", "text", &[])])), "properties[0].type");
        assert_eq!(
            field(check_mapping(vec![entry("a", "string", &[]), entry("a", "number", &[])])),
            "properties[1].path"
        );
        assert_eq!(field(check_mapping(vec![entry("", "string", &[])])), "properties[0].path");
        assert_eq!(field(check_mapping(vec![entry("plan", "enum", &[])])), "properties[0].options");
        assert_eq!(field(check_mapping(vec![entry("plan", "enum", &["a", "a"])])), "properties[0].options[1]");
        assert_eq!(field(check_mapping(vec![entry("n", "number", &["1"])])), "properties[0].options");
        let mut long = entry("a", "string", &[]);
        long.label = Some("x".repeat(MAX_LABEL + 1));
        assert_eq!(field(check_mapping(vec![long])), "properties[0].label");
    }

    #[test]
    fn a_chain_runs_transforms_only_with_text_settings() {
        let world = |name: &str| match name {
            "strtotime" => Some(World::Transform),
            "date-diff" => Some(World::Action),
            _ => None,
        };
        let step = |plugin: &str, config: Json| StepEntry {
            plugin: plugin.into(),
            config: config.as_object().unwrap().clone(),
        };
        let chain =
            check_chain(vec![step("strtotime", json!({"from": "at", "tz": 2, "strict": true}))], &world).unwrap();
        assert_eq!(
            chain[0].config,
            [("from".into(), "at".into()), ("tz".into(), "2".into()), ("strict".into(), "true".into())]
        );
        assert_eq!(field(check_chain(vec![step("nope", json!({}))], &world)), "[0].plugin");
        let action = check_chain(vec![step("strtotime", json!({})), step("date-diff", json!({}))], &world).unwrap_err();
        assert_eq!(
            (action.field.as_str(), action.message.as_str()),
            ("[1].plugin", "`date-diff` is an `action` plugin, not a transform")
        );
        assert_eq!(field(check_chain(vec![step("strtotime", json!({"from": ["a"]}))], &world)), "[0].config.from");
        assert_eq!(field(check_chain(vec![step("strtotime", json!({})); MAX_STEPS + 1], &world)), "$");
    }

    #[test]
    fn a_match_needs_a_unique_record_property() {
        let def = |name: &str, unique| PropertyDef {
            name: name.into(),
            label: name.into(),
            kind: PropertyType::String,
            options: vec![],
            unique,
        };
        let defs = [def("external_id", true), def("email", false)];
        let rule = |webhook: &str, record: &str| MatchRule {
            object: "contacts".into(),
            webhook_property: webhook.into(),
            record_property: record.into(),
        };
        assert_eq!(check_match(&rule("customer", "external_id"), Some(&defs)), Ok(()));
        assert_eq!(field(check_match(&rule("customer", "email"), Some(&defs))), "record_property");
        assert_eq!(field(check_match(&rule("customer", "nope"), Some(&defs))), "record_property");
        assert_eq!(field(check_match(&rule("", "external_id"), Some(&defs))), "webhook_property");
        assert_eq!(field(check_match(&rule("customer", "external_id"), None)), "object");
    }

    #[test]
    fn a_name_is_trimmed_and_bounded() {
        assert_eq!(check_name("  orders ").unwrap(), "orders");
        assert_eq!(field(check_name("   ")), "name");
        assert_eq!(field(check_name(&"x".repeat(MAX_LABEL + 1))), "name");
    }
}
