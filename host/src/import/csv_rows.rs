//! CSV rows (RFC 4180: quoted fields, doubled quotes, newlines inside quotes, CRLF or LF),
//! UTF-8 with or without a byte order mark. The header row names the columns; each row's
//! cells are read by the type of the property their column fills.

use std::cell::Cell;
use std::io::{Read, Seek, SeekFrom};
use std::rc::Rc;

use serde_json::Map;

use super::{ImportError, MAX_ROW_BYTES, Row, RowSource};
use crate::model::import_columns::{ImportColumn, cell_value};
use crate::model::property::PropertyDef;

/// The UTF-8 byte order mark spreadsheets write first; the csv crate reads it as text.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Buffer of the CSV reader (also how far it reads ahead of the row it returns).
const BUFFER: usize = 64 * 1024;

/// A CSV file's header row and where its rows begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The column names, trimmed.
    pub columns: Vec<String>,
    /// Bytes and lines up to the first row (the byte order mark and the header row).
    pub rows_start: (i64, i64),
}

/// Why a CSV file's header row cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The file could not be read.
    #[error("cannot read the uploaded file: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing but blank lines.
    #[error("the file is empty; a CSV import starts with a header row naming its columns")]
    Empty,
    /// Not text.
    #[error("the header row is not UTF-8 text")]
    NotUtf8,
    /// A header row past [`MAX_ROW_BYTES`].
    #[error("the header row is longer than {MAX_ROW_BYTES} bytes (a quote left open?)")]
    TooLong,
}

/// Read the header row of the CSV file at `path`.
pub fn read_header(path: &std::path::Path) -> Result<Header, HeaderError> {
    let mut file = std::fs::File::open(path)?;
    let bom = skip_bom(&mut file)?;
    let guard = RowGuard::default();
    let mut reader = reader(Capped { inner: file, read: 0, guard: guard.clone() });
    let mut record = csv::ByteRecord::new();
    let found = reader.read_byte_record(&mut record).map_err(|e| {
        if guard.tripped.get() { HeaderError::TooLong } else { HeaderError::Io(std::io::Error::other(e)) }
    })?;
    if !found {
        return Err(HeaderError::Empty);
    }
    let columns = (0..record.len())
        .map(|i| std::str::from_utf8(cell(&record, i)).map(|c| c.trim().to_string()).map_err(|_| HeaderError::NotUtf8))
        .collect::<Result<Vec<_>, _>>()?;
    let at = reader.position();
    Ok(Header { columns, rows_start: (bom + at.byte() as i64, at.line() as i64 - 1) })
}

/// Skip a byte order mark at the start of `file`; returns its length (0 or 3).
fn skip_bom(file: &mut std::fs::File) -> std::io::Result<i64> {
    let mut first = [0u8; 3];
    let mut got = 0;
    while got < 3 {
        match file.read(&mut first[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let bom = if first[..got] == *BOM { 3 } else { 0 };
    file.seek(SeekFrom::Start(bom))?;
    Ok(bom as i64)
}

/// A CSV reader over `input` followed by one `\n`. Rows end at `\n` only (a CRLF row's
/// `\r` is cut from its last cell by [`cell`]) and the last row has one too, so a row's
/// first line is where the reader stands after it less its own lines: the reader's line
/// count starts at a row's start only when no blank line precedes it.
fn reader<R: Read>(input: R) -> csv::Reader<std::io::Chain<R, &'static [u8]>> {
    // Rows are checked against the header here (a row of another width is refused with its
    // line), so the reader takes every width.
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(BUFFER)
        .from_reader(input.chain(&b"\n"[..]))
}

/// The `i`th cell of `record`, without the `\r` of a CRLF line end on the last one.
fn cell(record: &csv::ByteRecord, i: usize) -> &[u8] {
    let cell = &record[i];
    if i + 1 == record.len() { cell.strip_suffix(b"\r").unwrap_or(cell) } else { cell }
}

/// Reads a CSV file's rows, from where an import resumes, as properties.
pub struct CsvRows<'a, R: Read> {
    reader: csv::Reader<std::io::Chain<Capped<R>, &'static [u8]>>,
    guard: RowGuard,
    defs: &'a [PropertyDef],
    columns: &'a [ImportColumn],
    record: csv::ByteRecord,
    /// Bytes and lines of the file before the reader's start.
    base: (i64, i64),
    /// The file's size (the reader's last `\n` is not in it).
    file_bytes: i64,
}

impl<'a, R: Read> CsvRows<'a, R> {
    /// Rows of `input`, which is `at` (bytes, lines) into the file (after its header row),
    /// its cells filling the properties `columns` name.
    pub fn new(
        input: R,
        at: (i64, i64),
        file_bytes: i64,
        defs: &'a [PropertyDef],
        columns: &'a [ImportColumn],
    ) -> Self {
        let guard = RowGuard::default();
        guard.limit.set(BUFFER as u64 + MAX_ROW_BYTES as u64);
        let reader = reader(Capped { inner: input, read: 0, guard: guard.clone() });
        CsvRows { reader, guard, defs, columns, record: csv::ByteRecord::new(), base: at, file_bytes }
    }

    /// The row just read, as properties; `Ok(None)` when every cell is empty.
    fn properties(&self) -> Result<Option<Map<String, serde_json::Value>>, String> {
        if self.record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
            return Ok(None);
        }
        if self.record.len() != self.columns.len() {
            return Err(format!(
                "the row has {} fields where the header row has {} columns",
                self.record.len(),
                self.columns.len()
            ));
        }
        let mut incoming = Map::new();
        for (i, column) in self.columns.iter().enumerate() {
            let Some(property) = &column.property else { continue };
            let name = &column.column;
            let text =
                std::str::from_utf8(cell(&self.record, i)).map_err(|_| format!("column \"{name}\": not UTF-8 text"))?;
            let def = self
                .defs
                .iter()
                .find(|d| d.name == *property)
                .ok_or_else(|| format!("column \"{name}\": the property `{property}` no longer exists"))?;
            if let Some(value) = cell_value(def, text).map_err(|why| format!("column \"{name}\": {why}"))? {
                incoming.insert(property.clone(), value);
            }
        }
        if incoming.is_empty() {
            return Err("no value in any imported column".to_string());
        }
        let mut properties = Map::new();
        crate::model::property::check_values(self.defs, incoming, &mut properties).map_err(|e| e.message)?;
        Ok(Some(properties))
    }
}

impl<R: Read> RowSource for CsvRows<'_, R> {
    fn next_row(&mut self) -> Result<Option<Row>, ImportError> {
        let before = self.reader.position().line();
        let found = self.reader.read_byte_record(&mut self.record).map_err(|e| {
            if self.guard.tripped.get() {
                ImportError::RowTooLong { line: self.base.1 + before as i64 }
            } else {
                ImportError::Io(std::io::Error::other(e))
            }
        })?;
        if !found {
            return Ok(None);
        }
        let after = self.reader.position();
        // The next row may run at most MAX_ROW_BYTES past where this one ended.
        self.guard.limit.set(after.byte() + BUFFER as u64 + MAX_ROW_BYTES as u64);
        // Every row ends with a `\n` (see `reader`), so the reader stands on the line after
        // the row's last; its first is as many lines up as the row holds newlines.
        let inside = self.record.iter().flat_map(|c| c.iter()).filter(|b| **b == b'\n').count() as i64;
        let lines_after = self.base.1 + after.line() as i64 - 1;
        Ok(Some(Row {
            line: lines_after - inside,
            bytes_after: (self.base.0 + after.byte() as i64).min(self.file_bytes),
            lines_after,
            outcome: self.properties(),
        }))
    }
}

/// How far the reader may read before the row being read is too long, and whether it was.
#[derive(Clone, Default)]
struct RowGuard {
    limit: Rc<Cell<u64>>,
    tripped: Rc<Cell<bool>>,
}

/// A reader that fails once it has read past its guard's limit: the csv crate holds a row
/// whole, so without it a quote left open would read the rest of the file into memory.
struct Capped<R> {
    inner: R,
    read: u64,
    guard: RowGuard,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let limit = self.guard.limit.get();
        if limit != 0 && self.read >= limit {
            self.guard.tripped.set(true);
            return Err(std::io::Error::other("a CSV row is too long"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::property::PropertyType;

    fn defs() -> Vec<PropertyDef> {
        let def = |name: &str, kind| PropertyDef {
            name: name.into(),
            label: name.into(),
            kind,
            options: vec![],
            unique: false,
        };
        vec![def("email", PropertyType::String), def("score", PropertyType::Number), def("note", PropertyType::String)]
    }

    fn columns(pairs: &[(&str, Option<&str>)]) -> Vec<ImportColumn> {
        pairs.iter().map(|(c, p)| ImportColumn { column: c.to_string(), property: p.map(str::to_string) }).collect()
    }

    /// A row as read: its line, bytes and lines after it, and its properties or refusal.
    type Seen = (i64, i64, i64, Result<Option<serde_json::Value>, String>);

    fn rows(text: &str, at: (i64, i64)) -> Vec<Seen> {
        let defs = defs();
        let columns =
            columns(&[("Email", Some("email")), ("Score", Some("score")), ("Note", Some("note")), ("x", None)]);
        let mut source = CsvRows::new(text.as_bytes(), at, at.0 + text.len() as i64, &defs, &columns);
        let mut out = Vec::new();
        while let Some(row) = source.next_row().unwrap() {
            out.push((
                row.line,
                row.bytes_after,
                row.lines_after,
                row.outcome.map(|o| o.map(serde_json::Value::Object)),
            ));
        }
        out
    }

    #[test]
    fn quotes_embedded_newlines_and_positions() {
        let text = "a@x.io,1,\"two\nlines, \"\"quoted\"\"\",z\r\n\r\nb@x.io,abc,,z\nc@x.io,2\n,,,\n";
        let seen = rows(text, (100, 1));
        let lines: Vec<i64> = seen.iter().map(|r| r.0).collect();
        assert_eq!(lines, [2, 4, 5, 6, 7], "rows start where an editor shows them: {seen:?}");
        assert_eq!(seen[0].3, Ok(Some(json!({"email": "a@x.io", "score": 1, "note": "two\nlines, \"quoted\""}))));
        assert_eq!(seen[1].3, Ok(None), "a blank CRLF line is skipped");
        assert_eq!(seen[2].3, Err("column \"Score\": `abc` is not a number".to_string()));
        assert_eq!(seen[3].3, Err("the row has 2 fields where the header row has 4 columns".to_string()));
        assert_eq!(seen[4].3, Ok(None), "a row of empty cells is blank");
        assert_eq!((seen[4].1, seen[4].2), (100 + text.len() as i64, 1 + 6), "at the end: the whole file");
    }

    #[test]
    fn a_row_past_the_limit_fails_without_reading_the_file_whole() {
        let text = format!("a@x.io,1,\"{}", "y".repeat(3 * MAX_ROW_BYTES));
        let defs = defs();
        let columns = columns(&[("Email", Some("email")), ("Score", Some("score")), ("Note", Some("note"))]);
        let mut source = CsvRows::new(text.as_bytes(), (10, 1), i64::MAX, &defs, &columns);
        assert!(matches!(source.next_row(), Err(ImportError::RowTooLong { line: 2 })));
    }

    #[test]
    fn the_header_is_read_past_a_byte_order_mark() {
        let dir = std::env::temp_dir().join(format!("wasmhook-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.csv");
        std::fs::write(&path, b"\xEF\xBB\xBF Email ,\"Sco\"\"re\"\r\na,1\r\n").unwrap();
        let header = read_header(&path).unwrap();
        assert_eq!(header.columns, ["Email", "Sco\"re"]);
        assert_eq!(header.rows_start, (3 + 19, 1));
        std::fs::write(&path, b"\n\n").unwrap();
        assert!(matches!(read_header(&path), Err(HeaderError::Empty)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
