//! Workflows: the actions admins write (custom code, sent webhooks, property updates,
//! branches) with the sources their values come from, and the enrollments of records that
//! run them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::ids::{EnrollmentId, EventId, RecordId, WebhookId, WorkflowId};
use super::property::PropertyType;
use super::signature::Encoding;
use super::step::StepEntry;
use super::vocabulary;

/// One action of a workflow's ordered list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Run a plugin of the `action` world.
    CustomCode(CustomCode),
    /// Send values to another service as a JSON webhook, no code needed.
    SendWebhook(SendWebhook),
    /// Write one record property.
    SetProperty {
        /// The record property written.
        property: String,
        /// Where the value comes from.
        value: Source,
    },
    /// Run one of two action lists depending on a condition.
    Branch {
        /// The test.
        #[serde(rename = "if")]
        condition: Condition,
        /// Actions when the test holds.
        #[serde(default)]
        then: Vec<Action>,
        /// Actions otherwise.
        #[serde(default, rename = "else")]
        otherwise: Vec<Action>,
    },
    /// Wait a time, or until a point in time, before the next action.
    Delay(Delay),
}

/// A delay step: `for_s` seconds from when the step is reached, or until the point in time
/// `until` reads (a date or datetime property or output), moved by `offset_s`. The wait is
/// a due time in the store: nothing runs for the enrollment until then, and a restart keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delay {
    /// Seconds to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_s: Option<u64>,
    /// Where the point in time comes from (`record.renewal_date`, `action.0.due`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Source>,
    /// Seconds added to `until` (negative: before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_s: Option<i64>,
}

/// When a delay ends, as its fields say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DelayEnd<'a> {
    /// `for_s` seconds after the step is reached.
    After(u64),
    /// The point in time `until` reads, moved by `offset_s` seconds.
    At {
        /// Where the point in time comes from.
        until: &'a Source,
        /// Seconds added (negative: before it).
        offset_s: i64,
    },
}

impl Delay {
    /// When it ends: `None` when it names neither `for_s` nor `until`, or both, which
    /// saving a workflow refuses.
    pub fn end(&self) -> Option<DelayEnd<'_>> {
        match (self.for_s, &self.until) {
            (Some(seconds), None) => Some(DelayEnd::After(seconds)),
            (None, Some(until)) => Some(DelayEnd::At { until, offset_s: self.offset_s.unwrap_or(0) }),
            _ => None,
        }
    }
}

/// The longest delay: a year (a wait past it is more likely a unit mistake than intent).
pub const MAX_DELAY_S: u64 = 366 * 24 * 3600;

/// A custom code step: the code (a plugin, or source written in the step), what it reads
/// and what it may return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomCode {
    /// An `action` plugin, uploaded or built in; a step names one or carries `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// The language `source` is written in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Code written in the step (`exports.main = async (event, callback) => …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The version the step runs (hex SHA-256), fixed when the workflow is saved: an
    /// uploaded component's (uploading new bytes under the name does not change a saved
    /// step), or the hash of `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Input name → where its value comes from.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub inputs: std::collections::BTreeMap<String, Source>,
    /// Secrets the plugin receives, by name; no others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Where the plugin's HTTP requests may go (`https://api.example.com`,
    /// `https://*.example.org`, `http://127.0.0.1:9000`); none unless listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// The outputs kept; anything else the plugin returns is dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<OutputDecl>,
    /// CPU time per try, ms (default: the plugin default, 100 ms; at most 20 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Tries when the plugin times out (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries: Option<u32>,
    /// Wait before the second try, ms, doubling for each further one (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
    /// When a try that failed from outside (429, 5xx, unreachable, the code `retry`) runs
    /// again (default: [`RetrySchedule::default`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySchedule>,
}

/// The languages custom code may be written in, in a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// JavaScript (ECMAScript 2023, run by the built-in Boa runtime).
    Javascript,
    /// Python 3 (run by the built-in RustPython runtime).
    Python,
}

impl Language {
    /// Its name in steps and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Javascript => "javascript",
            Language::Python => "python",
        }
    }

    /// Its place in tables kept per language (0, 1, …).
    pub fn index(self) -> usize {
        match self {
            Language::Javascript => 0,
            Language::Python => 1,
        }
    }
}

/// What a custom code step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code<'a> {
    /// The `action` plugin of this name.
    Plugin(&'a str),
    /// Source written in the step.
    Source {
        /// Its language.
        language: Language,
        /// The code.
        source: &'a str,
    },
}

impl CustomCode {
    /// What the step runs: `None` when it names no plugin and no source in a language (or
    /// both), which saving a workflow refuses.
    pub fn code(&self) -> Option<Code<'_>> {
        match (&self.plugin, self.language, &self.source) {
            (Some(plugin), None, None) => Some(Code::Plugin(plugin)),
            (None, Some(language), Some(source)) => Some(Code::Source { language, source }),
            _ => None,
        }
    }

    /// The name it runs under in metrics and logs: the plugin's, or the language's.
    pub fn runs(&self) -> &str {
        match self.code() {
            Some(Code::Plugin(name)) => name,
            Some(Code::Source { language, .. }) => language.as_str(),
            None => "unknown",
        }
    }
}

/// A `send_webhook` step: where and how, what is sent, how it is signed, and what of the
/// answer is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendWebhook {
    /// `https://…` or `http://…`; where it resolves must be public unless the server
    /// opened a private range (`--outbound-allow`).
    pub url: String,
    /// The method (default `POST`).
    #[serde(default)]
    pub method: HttpMethod,
    /// Header name → its value, written in the step or read from a secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderSource>,
    /// Body field → where its value comes from; without it the body is
    /// `{"record": {…}, "trigger": {…}}`, the record's properties and the trigger's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BTreeMap<String, Source>>,
    /// How the body is signed, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<Signing>,
    /// Values read from the JSON answer; `status` is always an output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<ResponseOutput>,
    /// When a delivery that failed from outside (429, 5xx, no answer) is tried again
    /// (default: [`RetrySchedule::default`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySchedule>,
}

/// The methods a sent webhook may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// `POST`, the default.
    #[default]
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl HttpMethod {
    /// Its name on the request line.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// A header's value: `{"value": "text"}` or `{"secret": "NAME"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderSource {
    /// Written in the step.
    Value(String),
    /// The named secret's value, read when the step runs and never logged.
    Secret(String),
}

/// How a sent webhook is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case")]
pub enum Signing {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`; the
    /// secret holds a `whsec_` key.
    StandardWebhooks {
        /// The secret holding the key.
        secret: String,
    },
    /// An HMAC-SHA256 of the body, in a header.
    HmacSha256 {
        /// The secret holding the key.
        secret: String,
        /// The header the signature goes in.
        header: String,
        /// `hex` (default) or `base64`.
        #[serde(default)]
        encoding: Encoding,
    },
}

impl Signing {
    /// The secret holding the signing key.
    pub fn secret(&self) -> &str {
        match self {
            Signing::StandardWebhooks { secret } | Signing::HmacSha256 { secret, .. } => secret,
        }
    }
}

/// An output of a sent webhook, read from its JSON answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseOutput {
    /// Its name (letters, digits, `_`; not `status`).
    pub name: String,
    /// Where in the answer: `data.id`, `items.0.id` (a number indexes a list).
    pub path: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: OutputType,
}

/// When a try that failed from outside runs again: `first_s` after it, the wait doubling
/// for each further try but never over `max_s`, and no try later than `for_s` after the
/// step's first. The defaults are the product's: 1 minute, 8 hours, 3 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySchedule {
    /// Seconds before the first retry.
    #[serde(default = "RetrySchedule::default_first_s")]
    pub first_s: u64,
    /// The longest wait between two tries, seconds.
    #[serde(default = "RetrySchedule::default_max_s")]
    pub max_s: u64,
    /// Seconds after the first try after which no try starts.
    #[serde(default = "RetrySchedule::default_for_s")]
    pub for_s: u64,
}

impl RetrySchedule {
    /// The longest `for_s` a step may ask for: the product's three days.
    pub const MAX_FOR_S: u64 = 3 * 24 * 3600;

    fn default_first_s() -> u64 {
        60
    }
    fn default_max_s() -> u64 {
        8 * 3600
    }
    fn default_for_s() -> u64 {
        Self::MAX_FOR_S
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule { first_s: Self::default_first_s(), max_s: Self::default_max_s(), for_s: Self::default_for_s() }
    }
}

/// A declared output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputDecl {
    /// Its name (letters, digits, `_`).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: OutputType,
}

/// Types an output may be declared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    /// Text.
    String,
    /// A finite number.
    Number,
    /// `true` / `false`.
    Boolean,
    /// Text, one of a record property's options when written to one.
    #[serde(alias = "enum")]
    Enumeration,
    /// Unix seconds (a number) or an RFC 3339 text.
    Datetime,
}

impl OutputType {
    /// The value kind this output carries.
    pub fn kind(self) -> Kind {
        match self {
            OutputType::String => Kind::String,
            OutputType::Number => Kind::Number,
            OutputType::Boolean => Kind::Boolean,
            OutputType::Enumeration => Kind::Enum,
            OutputType::Datetime => Kind::Datetime,
        }
    }
}

/// The kind of a value, as far as type rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    String,
    /// Number.
    Number,
    /// Boolean.
    Boolean,
    /// An option of an enumeration.
    Enum,
    /// A point in time.
    Datetime,
    /// No value.
    Null,
}

impl Kind {
    /// The kind of a plain JSON value.
    pub fn of(value: &Json) -> Kind {
        match value {
            Json::String(_) => Kind::String,
            Json::Number(_) => Kind::Number,
            Json::Bool(_) => Kind::Boolean,
            _ => Kind::Null,
        }
    }

    /// The kind of a record property type.
    pub fn of_property(kind: PropertyType) -> Kind {
        match kind {
            PropertyType::Number => Kind::Number,
            PropertyType::Boolean => Kind::Boolean,
            PropertyType::Enum => Kind::Enum,
            PropertyType::Date | PropertyType::Datetime => Kind::Datetime,
            PropertyType::String => Kind::String,
        }
    }

    /// Its name in reasons.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Enum => "enumeration",
            Kind::Datetime => "datetime",
            Kind::Null => "null",
        }
    }
}

/// Where a value comes from: `trigger.<property>`, `record.<property>`,
/// `action.<address>.<output>`, or a literal (a number, boolean, null, or `{"value": ...}`).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A property of the event that enrolled the record.
    Trigger(String),
    /// A property of the enrolled record, read when the step runs.
    Record(String),
    /// An output of an earlier custom code or send_webhook step.
    Output {
        /// The step's address (`0`, `2.then.1`).
        address: String,
        /// The output's name.
        output: String,
    },
    /// A fixed value.
    Literal(Json),
}

impl Source {
    /// Parse the JSON form.
    pub fn parse(json: &Json) -> Result<Source, String> {
        match json {
            Json::String(text) => {
                if let Some(name) = text.strip_prefix("trigger.").filter(|n| !n.is_empty()) {
                    Ok(Source::Trigger(name.to_string()))
                } else if let Some(name) = text.strip_prefix("record.").filter(|n| !n.is_empty()) {
                    Ok(Source::Record(name.to_string()))
                } else if let Some(rest) = text.strip_prefix("action.")
                    && let Some((address, output)) = rest.rsplit_once('.')
                    && !address.is_empty()
                    && !output.is_empty()
                {
                    Ok(Source::Output { address: address.to_string(), output: output.to_string() })
                } else {
                    Err(format!(
                        "`{text}` is not a source: write `trigger.<property>`, `record.<property>`, \
                         `action.<n>.<output>`, or {{\"value\": ...}} for a literal text"
                    ))
                }
            }
            Json::Object(map) if map.len() == 1 && map.contains_key("value") => {
                let value = &map["value"];
                match value {
                    Json::Array(_) | Json::Object(_) => {
                        Err("a literal value must be a string, number, boolean or null".into())
                    }
                    _ => Ok(Source::Literal(value.clone())),
                }
            }
            Json::Number(_) | Json::Bool(_) | Json::Null => Ok(Source::Literal(json.clone())),
            _ => {
                Err("a source is a `trigger.`/`record.`/`action.` path, a number, a boolean, null, or {\"value\": ...}"
                    .into())
            }
        }
    }

    /// The JSON form (what [`Source::parse`] reads).
    pub fn to_json(&self) -> Json {
        match self {
            Source::Trigger(name) => json!(format!("trigger.{name}")),
            Source::Record(name) => json!(format!("record.{name}")),
            Source::Output { address, output } => json!(format!("action.{address}.{output}")),
            Source::Literal(value @ Json::String(_)) => json!({"value": value}),
            Source::Literal(value) => value.clone(),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Source::parse(&Json::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A branch's test: `source op value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The value tested.
    pub source: Source,
    /// How it is compared.
    pub op: Op,
    /// What it is compared with (unused by `is_empty`).
    #[serde(default)]
    pub value: Json,
}

/// Comparisons a branch can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Same value (numbers by value, text exactly, booleans).
    Equals,
    /// Not the same value.
    NotEquals,
    /// Text containing the value (case-insensitive).
    Contains,
    /// Number greater than the value.
    Greater,
    /// Number less than the value.
    Less,
    /// Missing, null or empty text.
    IsEmpty,
}

/// Visit every action with its address (`0`, `2.then.1`), depth first in run order.
pub fn walk<'a>(actions: &'a [Action], prefix: &str, visit: &mut dyn FnMut(&str, &'a Action)) {
    for (i, action) in actions.iter().enumerate() {
        let address = if prefix.is_empty() { i.to_string() } else { format!("{prefix}.{i}") };
        visit(&address, action);
        if let Action::Branch { then, otherwise, .. } = action {
            walk(then, &format!("{address}.then"), visit);
            walk(otherwise, &format!("{address}.else"), visit);
        }
    }
}

/// The action at `address`, if there is one.
pub fn find<'a>(actions: &'a [Action], address: &str) -> Option<&'a Action> {
    let mut found = None;
    walk(actions, "", &mut |at, action| {
        if at == address {
            found = Some(action);
        }
    });
    found
}

/// The address of the first custom code step running plugin `name`, if any.
pub fn uses_plugin(actions: &[Action], name: &str) -> Option<String> {
    let mut found = None;
    walk(actions, "", &mut |address, action| {
        if found.is_none()
            && let Action::CustomCode(code) = action
            && code.plugin.as_deref() == Some(name)
        {
            found = Some(address.to_string());
        }
    });
    found
}

/// The source written in each custom code step of `actions` that has it, pinned: its
/// language, the source and its hash, in run order.
pub fn written_sources(actions: &[Action]) -> Vec<(Language, &str, &str)> {
    let mut found = Vec::new();
    walk(actions, "", &mut |_, action| {
        if let Action::CustomCode(code) = action
            && let (Some(Code::Source { language, source }), Some(sha256)) = (code.code(), &code.sha256)
        {
            found.push((language, source, sha256.as_str()));
        }
    });
    found
}

/// Apply `fix` to every custom code step, with its address, depth first in run order.
pub fn for_each_code_mut(
    actions: &mut [Action],
    prefix: &str,
    fix: &mut dyn FnMut(&str, &mut CustomCode) -> Result<(), String>,
) -> Result<(), (String, String)> {
    for (i, action) in actions.iter_mut().enumerate() {
        let address = if prefix.is_empty() { i.to_string() } else { format!("{prefix}.{i}") };
        match action {
            Action::CustomCode(code) => fix(&address, code).map_err(|e| (address.clone(), e))?,
            Action::Branch { then, otherwise, .. } => {
                for_each_code_mut(then, &format!("{address}.then"), fix)?;
                for_each_code_mut(otherwise, &format!("{address}.else"), fix)?;
            }
            Action::SendWebhook(_) | Action::SetProperty { .. } | Action::Delay(_) => {}
        }
    }
    Ok(())
}

vocabulary! {
    /// Where an enrollment is.
    EnrollmentStatus, "enrollment status" {
        /// It has steps to run (now, or after a retry's backoff).
        Running = "running",
        /// Every step that applied succeeded.
        Completed = "completed",
        /// A step failed for good (or the workflow or record is gone).
        Failed = "failed",
    }
}

/// A stored workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// `wf_...`
    pub id: WorkflowId,
    /// Its name.
    pub name: String,
    /// The object its records belong to.
    pub object: String,
    /// Whether it enrolls anything.
    pub enabled: bool,
    /// Whether a record may enroll again after its first enrollment.
    pub reenroll: bool,
    /// Webhooks that trigger it.
    pub triggers: Vec<WebhookId>,
    /// What each enrollment runs, in order.
    pub actions: Vec<Action>,
    /// Created, unix ms.
    pub created_at_ms: i64,
}

/// One enrollment of a record into a workflow.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// `enr_...`
    pub id: EnrollmentId,
    /// The workflow.
    pub workflow_id: WorkflowId,
    /// The enrolled record.
    pub record_id: RecordId,
    /// The event that enrolled it.
    pub event_id: EventId,
    /// When, unix ms.
    pub enrolled_at_ms: i64,
    /// Whether it still runs.
    pub status: EnrollmentStatus,
    /// Why it failed.
    pub reason: Option<String>,
    /// The event's properties (after transforms) and context, read by `trigger.` sources.
    pub trigger: Json,
    /// One entry per step try so far, in order.
    pub steps: Vec<StepEntry>,
    /// Not before this time (unix ms) is the next step run (a retry's backoff).
    pub next_attempt_at_ms: i64,
    /// When it completed or failed.
    pub finished_at_ms: Option<i64>,
}

/// What enrolling one record into one workflow did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// A new enrollment.
    Enrolled(EnrollmentId),
    /// Re-enrollment is off and the record was enrolled before.
    AlreadyEnrolled,
    /// The record's enrollment (this id) is still running its actions.
    StillRunning(EnrollmentId),
}
