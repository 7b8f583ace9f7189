//! Runs bulk record imports, each on its own thread: reads the spooled NDJSON file a chunk
//! of rows at a time, checks each row against the object's properties, and commits the
//! chunk with the import's progress. Memory stays bounded by the chunk size whatever the
//! file's size, and a restart resumes at the last committed chunk.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::model::ids::{RecordId, now_ms};
use crate::model::property::PropertyDef;
use crate::store::imports::{Chunk, Import};
use crate::store::{Store, StoreError};
use crate::work::threads::Threads;

/// Rows applied per transaction: big enough that commits are a small share of the work,
/// small enough that ingest never waits long for the write lock (~50 ms here).
pub const CHUNK_ROWS: usize = 1_000;

/// Longest line kept; a longer one is refused without being held in memory.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

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
    let unique: Vec<String> = defs.iter().filter(|d| d.unique).map(|d| d.name.clone()).collect();
    let mut file = File::open(&import.spool_path)?;
    file.seek(SeekFrom::Start(u64::try_from(import.bytes_done).unwrap_or(0)))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let (mut offset, mut line_no) = (import.bytes_done, import.lines_done);
    let mut line = Vec::new();
    loop {
        let mut chunk = Chunk { rows: Vec::new(), refused: Vec::new(), bytes_done: offset, lines_done: line_no };
        let mut at_end = false;
        while chunk.rows.len() + chunk.refused.len() < CHUNK_ROWS {
            let (consumed, cut) = read_line(&mut reader, &mut line)?;
            if consumed == 0 {
                at_end = true;
                break;
            }
            offset += consumed as i64;
            line_no += 1;
            if cut {
                chunk.refused.push((line_no, format!("the line is longer than {MAX_LINE_BYTES} bytes")));
            } else if !line.iter().all(u8::is_ascii_whitespace) {
                match parse_row(&defs, &line) {
                    Ok(row) => chunk.rows.push((line_no, row)),
                    Err(why) => chunk.refused.push((line_no, why)),
                }
            }
        }
        chunk.bytes_done = offset;
        chunk.lines_done = line_no;
        let now = now_ms();
        let rows = chunk.rows.len() as u64;
        store.apply_import_chunk(&import.id, &import.object, &unique, chunk, || RecordId::new(now), now)?;
        crate::telemetry::metrics::rows_imported(rows);
        if at_end {
            return Ok(Ran::ToTheEnd);
        }
        if node.stopping() {
            return Ok(Ran::Stopped);
        }
    }
}

/// One line's properties, checked against the object's definitions.
fn parse_row(defs: &[PropertyDef], line: &[u8]) -> Result<Map<String, Json>, String> {
    let incoming = serde_json::from_slice::<Map<String, Json>>(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let mut properties = Map::new();
    crate::model::property::check_values(defs, incoming, &mut properties).map_err(|e| e.message)?;
    Ok(properties)
}

/// Read one line (without its `\n`) into `line`, keeping at most [`MAX_LINE_BYTES`] of it.
/// Returns the bytes consumed (0 at the end) and whether the line was cut.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    line.clear();
    let (mut consumed, mut cut) = (0, false);
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok((consumed, cut));
        }
        let newline = available.iter().position(|b| *b == b'\n');
        let content = &available[..newline.unwrap_or(available.len())];
        if cut || line.len() + content.len() > MAX_LINE_BYTES {
            // Refused anyway: stop keeping any of it.
            cut = true;
            line.clear();
        } else {
            line.extend_from_slice(content);
        }
        let used = newline.map_or(available.len(), |i| i + 1);
        reader.consume(used);
        consumed += used;
        if newline.is_some() {
            return Ok((consumed, cut));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_LINE_BYTES, read_line};

    #[test]
    fn lines_are_split_and_overlong_ones_cut_without_buffering_them() {
        let long = "x".repeat(MAX_LINE_BYTES + 10);
        let text = format!("{{\"a\":1}}\r\n\n{long}\nlast");
        let mut reader = std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut line = Vec::new();
        let mut seen = Vec::new();
        loop {
            let (consumed, cut) = read_line(&mut reader, &mut line).unwrap();
            if consumed == 0 {
                break;
            }
            seen.push((consumed, cut, line.len()));
        }
        assert_eq!(seen, [(9, false, 8), (1, false, 0), (MAX_LINE_BYTES + 11, true, 0), (4, false, 4)]);
    }
}
