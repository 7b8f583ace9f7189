//! `wasmhook-bench nodes`: ingest and drain rates of one node on SQLite, and one, two and
//! three nodes on one PostgreSQL database, measured in one run on this machine, with the
//! CPU each part used (and PostgreSQL's per drained event), to show where the limit is.
//!
//! Per setup: a fresh store; contacts imported; a webhook mapped but not yet matched, so
//! the events ingested are kept `not_ready` and the ingest phase measures ingest alone
//! (clients spread round robin over the nodes, as fast as they are answered), once per
//! client count, one count after the other. Then the webhook is matched, a workflow added
//! and every event of every count replayed: the drain phase measures the pipeline alone
//! (match, enroll, status), on every node at once.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use serde_json::json;

use super::neighbours::quantile;
use super::server::{Client, Server};

/// What to run.
pub struct Plan {
    /// The PostgreSQL server (`postgres://user@host:port`) to create databases on; without
    /// one only SQLite runs.
    pub postgres: Option<String>,
    /// Events per setup and client count.
    pub events: u32,
    /// Client threads sending them: the ingest is measured once per count.
    pub clients: Vec<u32>,
    /// Contacts the events are spread over.
    pub records: usize,
    /// PostgreSQL setups: 1 to this many nodes.
    pub most_nodes: usize,
}

/// One setup's results.
struct Row {
    name: String,
    /// On PostgreSQL: its rows get PostgreSQL's CPU per event and the ratio to SQLite.
    on_postgres: bool,
    /// One per client count, in the plan's order.
    ingests: Vec<Ingest>,
    /// Events replayed and drained: every count's.
    drained: u64,
    drain_per_s: f64,
    drain_cpu: Cpu,
    /// Contacts imported per second (one NDJSON import over HTTP, waited for).
    import_per_s: f64,
}

/// The ingest phase at one client count.
struct Ingest {
    clients: u32,
    /// Events answered 202 (every one, or the bench fails).
    acknowledged: u64,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu: Cpu,
}

/// Cores used during a phase: by the wasmhook nodes, by PostgreSQL, by everything.
#[derive(Default, Clone, Copy)]
struct Cpu {
    nodes: f64,
    postgres: f64,
    machine: f64,
}

/// Clock ticks of a process (user + system), with those of its children that ended and
/// were waited for, from /proc. With the children's, a count taken over a process tree
/// only grows: PostgreSQL's backends end with their connections, and their ticks then move
/// to the postmaster. (Without them, a backend of another client ending during a short
/// phase took its ticks out of the second count: a 0.2 s drain measured 0 PostgreSQL CPU.)
fn ticks_of(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime, cutime and cstime are fields 14 to 17 of the line, 12 to 15 after the name.
    (11..15).filter_map(|i| fields.get(i)?.parse::<u64>().ok()).sum()
}

/// Clock ticks of every `postgres` process now running, and of those that ended.
fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(ticks_of)
        .sum()
}

/// Busy clock ticks of the whole machine (all cores).
fn machine_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return 0 };
    let Some(line) = stat.lines().next() else { return 0 };
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    values.iter().sum::<u64>() - values.get(3).copied().unwrap_or(0) - values.get(4).copied().unwrap_or(0)
}

/// CPU counters at one moment.
struct Ticks {
    nodes: u64,
    postgres: u64,
    machine: u64,
    at: Instant,
}

impl Ticks {
    fn now(nodes: &[Server]) -> Ticks {
        Ticks {
            nodes: nodes.iter().map(|n| ticks_of(n.pid())).sum(),
            postgres: postgres_ticks(),
            machine: machine_ticks(),
            at: Instant::now(),
        }
    }

    /// Cores used since `self`.
    fn since(&self, nodes: &[Server]) -> Cpu {
        let now = Ticks::now(nodes);
        // The kernel counts in USER_HZ, 100 a second on Linux.
        let cores = |from: u64, to: u64| to.saturating_sub(from) as f64 / 100.0 / self.at.elapsed().as_secs_f64();
        Cpu {
            nodes: cores(self.nodes, now.nodes),
            postgres: cores(self.postgres, now.postgres),
            machine: cores(self.machine, now.machine),
        }
    }
}

/// A database of its own on the PostgreSQL server, dropped afterwards.
struct Database {
    server: String,
    name: String,
}

impl Database {
    fn create(server: &str) -> anyhow::Result<Database> {
        let name = format!(
            "wasmhook_bench_{}",
            crate::model::ids::new_id(crate::model::ids::IdKind::BenchDatabase, crate::model::ids::now_ms())
                .to_lowercase()
        );
        admin_sql(server, &format!("CREATE DATABASE {name}"))?;
        Ok(Database { server: server.to_string(), name })
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(e) = admin_sql(&self.server, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("could not drop the bench database {}: {e}", self.name);
        }
    }
}

/// Run one statement on the server's `postgres` database.
fn admin_sql(server: &str, sql: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connecting to {server}"))?;
        let driver = tokio::spawn(connection);
        client.batch_execute(sql).await.with_context(|| sql.to_string())?;
        drop(client);
        let _ = driver.await;
        anyhow::Ok(())
    })
}

/// Run the plan and render the table.
pub fn run(plan: &Plan) -> anyhow::Result<String> {
    let mut rows = Vec::new();
    let dir = tempfile::tempdir()?;
    rows.push(measure(plan, "1 node, SQLite", &[dir.path().join("sqlite")], None)?);
    if let Some(server) = &plan.postgres {
        let server = server.trim_end_matches('/');
        for nodes in 1..=plan.most_nodes {
            let database = Database::create(server)?;
            let dirs: Vec<_> = (0..nodes).map(|n| dir.path().join(format!("pg{nodes}-{n}"))).collect();
            let name = format!("{nodes} node{}, PostgreSQL", if nodes > 1 { "s" } else { "" });
            rows.push(measure(plan, &name, &dirs, Some(&database.url()))?);
        }
    }
    render(plan, &rows)
}

fn measure(plan: &Plan, name: &str, dirs: &[std::path::PathBuf], database: Option<&str>) -> anyhow::Result<Row> {
    let mut nodes = Vec::new();
    for dir in dirs {
        let mut options = vec!["--max-backlog", "100000000"];
        if let Some(url) = database {
            options.extend(["--database", url]);
        }
        nodes.push(Server::start_with(dir, &options)?);
    }
    let first = &nodes[0];
    let started = Instant::now();
    first.contacts(plan.records)?;
    let import_per_s = plan.records as f64 / started.elapsed().as_secs_f64();
    // Mapped, not matched: what arrives now is kept `not_ready`, for the replay below.
    let webhook = first.admin("POST", "/webhooks", &json!({"name": "bench"}))?;
    let id = webhook["id"].as_str().ok_or_else(|| anyhow!("no webhook id"))?.to_string();
    let url = webhook["url"].as_str().ok_or_else(|| anyhow!("no webhook url"))?;
    let hook = url.find("/hooks/").map(|at| url[at..].to_string()).ok_or_else(|| anyhow!("odd url {url}"))?;
    // The bench measures the store, not the webhook's limit (bench/ingest.sh lifts it too):
    // the default (10,000/s, bursts of 20,000) refused the 64-client round with 429 on a
    // machine where SQLite ingests 25.8k events/s at 16 clients and 37.8k at 64.
    first.admin(
        "PUT",
        &format!("/webhooks/{id}/rate-limit"),
        &json!({"per_second": 1_000_000, "burst": 10_000_000}),
    )?;
    let (status, _) = first.call("POST", &hook, "application/json", br#"{"customer":"cus_0"}"#)?;
    ensure!(status == 202, "test event: {status}");
    first.admin(
        "PUT",
        &format!("/webhooks/{id}/mapping"),
        &json!({"properties": [{"path": "customer", "type": "string"}]}),
    )?;

    let mut ingests = Vec::new();
    for &clients in &plan.clients {
        ingests.push(ingest(plan, clients, &nodes, &hook)?);
    }
    let acknowledged: u64 = ingests.iter().map(|i| i.acknowledged).sum();

    // Drain: matched, a workflow, every event queued again at once.
    let rule = json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"});
    first.admin("PUT", &format!("/webhooks/{id}/match"), &rule)?;
    first.admin(
        "POST",
        "/workflows",
        &json!({"name": "bench", "object": "contacts", "triggers": [id], "actions": []}),
    )?;
    let before = Ticks::now(&nodes);
    let started = Instant::now();
    let replayed = first.admin("POST", "/events/replay", &json!({"webhook": id, "status": "not_ready"}))?;
    let queued = replayed["replayed"].as_u64().ok_or_else(|| anyhow!("the replay said no count: {replayed}"))?;
    // The test event was captured, not queued: every acknowledged event is replayed.
    ensure!(queued == acknowledged, "{acknowledged} events acknowledged but {queued} replayed");
    first.drained(&id, Duration::from_secs(1_800))?;
    let drain_s = started.elapsed().as_secs_f64();
    let drain_cpu = before.since(&nodes);
    Ok(Row {
        name: name.to_string(),
        on_postgres: database.is_some(),
        ingests,
        drained: queued,
        drain_per_s: queued as f64 / drain_s,
        drain_cpu,
        import_per_s,
    })
}

/// `plan.events` from `clients` clients, every one as fast as it is answered, spread over
/// the nodes round robin.
fn ingest(plan: &Plan, clients: u32, nodes: &[Server], hook: &str) -> anyhow::Result<Ingest> {
    let per_client = plan.events / clients;
    let before = Ticks::now(nodes);
    let started = Instant::now();
    let sent = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let node = &nodes[c as usize % nodes.len()];
                let records = plan.records as u32;
                scope.spawn(move || -> anyhow::Result<Vec<f64>> {
                    let mut client = Client::connect(&node.addr)?;
                    let mut latencies = Vec::with_capacity(per_client as usize);
                    for n in 0..per_client {
                        // Contacts in turn across the clients: the two events of a contact
                        // arrive a round of all contacts apart, as separate deliveries do.
                        let body = json!({"customer": format!("cus_{}", (n * clients + c) % records)}).to_string();
                        let sent_at = Instant::now();
                        let (status, answer) =
                            client.send("POST", hook, &[("Content-Type", "application/json")], body.as_bytes())?;
                        ensure!(status == 202, "ingest answered {status}: {}", String::from_utf8_lossy(&answer));
                        latencies.push(sent_at.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().map_err(|_| anyhow!("a client panicked"))?).collect::<Result<Vec<_>, _>>()
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = before.since(nodes);
    let latencies: Vec<f64> = sent.into_iter().flatten().collect();
    Ok(Ingest {
        clients,
        acknowledged: latencies.len() as u64,
        per_s: latencies.len() as f64 / seconds,
        p50_ms: quantile(&latencies, 0.5),
        p99_ms: quantile(&latencies, 0.99),
        cpu,
    })
}

fn render(plan: &Plan, rows: &[Row]) -> anyhow::Result<String> {
    let mut out = String::new();
    let counts: Vec<String> = plan.clients.iter().map(u32::to_string).collect();
    writeln!(
        out,
        "{} events per setup and client count ({} clients, one count after the other on the same store) over {} contacts (imported first: one NDJSON file over HTTP); {} cores here. CPU in cores used during the phase.",
        plan.events,
        counts.join(", "),
        plan.records,
        std::thread::available_parallelism().map_or(0, usize::from)
    )?;
    let cpu = |c: Cpu| format!("{:.2} / {:.2} / {:.2}", c.nodes, c.postgres, c.machine);
    let sqlite = rows.first();
    // This setup's figure over the SQLite node's, for the PostgreSQL rows.
    let versus = |row: &Row, figure: f64, of_sqlite: Option<f64>| match of_sqlite {
        Some(base) if row.on_postgres && base > 0.0 => format!(" ({:.2})", figure / base),
        _ => String::new(),
    };

    writeln!(out, "\nIngest (in brackets: of the SQLite node at the same client count):")?;
    writeln!(out, "| setup | clients | ingest events/s | ack p50 ms | ack p99 ms | CPU nodes / postgres / machine |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---|")?;
    for r in rows {
        for (n, i) in r.ingests.iter().enumerate() {
            let base = sqlite.and_then(|s| s.ingests.get(n)).map(|s| s.per_s);
            writeln!(
                out,
                "| {} | {} | {:.0}{} | {:.1} | {:.1} | {} |",
                r.name,
                i.clients,
                i.per_s,
                versus(r, i.per_s, base),
                i.p50_ms,
                i.p99_ms,
                cpu(i.cpu)
            )?;
        }
    }

    writeln!(out, "\nDrain: every event ingested above, replayed at once (in brackets: of the SQLite node):")?;
    writeln!(
        out,
        "| setup | events | drain events/s | CPU nodes / postgres / machine | PostgreSQL CPU per drained event, ms | record import rows/s |"
    )?;
    writeln!(out, "|---|---:|---:|---|---:|---:|")?;
    for r in rows {
        // Cores × seconds per event: the database's cost of one event, whatever the rate.
        let per_event = if r.on_postgres && r.drain_per_s > 0.0 {
            format!("{:.3}", r.drain_cpu.postgres / r.drain_per_s * 1e3)
        } else {
            "—".to_string()
        };
        writeln!(
            out,
            "| {} | {} | {:.0}{} | {} | {per_event} | {:.0} |",
            r.name,
            r.drained,
            r.drain_per_s,
            versus(r, r.drain_per_s, sqlite.map(|s| s.drain_per_s)),
            cpu(r.drain_cpu),
            r.import_per_s
        )?;
    }
    if let [_, pg1, rest @ ..] = rows {
        for (n, more) in rest.iter().enumerate() {
            let ingest: Vec<String> = more
                .ingests
                .iter()
                .zip(&pg1.ingests)
                .map(|(m, one)| format!("{:.2} ({} clients)", m.per_s / one.per_s, m.clients))
                .collect();
            writeln!(
                out,
                "PG {} nodes / 1 node: ingest = {}, drain = {:.2}",
                n + 2,
                ingest.join(", "),
                more.drain_per_s / pg1.drain_per_s
            )?;
        }
    }
    Ok(out)
}
