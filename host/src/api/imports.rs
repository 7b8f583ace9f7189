//! Bulk record imports: `POST /objects/{object}/records/import` spools NDJSON or CSV to the
//! data dir, maps a CSV's columns to properties and starts the import; `GET /imports/{id}`
//! reports its progress.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;
use tokio::io::AsyncWriteExt;

use super::AppState;
use crate::http::{ApiError, ErrorBody, blocking, rfc3339};
use crate::import::csv_rows::{HeaderError, read_header};
use crate::model::ids::{ImportId, now_ms};
use crate::model::import_columns::{ImportColumn, ImportFormat, map_columns};
use crate::model::property::PropertyDef;
use crate::store::imports::{Import, NewImport};

/// Largest import file accepted (several GB of NDJSON is many millions of rows).
pub const MAX_IMPORT_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// The folder under the data dir where uploads wait for their import.
pub const SPOOL_DIR: &str = "imports";

/// How often a waiting request looks at the import's progress.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// Options of an import request (read from the query's pairs by [`ImportQuery::parse`]:
/// `map.<column>` parameters are named by the file's columns).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Answer only once the import has finished (200 with the final report).
    #[serde(default)]
    wait: bool,
    /// `ndjson` or `csv`; by default CSV when the `Content-Type` is `text/csv`, else NDJSON.
    #[param(value_type = Option<String>)]
    format: Option<ImportFormat>,
    /// CSV: `map.<column>=<property>` fills `property` from the column headed `column`
    /// (an empty property leaves the column out). Columns not mapped go to the property of
    /// their name or label, ignoring case; the rest are left out and listed in `unmapped`.
    #[serde(skip)]
    #[param(rename = "map.<column>", value_type = Option<String>)]
    map: Vec<(String, String)>,
}

impl ImportQuery {
    /// Read the query's pairs; an unknown parameter or a bad value is refused by name.
    fn parse(pairs: Vec<(String, String)>) -> Result<ImportQuery, ApiError> {
        let mut query = ImportQuery::default();
        for (name, value) in pairs {
            if let Some(column) = name.strip_prefix("map.") {
                if query.map.iter().any(|(c, _)| c == column) {
                    return Err(ApiError::invalid(&name, format!("the column `{column}` is mapped twice")));
                }
                query.map.push((column.to_string(), value));
                continue;
            }
            match name.as_str() {
                "wait" => {
                    query.wait = value.parse().map_err(|_| ApiError::invalid("wait", "`true` or `false`"))?;
                }
                "format" => {
                    let format = ImportFormat::parse(&value).map_err(|_| {
                        ApiError::invalid("format", format!("`{value}` is not an import format: `ndjson` or `csv`"))
                    })?;
                    query.format = Some(format);
                }
                _ => {
                    let message = "not a parameter of an import: `wait`, `format` or `map.<column>`";
                    return Err(ApiError::invalid(&name, message));
                }
            }
        }
        Ok(query)
    }
}

/// A bulk import's progress and outcome, as answered.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Import)]
pub(crate) struct ImportView {
    /// `imp_…`.
    id: ImportId,
    object: String,
    /// `running` (also while a stopped server has it to resume at its next start), `done`
    /// or `failed`.
    state: String,
    /// Why it failed.
    reason: Option<String>,
    /// `ndjson` or `csv`.
    format: ImportFormat,
    /// CSV: every column of the header row and the property it fills (`null`: left out).
    columns: Vec<ImportColumn>,
    /// CSV: the columns left out.
    unmapped: Vec<String>,
    /// Size of the uploaded file.
    bytes_total: i64,
    bytes_done: i64,
    /// `bytes_done / bytes_total`, 0 to 1.
    progress: f64,
    lines_done: i64,
    created: i64,
    updated: i64,
    failed: i64,
    /// The first refused lines: line number and why.
    #[schema(value_type = Vec<Object>)]
    errors: Vec<Json_>,
    rows_per_second: f64,
    /// RFC 3339.
    started_at: String,
    /// RFC 3339, once it ended.
    finished_at: Option<String>,
}

/// Imports, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ImportList {
    imports: Vec<ImportView>,
}

fn render(import: &Import) -> ImportView {
    let elapsed_ms = import.finished_at_ms.unwrap_or_else(now_ms) - import.started_at_ms;
    let rows = import.created + import.updated + import.failed;
    ImportView {
        id: import.id.clone(),
        object: import.object.clone(),
        state: import.state.clone(),
        reason: import.reason.clone(),
        format: import.format,
        columns: import.columns.clone(),
        unmapped: import.columns.iter().filter(|c| c.property.is_none()).map(|c| c.column.clone()).collect(),
        bytes_total: import.bytes_total,
        bytes_done: import.bytes_done,
        progress: if import.bytes_total == 0 { 1.0 } else { import.bytes_done as f64 / import.bytes_total as f64 },
        lines_done: import.lines_done,
        created: import.created,
        updated: import.updated,
        failed: import.failed,
        errors: import.errors.clone(),
        rows_per_second: if elapsed_ms > 0 { (rows as f64 * 1000.0 / elapsed_ms as f64).round() } else { 0.0 },
        started_at: rfc3339(import.started_at_ms),
        finished_at: import.finished_at_ms.map(rfc3339),
    }
}

/// `POST /objects/{object}/records/import[?wait=true]`: NDJSON (one object of properties
/// per line) or CSV (a header row naming the columns, then a row per record; `Content-Type:
/// text/csv` or `?format=csv`). A row whose unique property names an existing record
/// updates it; others create. Answers 202 with the running import, or with `wait` 200 with
/// its final report.
#[utoipa::path(
    post, operation_id = "imports.start", path = "/objects/{object}/records/import", tag = "records",
    params(
        ("object" = String, Path, description = "The object, e.g. `contacts`"),
        ImportQuery,
    ),
    request_body(
        content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        ),
        description = "NDJSON: one JSON object of properties per line. CSV (RFC 4180, UTF-8, a byte order mark allowed): a header row, then one row per record"
    ),
    responses(
        (status = 202, description = "The running import", body = ImportView),
        (status = 200, description = "With `wait=true`: the finished import", body = ImportView),
        (status = 400, description = "A bad parameter, or a CSV header row that cannot be mapped (the field names the column)", body = ErrorBody),
        (status = 413, description = "Larger than an import may be", body = ErrorBody),
        (status = 404, description = "No such object", body = ErrorBody),
    )
)]
pub async fn start(
    State(state): State<Arc<AppState>>,
    Path(object): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let query = ImportQuery::parse(pairs)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let format = query.format.unwrap_or_else(|| ImportFormat::from_content_type(content_type));
    if let (ImportFormat::Ndjson, Some((column, _))) = (format, query.map.first()) {
        let message = "a column mapping applies to CSV imports (Content-Type: text/csv or format=csv)";
        return Err(ApiError::invalid(&format!("map.{column}"), message));
    }
    // 404 before reading a possibly large body for an object that does not exist.
    let defs = super::records::definitions(&state, object.clone()).await?;
    let started = now_ms();
    let id = ImportId::new(started);
    let dir = state.data_dir.join(SPOOL_DIR);
    let path = dir.join(format!("{id}.{format}"));
    let spooled = async {
        let total = spool(body, &dir, &path).await?;
        Ok::<_, ApiError>((total, read_columns(format, &path, defs, query.map).await?))
    };
    let (bytes_total, (columns, rows_start)) = match spooled.await {
        Ok(spooled) => spooled,
        Err(e) => {
            // Nothing was registered: the upload goes.
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
    };
    let store = state.store.clone();
    let spool_path = path.to_string_lossy().into_owned();
    let import = blocking(move || {
        let new = NewImport {
            id: &id,
            object: &object,
            spool_path: &spool_path,
            bytes_total: bytes_total as i64,
            format,
            columns: &columns,
            start: rows_start,
        };
        store.create_import(&new, started)?;
        store.import(&id)?.ok_or_else(|| ApiError::not_found("import"))
    })
    .await?;
    let (id, answer) = (import.id.clone(), render(&import));
    crate::import::spawn(state.store.clone(), import, &state.threads)
        .map_err(|e| ApiError::unavailable(format!("cannot start the import: {e}")))?;
    if !query.wait {
        return Ok((StatusCode::ACCEPTED, Json(answer)).into_response());
    }
    loop {
        let import = load(&state, id.clone()).await?;
        if import.state != "running" {
            return Ok((StatusCode::OK, Json(render(&import))).into_response());
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// For CSV, the header row's columns mapped to properties and where the rows begin; for
/// NDJSON nothing (rows begin at the start).
async fn read_columns(
    format: ImportFormat,
    path: &std::path::Path,
    defs: Vec<PropertyDef>,
    explicit: Vec<(String, String)>,
) -> Result<(Vec<ImportColumn>, (i64, i64)), ApiError> {
    if format == ImportFormat::Ndjson {
        return Ok((Vec::new(), (0, 0)));
    }
    let path = path.to_path_buf();
    blocking(move || {
        let header = read_header(&path).map_err(|e| match e {
            HeaderError::Io(e) => ApiError::unavailable(format!("cannot read the upload: {e}")),
            refused => ApiError::invalid("body", refused.to_string()),
        })?;
        let columns =
            map_columns(&header.columns, &defs, &explicit).map_err(|e| ApiError::invalid(&e.field, e.message))?;
        Ok((columns, header.rows_start))
    })
    .await
}

/// Write the body to `path` as it arrives, never holding more than one frame, and make it
/// durable before the import is registered. Returns its size.
async fn spool(body: Body, dir: &std::path::Path, path: &std::path::Path) -> Result<u64, ApiError> {
    let io = |e: std::io::Error| ApiError::unavailable(format!("cannot store the upload: {e}"));
    let made = dir.to_path_buf();
    tokio::task::spawn_blocking(move || crate::store::files::create_private_dir(&made))
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)?;
    let file = tokio::fs::OpenOptions::from(crate::store::files::private_file_options())
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .await
        .map_err(io)?;
    let mut out = tokio::io::BufWriter::with_capacity(1024 * 1024, file);
    let mut body = body;
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::invalid("body", format!("the upload broke off: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        total += data.len() as u64;
        if total > MAX_IMPORT_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("an import file is at most {MAX_IMPORT_BYTES} bytes"),
            )
            .with_field("body"));
        }
        out.write_all(&data).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    out.into_inner().sync_all().await.map_err(io)?;
    Ok(total)
}

async fn load(state: &Arc<AppState>, id: ImportId) -> Result<Import, ApiError> {
    let store = state.store.clone();
    blocking(move || store.import(&id)?.ok_or_else(|| ApiError::not_found("import"))).await
}

/// `GET /imports/{id}`: progress (bytes and lines applied, rows created, updated, failed,
/// the first failed rows) and outcome.
#[utoipa::path(
    get, operation_id = "imports.show", path = "/imports/{id}", tag = "records",
    params(
        ("id" = String, Path, description = "The import id"),
    ),
    responses(
        (status = 200, description = "Progress and outcome", body = ImportView),
        (status = 404, description = "No such import", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<Arc<AppState>>, Path(id): Path<ImportId>) -> Result<Json<ImportView>, ApiError> {
    Ok(Json(render(&load(&state, id).await?)))
}

/// `GET /imports`: the latest imports, newest first.
#[utoipa::path(
    get, operation_id = "imports.list", path = "/imports", tag = "records",
    responses(
        (status = 200, description = "Imports, newest first", body = ImportList),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<ImportList>, ApiError> {
    let store = state.store.clone();
    let imports = blocking(move || Ok(store.list_imports(100)?)).await?;
    Ok(Json(ImportList { imports: imports.iter().map(render).collect() }))
}
