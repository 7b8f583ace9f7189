//! Workflows triggered by webhooks, and their enrollments.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::{ApiError, AppState, blocking, parse_body, rfc3339};
use crate::ids::{new_id, now_ms};
use crate::store::Store;
use crate::store::workflows::Workflow;

fn render(w: &Workflow) -> Json_ {
    json!({
        "id": w.id,
        "name": w.name,
        "object": w.object,
        "enabled": w.enabled,
        "reenroll": w.reenroll,
        "triggers": w.triggers,
        "actions": [],
        "created_at": rfc3339(w.created_at_ms),
    })
}

#[derive(Deserialize)]
struct WorkflowBody {
    name: Option<String>,
    object: Option<String>,
    enabled: Option<bool>,
    reenroll: Option<bool>,
    triggers: Option<Vec<String>>,
    actions: Option<Vec<Json_>>,
}

/// Check names, object and triggers against the store.
fn validate(store: &Store, w: &Workflow, actions: Option<&Vec<Json_>>) -> Result<(), ApiError> {
    if w.name.trim().is_empty() || w.name.chars().count() > 255 {
        return Err(ApiError::invalid("name", "name must be 1 to 255 characters"));
    }
    if store.properties(&w.object)?.is_none() {
        return Err(ApiError::invalid("object", format!("no object `{}`", w.object)));
    }
    for (i, trigger) in w.triggers.iter().enumerate() {
        if store.webhook(trigger)?.is_none() {
            return Err(ApiError::invalid(&format!("triggers[{i}]"), format!("no webhook `{trigger}`")));
        }
    }
    if actions.is_some_and(|a| !a.is_empty()) {
        // Actions (custom code, property updates, branches) are their own piece of work.
        return Err(ApiError::invalid("actions", "workflow actions are not supported yet; send `actions: []`"));
    }
    Ok(())
}

/// `POST /workflows {name, object, enabled, reenroll, triggers, actions}` → 201.
pub async fn create(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let body: WorkflowBody = parse_body(&body)?;
    let now = now_ms();
    let workflow = Workflow {
        id: new_id("wf", now),
        name: body.name.ok_or_else(|| ApiError::invalid("name", "name is required"))?,
        object: body.object.ok_or_else(|| ApiError::invalid("object", "object is required"))?,
        enabled: body.enabled.unwrap_or(true),
        reenroll: body.reenroll.unwrap_or(false),
        triggers: body.triggers.unwrap_or_default(),
        created_at_ms: now,
    };
    let store = state.store.clone();
    let saved = blocking(move || {
        validate(&store, &workflow, body.actions.as_ref())?;
        store.put_workflow(&workflow)?;
        Ok(workflow)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(render(&saved))).into_response())
}

/// `GET /workflows`.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Json_>, ApiError> {
    let store = state.store.clone();
    let workflows = blocking(move || Ok(store.list_workflows()?)).await?;
    Ok(Json(json!({"workflows": workflows.iter().map(render).collect::<Vec<_>>()})))
}

/// `GET /workflows/{id}`.
pub async fn show(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    let store = state.store.clone();
    let workflow = blocking(move || Ok(store.workflow(&id)?)).await?.ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(Json(render(&workflow)))
}

/// `PATCH /workflows/{id}`: change any of name, enabled, reenroll, triggers.
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Json_>, ApiError> {
    let body: WorkflowBody = parse_body(&body)?;
    let store = state.store.clone();
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
        validate(&store, &w, body.actions.as_ref())?;
        store.put_workflow(&w)?;
        Ok(w)
    })
    .await?;
    Ok(Json(render(&saved)))
}

/// `DELETE /workflows/{id}`.
pub async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let deleted = blocking(move || Ok(store.delete_workflow(&id)?)).await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("workflow")) }
}

/// `GET /workflows/{id}/enrollments`, newest first.
pub async fn enrollments(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    let store = state.store.clone();
    let rows = blocking(move || {
        store.workflow(&id)?.ok_or_else(|| ApiError::not_found("workflow"))?;
        Ok(store.enrollments(&id)?)
    })
    .await?;
    let rows: Vec<Json_> = rows
        .iter()
        .map(|e| json!({"id": e.id, "record_id": e.record_id, "event_id": e.event_id, "enrolled_at": rfc3339(e.enrolled_at_ms)}))
        .collect();
    Ok(Json(json!({ "enrollments": rows })))
}
