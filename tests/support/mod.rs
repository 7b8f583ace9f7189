//! Shared by the end-to-end tests: run the real `wasmhook serve` on loopback and talk
//! HTTP/1.1 to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::json;

/// A running server; killed and reaped on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub printed_token: Option<String>,
    pub token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `wasmhook serve` with its data under `data_dir` on a free loopback port.
pub fn start(data_dir: &Path) -> Server {
    start_logging(data_dir, None)
}

/// Like [`start`]; with `log`, the server logs at debug level, appending to that file.
pub fn start_logging(data_dir: &Path, log: Option<&Path>) -> Server {
    start_with(data_dir, log.map(|l| (l, "debug")), &[])
}

/// Like [`start`], with more `serve` options; with `log`, the server logs at that level
/// (`RUST_LOG`), appending to that file.
pub fn start_with(data_dir: &Path, log: Option<(&Path, &str)>, options: &[&str]) -> Server {
    start_env(data_dir, log, options, &[])
}

/// Like [`start_with`], with more environment variables for the server.
pub fn start_env(data_dir: &Path, log: Option<(&Path, &str)>, options: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmhook"));
    command.envs(env.iter().copied());
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(options)
        .env_remove("WASMHOOK_DATABASE_URL");
    // A test that picks its database (several nodes on one) keeps it.
    if !options.contains(&"--database")
        && let Some(url) = database_for(data_dir)
    {
        command.args(["--database", &url]);
    }
    command
        .env_remove("WASMHOOK_ADMIN_TOKEN")
        .env_remove("WASMHOOK_PUBLIC_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some((log, level)) = log {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        command.env("RUST_LOG", level).stderr(file);
    }
    let child = command.spawn().expect("server starts");
    // Owned by `Server` from here on, so the process is reaped even if start-up fails.
    let mut server = Server { child, addr: String::new(), printed_token: None, token: String::new() };
    let stdout = server.child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("admin token") {
            server.printed_token = rest.rsplit(": ").next().map(str::to_string);
        }
        if let Some(addr) = line.strip_prefix("listening on http://") {
            server.addr = addr.to_string();
            server.token = std::fs::read_to_string(data_dir.join("admin-token")).expect("token file");
            return server;
        }
    }
}

/// The PostgreSQL server for the tests (`postgres://user@host:port`, no database):
/// `.ci/test` starts one on loopback and sets this for both passes.
pub const PG_SERVER_ENV: &str = "WASMHOOK_TEST_PG_SERVER";

/// `postgres` on the test matrix's second pass: every server then runs on a database of
/// the PostgreSQL server instead of a SQLite file.
pub const BACKEND_ENV: &str = "WASMHOOK_TEST_BACKEND";

/// Whether this pass of the suite runs its servers on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(BACKEND_ENV).is_ok_and(|b| b == "postgres")
}

/// The PostgreSQL server's URL; a test that needs one fails saying how to get one.
pub fn pg_server() -> String {
    let url = std::env::var(PG_SERVER_ENV).unwrap_or_else(|_| {
        panic!("{PG_SERVER_ENV} is not set: run the suite with `bash .ci/test`, which starts PostgreSQL")
    });
    url.trim_end_matches('/').to_string()
}

/// A new, empty database on the PostgreSQL server; its URL.
pub fn new_database() -> String {
    let server = pg_server();
    let name = format!("wh_{:016x}", rand_u64());
    let created = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &format!("{server}/postgres"), "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .status()
        .expect("psql runs");
    assert!(created.success(), "CREATE DATABASE {name} on {server}");
    format!("{server}/{name}")
}

/// On the PostgreSQL pass, the database of the server whose data is in `data_dir`: made
/// with the directory and named in a file in it, so a restart finds the same data (as it
/// finds the same SQLite file on the other pass).
pub fn database_for(data_dir: &Path) -> Option<String> {
    if !on_postgres() {
        return None;
    }
    // Made private, as the server makes its own (serve_smoke checks every file's mode).
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
    dir.create(data_dir).expect("data dir");
    let named = data_dir.join("test-database");
    let url = match std::fs::read_to_string(&named) {
        Ok(url) => url,
        Err(_) => {
            let url = new_database();
            let mut file = std::fs::OpenOptions::new();
            file.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
            file.open(&named).and_then(|mut f| f.write_all(url.as_bytes())).expect("database name file");
            url
        }
    };
    Some(url)
}

/// Run one SQL statement on `database` with psql; its output, unaligned, trimmed.
pub fn psql(database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Everything the stopped server at `data_dir` has stored, as bytes: the SQLite file and
/// its WAL, or a dump of its PostgreSQL database (to look for what must not be there).
pub fn stored_bytes(data_dir: &Path) -> Vec<u8> {
    match database_for(data_dir) {
        Some(url) => {
            let out = Command::new("pg_dump").args(["--data-only", "-d", &url]).output().expect("pg_dump runs");
            assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
            out.stdout
        }
        None => {
            let mut bytes = std::fs::read(data_dir.join("wasmhook.db")).expect("the database file");
            bytes.extend(std::fs::read(data_dir.join("wasmhook.db-wal")).unwrap_or_default());
            bytes
        }
    }
}

/// A random number from the OS, without a dependency.
fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .expect("/dev/urandom");
    u64::from_le_bytes(bytes)
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: serde_json::Value,
    /// The body as text (for answers that are not JSON).
    pub text: String,
}

impl Answer {
    /// An answer read off the wire: its head (status line and headers) and its body.
    pub fn parse(head: &str, body: &str) -> Answer {
        Answer {
            status: head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0),
            headers: head.to_string(),
            body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
            text: body.to_string(),
        }
    }

    /// A response header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    }
}

/// Send one request; `content_type: None` sends none.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    if let Some(ct) = content_type {
        headers.push(("Content-Type", ct));
    }
    request_with(addr, method, path, &headers, body)
}

/// Send one request with exactly these headers (besides Host, Connection, Content-Length).
pub fn request_with(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    // A server that is gone (refused, reset) answers status 0, its error as the text.
    let gone = |e: std::io::Error| Answer {
        status: 0,
        headers: String::new(),
        body: serde_json::Value::Null,
        text: e.to_string(),
    };
    let mut stream = match TcpStream::connect(addr) {
        Ok(stream) => stream,
        Err(e) => return gone(e),
    };
    // A server that hangs fails the test (status 0) instead of stalling it.
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    if let Err(e) = stream.write_all(head.as_bytes()) {
        return gone(e);
    }
    // A server may answer (413) before reading a large body; a write error then is fine.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer::parse(head, body)
}

/// The sum of the samples of `name` in a Prometheus text page that carry all of `labels`.
pub fn metric_sum(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ').expect("a sample line");
            let (series, labelled) = key.split_once('{').map_or((key, ""), |(n, rest)| (n, rest.trim_end_matches('}')));
            let found: std::collections::BTreeMap<&str, &str> = labelled
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| pair.split_once('=').map(|(k, v)| (k, v.trim_matches('"'))).expect("label=value"))
                .collect();
            let wanted = series == name && labels.iter().all(|(k, v)| found.get(k) == Some(v));
            wanted.then(|| value.parse::<f64>().expect("a number"))
        })
        .sum()
}

impl Server {
    /// An admin API call with a JSON body.
    /// The Prometheus page at `/metrics` (asserting it answered as text).
    pub fn metrics(&self) -> String {
        let answer = request(&self.addr, "GET", "/metrics", Some(&self.token), None, b"");
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert!(answer.headers.to_ascii_lowercase().contains("content-type: text/plain"), "{}", answer.headers);
        answer.text
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        request(&self.addr, method, &format!("/api/v1{path}"), Some(&self.token), Some("application/json"), &bytes)
    }

    /// Upload NDJSON rows to `object`'s record import; `wait` answers with the final report.
    pub fn import(&self, object: &str, ndjson: &[u8], wait: bool) -> Answer {
        let path = format!("/api/v1/objects/{object}/records/import{}", if wait { "?wait=true" } else { "" });
        request(&self.addr, "POST", &path, Some(&self.token), Some("application/x-ndjson"), ndjson)
    }

    /// Start a CSV import into `object` with the query string `query` (`wait=true&map.A=b`).
    pub fn import_csv(&self, object: &str, csv: &[u8], query: &str) -> Answer {
        let path = format!("/api/v1/objects/{object}/records/import?{query}");
        request(&self.addr, "POST", &path, Some(&self.token), Some("text/csv"), csv)
    }

    /// How many events `webhook` has, of `status` if given (every page of the event list).
    pub fn count_events(&self, webhook: &str, status: Option<&str>) -> usize {
        let status = status.map(|s| format!("&status={s}")).unwrap_or_default();
        let mut count = 0;
        let mut cursor = String::new();
        loop {
            let page = self.admin("GET", &format!("/events?webhook={webhook}{status}&limit=500{cursor}"), None).body;
            count += page["events"].as_array().expect("an event page").len();
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return count,
            }
        }
    }

    /// Wait (up to `limit`) until no event of `webhook` is `accepted` any more.
    pub fn drained(&self, webhook: &str, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        let path = format!("/events?webhook={webhook}&status=accepted&limit=1");
        while !self.admin("GET", &path, None).body["events"].as_array().expect("an event page").is_empty() {
            assert!(std::time::Instant::now() < deadline, "accepted events were not processed within {limit:?}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The enrollment `event_id` made, with its step log, once it is no longer running.
    pub fn finished_enrollment(&self, event_id: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let event = self.admin("GET", &format!("/events/{event_id}"), None).body;
            if let Some(id) = event["enrollments"][0]["enrollment_id"].as_str() {
                let enrollment = self.admin("GET", &format!("/enrollments/{id}"), None).body;
                if enrollment["status"] != "running" {
                    return enrollment;
                }
            }
            assert!(std::time::Instant::now() < deadline, "event {event_id} has no finished enrollment: {event}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Upload the component at `path` as plugin `name`; the answer.
    pub fn upload_plugin(&self, name: &str, path: &str) -> Answer {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path} (built by host/build.rs): {e}"));
        let route = format!("/api/v1/plugins/{name}");
        request(&self.addr, "PUT", &route, Some(&self.token), Some("application/wasm"), &bytes)
    }

    /// Post a JSON payload to a webhook URL (`/hooks/...` path).
    pub fn post_hook(&self, hook_path: &str, payload: &serde_json::Value) -> Answer {
        request(&self.addr, "POST", hook_path, None, Some("application/json"), payload.to_string().as_bytes())
    }
}

/// The body of an answer that must be a success; otherwise the test fails naming `what`.
pub fn ok(answer: Answer, what: &str) -> serde_json::Value {
    assert!(answer.status < 300, "{what}: {} {:?}", answer.status, answer.body);
    answer.body
}

/// A ready webhook (test event, one mapped property, matched to the unique
/// `contacts.external_id` on payload field `customer`): its id and URL path.
pub fn ready_webhook(server: &Server, name: &str) -> (String, String) {
    let property = json!({"name": "external_id", "type": "string", "unique": true});
    let existing = server.admin("POST", "/objects/contacts/properties", Some(property));
    assert!(existing.status < 300 || existing.status == 409, "property: {:?}", existing.body);
    let webhook = ok(server.admin("POST", "/webhooks", Some(json!({ "name": name }))), "webhook");
    let id = webhook["id"].as_str().unwrap().to_string();
    let hook = hook_path(webhook["url"].as_str().unwrap());
    ok(server.post_hook(&hook, &json!({"customer": "cus_1"})), "test event");
    let mapping = json!({"properties": [{"path": "customer", "type": "string"}]});
    ok(server.admin("PUT", &format!("/webhooks/{id}/mapping"), Some(mapping)), "mapping");
    let rule = json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"});
    let matched = ok(server.admin("PUT", &format!("/webhooks/{id}/match"), Some(rule)), "match");
    assert_eq!(matched["state"], "ready");
    (id, hook)
}

/// Run `wasmhook args…` to its end and return what it printed; a run past `limit` is
/// killed and fails the test instead of hanging it.
pub fn run_bounded(args: &[&str], limit: std::time::Duration) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmhook"));
    command.args(args);
    run_command_bounded(command, limit)
}

/// Run `wasmhook-bench args…` (the benchmarks' binary, which starts this build's
/// `wasmhook`) like [`run_bounded`].
pub fn run_bench_bounded(args: &[&str], limit: std::time::Duration) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmhook-bench"));
    command.args(args).env("WASMHOOK_BIN", env!("CARGO_BIN_EXE_wasmhook"));
    run_command_bounded(command, limit)
}

/// Like [`run_bounded`], for a prepared `wasmhook` command (environment, directory).
pub fn run_command_bounded(mut command: Command, limit: std::time::Duration) -> std::process::Output {
    let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("wasmhook starts");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("wasmhook can be waited for").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wasmhook output");
            panic!("wasmhook {args:?} ran past {limit:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("wasmhook output")
}

/// The path part of a webhook URL.
pub fn hook_path(url: &str) -> String {
    let start = url.find("/hooks/").expect("webhook url has /hooks/");
    url[start..].to_string()
}
