//! Running one step of an enrollment: a custom code call, a sent webhook
//! (`send_webhook`), a property update or a branch test. A step only computes (and sends);
//! the runner commits its entry and effect together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json};

use super::plan::Next;
use super::retry::{self, Decision};
use super::sources::{Scope, for_property};
use crate::model::step::{BranchSide, RequestMade, StepDetail, StepEntry, StepOutcome};
use crate::model::workflow::{Action, Code, Condition, CustomCode, Kind, Op, OutputType, RetrySchedule, Workflow};
use crate::plugins::outbound::{AllowedHost, Exchange, Paused};
use crate::plugins::{CallContext, Limits, LoadedPlugin, PluginEngine, PluginFailure};
use crate::value::{Property, Value};

/// The longest CPU time a custom code step may be given per try.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(20);

/// Tries of a step that times out, unless the action says otherwise.
pub const DEFAULT_TRIES: u32 = 3;

/// Wait before the second try, doubling for each further one, unless the action says otherwise.
pub const DEFAULT_BACKOFF_MS: u64 = 1000;

/// Finds plugin `name` at the pinned sha256, if any.
pub type PluginLookup = dyn Fn(&str, Option<&str>) -> Result<Arc<LoadedPlugin>, String> + Send + Sync;

/// Named secret values, as a plugin receives them.
pub type SecretValues = Vec<(String, String)>;

/// Reads the values of the named secrets that are set.
pub type SecretLookup = dyn Fn(&[String]) -> Result<SecretValues, String> + Send + Sync;

/// What a step needs from outside: plugins, secrets and the engine. Owned, so steps can
/// run as tasks of their own.
pub struct Services {
    /// Runs plugins.
    pub engine: Arc<PluginEngine>,
    /// The `action` plugin called `name` (at the pinned sha256, if any), or why it cannot run.
    pub plugin: Box<PluginLookup>,
    /// The values of the named secrets that are set.
    pub secrets: Box<SecretLookup>,
}

impl Services {
    /// Run a lookup that reads the store (and may compile a plugin) from a step's task: off
    /// the runtime's async context, since a PostgreSQL store blocks on a runtime of its own
    /// and a compile takes seconds. Steps run on multi-thread runtimes only (the act stage's,
    /// the server's).
    fn blocking<R>(lookup: impl FnOnce() -> R) -> R {
        tokio::task::block_in_place(lookup)
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// Done; the enrollment goes on.
    Succeeded,
    /// Failed in a way worth another try: run it again at this time (unix ms).
    RetryAt(i64),
    /// A delay: run the step again (to end it) at this time (unix ms).
    WaitUntil(i64),
    /// Failed for good, with the reason; the enrollment fails.
    Failed(String),
}

/// A step's result: its log entry, how it ended, and a property to write.
pub struct StepRun {
    /// The entry appended to the enrollment's steps.
    pub entry: StepEntry,
    /// How it ended.
    pub ended: Ended,
    /// (property, value) to write onto the record; null clears.
    pub write: Option<(String, Json)>,
}

/// Whom a step runs for: the enrollment, its workflow and its record.
pub struct Subject<'a> {
    /// The enrollment's id (a trial's own, from the test route).
    pub enrollment: &'a str,
    /// The workflow.
    pub workflow: &'a Workflow,
    /// The enrolled record's id.
    pub record_id: &'a str,
}

/// Run the step `next` for `subject` (`call` names its event) at `now_ms`.
/// A step that calls another system awaits it without holding a thread; it must be polled
/// inside a Tokio runtime.
pub async fn run(
    next: &Next<'_>,
    scope: &Scope<'_>,
    services: &Services,
    call: &CallContext,
    subject: &Subject<'_>,
    now_ms: i64,
) -> StepRun {
    let started = Instant::now();
    let mut reason = None;
    let this_try = Try { attempt: next.attempt, first_ms: next.first_started_at_ms.unwrap_or(now_ms), now_ms };
    let (detail, ended, write) = match next.action {
        Action::CustomCode(code) => {
            let step = ThisStep { subject, address: &next.address };
            let (detail, ended, retry_reason) = custom_code(code, &this_try, scope, services, call, &step).await;
            reason = retry_reason;
            (detail, ended, None)
        }
        Action::SendWebhook(hook) => {
            let webhook_id = webhook_id(subject.enrollment, &next.address);
            let (detail, ended, retry_reason) =
                super::send_webhook::run(hook, &this_try, scope, services, &webhook_id).await;
            reason = retry_reason;
            (detail, ended, None)
        }
        Action::SetProperty { property, value } => {
            let (kind, value) = scope.read(value);
            let detail = StepDetail::SetProperty { property: property.clone(), value: value.clone() };
            let (ended, write) = match scope.defs.iter().find(|d| &d.name == property) {
                None => (Ended::Failed(format!("the record has no property `{property}`")), None),
                Some(def) => match for_property(def, kind, value) {
                    Ok(value) => (Ended::Succeeded, Some((property.clone(), value))),
                    Err(reason) => (Ended::Failed(reason), None),
                },
            };
            (detail, ended, write)
        }
        Action::Branch { condition, .. } => {
            let (value, holds) = test(condition, scope);
            let branch = if holds { BranchSide::Then } else { BranchSide::Else };
            (StepDetail::Branch { value, branch }, Ended::Succeeded, None)
        }
        Action::Delay(delay) => {
            let (detail, ended) = super::delay::run(delay, &this_try, scope);
            (detail, ended, None)
        }
    };
    let outcome = match &ended {
        Ended::Succeeded => StepOutcome::Succeeded,
        Ended::RetryAt(_) => StepOutcome::Retrying,
        Ended::WaitUntil(_) => StepOutcome::Waiting,
        Ended::Failed(_) => StepOutcome::Failed,
    };
    crate::telemetry::metrics::action_step(detail.type_name(), outcome.as_str());
    if let Ended::Failed(why) = &ended {
        reason = Some(why.clone());
    }
    let entry = StepEntry {
        address: next.address.clone(),
        attempt: next.attempt,
        started_at_ms: now_ms,
        detail,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        outcome,
        reason,
    };
    StepRun { entry, ended, write }
}

/// Which try of a step this is, and when.
pub(super) struct Try {
    /// 1-based.
    pub(super) attempt: u32,
    /// When the step's first try started (unix ms).
    pub(super) first_ms: i64,
    /// Now (unix ms).
    pub(super) now_ms: i64,
}

/// The `webhook-id` of the step at `address` of `enrollment`: the same on every try, so
/// a receiver can deduplicate retries, and opaque (`msg_` and 32 hex digits).
fn webhook_id(enrollment: &str, address: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{enrollment}/{address}").as_bytes());
    format!("msg_{}", &hex::encode(digest)[..32])
}

/// A custom code step as source written in it sees it: for whom, and where in the workflow.
struct ThisStep<'a> {
    subject: &'a Subject<'a>,
    address: &'a str,
}

impl ThisStep<'_> {
    /// The `event` source written in a step receives, in the product's shape:
    /// `inputFields`, `object` (`objectType`, `objectId`), `callbackId` (the same on every
    /// try of the step) and `origin` (the workflow, the step, the enrollment).
    fn event(&self, inputs: &Map<String, Json>) -> Json {
        let ThisStep { subject, address } = self;
        serde_json::json!({
            "inputFields": inputs,
            "object": {"objectType": subject.workflow.object, "objectId": subject.record_id},
            "callbackId": format!("{}/{address}", subject.enrollment),
            "origin": {
                "workflowId": subject.workflow.id,
                "workflowName": subject.workflow.name,
                "actionAddress": address,
                "enrollmentId": subject.enrollment,
            },
        })
    }
}

async fn custom_code(
    code: &CustomCode,
    this_try: &Try,
    scope: &Scope<'_>,
    services: &Services,
    call: &CallContext,
    step: &ThisStep<'_>,
) -> (StepDetail, Ended, Option<String>) {
    let inputs: Map<String, Json> =
        code.inputs.iter().map(|(name, source)| (name.clone(), scope.read(source).1)).collect();
    let mut ran = CodeRan::default();
    let ended = run_code(code, this_try, &inputs, services, call, step, &mut ran).await;
    let detail = StepDetail::CustomCode {
        plugin: code.plugin.clone(),
        language: code.language,
        inputs,
        // Names only: values never leave the vault except into the plugin's call.
        secrets: code.secrets.clone(),
        sha256: ran.sha256,
        log: ran.log,
        requests: ran.requests,
        outputs: ran.outputs,
    };
    (detail, ended, ran.retry_reason)
}

/// What a custom code call leaves in its step entry, as far as it got.
#[derive(Default)]
struct CodeRan {
    sha256: Option<String>,
    log: Option<String>,
    requests: Vec<RequestMade>,
    outputs: Option<Map<String, Json>>,
    /// Why a try that will be retried failed.
    retry_reason: Option<String>,
}

async fn run_code(
    code: &CustomCode,
    this_try: &Try,
    inputs: &Map<String, Json>,
    services: &Services,
    call: &CallContext,
    step: &ThisStep<'_>,
    ran: &mut CodeRan,
) -> Ended {
    let Some(runs) = code.code() else {
        return Ended::Failed("the step names neither a plugin nor source in a language".into());
    };
    let secrets = match secret_values(services, &code.secrets) {
        Ok(found) => found,
        Err(reason) => return Ended::Failed(reason),
    };
    let loaded = match runs {
        Code::Plugin(name) => Services::blocking(|| (services.plugin)(name, code.sha256.as_deref()))
            .map(|plugin| (plugin.sha256.clone(), plugin)),
        // A compile on first use only (seconds), so off the runtime's threads like a plugin's.
        Code::Source { language, source } => Services::blocking(|| {
            // Pinned when saved; a step stored without it is hashed here.
            let sha256 = code.sha256.clone().unwrap_or_else(|| crate::plugins::source_sha256(source));
            (services.engine.script_runtime(language, source, &sha256))
                .map(|runtime| (sha256, runtime))
                .map_err(|e| format!("the {} runtime cannot load: {e}", language.as_str()))
        }),
    };
    // The version that runs: the component's, or the source's.
    let loaded = match loaded {
        Ok((version, loaded)) => {
            ran.sha256 = Some(version);
            loaded
        }
        Err(reason) => return Ended::Failed(reason),
    };
    let timeout = code.timeout_ms.map_or(Limits::default().timeout, Duration::from_millis).min(MAX_TIMEOUT);
    let limits = Limits { timeout, ..Limits::default() };
    // Checked when the workflow was saved; an entry that no longer parses allows nothing.
    let allowed: Vec<AllowedHost> = code.allowed_hosts.iter().filter_map(|h| AllowedHost::parse(h).ok()).collect();
    let destinations: Vec<String> = allowed.iter().map(ToString::to_string).collect();
    if let Some((ended, reason)) = held(services, &destinations, &code.retry.unwrap_or_default(), this_try) {
        ran.retry_reason = reason;
        return ended;
    }
    let report = match runs {
        Code::Plugin(_) => {
            let properties: Vec<Property> = inputs
                .iter()
                .map(|(name, value)| Property::new(name.clone(), Value::from_json(name, value).unwrap_or(Value::Null)))
                .collect();
            services.engine.action(&loaded, call, &properties, &secrets, &limits, &allowed).await
        }
        Code::Source { source, .. } => {
            let event = step.event(inputs).to_string();
            // `Date.now()` in the product is the time the code runs: the clock reads the
            // try's start, not the event's arrival as a plugin's does.
            let call = CallContext { received_at_ms: this_try.now_ms, ..call.clone() };
            services.engine.script(&loaded, &call, source, &event, &secrets, &limits, &allowed).await
        }
    };
    crate::telemetry::metrics::plugin_called(code.runs(), "action", report.outcome(), report.duration);
    ran.log = requests_ended(&report.requests, &report.log, &secrets);
    ran.requests = report.requests.iter().map(|r| made(r, &secrets)).collect();
    let returned = match report.result {
        Ok(returned) => returned,
        Err(failure) => return after_failure(code, this_try, &failure, &report.requests, &secrets, ran),
    };
    let mut outputs = Map::new();
    for declared in &code.outputs {
        let Some(found) = returned.iter().find(|p| p.name == declared.name) else {
            continue;
        };
        let value = found.value.to_json();
        let from = if matches!(runs, Code::Plugin(_)) { "the plugin returned" } else { "the code returned" };
        if let Err(reason) = check_output(declared.kind, &declared.name, &value, from) {
            return Ended::Failed(redact(&reason, &secrets));
        }
        outputs.insert(declared.name.clone(), redact_json(value, &secrets));
    }
    ran.outputs = Some(outputs);
    Ended::Succeeded
}

/// A failed try: a timeout runs again while the step's `tries` last; a failure from outside
/// (see [`retry`]) runs again on the step's retry schedule; anything else ends the step.
fn after_failure(
    code: &CustomCode,
    this_try: &Try,
    failure: &PluginFailure,
    requests: &[Exchange],
    secrets: &[(String, String)],
    ran: &mut CodeRan,
) -> Ended {
    let Try { attempt, now_ms, .. } = *this_try;
    if failure.kind() == "timeout" {
        let tries = code.tries.unwrap_or(DEFAULT_TRIES).max(1);
        if attempt < tries {
            let backoff = code.backoff_ms.unwrap_or(DEFAULT_BACKOFF_MS).saturating_mul(1 << (attempt - 1).min(16));
            ran.retry_reason = Some(format!("{failure}; try {} of {tries} follows", attempt + 1));
            return Ended::RetryAt(now_ms.saturating_add(i64::try_from(backoff).unwrap_or(i64::MAX)));
        }
        return Ended::Failed(redact(&failure.to_string(), secrets));
    }
    let Some(cause) = retry::cause(failure, requests) else {
        return Ended::Failed(redact(&failure.to_string(), secrets));
    };
    let (ended, reason) =
        on_schedule(&code.retry.unwrap_or_default(), this_try, &cause, Some(&failure.to_string()), secrets);
    ran.retry_reason = reason;
    ended
}

/// The values of the secrets `names`, each of which must be set.
pub(super) fn secret_values(services: &Services, names: &[String]) -> Result<SecretValues, String> {
    // Most steps name none: no store round trip (on PostgreSQL, no pooled connection taken
    // from a step's task beside the act thread's).
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let found = Services::blocking(|| (services.secrets)(names))?;
    match names.iter().find(|n| !found.iter().any(|(have, _)| have == *n)) {
        Some(missing) => Err(format!("secret `{missing}` is not set (PUT /api/v1/secrets/{missing})")),
        None => Ok(found),
    }
}

/// A try not run because every destination its step may reach is paused, if they are: it
/// waits for the pause on the step's `schedule` (an attempt of its own, so the log shows
/// the wait), and is counted as held.
pub(super) fn held(
    services: &Services,
    destinations: &[String],
    schedule: &RetrySchedule,
    this_try: &Try,
) -> Option<(Ended, Option<String>)> {
    let Paused { destination, failures, until_ms } =
        services.engine.breakers().paused(destinations, this_try.now_ms)?;
    crate::telemetry::metrics::outbound_step_held(&destination);
    let wait = Duration::from_millis(u64::try_from(until_ms.saturating_sub(this_try.now_ms)).unwrap_or(0));
    let cause = retry::Cause::Paused { destination, failures, wait };
    Some(on_schedule(schedule, this_try, &cause, None, &[]))
}

/// Count a try's requests in the metrics; its request log with secret values redacted,
/// if it has one.
pub(super) fn requests_ended(requests: &[Exchange], log: &str, secrets: &[(String, String)]) -> Option<String> {
    for request in requests {
        crate::telemetry::metrics::outbound_request(&request.destination, request.answer.label(), request.duration);
    }
    (!log.is_empty()).then(|| redact(log, secrets))
}

/// A request as the step's entry shows it.
fn made(request: &Exchange, secrets: &[(String, String)]) -> RequestMade {
    RequestMade {
        // The code chose the URL: its path could carry a secret.
        request: redact(&request.request, secrets),
        answer: request.answer.label(),
        duration_ms: request.duration.as_secs_f64() * 1000.0,
    }
}

/// Run a try again on `schedule`, or fail it when the schedule is spent: how it ended and,
/// when it runs again, why. The reason leads with the try's `failure`, if it ran.
pub(super) fn on_schedule(
    schedule: &RetrySchedule,
    this_try: &Try,
    cause: &retry::Cause,
    failure: Option<&str>,
    secrets: &[(String, String)],
) -> (Ended, Option<String>) {
    let said = |reason: String| match failure {
        Some(failure) => redact(&retry::explained(failure, cause, &reason), secrets),
        None => reason,
    };
    let Try { attempt, first_ms, now_ms } = *this_try;
    match retry::decide(cause, schedule, attempt, first_ms, now_ms) {
        Decision::RetryAt { at_ms, reason } => (Ended::RetryAt(at_ms), Some(said(reason))),
        Decision::GiveUp { reason } => (Ended::Failed(said(reason)), None),
    }
}

/// A returned output must have its declared type; null is always allowed (no value).
/// `from` says where the value came from in the reason (`the plugin returned`).
pub(super) fn check_output(kind: OutputType, name: &str, value: &Json, from: &str) -> Result<(), String> {
    let ok = match (kind, value) {
        (_, Json::Null) => true,
        (OutputType::String | OutputType::Enumeration, Json::String(_)) => true,
        (OutputType::Number, Json::Number(_)) => true,
        (OutputType::Boolean, Json::Bool(_)) => true,
        (OutputType::Datetime, Json::Number(_)) => true,
        (OutputType::Datetime, Json::String(text)) => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        let declared = serde_json::to_value(kind).unwrap_or_default();
        Err(format!("output `{name}` is declared {} but {from} {value}", declared.as_str().unwrap_or("?")))
    }
}

/// A secret value a plugin echoes (in its log, outputs or error) is replaced by its name.
pub(super) fn redact(text: &str, secrets: &[(String, String)]) -> String {
    let mut out = text.to_string();
    for (name, value) in secrets.iter().filter(|(_, v)| !v.is_empty()) {
        out = out.replace(value.as_str(), &format!("[secret {name}]"));
    }
    out
}

/// [`redact`] a JSON text value; other values are left as they are.
pub(super) fn redact_json(value: Json, secrets: &[(String, String)]) -> Json {
    match value {
        Json::String(text) => Json::String(redact(&text, secrets)),
        other => other,
    }
}

/// Evaluate a branch test: the value read, and whether the test holds.
fn test(condition: &Condition, scope: &Scope<'_>) -> (Json, bool) {
    let (kind, value) = scope.read(&condition.source);
    let number = |v: &Json| match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    };
    let text = |v: &Json| match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    };
    let equal = || match (number(&value), number(&condition.value)) {
        (Some(a), Some(b)) if kind == Kind::Number || condition.value.is_number() => a == b,
        _ => value == condition.value,
    };
    let holds = match condition.op {
        Op::IsEmpty => kind == Kind::Null || value.as_str().is_some_and(|s| s.trim().is_empty()),
        Op::Equals => equal(),
        Op::NotEquals => !equal(),
        Op::Contains => text(&value).to_lowercase().contains(&text(&condition.value).to_lowercase()),
        Op::Greater => matches!((number(&value), number(&condition.value)), (Some(a), Some(b)) if a > b),
        Op::Less => matches!((number(&value), number(&condition.value)), (Some(a), Some(b)) if a < b),
    };
    (value, holds)
}
