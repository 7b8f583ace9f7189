//! Bulk record imports: NDJSON or CSV spooled to a file under the data dir, applied in chunks of
//! rows, each chunk committed together with the import's progress, so memory stays bounded
//! whatever the file's size and a restart resumes after the last committed chunk.

use serde_json::{Map, Value as Json};

use super::gate::Priority;
use super::import_chunk::Applied;
use super::records::{RecordError, unique_holder, unique_key};
use super::sql::{Row, Sql, args};
use super::{Store, StoreError};
use crate::model::ids::{ImportId, RecordId};
use crate::model::import_columns::{ImportColumn, ImportFormat};

/// How many failed rows an import keeps for its report.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// An import and how far it got.
#[derive(Debug, Clone)]
pub struct Import {
    /// `imp_...`
    pub id: ImportId,
    /// The object its rows create or update.
    pub object: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// The spooled file.
    pub spool_path: String,
    /// NDJSON or CSV.
    pub format: ImportFormat,
    /// For CSV: every column of the header row and the property it fills.
    pub columns: Vec<ImportColumn>,
    /// Size of the file.
    pub bytes_total: i64,
    /// Bytes applied so far (always at a row boundary; a CSV's header row counts).
    pub bytes_done: i64,
    /// Lines applied so far (blank ones and a CSV's header row included).
    pub lines_done: i64,
    /// Records created.
    pub created: i64,
    /// Records updated.
    pub updated: i64,
    /// Rows refused.
    pub failed: i64,
    /// The first [`MAX_REPORTED_ERRORS`] refused rows: `{line, error}`.
    pub errors: Vec<Json>,
    /// Started, unix ms.
    pub started_at_ms: i64,
    /// Finished, unix ms.
    pub finished_at_ms: Option<i64>,
}

/// A spooled file to register as an import.
pub struct NewImport<'a> {
    /// `imp_...`
    pub id: &'a ImportId,
    /// The object its rows create or update.
    pub object: &'a str,
    /// The spooled file.
    pub spool_path: &'a str,
    /// Its size.
    pub bytes_total: i64,
    /// NDJSON or CSV.
    pub format: ImportFormat,
    /// For CSV, the header row's columns and their properties.
    pub columns: &'a [ImportColumn],
    /// Bytes and lines already read (a CSV's header row): where the rows begin.
    pub start: (i64, i64),
}

/// One chunk of an import, ready to apply.
pub struct Chunk {
    /// Rows that parsed and passed the property checks, with their line numbers.
    pub rows: Vec<(i64, Map<String, Json>)>,
    /// Lines refused before reaching the store: `(line, why)`.
    pub refused: Vec<(i64, String)>,
    /// The file offset after the chunk's last line.
    pub bytes_done: i64,
    /// Lines read after the chunk's last line.
    pub lines_done: i64,
}

const SELECT_IMPORT: &str = "SELECT id, object, state, reason, spool_path, bytes_total, bytes_done, lines_done,
     created, updated, failed, errors_json, started_at_ms, finished_at_ms, format, columns_json FROM imports";

fn import(mut r: Row) -> Result<Import, StoreError> {
    Ok(Import {
        id: r.get(0)?,
        object: r.get(1)?,
        state: r.get(2)?,
        reason: r.get(3)?,
        spool_path: r.get(4)?,
        bytes_total: r.get(5)?,
        bytes_done: r.get(6)?,
        lines_done: r.get(7)?,
        created: r.get(8)?,
        updated: r.get(9)?,
        failed: r.get(10)?,
        errors: serde_json::from_str(&r.get::<String>(11)?)?,
        started_at_ms: r.get(12)?,
        finished_at_ms: r.get(13)?,
        format: ImportFormat::parse(&r.get::<String>(14)?)?,
        columns: match r.get::<Option<String>>(15)? {
            Some(json) => serde_json::from_str(&json)?,
            None => Vec::new(),
        },
    })
}

impl Store {
    /// Register a spooled file as a running import, starting after what `start` says was
    /// already read (a CSV's header row).
    pub fn create_import(&self, new: &NewImport<'_>, now_ms: i64) -> Result<(), StoreError> {
        let columns = match new.format {
            ImportFormat::Csv => Some(serde_json::to_string(new.columns)?),
            ImportFormat::Ndjson => None,
        };
        self.with(|db| {
            db.execute(
                "INSERT INTO imports (id, object, state, spool_path, bytes_total, started_at_ms, format, columns_json,
                     bytes_done, lines_done)
                 VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                args![
                    new.id,
                    new.object,
                    new.spool_path,
                    new.bytes_total,
                    now_ms,
                    new.format.as_str(),
                    columns,
                    new.start.0,
                    new.start.1
                ],
            )
        })?;
        Ok(())
    }

    /// One import.
    pub fn import(&self, id: &ImportId) -> Result<Option<Import>, StoreError> {
        self.with(|db| db.query_opt(&format!("{SELECT_IMPORT} WHERE id = ?1"), args![id])?.map(import).transpose())
    }

    /// Imports, newest first.
    pub fn list_imports(&self, limit: u32) -> Result<Vec<Import>, StoreError> {
        self.with(|db| db.query_map(&format!("{SELECT_IMPORT} ORDER BY id DESC LIMIT ?1"), args![limit], import))
    }

    /// Imports a previous run left running.
    pub fn running_imports(&self) -> Result<Vec<Import>, StoreError> {
        self.with(|db| db.query_map(&format!("{SELECT_IMPORT} WHERE state = 'running' ORDER BY id"), &[], import))
    }

    /// End an import as `done` or `failed`.
    pub fn finish_import(
        &self,
        id: &ImportId,
        state: &str,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.with(|db| {
            db.execute(
                "UPDATE imports SET state = ?2, reason = ?3, finished_at_ms = ?4 WHERE id = ?1",
                args![id, state, reason, now_ms],
            )
        })?;
        Ok(())
    }

    /// Apply one chunk: create or update its rows and advance the import's progress, in
    /// one transaction. A row whose first present unique property names an existing
    /// record updates (merges into) it; others are created. The chunk is applied as a set
    /// (`import_chunk`); if another node committed one of its unique values meanwhile, it
    /// is applied again a row at a time, each row in a savepoint.
    pub fn apply_import_chunk(
        &self,
        import_id: &ImportId,
        object: &str,
        unique: &[String],
        chunk: Chunk,
        mut new_id: impl FnMut() -> RecordId,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let Chunk { rows, refused, bytes_done, lines_done } = chunk;
        let progress = Progress { import_id, bytes_done, lines_done, refused };
        let as_set = self.transaction(Priority::Background, |tx| {
            let applied = super::import_chunk::apply(tx, object, unique, rows.clone(), &mut new_id, now_ms)?;
            record_progress(tx, &progress, applied)
        });
        match as_set {
            Err(StoreError::Conflict(_)) => self.transaction(Priority::Background, |tx| {
                let applied = apply_row_by_row(tx, object, unique, rows, &mut new_id, now_ms)?;
                record_progress(tx, &progress, applied)
            }),
            other => other,
        }
    }
}

/// Where a chunk leaves the import's file, and the lines refused before the store.
struct Progress<'a> {
    import_id: &'a ImportId,
    bytes_done: i64,
    lines_done: i64,
    refused: Vec<(i64, String)>,
}

/// Apply `rows` one at a time, each in a savepoint: a refused row leaves no trace.
pub(super) fn apply_row_by_row(
    tx: &dyn Sql,
    object: &str,
    unique: &[String],
    rows: Vec<(i64, Map<String, Json>)>,
    new_id: &mut impl FnMut() -> RecordId,
    now_ms: i64,
) -> Result<Applied, StoreError> {
    let mut applied = Applied { created: 0, updated: 0, refused: Vec::new() };
    for (line, row) in rows {
        let existing = unique
            .iter()
            .find_map(|p| {
                let key = row.get(p).and_then(unique_key)?;
                unique_holder(tx, object, p, &key).transpose()
            })
            .transpose()?;
        tx.execute("SAVEPOINT import_row", &[])?;
        match upsert_row(tx, object, unique, row, existing, new_id, now_ms) {
            Ok(outcome) => {
                tx.execute("RELEASE SAVEPOINT import_row", &[])?;
                match outcome {
                    ImportOutcome::Created => applied.created += 1,
                    ImportOutcome::Updated => applied.updated += 1,
                }
            }
            Err(RecordError::Store(e)) => return Err(e),
            Err(e) => {
                tx.execute("ROLLBACK TO SAVEPOINT import_row", &[])?;
                tx.execute("RELEASE SAVEPOINT import_row", &[])?;
                applied.refused.push((line, e.to_string()));
            }
        }
    }
    Ok(applied)
}

/// Count what a chunk did and keep its first refusals in the import's report.
fn record_progress(tx: &dyn Sql, progress: &Progress<'_>, applied: Applied) -> Result<(), StoreError> {
    let mut refused = progress.refused.clone();
    refused.extend(applied.refused);
    refused.sort_by_key(|(line, _)| *line);
    let mut row = tx.query_one("SELECT errors_json, failed FROM imports WHERE id = ?1", args![progress.import_id])?;
    let (errors_json, failed_before): (String, i64) = (row.get(0)?, row.get(1)?);
    let mut errors: Vec<Json> = serde_json::from_str(&errors_json)?;
    let room = MAX_REPORTED_ERRORS.saturating_sub(errors.len());
    errors.extend(refused.iter().take(room).map(|(line, error)| serde_json::json!({"line": line, "error": error})));
    tx.execute(
        "UPDATE imports SET bytes_done = ?2, lines_done = ?3, created = created + ?4, updated = updated + ?5,
             failed = ?6, errors_json = ?7 WHERE id = ?1",
        args![
            progress.import_id,
            progress.bytes_done,
            progress.lines_done,
            applied.created,
            applied.updated,
            failed_before + refused.len() as i64,
            serde_json::to_string(&errors)?
        ],
    )?;
    Ok(())
}

/// What importing one row did.
enum ImportOutcome {
    Created,
    Updated,
}

/// Create or update one row's record (row-by-row path).
fn upsert_row(
    db: &dyn Sql,
    object: &str,
    unique: &[String],
    row: Map<String, Json>,
    existing: Option<RecordId>,
    new_id: &mut impl FnMut() -> RecordId,
    now_ms: i64,
) -> Result<ImportOutcome, RecordError> {
    let (id, properties, outcome) = match existing {
        Some(id) => {
            let json: String = db.value("SELECT properties_json FROM records WHERE id = ?1", args![id])?;
            let mut properties: Map<String, Json> = serde_json::from_str(&json).map_err(StoreError::from)?;
            for (k, v) in row {
                if v.is_null() {
                    properties.remove(&k);
                } else {
                    properties.insert(k, v);
                }
            }
            db.execute(
                "UPDATE records SET properties_json = ?2, updated_at_ms = ?3 WHERE id = ?1",
                args![id, serde_json::to_string(&properties).map_err(StoreError::from)?, now_ms],
            )?;
            db.execute("DELETE FROM record_unique_values WHERE record_id = ?1", args![id])?;
            (id, properties, ImportOutcome::Updated)
        }
        None => {
            let id = new_id();
            let properties: Map<String, Json> = row.into_iter().filter(|(_, v)| !v.is_null()).collect();
            db.execute(
                "INSERT INTO records (id, object, properties_json, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                args![id, object, serde_json::to_string(&properties).map_err(StoreError::from)?, now_ms],
            )?;
            (id, properties, ImportOutcome::Created)
        }
    };
    for property in unique {
        let Some(key) = properties.get(property).and_then(unique_key) else { continue };
        let inserted = db.execute(
            "INSERT INTO record_unique_values (object, property, value, record_id) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            args![object, property, key, id],
        )?;
        if inserted == 0 {
            // The holder committed meanwhile on another node, or is this chunk's own row.
            let record_id = unique_holder(db, object, property, &key)?.unwrap_or_else(|| RecordId::from_text(""));
            return Err(RecordError::Duplicate { property: property.clone(), value: key, record_id });
        }
    }
    Ok(outcome)
}
