//! Reading a source's value for a step, with the kind the type rules check.

use serde_json::{Map, Value as Json};

use super::plan::outputs_of;
use crate::model::property::{PropertyDef, PropertyType};
use crate::model::workflow::{Action, Kind, Source, find};

/// What a step can read: the trigger data, the record as it is now, earlier outputs.
pub struct Scope<'a> {
    /// The event's properties after transforms.
    pub trigger: &'a Map<String, Json>,
    /// The record's properties now.
    pub record: &'a Map<String, Json>,
    /// The record object's property definitions.
    pub defs: &'a [PropertyDef],
    /// The workflow's actions (for output types).
    pub actions: &'a [Action],
    /// The enrollment's steps so far.
    pub steps: &'a [crate::model::step::StepEntry],
}

impl Scope<'_> {
    /// The value and kind of `source`; `Null` when it has none (a missing property, an
    /// output not returned, a step on the other side of a branch).
    pub fn read(&self, source: &Source) -> (Kind, Json) {
        let value = match source {
            Source::Trigger(name) => self.trigger.get(name).cloned(),
            Source::Record(name) => self.record.get(name).cloned(),
            Source::Output { address, output } => outputs_of(self.steps, address).and_then(|o| o.get(output)).cloned(),
            Source::Literal(value) => Some(value.clone()),
        };
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return (Kind::Null, Json::Null);
        };
        let kind = match source {
            Source::Record(name) => {
                self.defs.iter().find(|d| &d.name == name).map_or(Kind::of(&value), |d| Kind::of_property(d.kind))
            }
            Source::Output { address, output } => {
                declared_kind(self.actions, address, output).unwrap_or(Kind::of(&value))
            }
            _ => Kind::of(&value),
        };
        (kind, value)
    }
}

/// The declared kind of output `output` of the step at `address` (a custom code step's
/// declared outputs; a sent webhook's `status` and declared outputs).
pub fn declared_kind(actions: &[Action], address: &str, output: &str) -> Option<Kind> {
    match find(actions, address)? {
        Action::CustomCode(code) => code.outputs.iter().find(|o| o.name == output).map(|o| o.kind.kind()),
        Action::SendWebhook(_) if output == "status" => Some(Kind::Number),
        Action::SendWebhook(hook) => hook.outputs.iter().find(|o| o.name == output).map(|o| o.kind.kind()),
        _ => None,
    }
}

/// Convert a value of `kind` for the record property `def` under the product's rules: a
/// boolean only into a boolean property, a number into a number or text property, a
/// datetime (or unix seconds) into a date/datetime property, an enumeration option into
/// an enum property that has it. Null clears the property.
pub fn for_property(def: &PropertyDef, kind: Kind, value: Json) -> Result<Json, String> {
    if kind == Kind::Null {
        return Ok(Json::Null);
    }
    let refuse =
        |rule: &str| Err(format!("a {} value cannot go into `{}` ({}): {rule}", kind.name(), def.name, def.kind));
    match (def.kind, kind) {
        (PropertyType::String, Kind::String | Kind::Enum | Kind::Datetime) => Ok(value),
        (PropertyType::String, Kind::Number) => Ok(Json::String(number_text(&value))),
        (PropertyType::String, _) => refuse("a boolean goes only into a boolean property"),
        (PropertyType::Number, Kind::Number) => Ok(value),
        (PropertyType::Number, _) => refuse("a number property takes numbers only"),
        (PropertyType::Boolean, Kind::Boolean) => Ok(value),
        (PropertyType::Boolean, _) => refuse("a boolean property takes booleans only"),
        (PropertyType::Enum, Kind::String | Kind::Enum) => match value.as_str() {
            Some(option) if def.options.iter().any(|o| o == option) => Ok(value),
            _ => Err(format!("{value} is not an option of `{}` (options: {})", def.name, def.options.join(", "))),
        },
        (PropertyType::Enum, _) => refuse("an enum property takes one of its options"),
        (PropertyType::Date | PropertyType::Datetime, Kind::Datetime | Kind::Number) => Ok(value),
        (PropertyType::Date | PropertyType::Datetime, _) => {
            refuse("a date property takes a datetime output or unix seconds")
        }
    }
}

/// A number as text in its shortest form (`4200`, not `4200.0`).
fn number_text(value: &Json) -> String {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 => format!("{}", n as i64),
        _ => value.to_string(),
    }
}
