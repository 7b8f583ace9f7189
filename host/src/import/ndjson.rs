//! NDJSON rows: one JSON object of properties per line.

use std::io::BufRead;

use serde_json::{Map, Value as Json};

use super::{MAX_ROW_BYTES, Row, RowSource};
use crate::model::property::PropertyDef;

/// Reads an NDJSON file's lines as rows.
pub struct NdjsonRows<'a, R> {
    reader: R,
    defs: &'a [PropertyDef],
    line: Vec<u8>,
    /// Bytes and lines read so far, from the file's start.
    at: (i64, i64),
}

impl<'a, R: BufRead> NdjsonRows<'a, R> {
    /// Rows of `reader`, which is `at` (bytes, lines) into the file, checked against `defs`.
    pub fn new(reader: R, at: (i64, i64), defs: &'a [PropertyDef]) -> Self {
        NdjsonRows { reader, defs, line: Vec::new(), at }
    }
}

impl<R: BufRead> RowSource for NdjsonRows<'_, R> {
    fn next_row(&mut self) -> Result<Option<Row>, super::ImportError> {
        let (consumed, cut) = read_line(&mut self.reader, &mut self.line)?;
        if consumed == 0 {
            return Ok(None);
        }
        let outcome = if cut {
            Err(format!("the line is longer than {MAX_ROW_BYTES} bytes"))
        } else if self.line.iter().all(u8::is_ascii_whitespace) {
            Ok(None)
        } else {
            parse_row(self.defs, &self.line).map(Some)
        };
        self.at = (self.at.0 + consumed as i64, self.at.1 + 1);
        Ok(Some(Row { line: self.at.1, bytes_after: self.at.0, lines_after: self.at.1, outcome }))
    }
}

/// One line's properties, checked against the object's definitions.
fn parse_row(defs: &[PropertyDef], line: &[u8]) -> Result<Map<String, Json>, String> {
    let incoming = serde_json::from_slice::<Map<String, Json>>(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let mut properties = Map::new();
    crate::model::property::check_values(defs, incoming, &mut properties).map_err(|e| e.message)?;
    Ok(properties)
}

/// Read one line (without its `\n`) into `line`, keeping at most [`MAX_ROW_BYTES`] of it.
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
        if cut || line.len() + content.len() > MAX_ROW_BYTES {
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
    use super::{MAX_ROW_BYTES, read_line};

    #[test]
    fn lines_are_split_and_overlong_ones_cut_without_buffering_them() {
        let long = "x".repeat(MAX_ROW_BYTES + 10);
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
        assert_eq!(seen, [(9, false, 8), (1, false, 0), (MAX_ROW_BYTES + 11, true, 0), (4, false, 4)]);
    }
}
