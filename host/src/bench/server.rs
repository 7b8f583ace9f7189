//! What the end-to-end benches share: the real server as a child process on a fresh data
//! dir, a small keep-alive HTTP client, and a paced sender.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use serde_json::{Value as Json, json};

/// Admin token the benches give their servers.
const TOKEN: &str = "bench-admin-token-0123456789abcdef";

/// What a client sent and what came back.
#[derive(Default)]
pub struct Sent {
    /// Ids of the acknowledged events.
    pub acknowledged: Vec<String>,
    /// Requests answered 503 or 429.
    pub refused: usize,
    /// Acknowledgement latency of each, ms.
    pub latencies_ms: Vec<f64>,
}

impl Sent {
    /// Add another client's.
    pub fn merge(&mut self, other: Sent) {
        self.acknowledged.extend(other.acknowledged);
        self.refused += other.refused;
        self.latencies_ms.extend(other.latencies_ms);
    }
}

/// When a paced sender stops (besides being told to).
#[derive(Clone, Copy)]
pub enum Until {
    /// Only when told to.
    Stopped,
    /// After this many seconds of its schedule; it may run a second past them to send what
    /// it fell behind with (a checkpoint, a neighbour's burst: 125 ms once on a loaded
    /// machine), but beyond what the server can take the wall clock ends the run.
    Seconds(f64),
    /// Once every request of this many seconds of its schedule is sent, however long that
    /// takes: a fixed count, for a bench that compares runs by what each lost (a loaded CI
    /// machine once stalled a 2 s schedule's sender for 2.8 s).
    AllOf(f64),
}

/// How long past its schedule an [`Until::Seconds`] sender may run to catch up.
const CATCH_UP_S: f64 = 1.0;

/// Post `payload(n)` to `hook` at `rate` a second, `until` its end or `stop`. Latency
/// counts from each request's scheduled time, so a stalled server is not hidden by a
/// client that waits for it. `acked` counts acknowledgements as they come.
pub fn paced(
    addr: &str,
    hook: &str,
    rate: f64,
    until: Until,
    stop: &AtomicBool,
    acked: &AtomicU64,
    payload: impl Fn(u32) -> Json,
) -> anyhow::Result<Sent> {
    let mut client = Client::connect(addr)?;
    let mut sent = Sent::default();
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    for n in 0u32.. {
        let due = started + interval * n;
        let scheduled = (due - started).as_secs_f64();
        let over = match until {
            Until::Stopped => false,
            Until::Seconds(s) => scheduled >= s || started.elapsed().as_secs_f64() >= s + CATCH_UP_S,
            Until::AllOf(s) => scheduled >= s,
        };
        if stop.load(Ordering::Relaxed) || over {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let body = payload(n).to_string();
        let (status, body) = client.send("POST", hook, &[("Content-Type", "application/json")], body.as_bytes())?;
        match status {
            202 => {
                sent.latencies_ms.push(due.elapsed().as_secs_f64() * 1e3);
                let body: Json = serde_json::from_slice(&body)?;
                let id = body["event_id"].as_str().ok_or_else(|| anyhow!("a 202 without an event id: {body}"))?;
                sent.acknowledged.push(id.to_string());
                acked.fetch_add(1, Ordering::Relaxed);
            }
            503 | 429 => sent.refused += 1,
            other => bail!("ingest answered {other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    Ok(sent)
}

/// A `wasmhook serve` child on a data dir, stopped on drop.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: String,
}

impl Server {
    /// Start `wasmhook serve` on `dir` and wait until it listens.
    pub fn start(dir: &Path) -> anyhow::Result<Server> {
        Self::start_with(dir, &[])
    }

    /// [`start`](Self::start) with more `serve` options.
    pub fn start_with(dir: &Path, options: &[&str]) -> anyhow::Result<Server> {
        std::fs::create_dir_all(dir)?;
        // Warnings and errors go to a file in the data dir, to say why a start failed.
        let log_path = dir.join("serve.log");
        let log = std::fs::File::create(&log_path)?;
        let mut child = Command::new(server_binary()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(options)
            .env("WASMHOOK_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting wasmhook serve")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().ok_or_else(|| {
                let said = std::fs::read_to_string(&log_path).unwrap_or_default();
                anyhow!("serve exited before listening: {}", said.trim())
            })??;
            if let Some(url) = line.strip_prefix("listening on http://") {
                break url.trim().to_string();
            }
        };
        Ok(Server { child, addr })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One admin (or upload) call with `content_type`.
    pub fn call(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
        let auth = format!("Bearer {TOKEN}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", content_type)];
        let (status, body) = Client::connect(&self.addr)?.send(method, path, &headers, body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// An admin API call with a JSON body; an error unless it succeeded.
    pub fn admin(&self, method: &str, path: &str, body: &Json) -> anyhow::Result<Json> {
        let (status, text) =
            self.call(method, &format!("/api/v1{path}"), "application/json", body.to_string().as_bytes())?;
        ensure!(status < 300, "{method} {path}: {status} {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Json::Null))
    }

    /// `contacts` records `cus_0` … with a unique `external_id`, and a number `score`.
    pub fn contacts(&self, n: usize) -> anyhow::Result<()> {
        let property = |name: &str, kind: &str, unique: bool| json!({"name": name, "type": kind, "unique": unique});
        self.admin("POST", "/objects/contacts/properties", &property("external_id", "string", true))?;
        self.admin("POST", "/objects/contacts/properties", &property("score", "number", false))?;
        let rows: String = (0..n).map(|i| format!("{{\"external_id\":\"cus_{i}\"}}\n")).collect();
        let path = "/api/v1/objects/contacts/records/import?wait=true";
        let (status, text) = self.call("POST", path, "application/x-ndjson", rows.as_bytes())?;
        ensure!(status < 300, "importing contacts: {status} {text}");
        Ok(())
    }

    /// A webhook with `test_event` captured, `mapping` (a list of {path, type}), `chain` as
    /// its transforms and `customer` matched to a contact: its id and URL path.
    pub fn ready_webhook(
        &self,
        name: &str,
        test_event: &Json,
        mapping: &Json,
        chain: &Json,
    ) -> anyhow::Result<(String, String)> {
        let webhook = self.admin("POST", "/webhooks", &json!({ "name": name }))?;
        let id = webhook["id"].as_str().ok_or_else(|| anyhow!("no webhook id"))?.to_string();
        let url = webhook["url"].as_str().ok_or_else(|| anyhow!("no webhook url"))?;
        let hook = url.find("/hooks/").map(|at| url[at..].to_string()).ok_or_else(|| anyhow!("odd url {url}"))?;
        let (status, text) = self.call("POST", &hook, "application/json", test_event.to_string().as_bytes())?;
        ensure!(status == 202, "test event: {status} {text}");
        self.admin("PUT", &format!("/webhooks/{id}/mapping"), &json!({ "properties": mapping }))?;
        self.admin("PUT", &format!("/webhooks/{id}/transforms"), chain)?;
        let rule = json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"});
        self.admin("PUT", &format!("/webhooks/{id}/match"), &rule)?;
        Ok((id, hook))
    }

    /// A gauge or counter from `/metrics` (the first sample of that name).
    pub fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let (status, text) = self.call("GET", "/metrics", "text/plain", b"")?;
        ensure!(status == 200, "/metrics: {status}");
        text.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
            .ok_or_else(|| anyhow!("no {name} in /metrics"))
    }

    /// Wait until `webhook` has no event waiting.
    pub fn drained(&self, webhook: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let path = format!("/events?webhook={webhook}&status=accepted&limit=1");
        while self.admin("GET", &path, &Json::Null)?["events"].as_array().is_some_and(|e| !e.is_empty()) {
            ensure!(Instant::now() < deadline, "the events of {webhook} were not processed within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keep-alive HTTP/1.1 client, enough for the benches' requests.
pub struct Client {
    addr: String,
    stream: BufReader<TcpStream>,
}

impl Client {
    /// Connect to `addr`.
    pub fn connect(addr: &str) -> anyhow::Result<Client> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client { addr: addr.to_string(), stream: BufReader::new(stream) })
    }

    /// Send one request; reconnects once if the server had closed the connection.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.addr, body.len());
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut request = request.into_bytes();
        request.extend_from_slice(body);
        match self.exchange(&request) {
            Ok(answer) => Ok(answer),
            Err(_) => {
                *self = Client::connect(&self.addr)?;
                self.exchange(&request)
            }
        }
    }

    /// Write a whole request, read its answer: status and body.
    fn exchange(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        self.stream.get_mut().write_all(request)?;
        let mut line = String::new();
        ensure!(self.stream.read_line(&mut line)? > 0, "connection closed");
        let status: u16 =
            line.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            ensure!(self.stream.read_line(&mut line)? > 0, "connection closed in the headers");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok((status, body))
    }
}

/// The `wasmhook` server binary the benchmarks start: `WASMHOOK_BIN`, or the one beside
/// this binary (cargo builds both into the same directory).
pub fn server_binary() -> anyhow::Result<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("WASMHOOK_BIN") {
        return Ok(path.into());
    }
    let me = std::env::current_exe()?;
    let beside = me.with_file_name(format!("wasmhook{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(beside.exists(), "no wasmhook binary beside {} (build it, or set WASMHOOK_BIN)", me.display());
    Ok(beside)
}
