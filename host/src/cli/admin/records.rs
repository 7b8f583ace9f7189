//! `records list|show|import`: browse an object's records (filters, sort, pages) and
//! import them — `import OBJECT FILE.ndjson` streams the file up, follows the import on the
//! server with a progress bar, then prints a summary (exit non-zero if any line failed).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use ureq::http::Method;

use super::client::{Body, CallError, Client, encode, query};
use super::output::{Format, cell, details, items, print, table, text};

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

/// What `records list` asks for.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The object (e.g. `contacts`).
    pub object: String,
    /// Only records whose property equals the value: `--where plan=pro` (repeatable).
    #[arg(long = "where", value_name = "PROPERTY=VALUE")]
    pub equals: Vec<String>,
    /// Only records whose text property starts with the text, ignoring case (repeatable).
    #[arg(long, value_name = "PROPERTY=TEXT")]
    pub prefix: Vec<String>,
    /// Only records whose id or some text property starts with this, ignoring case.
    #[arg(long)]
    pub search: Option<String>,
    /// created, -created (default: newest first), updated or -updated.
    #[arg(long, allow_hyphen_values = true)]
    pub sort: Option<String>,
    /// How many (1 to 200).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Continue where a previous page ended (the `more: --cursor …` it printed).
    #[arg(long)]
    pub cursor: Option<String>,
}

/// Most property columns `records list` prints (the JSON output has them all).
const PROPERTY_COLUMNS: usize = 6;

/// `records list`: one page of records as a table, and how to ask for the next.
pub fn list(client: &Client, format: Format, args: &ListArgs) -> Result<(), CallError> {
    let mut pairs: Vec<(String, Option<String>)> = vec![
        ("q".into(), args.search.clone()),
        ("sort".into(), args.sort.clone()),
        ("limit".into(), Some(args.limit.to_string())),
        ("cursor".into(), args.cursor.clone()),
    ];
    for (given, suffix) in args.equals.iter().map(|g| (g, "")).chain(args.prefix.iter().map(|g| (g, ".prefix"))) {
        let Some((property, value)) = given.split_once('=') else {
            return Err(CallError::Input(format!("`{given}`: give PROPERTY=VALUE")));
        };
        pairs.push((format!("{}{suffix}", property.trim()), Some(value.to_string())));
    }
    let answer = client.get(&format!("/objects/{}/records{}", encode(&args.object), query(&pairs)))?;
    print(format, &answer, records_table);
    Ok(())
}

/// Records as rows: id, update time, then the properties the page's records hold, in the
/// order they first appear.
fn records_table(answer: &Value) -> String {
    let records = items(answer, "records");
    let mut names: Vec<String> = Vec::new();
    for record in records {
        for name in record["properties"].as_object().into_iter().flat_map(|p| p.keys()) {
            if !names.contains(name) && names.len() < PROPERTY_COLUMNS {
                names.push(name.clone());
            }
        }
    }
    let mut header = vec!["ID".to_string(), "UPDATED".to_string()];
    header.extend(names.iter().map(|n| n.to_uppercase()));
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let mut row = vec![cell(r, "id"), cell(r, "updated_at")];
            row.extend(names.iter().map(|n| text(r["properties"].get(n).unwrap_or(&Value::Null))));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = if records.is_empty() { "no records\n".to_string() } else { table(&header, &rows) };
    if let Some(next) = answer["next_cursor"].as_str() {
        out.push_str(&format!("more: --cursor {next}\n"));
    }
    out
}

/// `records show OBJECT ID`: a record's fields, then each property on its own line.
pub fn show(client: &Client, format: Format, object: &str, id: &str) -> Result<(), CallError> {
    let answer = client.get(&format!("/objects/{}/records/{}", encode(object), encode(id)))?;
    print(format, &answer, |record| {
        let mut head = record.clone();
        let properties = head.as_object_mut().and_then(|o| o.remove("properties")).unwrap_or(Value::Null);
        let mut out = details(&head);
        out.push_str("properties\n");
        for line in details(&properties).lines() {
            out.push_str(&format!("  {line}\n"));
        }
        out
    });
    Ok(())
}

/// How a file is uploaded: its format and a CSV's column mapping.
pub struct ImportOptions {
    csv: bool,
    map: Vec<(String, String)>,
}

impl ImportOptions {
    /// From the command line: `format` if given, else CSV for a `.csv` file; `map` as
    /// `COLUMN=PROPERTY`.
    pub fn new(file: &Path, format: Option<&str>, map: &[String]) -> anyhow::Result<ImportOptions> {
        let csv = match format {
            Some(format) => format == "csv",
            None => file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")),
        };
        let map = map
            .iter()
            .map(|pair| {
                pair.split_once('=').map(|(c, p)| (c.to_string(), p.to_string())).ok_or_else(|| {
                    anyhow::anyhow!("--map {pair}: write COLUMN=PROPERTY (COLUMN= leaves the column out)")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if !csv && !map.is_empty() {
            anyhow::bail!("--map applies to CSV files (name the file *.csv or pass --format csv)");
        }
        Ok(ImportOptions { csv, map })
    }

    /// The request's query string.
    fn query(&self) -> String {
        let pairs: Vec<(String, Option<String>)> =
            self.map.iter().map(|(column, property)| (format!("map.{column}"), Some(property.clone()))).collect();
        query(&pairs)
    }
}

/// Upload `file` as an import into `object` and follow it to its end with a progress bar;
/// prints its report.
pub fn import(
    client: &Client,
    format: Format,
    object: &str,
    file: &Path,
    options: &ImportOptions,
) -> Result<Outcome, CallError> {
    let read_error = |source| CallError::Read { path: file.to_path_buf(), source };
    let opened = std::fs::File::open(file).map_err(read_error)?;
    let size = opened.metadata().map_err(read_error)?.len();
    // indicatif draws only when stderr is a terminal; scripts and logs get the summary alone.
    let style = |template: &str| {
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
    };
    let bar = ProgressBar::new(size).with_style(style("uploading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"));
    let mut body = Counted { inner: std::io::BufReader::with_capacity(256 * 1024, opened), bar: bar.clone() };
    let path = format!("/objects/{}/records/import{}", encode(object), options.query());
    let content_type = if options.csv { "text/csv" } else { "application/x-ndjson" };
    let mut answer = client.call(Method::POST, &path, Body::Stream(&mut body, content_type))?;
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
    let unmapped: Vec<String> =
        items(import, "unmapped").iter().filter_map(|c| c.as_str()).map(str::to_string).collect();
    if !unmapped.is_empty() {
        out.push_str(&format!(
            "  columns left out (no property of their name; --map COLUMN=PROPERTY): {}\n",
            unmapped.join(", ")
        ));
    }
    if import["reason"].is_string() {
        out.push_str(&format!("  reason: {}\n", cell(import, "reason")));
    }
    for error in items(import, "errors") {
        out.push_str(&format!("  line {}: {}\n", cell(error, "line"), cell(error, "error")));
    }
    out
}
