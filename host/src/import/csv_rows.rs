//! CSV rows (RFC 4180: quoted fields, doubled quotes, newlines inside quotes, CRLF or LF),
//! UTF-8 with or without a byte order mark. The header row names the columns; each row's
//! cells are read by the type of the property their column fills.

use std::io::{Chain, Read, Seek, SeekFrom};

use serde_json::{Map, Value as Json};

use super::{ImportError, MAX_ROW_BYTES, Row, RowSource};
use crate::coerce::{BOOLEAN_SPELLINGS, NumberTextError, boolean_from_text, number_from_text};
use crate::model::import_columns::ImportColumn;
use crate::model::property::{PropertyDef, PropertyType};
use crate::value::Value;

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
    let mut records = Records::new(file);
    let found = records.next().map_err(|e| match e {
        RecordError::TooLong => HeaderError::TooLong,
        RecordError::Io(e) => HeaderError::Io(e),
    })?;
    if !found {
        return Err(HeaderError::Empty);
    }
    let columns = (0..records.record.len())
        .map(|i| std::str::from_utf8(records.cell(i)).map(|c| c.trim().to_string()).map_err(|_| HeaderError::NotUtf8))
        .collect::<Result<Vec<_>, _>>()?;
    let at = records.reader.position();
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

/// Why the next CSV row could not be read.
enum RecordError {
    /// It runs on past [`MAX_ROW_BYTES`].
    TooLong,
    /// The file could not be read.
    Io(std::io::Error),
}

/// A CSV file read a row at a time, never holding a row longer than [`MAX_ROW_BYTES`] (the
/// csv crate holds a row whole: a quote left open would read the rest of the file).
///
/// The input is followed by one `\n` and rows end at `\n` only (a CRLF row's `\r` is cut
/// from its last cell by [`Records::cell`]), so every row, the last too, ends with a `\n`:
/// after a row the reader stands on the line after the row's last.
struct Records<R: Read> {
    reader: csv::Reader<Chain<Capped<R>, &'static [u8]>>,
    /// The row just read.
    record: csv::ByteRecord,
}

impl<R: Read> Records<R> {
    fn new(input: R) -> Self {
        let capped = Capped { inner: input, read: 0, limit: (BUFFER + MAX_ROW_BYTES) as u64, tripped: false };
        // Rows are checked against the header here (a row of another width is refused with
        // its line), so the reader takes every width.
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(BUFFER)
            .from_reader(capped.chain(&b"\n"[..]));
        Records { reader, record: csv::ByteRecord::new() }
    }

    /// Read the next row into `record`; `false` at the end.
    fn next(&mut self) -> Result<bool, RecordError> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(found) => {
                // The next row may run at most MAX_ROW_BYTES past where this one ended.
                let end = self.reader.position().byte();
                self.reader.get_mut().get_mut().0.limit = end + (BUFFER + MAX_ROW_BYTES) as u64;
                Ok(found)
            }
            Err(_) if self.reader.get_ref().get_ref().0.tripped => Err(RecordError::TooLong),
            Err(e) => Err(RecordError::Io(std::io::Error::other(e))),
        }
    }

    /// The `i`th cell of the row just read, without the `\r` of a CRLF line end on the last.
    fn cell(&self, i: usize) -> &[u8] {
        let cell = &self.record[i];
        if i + 1 == self.record.len() { cell.strip_suffix(b"\r").unwrap_or(cell) } else { cell }
    }
}

/// Reads a CSV file's rows, from where an import resumes, as properties.
pub struct CsvRows<'a, R: Read> {
    records: Records<R>,
    defs: &'a [PropertyDef],
    columns: &'a [ImportColumn],
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
        CsvRows { records: Records::new(input), defs, columns, base: at, file_bytes }
    }

    /// The row just read, as properties; `Ok(None)` when every cell is empty.
    fn properties(&self) -> Result<Option<Map<String, Json>>, String> {
        let record = &self.records.record;
        if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
            return Ok(None);
        }
        if record.len() != self.columns.len() {
            return Err(format!(
                "the row has {} fields where the header row has {} columns",
                record.len(),
                self.columns.len()
            ));
        }
        let mut incoming = Map::new();
        for (i, column) in self.columns.iter().enumerate() {
            let Some(property) = &column.property else { continue };
            let name = &column.column;
            let text =
                std::str::from_utf8(self.records.cell(i)).map_err(|_| format!("column \"{name}\": not UTF-8 text"))?;
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
        let before = self.records.reader.position().line();
        let found = self.records.next().map_err(|e| match e {
            RecordError::TooLong => ImportError::RowTooLong { line: self.base.1 + before as i64 },
            RecordError::Io(e) => ImportError::Io(e),
        })?;
        if !found {
            return Ok(None);
        }
        let after = self.records.reader.position();
        // The row ended with a `\n` (see `Records`): its first line is as many lines up
        // from the reader's as the row holds newlines.
        let inside = self.records.record.iter().flat_map(|c| c.iter()).filter(|b| **b == b'\n').count() as i64;
        let lines_after = self.base.1 + after.line() as i64 - 1;
        Ok(Some(Row {
            line: lines_after - inside,
            bytes_after: (self.base.0 + after.byte() as i64).min(self.file_bytes),
            lines_after,
            outcome: self.properties(),
        }))
    }
}

/// A cell's text as a value of the property `def`; `None` for an empty cell (the property
/// is left as it is). Numbers and booleans follow the built-in type rules, as a mapped
/// webhook field does (`coerce`); a date may be unix time or text, which the store keeps.
fn cell_value(def: &PropertyDef, text: &str) -> Result<Option<Json>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value = match def.kind {
        PropertyType::String | PropertyType::Enum => Json::String(text.to_string()),
        PropertyType::Number => match number_from_text(text) {
            Ok(n) => Value::Number(n).to_json(),
            Err(NumberTextError::NotNumeric) => return Err(format!("`{text}` is not a number")),
            Err(e) => return Err(format!("`{text}` {}", e.reason())),
        },
        PropertyType::Date | PropertyType::Datetime => {
            number_from_text(text).map_or_else(|_| Json::String(text.to_string()), |n| Value::Number(n).to_json())
        }
        PropertyType::Boolean => {
            Json::Bool(boolean_from_text(text).ok_or_else(|| format!("`{text}` {BOOLEAN_SPELLINGS}"))?)
        }
    };
    Ok(Some(value))
}

/// A reader that fails once it has read past its limit, saying so in `tripped`.
struct Capped<R> {
    inner: R,
    read: u64,
    limit: u64,
    tripped: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read >= self.limit {
            self.tripped = true;
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

    fn def(name: &str, kind: PropertyType) -> PropertyDef {
        PropertyDef { name: name.into(), label: name.into(), kind, options: vec![], unique: false }
    }

    fn defs() -> Vec<PropertyDef> {
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
    fn cells_are_read_as_the_property_type() {
        let (email, score, vip) =
            (def("email", PropertyType::String), def("score", PropertyType::Number), def("vip", PropertyType::Boolean));
        assert_eq!(cell_value(&email, "a@x.io"), Ok(Some(Json::from("a@x.io"))));
        assert_eq!(cell_value(&email, "  "), Ok(None));
        assert_eq!(cell_value(&score, " 42 "), Ok(Some(Json::from(42))));
        assert_eq!(cell_value(&score, "4.5"), Ok(Some(Json::from(4.5))));
        assert!(cell_value(&score, "lots").unwrap_err().contains("not a number"));
        assert!(cell_value(&score, "NaN").is_err());
        assert_eq!(cell_value(&vip, "Yes"), Ok(Some(Json::Bool(true))));
        assert_eq!(cell_value(&vip, "0"), Ok(Some(Json::Bool(false))));
        assert!(cell_value(&vip, "maybe").is_err());
        let day = def("born", PropertyType::Date);
        assert_eq!(cell_value(&day, "1990-05-01"), Ok(Some(Json::from("1990-05-01"))));
    }

    #[test]
    fn a_header_past_the_limit_is_refused_without_reading_the_file_whole() {
        let dir = std::env::temp_dir().join(format!("wasmhook-csv-long-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("h.csv");
        std::fs::write(&path, format!("email,\"{}", "y".repeat(3 * MAX_ROW_BYTES))).unwrap();
        assert!(matches!(read_header(&path), Err(HeaderError::TooLong)));
        std::fs::remove_dir_all(&dir).unwrap();
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
