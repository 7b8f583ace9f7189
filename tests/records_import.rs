//! Bulk record import through the real binary: the upload is spooled and applied in
//! chunks, progress is visible while it runs, and a SIGKILL mid-import loses nothing and
//! applies no row twice once the server is back.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::start;

/// Rows in the large import: enough that the kill lands part-way. PostgreSQL applies an
/// import a statement (a network round trip) at a time, ~1,200 rows/s here against SQLite's
/// tens of thousands, so its pass imports fewer rows to stay within the test's bounds.
fn rows() -> usize {
    if support::on_postgres() { 40_000 } else { 300_000 }
}

fn import_status(server: &support::Server, id: &str) -> Value {
    let answer = server.admin("GET", &format!("/imports/{id}"), None);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body
}

#[test]
fn a_large_import_reports_progress_and_resumes_after_sigkill_without_applying_a_row_twice() {
    resumes_after_sigkill(Format::Ndjson);
}

#[test]
fn a_large_csv_import_resumes_after_sigkill_without_applying_a_row_twice() {
    resumes_after_sigkill(Format::Csv);
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Ndjson,
    Csv,
}

fn resumes_after_sigkill(format: Format) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    for def in
        [json!({"name": "external_id", "type": "string", "unique": true}), json!({"name": "score", "type": "number"})]
    {
        assert_eq!(server.admin("POST", "/objects/contacts/properties", Some(def)).status, 201);
    }
    let rows = rows();
    let mut ndjson = String::with_capacity(rows * 48);
    let bad_rows = [1_000usize, rows / 2, rows - 1];
    if format == Format::Csv {
        ndjson.push_str("external_id,Score\r\n");
    }
    for line in 1..=rows {
        match (format, bad_rows.contains(&line)) {
            (Format::Ndjson, true) => ndjson.push_str("{\"external_id\": \"x\", \"score\": \"high\"}\n"),
            (Format::Ndjson, false) => {
                ndjson.push_str(&format!("{{\"external_id\":\"cus_{line}\",\"score\":{}}}\n", line % 100));
            }
            (Format::Csv, true) => ndjson.push_str("x,high\r\n"),
            (Format::Csv, false) => ndjson.push_str(&format!("cus_{line},{}\r\n", line % 100)),
        }
    }
    // A CSV's rows start on the line after its header.
    let header_lines = usize::from(format == Format::Csv);
    let bad_lines = bad_rows.map(|row| row + header_lines);
    let started = match format {
        Format::Ndjson => server.import("contacts", ndjson.as_bytes(), false),
        Format::Csv => server.import_csv("contacts", ndjson.as_bytes(), ""),
    };
    assert_eq!(started.status, 202, "{:?}", started.body);
    assert_eq!(started.body["state"], "running");
    assert_eq!(started.body["bytes_total"], ndjson.len());
    let id = started.body["id"].as_str().unwrap().to_string();

    // Watch progress move, then kill the server part-way through.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_done = 0;
    let progress_at_kill = loop {
        let status = import_status(&server, &id);
        assert_eq!(status["state"], "running", "the import ended before it could be interrupted: {status}");
        let done = status["bytes_done"].as_u64().unwrap();
        assert!(done >= last_done, "progress went backwards");
        last_done = done;
        if done > 0 {
            assert!(status["progress"].as_f64().unwrap() < 1.0);
            assert!(status["lines_done"].as_u64().unwrap() > 0);
            break status;
        }
        assert!(Instant::now() < deadline, "no progress within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();

    let server = start(dir.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    let finished = loop {
        let status = import_status(&server, &id);
        if status["state"] != "running" {
            break status;
        }
        assert!(Instant::now() < deadline, "the resumed import did not finish: {status}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(finished["state"], "done", "{finished}");
    assert!(
        finished["lines_done"].as_u64().unwrap() >= progress_at_kill["lines_done"].as_u64().unwrap(),
        "resumed from where it was"
    );
    assert_eq!(finished["lines_done"], rows + header_lines);
    assert_eq!(finished["bytes_done"], ndjson.len());
    // Every good row created exactly once: a chunk applied twice would show as updates.
    assert_eq!(finished["created"], rows - bad_lines.len(), "{finished}");
    assert_eq!(finished["updated"], 0, "{finished}");
    assert_eq!(finished["failed"], bad_lines.len());
    let error_lines: Vec<u64> =
        finished["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(error_lines, bad_lines.map(|l| l as u64));
    let why = finished["errors"][0]["error"].as_str().unwrap();
    match format {
        Format::Ndjson => assert!(why.contains("score"), "{finished}"),
        Format::Csv => assert_eq!(why, "column \"Score\": `high` is not a number", "{finished}"),
    }
    for key in ["cus_1".to_string(), format!("cus_{}", rows / 2 - 1), format!("cus_{rows}")] {
        let found = server.admin("GET", &format!("/objects/contacts/records?external_id={key}"), None);
        assert_eq!(found.body["records"].as_array().unwrap().len(), 1, "{key}: {:?}", found.body);
    }
    let spooled = spooled_files(dir.path());
    assert_eq!(spooled, 0, "the uploaded file is removed once applied");
}

/// Uploads left in the data dir's spool, once none is about to go: a file goes just after
/// its import is recorded done (so a crash between the two resumes a finished import
/// instead of losing its file), so the count is given a moment to reach 0.
fn spooled_files(data: &std::path::Path) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spooled = std::fs::read_dir(data.join("imports")).unwrap().count();
        if spooled == 0 || Instant::now() > deadline {
            return spooled;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn imports_refuse_unknown_objects_and_overlong_lines_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let missing = server.import("unicorns", b"{}\n", true);
    assert_eq!(missing.status, 404, "{:?}", missing.body);
    server.admin("POST", "/objects/contacts/properties", Some(json!({"name": "email", "type": "string"})));
    let long = format!("{{\"email\": \"{}\"}}\n", "a".repeat(2 * 1024 * 1024));
    let body = format!("{{\"email\": \"ada@example.com\"}}\n{long}{{\"email\": \"grace@example.com\"}}");
    let done = server.import("contacts", body.as_bytes(), true);
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["created"], 2);
    assert_eq!(done.body["failed"], 1);
    assert_eq!(done.body["errors"][0]["line"], 2);
    assert!(done.body["errors"][0]["error"].as_str().unwrap().contains("longer than"));
    let listed = server.admin("GET", "/imports", None);
    assert_eq!(listed.body["imports"][0]["id"], done.body["id"]);
    assert_eq!(server.admin("GET", "/imports/imp_nope", None).status, 404);
}

#[test]
fn a_csv_import_maps_columns_reads_cells_by_type_and_refuses_rows_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    for def in [
        json!({"name": "email", "type": "string", "unique": true}),
        json!({"name": "full_name", "label": "Full name", "type": "string"}),
        json!({"name": "score", "type": "number"}),
        json!({"name": "vip", "label": "VIP", "type": "boolean"}),
    ] {
        assert_eq!(server.admin("POST", "/objects/contacts/properties", Some(def)).status, 201);
    }
    // A spreadsheet's export: a byte order mark, CRLF, quotes, a newline inside a cell.
    let csv = "\u{feff}Email,Full name,Score,VIP,Notes\r\n\
               ada@example.com,\"Lovelace, Ada\",42,yes,first\r\n\
               grace@example.com,\"Grace\nHopper\",abc,no,\r\n\
               bob@example.com,\"Bob \"\"the builder\"\"\",7,0,x\r\n\
               \r\n\
               ada@example.com,,43,,\r\n\
               eve@example.com,Eve\r\n";
    let done = server.import_csv("contacts", csv.as_bytes(), "wait=true");
    assert_eq!(done.status, 200, "{:?}", done.body);
    let report = &done.body;
    assert_eq!((report["state"].as_str(), report["format"].as_str()), (Some("done"), Some("csv")), "{report}");
    assert_eq!(report["unmapped"], json!(["Notes"]), "{report}");
    assert_eq!(report["columns"][1], json!({"column": "Full name", "property": "full_name"}));
    assert_eq!((report["created"].as_u64(), report["updated"].as_u64()), (Some(2), Some(1)), "{report}");
    assert_eq!(report["failed"], 2, "{report}");
    assert_eq!(report["errors"][0], json!({"line": 3, "error": "column \"Score\": `abc` is not a number"}));
    assert_eq!(report["errors"][1]["line"], 8, "the newline inside a cell and the blank line count: {report}");
    assert!(report["errors"][1]["error"].as_str().unwrap().contains("2 fields"), "{report}");
    assert_eq!(report["bytes_done"], csv.len(), "{report}");

    let one = |email: &str| {
        let found = server.admin("GET", &format!("/objects/contacts/records?email={email}"), None);
        found.body["records"][0]["properties"].clone()
    };
    let ada = one("ada@example.com");
    assert_eq!(ada, json!({"email": "ada@example.com", "full_name": "Lovelace, Ada", "score": 43, "vip": true}));
    let bob = one("bob@example.com");
    assert_eq!((bob["full_name"].as_str(), bob["vip"].as_bool()), (Some("Bob \"the builder\""), Some(false)));
    assert!(
        server.admin("GET", "/objects/contacts/records?email=grace@example.com", None).body["records"][0].is_null()
    );

    // An explicit mapping: a column of another name, one left out.
    let mapped = server.import_csv(
        "contacts",
        b"Mail,Nom,Score\ncyd@example.com,Cyd,5\n",
        "wait=true&map.Mail=email&map.Nom=full_name&map.Score=",
    );
    assert_eq!(mapped.status, 200, "{:?}", mapped.body);
    assert_eq!((mapped.body["created"].as_u64(), mapped.body["unmapped"].clone()), (Some(1), json!(["Score"])));
    assert_eq!(one("cyd@example.com"), json!({"email": "cyd@example.com", "full_name": "Cyd"}));

    // Refusals name the field and keep nothing.
    let refusals: [(&[u8], &str, &str); 5] = [
        (b"email\nx@example.com\n", "wait=true&map.Mail=email", "map.Mail"),
        (b"email,Nom\nx@example.com,X\n", "map.Nom=shoe_size", "map.Nom"),
        (b"a,b\n1,2\n", "", "body"),
        (b"\n", "", "body"),
        (b"email\n", "format=xml", "format"),
    ];
    for (body, query, field) in refusals {
        let refused = server.import_csv("contacts", body, query);
        assert_eq!(refused.status, 400, "{query}: {:?}", refused.body);
        assert_eq!(refused.body["error"]["field"], field, "{query}: {:?}", refused.body);
    }
    let ndjson_mapped = server.admin("POST", "/objects/contacts/records/import?map.a=email", None);
    assert_eq!(ndjson_mapped.status, 400, "{:?}", ndjson_mapped.body);
    let spooled = spooled_files(dir.path());
    assert_eq!(spooled, 0, "refused uploads are not kept, applied ones are removed");
}
