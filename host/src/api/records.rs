//! Objects, their properties and records: what webhook events are matched against.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json_};

use super::AppState;
use super::workflows::{EnrollmentList, render_enrollment};
use crate::http::{ApiError, ErrorBody, JsonBody, blocking, rfc3339};
use crate::model::ids::{RecordId, now_ms};
use crate::model::property::{InvalidValue, PropertyDef, PropertyType, check_values};
use crate::model::record_query::{BadCondition, RecordCondition, RecordCursor, RecordFilter, RecordSort};
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

/// A page of records.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct RecordList {
    records: Vec<RecordView>,
    /// Give as `cursor` (with the same `sort` and filters) for the next page; absent on
    /// the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// The query parameters of a records listing that are not property filters (documented;
/// the filters are any property's name, see [`list_records`]).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read from the query map with the filters; here for the OpenAPI document.
pub(crate) struct ListRecordsQuery {
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
    /// `created`, `-created` (default: newest first), `updated` or `-updated`.
    sort: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Search: records whose id or some text property starts with this, ignoring case.
    q: Option<String>,
}

/// Largest records page.
const MAX_RECORDS_PAGE: u32 = 200;

/// Parameters of a records listing that are not property filters.
const LISTING_PARAMETERS: [&str; 4] = ["limit", "sort", "cursor", "q"];

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

/// Most enrollments a record's page lists.
const RECORD_ENROLLMENTS: u32 = 100;

/// `GET /objects/{object}/records/{id}/enrollments`: the record's enrollments in every
/// workflow, newest first (at most 100).
#[utoipa::path(
    get, operation_id = "records.record_enrollments", path = "/objects/{object}/records/{id}/enrollments", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
        ("id" = String, Path, description = "The record id"),
    ),
    responses(
        (status = 200, description = "Its enrollments, newest first (at most 100); the events that matched it are `GET /events?record=`", body = EnrollmentList),
        (status = 404, description = "No such record", body = ErrorBody),
    )
)]
pub async fn record_enrollments(
    State(state): State<Arc<AppState>>,
    Path((object, id)): Path<(String, RecordId)>,
) -> Result<Json<EnrollmentList>, ApiError> {
    let record = load_record(&state, object, id).await?;
    let store = state.store.clone();
    let rows = blocking(move || Ok(store.enrollments_of_record(&record.id, RECORD_ENROLLMENTS)?)).await?;
    Ok(Json(EnrollmentList { enrollments: rows.iter().map(|e| render_enrollment(e, false)).collect() }))
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

/// `GET /objects/{object}/records`: a page of records, filtered by `?<property>=<value>`
/// (equals; a unique property's value is one indexed lookup), `?<property>.prefix=<text>`
/// and `?q=<text>` (text starts with it, ignoring case), sorted and paged by cursor.
#[utoipa::path(
    get, operation_id = "records.list_records", path = "/objects/{object}/records", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
        ListRecordsQuery,
    ),
    responses(
        (status = 200, description = "Records meeting every filter given: `?<property>=<value>` (the property equals the value, read as its type; numbers by value), `?<property>.prefix=<text>` (a text property starts with it, ignoring case). A filter few records meet may answer with fewer than `limit` records and a `next_cursor`: one request looks at a bounded number of records", body = RecordList),
        (status = 400, description = "Invalid request; `error.field` names the parameter", body = ErrorBody),
        (status = 404, description = "No such object", body = ErrorBody),
    )
)]
pub async fn list_records(
    State(state): State<Arc<AppState>>,
    Path(object): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<RecordList>, ApiError> {
    let defs = definitions(&state, object.clone()).await?;
    let limit = match query.get("limit") {
        None => 50,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_RECORDS_PAGE).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", format!("limit must be 1..={MAX_RECORDS_PAGE}")))?,
    };
    let sort = match query.get("sort") {
        None => RecordSort::CreatedDesc,
        Some(text) => RecordSort::parse(text)
            .ok_or_else(|| ApiError::invalid("sort", format!("sort is one of {}", RecordSort::NAMES.join(", "))))?,
    };
    let after = query
        .get("cursor")
        .map(|text| RecordCursor::decode(text, sort).map_err(|why| ApiError::invalid("cursor", why)))
        .transpose()?;
    let filter = record_filter(&defs, &query)?;
    let store = state.store.clone();
    let page = blocking(move || Ok(store.list_records(&object, sort, after.as_ref(), &filter, limit as usize)?))
        .await?
        .ok_or_else(|| ApiError::not_found("object"))?;
    Ok(Json(RecordList {
        records: page.records.iter().map(render_record).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

/// The listing's conditions from its query: `q`, and each parameter naming a property.
fn record_filter(defs: &[PropertyDef], query: &HashMap<String, String>) -> Result<RecordFilter, ApiError> {
    let refused = |bad: BadCondition| ApiError::invalid(&bad.field, bad.message);
    let mut conditions = Vec::new();
    if let Some(text) = query.get("q").filter(|t| !t.trim().is_empty()) {
        conditions.push(RecordCondition::AnyPrefix { lowercase: text.trim().to_lowercase() });
    }
    // Sorted, so the first refusal named is the same whatever the query's order.
    let mut named: Vec<(&String, &String)> =
        query.iter().filter(|(k, _)| !LISTING_PARAMETERS.contains(&k.as_str())).collect();
    named.sort();
    for (key, text) in named {
        let (property, prefix) = match key.strip_suffix(".prefix") {
            Some(property) => (property, true),
            None => (key.as_str(), false),
        };
        let Some(def) = defs.iter().find(|d| d.name == property) else {
            return Err(ApiError::invalid(
                key,
                format!(
                    "no property `{property}` on this object; filter by a property (`?<property>=<value>`, `?<property>.prefix=<text>`) or with {}",
                    LISTING_PARAMETERS.join(", ")
                ),
            ));
        };
        let condition = if prefix { RecordCondition::prefix(def, text) } else { RecordCondition::equals(def, text) };
        conditions.push(condition.map_err(refused)?);
    }
    Ok(RecordFilter { conditions })
}

/// A refused property value is a 400 naming `properties.<name>`.
fn invalid_value(refused: InvalidValue) -> ApiError {
    ApiError::invalid(&format!("properties.{}", refused.property), refused.message)
}
