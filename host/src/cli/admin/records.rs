//! `records import OBJECT FILE.ndjson`: stream the file up, follow the import on the
//! server with a progress bar, then print a summary (exit non-zero if any line failed).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use ureq::http::Method;

use super::client::{Body, CallError, Client, encode};
use super::output::{Format, cell, items, print};

/// How often the import's progress is read.
const POLL: Duration = Duration::from_millis(200);

/// What an import came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every line applied.
    Clean,
    /// Finished, but some lines were refused (or the import failed as a whole).
    WithFailures,
}

/// Counts bytes as the upload reads them, for the upload bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Import `file` into `object`'s records.
pub fn import(client: &Client, format: Format, object: &str, file: &Path) -> Result<Outcome, CallError> {
    let read_error = |source| CallError::Read { path: file.to_path_buf(), source };
    let opened = std::fs::File::open(file).map_err(read_error)?;
    let size = opened.metadata().map_err(read_error)?.len();
    // indicatif draws only when stderr is a terminal; scripts and logs get the summary alone.
    let style = |template: &str| {
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
    };
    let bar = ProgressBar::new(size).with_style(style("uploading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"));
    let mut body = Counted { inner: std::io::BufReader::with_capacity(256 * 1024, opened), bar: bar.clone() };
    let path = format!("/objects/{}/records/import", encode(object));
    let mut answer = client.call(Method::POST, &path, Body::Stream(&mut body, "application/x-ndjson"))?;
    bar.set_style(style("importing [{bar:30}] {bytes}/{total_bytes} {msg}"));
    bar.set_length(answer["bytes_total"].as_u64().unwrap_or(size));
    let id = cell(&answer, "id");
    while answer["state"] == "running" {
        bar.set_position(answer["bytes_done"].as_u64().unwrap_or(0));
        bar.set_message(format!("{} lines", cell(&answer, "lines_done")));
        std::thread::sleep(POLL);
        answer = client.get(&format!("/imports/{}", encode(&id)))?;
    }
    bar.finish_and_clear();
    print(format, &answer, summary);
    let failed = answer["failed"].as_u64().unwrap_or(0) > 0 || answer["state"] != "done";
    Ok(if failed { Outcome::WithFailures } else { Outcome::Clean })
}

fn summary(import: &Value) -> String {
    let mut out = format!(
        "import {} into {}: {}\n  created {}, updated {}, failed {} ({} lines, {} rows/s)\n",
        cell(import, "id"),
        cell(import, "object"),
        cell(import, "state"),
        cell(import, "created"),
        cell(import, "updated"),
        cell(import, "failed"),
        cell(import, "lines_done"),
        cell(import, "rows_per_second"),
    );
    if import["reason"].is_string() {
        out.push_str(&format!("  reason: {}\n", cell(import, "reason")));
    }
    for error in items(import, "errors") {
        out.push_str(&format!("  line {}: {}\n", cell(error, "line"), cell(error, "error")));
    }
    out
}
