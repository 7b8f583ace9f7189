//! Runs bulk record imports, each on its own thread: reads the spooled file (NDJSON or
//! CSV) a chunk of rows at a time, checks each row against the object's properties, and
//! commits the chunk with the import's progress. Memory stays bounded by the chunk size
//! whatever the file's size, and a restart resumes at the last committed chunk.
//!
//! - [`ndjson`]: one JSON object per line.
//! - [`csv_rows`]: RFC 4180 CSV, its header row and its cells read by the property types.

pub mod csv_rows;
pub mod ndjson;

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::model::ids::{RecordId, now_ms};
use crate::model::import_columns::ImportFormat;
use crate::model::property::PropertyDef;
use crate::store::imports::{Chunk, Import};
use crate::store::{Store, StoreError};
use crate::work::threads::Threads;

/// Rows applied per transaction: big enough that commits are a small share of the work,
/// small enough that ingest never waits long for the write lock (~50 ms here).
pub const CHUNK_ROWS: usize = 1_000;

/// Longest row kept: a longer NDJSON line is refused without being held in memory; a
/// longer CSV row (an unclosed quote runs to the end of the file) fails the import.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The spooled file could not be read.
    #[error("cannot read the uploaded file: {0}")]
    Io(#[from] std::io::Error),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object was deleted meanwhile.
    #[error("the object `{0}` no longer exists")]
    NoObject(String),
    /// A CSV row runs on past [`MAX_ROW_BYTES`]; the rest of the file cannot be split into rows.
    #[error(
        "the CSV row starting at line {line} is longer than {MAX_ROW_BYTES} bytes (a quote left open?); the rows before it were applied"
    )]
    RowTooLong {
        /// Where the row starts.
        line: i64,
    },
}

/// One row read from an import file.
pub struct Row {
    /// The file line the row starts at.
    pub line: i64,
    /// The file offset after the row.
    pub bytes_after: i64,
    /// Lines read after the row.
    pub lines_after: i64,
    /// Its properties; `Ok(None)` for a blank row (skipped), `Err` why it is refused.
    pub outcome: Result<Option<Map<String, Json>>, String>,
}

/// The rows of an import file, from where the import resumes.
pub trait RowSource {
    /// The next row; `None` at the end of the file.
    fn next_row(&mut self) -> Result<Option<Row>, ImportError>;
}

/// Run `import` to its end on a new thread, then record `done` or `failed` (with the
/// reason) and remove the spooled file. A node stopping meanwhile stops it between two
/// chunks, still `running`: the next start resumes it after the last one applied.
pub fn spawn(store: Arc<Store>, import: Import, node: &Threads) -> std::io::Result<()> {
    let stopping = node.clone();
    node.spawn("wasmhook-import", move || {
        // A panic (a bug) ends the import as failed instead of leaving it running forever.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&store, &import, &stopping)));
        let (state, reason) = match &outcome {
            Ok(Ok(Ran::Stopped)) => {
                tracing::info!(import = %import.id, "import paused: the node is stopping");
                return;
            }
            Ok(Ok(Ran::ToTheEnd)) => ("done", None),
            Ok(Err(e)) => ("failed", Some(e.to_string())),
            Err(_) => ("failed", Some("wasmhook hit an internal error; the rows before it were applied".to_string())),
        };
        if let Err(e) = store.finish_import(&import.id, state, reason.as_deref(), now_ms()) {
            // Left `running`: the next start resumes it.
            tracing::error!(import = %import.id, error = %e, "cannot record the end of an import");
            return;
        }
        if let Err(e) = std::fs::remove_file(&import.spool_path) {
            tracing::warn!(import = %import.id, error = %e, "cannot remove an import's spooled file");
        }
        tracing::info!(import = %import.id, state, "import finished");
    })
}

/// How far an import ran.
enum Ran {
    /// Every line is applied.
    ToTheEnd,
    /// The node is stopping; the rest waits for the next start.
    Stopped,
}

fn run(store: &Store, import: &Import, node: &Threads) -> Result<Ran, ImportError> {
    let defs = store.properties(&import.object)?.ok_or_else(|| ImportError::NoObject(import.object.clone()))?;
    let mut file = File::open(&import.spool_path)?;
    file.seek(SeekFrom::Start(u64::try_from(import.bytes_done).unwrap_or(0)))?;
    let start = (import.bytes_done, import.lines_done);
    match import.format {
        ImportFormat::Ndjson => {
            let reader = BufReader::with_capacity(256 * 1024, file);
            apply_rows(store, import, &defs, ndjson::NdjsonRows::new(reader, start, &defs), node)
        }
        ImportFormat::Csv => {
            let rows = csv_rows::CsvRows::new(file, start, import.bytes_total, &defs, &import.columns);
            apply_rows(store, import, &defs, rows, node)
        }
    }
}

/// Apply `rows` a chunk at a time until the file ends or the node stops.
fn apply_rows(
    store: &Store,
    import: &Import,
    defs: &[PropertyDef],
    mut rows: impl RowSource,
    node: &Threads,
) -> Result<Ran, ImportError> {
    let unique: Vec<String> = defs.iter().filter(|d| d.unique).map(|d| d.name.clone()).collect();
    let (mut offset, mut line_no) = (import.bytes_done, import.lines_done);
    loop {
        let mut chunk = Chunk { rows: Vec::new(), refused: Vec::new(), bytes_done: offset, lines_done: line_no };
        let mut at_end = false;
        while chunk.rows.len() + chunk.refused.len() < CHUNK_ROWS {
            let Some(row) = rows.next_row()? else {
                at_end = true;
                break;
            };
            (offset, line_no) = (row.bytes_after, row.lines_after);
            match row.outcome {
                Ok(Some(properties)) => chunk.rows.push((row.line, properties)),
                Ok(None) => {}
                Err(why) => chunk.refused.push((row.line, why)),
            }
        }
        chunk.bytes_done = offset;
        chunk.lines_done = line_no;
        let now = now_ms();
        let applied = chunk.rows.len() as u64;
        store.apply_import_chunk(&import.id, &import.object, &unique, chunk, || RecordId::new(now), now)?;
        crate::telemetry::metrics::rows_imported(applied);
        if at_end {
            return Ok(Ran::ToTheEnd);
        }
        if node.stopping() {
            return Ok(Ran::Stopped);
        }
    }
}
