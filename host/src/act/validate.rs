//! Checks a workflow's actions when it is saved, so mistakes show up as a 422 naming the
//! field instead of as failed enrollments later.

use super::sources::{declared_kind, for_property};
use super::step::MAX_TIMEOUT;
use crate::model::property::PropertyDef;
use crate::model::workflow::{
    Action, CustomCode, DelayEnd, HeaderSource, Kind, Language, MAX_DELAY_S, Op, RetrySchedule, SendWebhook, Signing,
    Source, walk,
};
use crate::plugins::World;

/// A refused action list: the field (`actions[2].then[0].value`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The offending field.
    pub field: String,
    /// Why.
    pub message: String,
}

/// What validation looks things up in.
pub struct Check<'a> {
    /// The workflow object's properties.
    pub defs: &'a [PropertyDef],
    /// The world of the plugin called `name`, `None` if there is none.
    pub plugin_world: &'a dyn Fn(&str) -> Option<World>,
    /// Whether source in a language compiles: the syntax error (`line L, column C: …`) if not.
    pub syntax: &'a dyn Fn(Language, &str) -> Result<(), String>,
}

/// The longest source a step may carry, bytes: the product's code box holds about as much,
/// and every try sends it into the runtime.
pub const MAX_SOURCE_BYTES: usize = 100 * 1024;

/// Most steps in a workflow, counting those inside branches: each is a row of the
/// enrollment's log and a card in the editor, and the product we replace stops near here.
pub const MAX_ACTIONS: usize = 200;

/// Check every action of `actions` (the whole list, as saved).
pub fn validate(actions: &[Action], check: &Check<'_>) -> Result<(), Invalid> {
    let mut order = Vec::new();
    walk(actions, "", &mut |address, _| order.push(address.to_string()));
    if order.len() > MAX_ACTIONS {
        return Err(Invalid {
            field: "actions".into(),
            message: format!("a workflow has at most {MAX_ACTIONS} steps, branches' included ({} given)", order.len()),
        });
    }
    let mut result = Ok(());
    walk(actions, "", &mut |address, action| {
        if result.is_ok() {
            result = one(actions, &order, address, action, check);
        }
    });
    result
}

/// What a custom code step runs: an `action` plugin that exists, or source in a language
/// that compiles; never both.
fn runs(code: &CustomCode, at: &str, check: &Check<'_>) -> Result<(), (String, String)> {
    let bad = |field: &str, message: String| Err((format!("{at}.{field}"), message));
    match (&code.plugin, &code.source) {
        (Some(_), Some(_)) => bad("source", "a step runs a `plugin` or its own `source`, not both".into()),
        (None, None) => bad("plugin", "name a `plugin`, or write `source` with its `language`".into()),
        (Some(_), None) if code.language.is_some() => {
            bad("language", "`language` goes with `source`; a plugin's code is already built".into())
        }
        (Some(name), None) => match (check.plugin_world)(name) {
            None => bad("plugin", format!("no plugin `{name}`; upload it first")),
            Some(World::Transform) => {
                bad("plugin", format!("plugin `{name}` is a transform; a custom code step needs an `action` plugin"))
            }
            Some(World::Script) => bad("plugin", format!("`{name}` is not an `action` plugin")),
            Some(World::Action) => Ok(()),
        },
        (None, Some(source)) => {
            let Some(language) = code.language else {
                return bad("language", "`source` needs its `language`: javascript".into());
            };
            if source.trim().is_empty() {
                return bad(
                    "source",
                    "the source is empty; write `exports.main = async (event, callback) => { … }`".into(),
                );
            }
            if source.len() > MAX_SOURCE_BYTES {
                return bad("source", format!("the source is {} bytes; at most {MAX_SOURCE_BYTES}", source.len()));
            }
            (check.syntax)(language, source).or_else(|why| bad("source", why))
        }
    }
}

/// A step's own retry schedule: each bound at least a second, the first wait no longer than
/// the longest, nothing beyond the product's three days.
fn retry_schedule(schedule: &RetrySchedule) -> Result<(), (&'static str, String)> {
    let most = RetrySchedule::MAX_FOR_S;
    for (field, value) in [("first_s", schedule.first_s), ("max_s", schedule.max_s), ("for_s", schedule.for_s)] {
        if !(1..=most).contains(&value) {
            return Err((field, format!("between 1 and {most} seconds (3 days)")));
        }
    }
    if schedule.first_s > schedule.max_s {
        return Err((
            "first_s",
            format!("the first wait ({} s) is longer than max_s ({} s)", schedule.first_s, schedule.max_s),
        ));
    }
    Ok(())
}

/// Headers wasmhook writes itself: the framing, the body's type, and the signature's.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// A header name the step may set: a valid name wasmhook does not write itself.
fn settable_header(name: &str) -> Result<(), String> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("`{name}` is not a header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("`{name}` is set by wasmhook"));
    }
    Ok(())
}

/// A `send_webhook` step at field `at`: its URL can be sent to, its headers can be set,
/// its body's sources exist (`source` checks one), its signing and outputs are complete.
fn send_webhook(
    hook: &SendWebhook,
    at: &str,
    source: &mut dyn FnMut(String, &Source) -> Result<(), Invalid>,
) -> Result<(), Invalid> {
    let bad = |field: String, message: String| Err(Invalid { field, message });
    if let Err(why) = crate::plugins::outbound::AllowedHost::of_url(&hook.url) {
        return bad(format!("{at}.url"), why);
    }
    for (name, value) in &hook.headers {
        settable_header(name).or_else(|why| bad(format!("{at}.headers"), why))?;
        match value {
            HeaderSource::Value(text) if http::HeaderValue::from_str(text).is_err() => {
                return bad(format!("{at}.headers.{name}"), "not a header value (a line break?)".into());
            }
            HeaderSource::Secret(secret) if !crate::secrets::valid_name(secret) => {
                return bad(format!("{at}.headers.{name}"), format!("`{secret}` is not a valid secret name"));
            }
            _ => {}
        }
    }
    for (name, from) in hook.body.iter().flatten() {
        source(format!("{at}.body.{name}"), from)?;
    }
    if let Some(signing) = &hook.signing {
        if !crate::secrets::valid_name(signing.secret()) {
            return bad(format!("{at}.signing.secret"), format!("`{}` is not a valid secret name", signing.secret()));
        }
        if let Signing::HmacSha256 { header, .. } = signing {
            settable_header(header).or_else(|why| bad(format!("{at}.signing.header"), format!("header: {why}")))?;
        }
    }
    for (i, output) in hook.outputs.iter().enumerate() {
        let taken = output.name == "status" || hook.outputs[..i].iter().any(|o| o.name == output.name);
        if !identifier(&output.name) || taken {
            return bad(
                format!("{at}.outputs[{i}].name"),
                format!("output `{}`: use distinct names of letters, digits and `_`, not `status`", output.name),
            );
        }
        if output.path.is_empty() || output.path.split('.').any(str::is_empty) {
            return bad(format!("{at}.outputs[{i}].path"), "a path like `data.id` (a number indexes a list)".into());
        }
    }
    if let Some(schedule) = &hook.retry {
        retry_schedule(schedule)
            .map_err(|(field, message)| Invalid { field: format!("{at}.retry.{field}"), message })?;
    }
    Ok(())
}

/// `2.then.0` → `actions[2].then[0]`.
pub fn field_of(address: &str) -> String {
    let mut out = String::from("actions");
    for part in address.split('.') {
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            out.push_str(&format!(".{part}"));
        }
    }
    out
}

fn identifier(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn one(actions: &[Action], order: &[String], address: &str, action: &Action, check: &Check<'_>) -> Result<(), Invalid> {
    let at = field_of(address);
    let bad = |field: String, message: String| Err(Invalid { field, message });
    let source = |field: String, source: &Source| -> Result<Option<Kind>, Invalid> {
        match source {
            Source::Trigger(_) => Ok(None),
            Source::Literal(value) => Ok(Some(Kind::of(value))),
            Source::Record(name) => match check.defs.iter().find(|d| &d.name == name) {
                Some(def) => Ok(Some(Kind::of_property(def.kind))),
                None => Err(Invalid { field, message: format!("the workflow's object has no property `{name}`") }),
            },
            Source::Output { address: from, output } => {
                let earlier = order.iter().position(|a| a == from) < order.iter().position(|a| a == address);
                if !order.iter().any(|a| a == from) || !earlier {
                    return Err(Invalid {
                        field,
                        message: format!("`action.{from}.{output}`: no step {from} runs before this one"),
                    });
                }
                match declared_kind(actions, from, output) {
                    Some(kind) => Ok(Some(kind)),
                    None => Err(Invalid {
                        field,
                        message: format!("step {from} is not a step declaring an output `{output}`"),
                    }),
                }
            }
        }
    };
    match action {
        Action::CustomCode(code) => {
            runs(code, &at, check).map_err(|(field, message)| Invalid { field, message })?;
            for (name, from) in &code.inputs {
                if !identifier(name) {
                    return bad(format!("{at}.inputs"), format!("input name `{name}`: use letters, digits and `_`"));
                }
                source(format!("{at}.inputs.{name}"), from)?;
            }
            for (i, name) in code.secrets.iter().enumerate() {
                if !crate::secrets::valid_name(name) || code.secrets[..i].contains(name) {
                    return bad(format!("{at}.secrets[{i}]"), format!("`{name}` is not a valid, distinct secret name"));
                }
            }
            for (i, entry) in code.allowed_hosts.iter().enumerate() {
                if let Err(why) = crate::plugins::outbound::AllowedHost::parse(entry) {
                    return bad(format!("{at}.allowed_hosts[{i}]"), why);
                }
            }
            for (i, output) in code.outputs.iter().enumerate() {
                if !identifier(&output.name) || code.outputs[..i].iter().any(|o| o.name == output.name) {
                    return bad(
                        format!("{at}.outputs[{i}].name"),
                        format!("output `{}`: use distinct names of letters, digits and `_`", output.name),
                    );
                }
            }
            if code.timeout_ms.is_some_and(|t| t == 0 || u128::from(t) > MAX_TIMEOUT.as_millis()) {
                return bad(format!("{at}.timeout_ms"), format!("between 1 and {} ms", MAX_TIMEOUT.as_millis()));
            }
            if code.tries.is_some_and(|t| !(1..=10).contains(&t)) {
                return bad(format!("{at}.tries"), "between 1 and 10".into());
            }
            if let Some(schedule) = &code.retry {
                retry_schedule(schedule)
                    .map_err(|(field, message)| Invalid { field: format!("{at}.retry.{field}"), message })?;
            }
        }
        Action::SendWebhook(hook) => send_webhook(hook, &at, &mut |field, from| source(field, from).map(|_| ()))?,
        Action::SetProperty { property, value } => {
            let Some(def) = check.defs.iter().find(|d| &d.name == property) else {
                return bad(format!("{at}.property"), format!("the workflow's object has no property `{property}`"));
            };
            if def.unique {
                return bad(
                    format!("{at}.property"),
                    format!("`{property}` is a unique property (records are matched by it); a workflow cannot set it"),
                );
            }
            let kind = source(format!("{at}.value"), value)?;
            // A literal is checked with its value (an enum option), a typed source by kind.
            let sample = match value {
                Source::Literal(v) => Some(v.clone()),
                _ => kind.map(|k| match k {
                    Kind::Number => serde_json::json!(0),
                    Kind::Boolean => serde_json::json!(false),
                    Kind::Enum | Kind::String | Kind::Datetime => match def.options.first() {
                        Some(option) if def.kind == crate::model::property::PropertyType::Enum => {
                            serde_json::json!(option)
                        }
                        _ => serde_json::json!(""),
                    },
                    Kind::Null => serde_json::Value::Null,
                }),
            };
            if let (Some(kind), Some(sample)) = (kind, sample)
                && let Err(message) = for_property(def, kind, sample)
            {
                return bad(format!("{at}.value"), message);
            }
        }
        Action::Delay(delay) => {
            let offset_ok = delay.offset_s.is_none_or(|o| o.unsigned_abs() <= MAX_DELAY_S);
            if !offset_ok {
                return bad(format!("{at}.offset_s"), format!("between -{MAX_DELAY_S} and {MAX_DELAY_S} seconds"));
            }
            match delay.end() {
                Some(DelayEnd::After(seconds)) => {
                    if !(1..=MAX_DELAY_S).contains(&seconds) {
                        return bad(format!("{at}.for_s"), format!("between 1 and {MAX_DELAY_S} seconds (a year)"));
                    }
                    if delay.offset_s.is_some() {
                        return bad(
                            format!("{at}.offset_s"),
                            "`offset_s` moves `until`; with `for_s` add it to `for_s`".into(),
                        );
                    }
                }
                Some(DelayEnd::At { until, .. }) => {
                    let field = format!("{at}.until");
                    let kind = source(field.clone(), until)?;
                    let ok = match until {
                        Source::Literal(value) => super::delay::point_in_time(value).is_some(),
                        _ => !matches!(kind, Some(Kind::String | Kind::Boolean | Kind::Enum | Kind::Null)),
                    };
                    if !ok {
                        let message = "a delay waits until a date or datetime property, an output of type datetime or number, \
                                       or a fixed time (`{\"value\": \"2027-01-01\"}`, unix seconds)";
                        return bad(field, message.into());
                    }
                }
                None => {
                    let message = "a delay takes `for_s` (seconds to wait) or `until` (a point in time), one of them";
                    return bad(at, message.into());
                }
            }
        }
        Action::Branch { condition, .. } => {
            source(format!("{at}.if.source"), &condition.source)?;
            let numeric = condition.value.is_number()
                || condition.value.as_str().is_some_and(|s| s.trim().parse::<f64>().is_ok_and(f64::is_finite));
            if matches!(condition.op, Op::Greater | Op::Less) && !numeric {
                return bad(format!("{at}.if.value"), "`greater` and `less` compare with a number".into());
            }
            if condition.value.is_array() || condition.value.is_object() {
                return bad(format!("{at}.if.value"), "compare with a string, number, boolean or null".into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Check, field_of, validate};
    use crate::model::property::{PropertyDef, PropertyType};
    use crate::model::workflow::{Action, Language};
    use crate::plugins::World;

    fn def(name: &str, kind: PropertyType, unique: bool, options: &[&str]) -> PropertyDef {
        PropertyDef {
            name: name.into(),
            label: name.into(),
            kind,
            options: options.iter().map(|o| o.to_string()).collect(),
            unique,
        }
    }

    fn refusal(actions: serde_json::Value) -> Option<(String, String)> {
        let defs = [
            def("external_id", PropertyType::String, true, &[]),
            def("plan", PropertyType::Enum, false, &["free", "pro"]),
            def("score", PropertyType::Number, false, &[]),
        ];
        let world = |name: &str| match name {
            "lead-score" => Some(World::Action),
            "strtotime" => Some(World::Transform),
            _ => None,
        };
        // Stands in for the runtime's parser: a source with `(((` does not compile.
        let syntax = |_: Language, source: &str| match source.find("(((") {
            Some(at) => Err(format!("line 1, column {}: unexpected token", at + 1)),
            None => Ok(()),
        };
        let actions: Vec<Action> = serde_json::from_value(actions).unwrap();
        validate(&actions, &Check { defs: &defs, plugin_world: &world, syntax: &syntax })
            .err()
            .map(|e| (e.field, e.message))
    }

    #[test]
    fn a_valid_workflow_passes() {
        let actions = json!([
            {"type": "custom_code", "plugin": "lead-score", "inputs": {"email": "trigger.email"},
             "outputs": [{"name": "score", "type": "number"}]},
            {"type": "branch", "if": {"source": "action.0.score", "op": "greater", "value": 50},
             "then": [{"type": "set_property", "property": "score", "value": "action.0.score"}],
             "else": [{"type": "set_property", "property": "plan", "value": {"value": "free"}}]}
        ]);
        assert_eq!(refusal(actions), None);
    }

    #[test]
    fn each_mistake_is_refused_naming_its_field() {
        let field = |actions| refusal(actions).map(|(field, _)| field);
        assert_eq!(
            field(json!([{"type": "custom_code", "plugin": "nope"}])).as_deref(),
            Some("actions[0].plugin"),
            "an unknown plugin"
        );
        assert_eq!(
            field(json!([{"type": "custom_code", "plugin": "strtotime"}])).as_deref(),
            Some("actions[0].plugin"),
            "a transform is not an action"
        );
        assert_eq!(
            field(json!([{"type": "set_property", "property": "external_id", "value": {"value": "x"}}])).as_deref(),
            Some("actions[0].property"),
            "a unique property is not set by workflows"
        );
        assert_eq!(
            field(json!([{"type": "set_property", "property": "plan", "value": {"value": "gold"}}])).as_deref(),
            Some("actions[0].value"),
            "not an option"
        );
        assert_eq!(
            field(json!([{"type": "branch", "if": {"source": "trigger.x", "op": "less", "value": "many"},
                          "then": [{"type": "set_property", "property": "nope", "value": 1}]}]))
            .as_deref(),
            Some("actions[0].if.value"),
            "less compares with a number"
        );
        assert_eq!(
            field(json!([{"type": "branch", "if": {"source": "trigger.x", "op": "equals", "value": 1},
                          "then": [{"type": "set_property", "property": "nope", "value": 1}]}]))
            .as_deref(),
            Some("actions[0].then[0].property"),
            "a nested mistake names its path"
        );
        let later = refusal(json!([
            {"type": "set_property", "property": "score", "value": "action.1.score"},
            {"type": "custom_code", "plugin": "lead-score", "outputs": [{"name": "score", "type": "number"}]}
        ]))
        .unwrap();
        assert_eq!(later.0, "actions[0].value");
        assert!(later.1.contains("no step 1 runs before this one"), "{}", later.1);
    }

    #[test]
    fn a_step_runs_a_plugin_or_source_in_a_language_that_compiles() {
        let source = "exports.main = async (event) => ({ outputFields: { n: 1 } });";
        let step = |extra: serde_json::Value| {
            let mut step = json!({"type": "custom_code", "outputs": [{"name": "n", "type": "number"}]});
            step.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            refusal(json!([step]))
        };
        assert_eq!(step(json!({"language": "javascript", "source": source})), None);
        let cases = [
            (json!({}), "actions[0].plugin", "name a `plugin`"),
            (
                json!({"plugin": "lead-score", "source": source, "language": "javascript"}),
                "actions[0].source",
                "not both",
            ),
            (json!({"source": source}), "actions[0].language", "needs its `language`"),
            (json!({"plugin": "lead-score", "language": "javascript"}), "actions[0].language", "goes with `source`"),
            (json!({"language": "javascript", "source": "  \n"}), "actions[0].source", "empty"),
            (
                json!({"language": "javascript", "source": "exports.main = ((("}),
                "actions[0].source",
                "line 1, column 16",
            ),
            (
                json!({"language": "javascript", "source": "x".repeat(super::MAX_SOURCE_BYTES + 1)}),
                "actions[0].source",
                "at most 102400",
            ),
        ];
        for (extra, field, says) in cases {
            let (got, message) = step(extra.clone()).unwrap_or_else(|| panic!("{extra} passed"));
            assert_eq!(got, field, "{extra}");
            assert!(message.contains(says), "{extra}: {message}");
        }
        let unknown: Result<Vec<Action>, _> =
            serde_json::from_value(json!([{"type": "custom_code", "language": "cobol", "source": "x"}]));
        assert!(unknown.unwrap_err().to_string().contains("unknown variant `cobol`, expected `javascript`"));
    }

    #[test]
    fn a_retry_schedule_is_checked_field_by_field() {
        let with = |retry: serde_json::Value| {
            refusal(json!([{"type": "custom_code", "plugin": "lead-score", "retry": retry}]))
        };
        assert_eq!(with(json!({"first_s": 5, "max_s": 60, "for_s": 600})), None);
        assert_eq!(with(json!({"first_s": 30})), None, "the others keep their defaults");
        let (field, message) = with(json!({"first_s": 0})).unwrap();
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("actions[0].retry.first_s", "between 1 and 259200 seconds (3 days)")
        );
        assert_eq!(with(json!({"for_s": 259_201})).unwrap().0, "actions[0].retry.for_s");
        let (field, message) = with(json!({"first_s": 120, "max_s": 60})).unwrap();
        assert_eq!(field, "actions[0].retry.first_s");
        assert!(message.contains("longer than max_s"), "{message}");
        let unknown: Result<Vec<Action>, _> =
            serde_json::from_value(json!([{"type": "custom_code", "plugin": "p", "retry": {"first": 5}}]));
        assert!(unknown.unwrap_err().to_string().contains("unknown field `first`"));
    }

    #[test]
    fn addresses_become_field_paths() {
        assert_eq!(field_of("2.then.0"), "actions[2].then[0]");
        assert_eq!(field_of("0"), "actions[0]");
    }
}
