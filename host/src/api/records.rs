//! Objects, their properties and records: what webhook events are matched against.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json_, json};

use super::AppState;
use crate::http::{ApiError, ErrorBody, JsonBody, blocking, rfc3339};
use crate::model::ids::{RecordId, now_ms};
use crate::model::property::{InvalidValue, PropertyDef, PropertyType, check_values};
use crate::store::records::{Record, RecordError};

/// Longest object or property name.
const MAX_NAME: usize = 100;

fn record_error(e: RecordError) -> ApiError {
    match e {
        RecordError::NoObject(_) => ApiError::not_found("object"),
        RecordError::PropertyExists(_) => {
            ApiError::new(StatusCode::CONFLICT, "already_exists", e.to_string()).with_field("name")
        }
        RecordError::TooManyUnique => {
            ApiError::new(StatusCode::CONFLICT, "limit_reached", e.to_string()).with_field("unique")
        }
        RecordError::Duplicate { ref property, .. } => {
            let field = format!("properties.{property}");
            ApiError::new(StatusCode::CONFLICT, "duplicate_unique_value", e.to_string()).with_field(&field)
        }
        RecordError::Store(e) => e.into(),
    }
}

/// An object's or property's name and label, refused with the bounds in the message.
fn check_name_and_label(name: &str, label: Option<&str>) -> Result<(), ApiError> {
    if !valid_name(name) {
        return Err(ApiError::invalid(
            "name",
            format!("names are 1 to {MAX_NAME} lowercase letters, digits and `_`, starting with a letter"),
        ));
    }
    if label.is_some_and(|l| l.trim().is_empty() || l.chars().count() > crate::wizard::MAX_LABEL) {
        return Err(ApiError::invalid("label", format!("a label is 1 to {} characters", crate::wizard::MAX_LABEL)));
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        && name.as_bytes()[0].is_ascii_lowercase()
}

/// An object records belong to (`contacts`, `companies`, `deals`, or a custom one).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = RecordObject)]
pub(crate) struct ObjectView {
    name: String,
    label: String,
    /// One of the objects every installation has.
    builtin: bool,
}

/// Every object.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ObjectList {
    objects: Vec<ObjectView>,
}

/// A property of an object's records.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Property)]
pub(crate) struct PropertyView {
    name: String,
    label: String,
    #[serde(rename = "type")]
    kind: PropertyType,
    /// Its values identify one record (an index enforces it).
    unique: bool,
    /// An enum's allowed values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<String>,
}

/// An object's properties.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PropertyList {
    properties: Vec<PropertyView>,
}

/// A record with its properties.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Record)]
pub(crate) struct RecordView {
    /// `rec_…`.
    id: RecordId,
    object: String,
    /// Its properties by name, typed as the object's definitions say.
    #[schema(value_type = Object)]
    properties: Map<String, Json_>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

/// Records found by a unique value (none or one).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RecordList {
    records: Vec<RecordView>,
}

/// `GET /objects`.
#[utoipa::path(
    get, operation_id = "records.list_objects", path = "/objects", tag = "records",
    responses(
        (status = 200, description = "Objects", body = ObjectList),
    )
)]
pub async fn list_objects(State(state): State<Arc<AppState>>) -> Result<Json<ObjectList>, ApiError> {
    let store = state.store.clone();
    let objects = blocking(move || Ok(store.list_objects()?)).await?;
    let objects = objects.into_iter().map(|(name, label, builtin)| ObjectView { name, label, builtin }).collect();
    Ok(Json(ObjectList { objects }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewObject {
    name: String,
    label: Option<String>,
}

/// `POST /objects {name, label?}`: a custom object.
#[utoipa::path(
    post, operation_id = "records.create_object", path = "/objects", tag = "records",
    request_body = NewObject,
    responses(
        (status = 201, description = "The object", body = ObjectView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 409, description = "It exists", body = ErrorBody),
    )
)]
pub async fn create_object(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<NewObject>,
) -> Result<Response, ApiError> {
    check_name_and_label(&body.name, body.label.as_deref())?;
    let label = body.label.unwrap_or_else(|| body.name.clone());
    let (store, name) = (state.store.clone(), body.name.clone());
    let created = blocking({
        let label = label.clone();
        move || Ok(store.create_object(&name, &label)?)
    })
    .await?;
    if !created {
        return Err(ApiError::new(StatusCode::CONFLICT, "already_exists", format!("object `{}` exists", body.name))
            .with_field("name"));
    }
    Ok((StatusCode::CREATED, Json(ObjectView { name: body.name, label, builtin: false })).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewProperty {
    name: String,
    label: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    options: Vec<String>,
    #[serde(default)]
    unique: bool,
}

fn render_property(p: &PropertyDef) -> PropertyView {
    PropertyView {
        name: p.name.clone(),
        label: p.label.clone(),
        kind: p.kind,
        unique: p.unique,
        options: p.options.clone(),
    }
}

/// `POST /objects/{object}/properties {name, label, type, options?, unique?}`.
#[utoipa::path(
    post, operation_id = "records.create_property", path = "/objects/{object}/properties", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
    ),
    request_body = NewProperty,
    responses(
        (status = 201, description = "The property", body = PropertyView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 409, description = "It exists", body = ErrorBody),
        (status = 404, description = "No such object", body = ErrorBody),
    )
)]
pub async fn create_property(
    State(state): State<Arc<AppState>>,
    Path(object): Path<String>,
    JsonBody(body): JsonBody<NewProperty>,
) -> Result<Response, ApiError> {
    check_name_and_label(&body.name, body.label.as_deref())?;
    let Some(kind) = PropertyType::from_admin(&body.kind) else {
        return Err(ApiError::invalid(
            "type",
            format!("unknown type `{}` (string, enum, number, boolean, date, datetime)", body.kind),
        ));
    };
    if body.unique && !kind.may_be_unique() {
        return Err(ApiError::invalid("unique", "only string and number properties can be unique"));
    }
    if kind == PropertyType::Enum {
        crate::wizard::check_options(&body.options, "options")?;
    } else if !body.options.is_empty() {
        return Err(ApiError::invalid("options", "only an enum has options"));
    }
    let def = PropertyDef {
        label: body.label.unwrap_or_else(|| body.name.clone()),
        name: body.name,
        kind,
        options: body.options,
        unique: body.unique,
    };
    let rendered = render_property(&def);
    let store = state.store.clone();
    blocking(move || store.create_property(&object, &def).map_err(record_error)).await?;
    Ok((StatusCode::CREATED, Json(rendered)).into_response())
}

pub(super) async fn definitions(state: &Arc<AppState>, object: String) -> Result<Vec<PropertyDef>, ApiError> {
    let store = state.store.clone();
    blocking(move || Ok(store.properties(&object)?)).await?.ok_or_else(|| ApiError::not_found("object"))
}

/// `GET /objects/{object}/properties`.
#[utoipa::path(
    get, operation_id = "records.list_properties", path = "/objects/{object}/properties", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
    ),
    responses(
        (status = 200, description = "Its properties", body = PropertyList),
        (status = 404, description = "No such object", body = ErrorBody),
    )
)]
pub async fn list_properties(
    State(state): State<Arc<AppState>>,
    Path(object): Path<String>,
) -> Result<Json<PropertyList>, ApiError> {
    let defs = definitions(&state, object).await?;
    Ok(Json(PropertyList { properties: defs.iter().map(render_property).collect() }))
}

fn render_record(r: &Record) -> RecordView {
    RecordView {
        id: r.id.clone(),
        object: r.object.clone(),
        properties: r.properties.clone(),
        created_at: rfc3339(r.created_at_ms),
        updated_at: rfc3339(r.updated_at_ms),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct RecordBody {
    #[schema(value_type = Object)]
    properties: Map<String, Json_>,
}

fn unique_names(defs: &[PropertyDef]) -> Vec<String> {
    defs.iter().filter(|d| d.unique).map(|d| d.name.clone()).collect()
}

/// `POST /objects/{object}/records {properties}` → 201; 409 naming a duplicate unique value.
#[utoipa::path(
    post, operation_id = "records.create_record", path = "/objects/{object}/records", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
    ),
    request_body = RecordBody,
    responses(
        (status = 201, description = "The record", body = RecordView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 409, description = "A record has this unique value", body = ErrorBody),
        (status = 404, description = "No such object", body = ErrorBody),
    )
)]
pub async fn create_record(
    State(state): State<Arc<AppState>>,
    Path(object): Path<String>,
    JsonBody(body): JsonBody<RecordBody>,
) -> Result<Response, ApiError> {
    let defs = definitions(&state, object.clone()).await?;
    let mut properties = Map::new();
    check_values(&defs, body.properties, &mut properties).map_err(invalid_value)?;
    let now = now_ms();
    let record = Record { id: RecordId::new(now), object, properties, created_at_ms: now, updated_at_ms: now };
    let rendered = render_record(&record);
    let store = state.store.clone();
    blocking(move || store.put_record(&record, &unique_names(&defs), true).map_err(record_error)).await?;
    Ok((StatusCode::CREATED, Json(rendered)).into_response())
}

async fn load_record(state: &Arc<AppState>, object: String, id: RecordId) -> Result<Record, ApiError> {
    let store = state.store.clone();
    blocking(move || Ok(store.record(&object, &id)?)).await?.ok_or_else(|| ApiError::not_found("record"))
}

/// `GET /objects/{object}/records/{id}`.
#[utoipa::path(
    get, operation_id = "records.show_record", path = "/objects/{object}/records/{id}", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
        ("id" = String, Path, description = "The record id"),
    ),
    responses(
        (status = 200, description = "The record", body = RecordView),
        (status = 404, description = "No such record", body = ErrorBody),
    )
)]
pub async fn show_record(
    State(state): State<Arc<AppState>>,
    Path((object, id)): Path<(String, RecordId)>,
) -> Result<Json<RecordView>, ApiError> {
    Ok(Json(render_record(&load_record(&state, object, id).await?)))
}

/// `PATCH /objects/{object}/records/{id} {properties}`: merge; `null` removes.
#[utoipa::path(
    patch, operation_id = "records.update_record", path = "/objects/{object}/records/{id}", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
        ("id" = String, Path, description = "The record id"),
    ),
    request_body = RecordBody,
    responses(
        (status = 200, description = "The record", body = RecordView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such record", body = ErrorBody),
    )
)]
pub async fn update_record(
    State(state): State<Arc<AppState>>,
    Path((object, id)): Path<(String, RecordId)>,
    JsonBody(body): JsonBody<RecordBody>,
) -> Result<Json<RecordView>, ApiError> {
    let defs = definitions(&state, object.clone()).await?;
    let mut record = load_record(&state, object, id).await?;
    check_values(&defs, body.properties, &mut record.properties).map_err(invalid_value)?;
    record.updated_at_ms = now_ms();
    let rendered = render_record(&record);
    let store = state.store.clone();
    blocking(move || store.put_record(&record, &unique_names(&defs), false).map_err(record_error)).await?;
    Ok(Json(rendered))
}

/// `DELETE /objects/{object}/records/{id}`.
#[utoipa::path(
    delete, operation_id = "records.delete_record", path = "/objects/{object}/records/{id}", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
        ("id" = String, Path, description = "The record id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such record", body = ErrorBody),
    )
)]
pub async fn delete_record(
    State(state): State<Arc<AppState>>,
    Path((object, id)): Path<(String, RecordId)>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let deleted = blocking(move || Ok(store.delete_record(&object, &id)?)).await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("record")) }
}

/// `GET /objects/{object}/records?{unique property}={value}`: an indexed lookup.
#[utoipa::path(
    get, operation_id = "records.find_records", path = "/objects/{object}/records", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
    ),
    responses(
        (status = 200, description = "Records whose unique property has the value given as `?property=value`", body = RecordList),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such object", body = ErrorBody),
    )
)]
pub async fn find_records(
    State(state): State<Arc<AppState>>,
    Path(object): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<RecordList>, ApiError> {
    let defs = definitions(&state, object.clone()).await?;
    let mut pairs = query.into_iter();
    let (Some((property, text)), None) = (pairs.next(), pairs.next()) else {
        return Err(ApiError::invalid("query", "look records up by one unique property: `?external_id=...`"));
    };
    let Some(def) = defs.iter().find(|d| d.name == property && d.unique) else {
        return Err(ApiError::invalid(&property, format!("`{property}` is not a unique property of this object")));
    };
    let value = if def.kind == PropertyType::Number {
        let n: f64 =
            text.trim().parse().map_err(|_| ApiError::invalid(&property, format!("`{text}` is not a number")))?;
        json!(n)
    } else {
        json!(text)
    };
    let store = state.store.clone();
    let found = blocking(move || Ok(store.find_by_unique(&object, &property, &value)?)).await?;
    Ok(Json(RecordList { records: found.iter().map(render_record).collect() }))
}

/// A refused property value is a 400 naming `properties.<name>`.
fn invalid_value(refused: InvalidValue) -> ApiError {
    ApiError::invalid(&format!("properties.{}", refused.property), refused.message)
}
