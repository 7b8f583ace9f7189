//! Workflows triggered by webhooks, and their enrollments.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;

use super::AppState;
use crate::act::plan::Next;
use crate::act::sources::Scope;
use crate::act::step::{self, Ended, Services};
use crate::act::validate;
use crate::http::{ApiError, ErrorBody, JsonBody, blocking, rfc3339};
use crate::model::ids::{EnrollmentId, EventId, RecordId, WebhookId, WorkflowId, now_ms};
use crate::model::step::{StepEntry, StepOutcome};
use crate::model::webhook::MAX_WEBHOOKS;
use crate::model::workflow::{Action, Code};
use crate::model::workflow::{Enrollment, EnrollmentStatus, Workflow};
use crate::plugins::{CallContext, PluginEngine, World};
use crate::store::Store;
use crate::work::plugin_cache::PluginCache;

/// A workflow as the API answers it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Workflow)]
pub(crate) struct WorkflowView {
    /// `wf_…`.
    id: WorkflowId,
    name: String,
    /// The object its records belong to.
    object: String,
    enabled: bool,
    /// Whether a record that finished may enroll again.
    reenroll: bool,
    /// The webhooks that enroll records into it.
    triggers: Vec<WebhookId>,
    /// Its actions, in order (custom code pinned to a component's sha256, set property,
    /// branch); README.md (Workflow actions) describes each type.
    #[schema(value_type = Vec<Object>)]
    actions: Vec<Action>,
    /// RFC 3339.
    created_at: String,
}

/// Every workflow.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WorkflowList {
    workflows: Vec<WorkflowView>,
}

/// A record's run through a workflow.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Enrollment)]
pub(crate) struct EnrollmentView {
    /// `enr_…`.
    id: EnrollmentId,
    workflow_id: WorkflowId,
    record_id: RecordId,
    /// The event that enrolled the record.
    event_id: EventId,
    /// RFC 3339.
    enrolled_at: String,
    status: EnrollmentStatus,
    /// Why it failed or stopped.
    reason: Option<String>,
    /// RFC 3339, once it finished.
    finished_at: Option<String>,
    /// How many step entries its log has.
    steps_run: usize,
    /// Its step log (one enrollment only): each step's address, attempt, inputs, outputs,
    /// log, duration, outcome and reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    steps: Option<Vec<StepEntry>>,
    /// When a step waiting to be tried again is next tried (one enrollment only; RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<String>,
    /// What a running enrollment waits for, while it waits: a delay step or a retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<WaitView>,
}

/// What an enrollment waits for and until when.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WaitView {
    /// `delay` (a delay step) or `retry` (a step tried again after a failure).
    #[serde(rename = "for")]
    for_: &'static str,
    /// The step's address (`0`, `2.then.1`).
    step: String,
    /// RFC 3339.
    until: String,
}

/// Enrollments, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EnrollmentList {
    pub(super) enrollments: Vec<EnrollmentView>,
}

/// One action tried against a real record.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ActionTestResult {
    /// The action's address (`0`, `2.then.1`).
    action: String,
    /// The step entry it would log: inputs, outputs, log, duration, outcome, reason.
    #[schema(value_type = Object)]
    step: StepEntry,
    /// The property write it makes, if any.
    write: Option<PropertyWrite>,
    /// Whether the write was applied to the record (`apply: true`, and the step succeeded).
    applied: bool,
}

/// A property write an action makes.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PropertyWrite {
    property: String,
    value: Json_,
}

fn render(w: &Workflow) -> WorkflowView {
    WorkflowView {
        id: w.id.clone(),
        name: w.name.clone(),
        object: w.object.clone(),
        enabled: w.enabled,
        reenroll: w.reenroll,
        triggers: w.triggers.clone(),
        actions: w.actions.clone(),
        created_at: rfc3339(w.created_at_ms),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct WorkflowBody {
    name: Option<String>,
    object: Option<String>,
    enabled: Option<bool>,
    reenroll: Option<bool>,
    #[schema(value_type = Option<Vec<String>>)]
    triggers: Option<Vec<WebhookId>>,
    #[schema(value_type = Option<Vec<Object>>)]
    actions: Option<Vec<Json_>>,
}

/// Parse the `actions` list, naming the element that does not parse.
fn parse_actions(actions: Vec<Json_>) -> Result<Vec<Action>, ApiError> {
    actions
        .into_iter()
        .enumerate()
        .map(|(i, a)| serde_json::from_value(a).map_err(|e| ApiError::invalid(&format!("actions[{i}]"), e.to_string())))
        .collect()
}

/// Pin each custom code step to the version it runs: source to its hash; a plugin to a
/// stored version of its upload, the current one when the step names none, else the one it
/// names (which must exist and be an action).
fn pin(store: &Store, actions: &mut [Action]) -> Result<(), ApiError> {
    let uploads = store.list_plugins()?;
    crate::model::workflow::for_each_code_mut(actions, "", &mut |_, code| {
        let name = match code.code() {
            Some(Code::Source { source, .. }) => {
                code.sha256 = Some(crate::plugins::source_sha256(source));
                return Ok(());
            }
            Some(Code::Plugin(name)) if crate::plugins::builtin::find(name).is_none() => name.to_string(),
            // Built in: it changes only with the server.
            _ => {
                code.sha256 = None;
                return Ok(());
            }
        };
        match &code.sha256 {
            None => code.sha256 = uploads.iter().find(|p| p.name == name).map(|p| p.sha256.clone()),
            Some(sha) => match store.plugin_version(sha).map_err(|e| e.to_string())? {
                Some((world, _)) if world == "action" => {}
                Some(_) => return Err(format!("version {sha} is not an `action` component")),
                None => return Err(format!("no uploaded component has sha256 {sha}")),
            },
        }
        Ok(())
    })
    .map_err(|(address, message)| {
        let field = validate::field_of(&address);
        ApiError::invalid(&format!("{field}.sha256"), message)
    })
}

/// Ask for a snapshot of each source written in `actions`, made in the background: the
/// workflow runs at once on the shared runtime, and on its own snapshot seconds later.
fn want_snapshots(engine: &Arc<PluginEngine>, actions: &[Action]) {
    for (language, source, sha256) in crate::model::workflow::written_sources(actions) {
        engine.want_snapshot(language, source, sha256);
    }
}

/// Check names, object, triggers and actions against the store; source written in a step
/// is compiled by its runtime (on this blocking thread, the server's runtime driving it).
fn validate(store: &Store, engine: &Arc<PluginEngine>, w: &Workflow) -> Result<(), ApiError> {
    if w.name.trim().is_empty() || w.name.chars().count() > 255 {
        return Err(ApiError::invalid("name", "name must be 1 to 255 characters"));
    }
    let Some(defs) = store.properties(&w.object)? else {
        return Err(ApiError::invalid("object", format!("no object `{}`", w.object)));
    };
    if w.triggers.len() > MAX_WEBHOOKS as usize {
        return Err(ApiError::invalid("triggers", format!("at most {MAX_WEBHOOKS} triggers, one per webhook")));
    }
    for (i, trigger) in w.triggers.iter().enumerate() {
        if w.triggers[..i].contains(trigger) {
            return Err(ApiError::invalid(
                &format!("triggers[{i}]"),
                format!("webhook `{trigger}` is a trigger already"),
            ));
        }
        if store.webhook(trigger)?.is_none() {
            return Err(ApiError::invalid(&format!("triggers[{i}]"), format!("no webhook `{trigger}`")));
        }
    }
    // Read once for the whole action list, not once per custom code step.
    let uploads = store.list_plugins()?;
    let plugin_world = |name: &str| match crate::plugins::builtin::find(name) {
        Some(b) => Some(b.world),
        None => uploads.iter().find(|p| p.name == name).and_then(|p| match p.world.as_str() {
            "action" => Some(World::Action),
            "transform" => Some(World::Transform),
            _ => None,
        }),
    };
    let runtime = tokio::runtime::Handle::current();
    let syntax = |language, source: &str| runtime.block_on(engine.check_source(language, source));
    validate::validate(&w.actions, &validate::Check { defs: &defs, plugin_world: &plugin_world, syntax: &syntax })
        .map_err(|invalid| ApiError::invalid(&invalid.field, invalid.message))
}

/// `POST /workflows {name, object, enabled, reenroll, triggers, actions}` → 201.
#[utoipa::path(
    post, operation_id = "workflows.create", path = "/workflows", tag = "workflows",
    request_body = WorkflowBody,
    responses(
        (status = 201, description = "The workflow, uploads pinned by sha256", body = WorkflowView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<WorkflowBody>,
) -> Result<Response, ApiError> {
    let now = now_ms();
    let workflow = Workflow {
        id: WorkflowId::new(now),
        name: body.name.ok_or_else(|| ApiError::invalid("name", "name is required"))?,
        object: body.object.ok_or_else(|| ApiError::invalid("object", "object is required"))?,
        enabled: body.enabled.unwrap_or(true),
        reenroll: body.reenroll.unwrap_or(false),
        triggers: body.triggers.unwrap_or_default(),
        actions: parse_actions(body.actions.unwrap_or_default())?,
        created_at_ms: now,
    };
    let (store, engine) = (state.store.clone(), state.engine.clone());
    let saved = blocking(move || {
        let mut workflow = workflow;
        validate(&store, &engine, &workflow)?;
        pin(&store, &mut workflow.actions)?;
        store.put_workflow(&workflow)?;
        want_snapshots(&engine, &workflow.actions);
        Ok(workflow)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(render(&saved))).into_response())
}

/// `GET /workflows`.
#[utoipa::path(
    get, operation_id = "workflows.list", path = "/workflows", tag = "workflows",
    responses(
        (status = 200, description = "All workflows", body = WorkflowList),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<WorkflowList>, ApiError> {
    let store = state.store.clone();
    let workflows = blocking(move || Ok(store.list_workflows()?)).await?;
    Ok(Json(WorkflowList { workflows: workflows.iter().map(render).collect() }))
}

/// `GET /workflows/{id}`.
#[utoipa::path(
    get, operation_id = "workflows.show", path = "/workflows/{id}", tag = "workflows",
    params(
        ("id" = String, Path, description = "The workflow id"),
    ),
    responses(
        (status = 200, description = "The workflow", body = WorkflowView),
        (status = 404, description = "No such workflow", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WorkflowId>,
) -> Result<Json<WorkflowView>, ApiError> {
    let store = state.store.clone();
    let workflow = blocking(move || Ok(store.workflow(&id)?)).await?.ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(Json(render(&workflow)))
}

/// `PATCH /workflows/{id}`: change any of name, enabled, reenroll, triggers, actions.
/// Running enrollments take changed actions from their next step on.
#[utoipa::path(
    patch, operation_id = "workflows.update", path = "/workflows/{id}", tag = "workflows",
    params(
        ("id" = String, Path, description = "The workflow id"),
    ),
    request_body = WorkflowBody,
    responses(
        (status = 200, description = "The workflow", body = WorkflowView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such workflow", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WorkflowId>,
    JsonBody(body): JsonBody<WorkflowBody>,
) -> Result<Json<WorkflowView>, ApiError> {
    let (store, engine) = (state.store.clone(), state.engine.clone());
    let saved = blocking(move || {
        let mut w = store.workflow(&id)?.ok_or_else(|| ApiError::not_found("workflow"))?;
        if let Some(object) = body.object.filter(|o| *o != w.object) {
            return Err(ApiError::invalid(
                "object",
                format!("a workflow's object cannot change (it is {}, not {object})", w.object),
            ));
        }
        w.name = body.name.unwrap_or(w.name);
        w.enabled = body.enabled.unwrap_or(w.enabled);
        w.reenroll = body.reenroll.unwrap_or(w.reenroll);
        w.triggers = body.triggers.unwrap_or(w.triggers);
        let new_actions = body.actions.is_some();
        if let Some(actions) = body.actions {
            w.actions = parse_actions(actions)?;
        }
        validate(&store, &engine, &w)?;
        if new_actions {
            pin(&store, &mut w.actions)?;
        }
        store.put_workflow(&w)?;
        want_snapshots(&engine, &w.actions);
        Ok(w)
    })
    .await?;
    Ok(Json(render(&saved)))
}

/// `DELETE /workflows/{id}`.
#[utoipa::path(
    delete, operation_id = "workflows.delete", path = "/workflows/{id}", tag = "workflows",
    params(
        ("id" = String, Path, description = "The workflow id"),
    ),
    responses(
        (status = 204, description = "Deleted with its enrollments"),
        (status = 404, description = "No such workflow", body = ErrorBody),
    )
)]
pub async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<WorkflowId>) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let deleted = blocking(move || Ok(store.delete_workflow(&id)?)).await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("workflow")) }
}

/// `GET /workflows/{id}/enrollments`, newest first.
#[utoipa::path(
    get, operation_id = "workflows.enrollments", path = "/workflows/{id}/enrollments", tag = "workflows",
    params(
        ("id" = String, Path, description = "The workflow id"),
    ),
    responses(
        (status = 200, description = "Its enrollments, newest first", body = EnrollmentList),
        (status = 404, description = "No such workflow", body = ErrorBody),
    )
)]
pub async fn enrollments(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WorkflowId>,
) -> Result<Json<EnrollmentList>, ApiError> {
    let store = state.store.clone();
    let rows = blocking(move || {
        store.workflow(&id)?.ok_or_else(|| ApiError::not_found("workflow"))?;
        Ok(store.enrollments(&id)?)
    })
    .await?;
    Ok(Json(EnrollmentList { enrollments: rows.iter().map(|e| render_enrollment(e, false)).collect() }))
}

/// An enrollment; `steps` adds each step's inputs, outputs, duration, outcome and reason.
pub(super) fn render_enrollment(e: &Enrollment, steps: bool) -> EnrollmentView {
    let waiting = e.status == EnrollmentStatus::Running && e.next_attempt_at_ms > now_ms();
    EnrollmentView {
        id: e.id.clone(),
        workflow_id: e.workflow_id.clone(),
        record_id: e.record_id.clone(),
        event_id: e.event_id.clone(),
        enrolled_at: rfc3339(e.enrolled_at_ms),
        status: e.status,
        reason: e.reason.clone(),
        finished_at: e.finished_at_ms.map(rfc3339),
        steps_run: e.steps.len(),
        steps: steps.then(|| e.steps.clone()),
        next_attempt_at: (steps && waiting).then(|| rfc3339(e.next_attempt_at_ms)),
        waiting: e.steps.last().filter(|_| waiting).map(|last| WaitView {
            for_: if last.outcome == StepOutcome::Waiting { "delay" } else { "retry" },
            step: last.address.clone(),
            until: rfc3339(e.next_attempt_at_ms),
        }),
    }
}

/// `GET /enrollments/{id}`: one enrollment with its step log.
#[utoipa::path(
    get, operation_id = "workflows.show_enrollment", path = "/enrollments/{id}", tag = "workflows",
    params(
        ("id" = String, Path, description = "The enrollment id"),
    ),
    responses(
        (status = 200, description = "The enrollment with every step", body = EnrollmentView),
        (status = 404, description = "No such enrollment", body = ErrorBody),
    )
)]
pub async fn show_enrollment(
    State(state): State<Arc<AppState>>,
    Path(id): Path<EnrollmentId>,
) -> Result<Json<EnrollmentView>, ApiError> {
    let store = state.store.clone();
    let found = blocking(move || Ok(store.enrollment(&id)?)).await?.ok_or_else(|| ApiError::not_found("enrollment"))?;
    Ok(Json(render_enrollment(&found, true)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ActionTest)]
pub(crate) struct TestBody {
    #[schema(value_type = Option<String>)]
    record_id: Option<RecordId>,
    #[schema(value_type = Option<Object>)]
    trigger: Option<serde_json::Map<String, Json_>>,
    apply: Option<bool>,
    /// An edited action list not saved yet (the editor's draft): checked like a save, and
    /// the action at `n` of it is tried instead of the saved one.
    #[schema(value_type = Option<Vec<Object>>)]
    actions: Option<Vec<Json_>>,
}

/// `POST /workflows/{id}/actions/{n}/test {record_id, trigger?, apply?, actions?}`: run
/// one action (`n` is its address: `0`, `2.then.1`) against a real record with the given
/// trigger data, and answer its step entry. The record changes only with `apply: true`.
/// With `actions`, an unsaved draft of the list is checked and its action `n` tried.
#[utoipa::path(
    post, operation_id = "workflows.test_action", path = "/workflows/{id}/actions/{n}/test", tag = "workflows",
    params(
        ("id" = String, Path, description = "The workflow id"),
        ("n" = String, Path, description = "The action's address: `0`, `2.then.1`"),
    ),
    request_body = TestBody,
    responses(
        (status = 200, description = "The step entry: inputs, outputs, log, duration, outcome", body = ActionTestResult),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such workflow, action or record", body = ErrorBody),
    )
)]
pub async fn test_action(
    State(state): State<Arc<AppState>>,
    Path((id, address)): Path<(WorkflowId, String)>,
    JsonBody(body): JsonBody<TestBody>,
) -> Result<Json<ActionTestResult>, ApiError> {
    let (store, engine, vault) = (state.store.clone(), state.engine.clone(), state.vault.clone());
    blocking(move || {
        let mut workflow = store.workflow(&id)?.ok_or_else(|| ApiError::not_found("workflow"))?;
        if let Some(draft) = body.actions {
            workflow.actions = parse_actions(draft)?;
            validate(&store, &engine, &workflow)?;
            pin(&store, &mut workflow.actions)?;
        }
        let action = crate::model::workflow::find(&workflow.actions, &address).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("the workflow has no action {address}"))
        })?;
        let record_id = body.record_id.ok_or_else(|| ApiError::invalid("record_id", "record_id is required"))?;
        let record = store
            .record(&workflow.object, &record_id)?
            .ok_or_else(|| ApiError::invalid("record_id", format!("no {} record {record_id}", workflow.object)))?;
        let defs = store.properties(&workflow.object)?.unwrap_or_default();
        let trigger = body.trigger.unwrap_or_default();
        let plugin = {
            let (store, engine, cache) = (store.clone(), engine.clone(), PluginCache::default());
            Box::new(move |name: &str, sha: Option<&str>| cache.get_pinned(&store, &engine, name, sha, World::Action))
        };
        let secrets = {
            let store = store.clone();
            Box::new(move |names: &[String]| vault.get(&store, names).map_err(|e| e.to_string()))
        };
        let services = Services { engine, plugin, secrets };
        let scope = Scope {
            trigger: &trigger,
            record: &record.properties,
            defs: &defs,
            actions: &workflow.actions,
            steps: &[],
        };
        let now = now_ms();
        let call = CallContext { event_id: "test".into(), webhook_id: "test".into(), received_at_ms: now };
        let next = Next { address: address.clone(), action, attempt: 1, first_started_at_ms: None };
        // Each test is a delivery of its own: a sent webhook gets a fresh `webhook-id`.
        let trial = crate::model::ids::EnrollmentId::new(now);
        // On this blocking thread, with the server's runtime for the step's requests.
        let subject = step::Subject { enrollment: trial.as_str(), workflow: &workflow, record_id: record.id.as_str() };
        let ran = tokio::runtime::Handle::current().block_on(step::run(&next, &scope, &services, &call, &subject, now));
        let succeeded = ran.ended == Ended::Succeeded;
        let applied = match (&ran.write, body.apply.unwrap_or(false) && succeeded) {
            (Some((property, value)), true) => {
                store.batch(|b| b.write_property(&workflow.object, &record.id, property, value, now))?
            }
            _ => false,
        };
        Ok(Json(ActionTestResult {
            action: address,
            step: ran.entry,
            write: ran.write.map(|(property, value)| PropertyWrite { property, value }),
            applied,
        }))
    })
    .await
}
