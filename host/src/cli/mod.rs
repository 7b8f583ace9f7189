//! Command-line verbs. Each verb lives in its own module; this one only dispatches.

pub(crate) mod admin;
mod backup;
mod plugin_run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use plugin_run::{PluginRunArgs, plugin_run};

/// wasmhook: webhooks in, workflow enrollments out, with sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "wasmhook", version, about)]
pub struct Cli {
    /// The verb to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (ingest, admin API, workers) on the embedded SQLite default, or on a
    /// PostgreSQL database shared with other nodes.
    Serve {
        /// Directory for the SQLite file, the admin token, the secrets key and import spools.
        #[arg(long, default_value = "./wasmhook-data", env = "WASMHOOK_DATA_DIR")]
        data_dir: PathBuf,
        /// A PostgreSQL database (`postgres://user:password@host:port/db`) instead of the
        /// SQLite file: several nodes can serve from one database.
        #[arg(long, env = "WASMHOOK_DATABASE_URL", value_parser = postgres_url, hide_env_values = true)]
        database: Option<String>,
        /// With --database: a PEM file of the CAs that sign the database server's
        /// certificate (else the Mozilla roots); TLS is used as the URL's `sslmode` says
        /// (`prefer` by default), and the certificate and host name are always verified.
        #[arg(long, env = "WASMHOOK_DATABASE_CA")]
        database_ca: Option<PathBuf>,
        /// With --database: seconds a node's claim on events and enrollments holds; work
        /// claimed by a node that died is taken over by the others after it.
        #[arg(long, default_value_t = crate::store::postgres::DEFAULT_LEASE.as_secs(), env = "WASMHOOK_LEASE", value_parser = clap::value_parser!(u64).range(1..=3600))]
        lease: u64,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "WASMHOOK_LISTEN")]
        listen: String,
        /// Threads that run plugins (coerce and transform, and the act stage's steps, whose
        /// waits on other systems hold none); default: one per core.
        #[arg(long, env = "WASMHOOK_WORKERS", value_parser = clap::value_parser!(u16).range(1..=256))]
        workers: Option<u16>,
        /// Events waiting to be processed beyond which ingest answers 503 with Retry-After.
        #[arg(long, default_value_t = crate::ingest::backlog::DEFAULT_BOUND, env = "WASMHOOK_MAX_BACKLOG",
              value_parser = clap::value_parser!(u64).range(1..))]
        max_backlog: u64,
        /// Seconds allowed for a request's headers (and an idle keep-alive connection), and
        /// for an ingest request's body; slower clients get 408 or a closed connection.
        #[arg(long, default_value_t = 10, env = "WASMHOOK_REQUEST_TIMEOUT",
              value_parser = clap::value_parser!(u64).range(1..=300))]
        request_timeout: u64,
        /// A private address range action plugins may reach (repeatable, e.g. 10.0.0.0/8);
        /// without it they reach public addresses only, never loopback, private, link-local
        /// (cloud metadata) or CGNAT addresses.
        #[arg(long = "outbound-allow", value_name = "CIDR", env = "WASMHOOK_OUTBOUND_ALLOW", value_delimiter = ',',
              value_parser = outbound_range)]
        outbound_allow: Vec<crate::plugins::outbound::Cidr>,
        /// A PEM file of the CAs action plugins' HTTPS destinations are verified against
        /// (else the Mozilla roots).
        #[arg(long, env = "WASMHOOK_OUTBOUND_CA")]
        outbound_ca: Option<PathBuf>,
        /// Requests in a row to one destination (an `allowed_hosts` entry) that must fail
        /// (429, 5xx, no answer) before it is paused.
        #[arg(long, default_value_t = 5, env = "WASMHOOK_OUTBOUND_BREAKER_FAILURES",
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        outbound_breaker_failures: u32,
        /// Seconds a failing destination stays paused; steps that can reach only paused
        /// destinations wait for it, then one step probes.
        #[arg(long, default_value_t = 60, env = "WASMHOOK_OUTBOUND_BREAKER_PAUSE",
              value_parser = clap::value_parser!(u64).range(1..=86_400))]
        outbound_breaker_pause: u64,
        /// Days events are kept after they arrive, and enrollments after they end (fractions
        /// allowed); a webhook may have its own (`webhook retention`). Events still waiting
        /// and running enrollments are never deleted.
        #[arg(long, default_value_t = crate::model::retention::Retention::DEFAULT_DAYS, env = "WASMHOOK_RETENTION_DAYS",
              value_parser = retention_days)]
        retention_days: f64,
        /// Log lines as text, or as one JSON object per line (level from RUST_LOG, default info).
        #[arg(long, value_enum, default_value_t = crate::telemetry::logs::LogFormat::Text, env = "WASMHOOK_LOG_FORMAT")]
        log_format: crate::telemetry::logs::LogFormat,
    },
    /// Plugins: run one locally, or add, list and remove them on a server.
    Plugin {
        /// The server, for the verbs that call one.
        #[command(flatten)]
        connection: admin::Connection,
        /// The plugin verb.
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Webhook events on a server: create, map, transform, match, sign.
    Webhook {
        /// The server.
        #[command(flatten)]
        connection: admin::Connection,
        /// The webhook verb.
        #[command(subcommand)]
        command: admin::webhooks::WebhookCommand,
    },
    /// Workflows on a server.
    Workflow {
        /// The server.
        #[command(flatten)]
        connection: admin::Connection,
        /// The workflow verb.
        #[command(subcommand)]
        command: admin::workflows::WorkflowCommand,
    },
    /// Records on a server.
    Records {
        /// The server.
        #[command(flatten)]
        connection: admin::Connection,
        /// The records verb.
        #[command(subcommand)]
        command: RecordsCommand,
    },
    /// Copy the embedded database of a data dir into a new file, consistently, while a
    /// server may be serving from it; says what else a restore needs.
    Backup {
        /// The data dir `serve` uses.
        #[arg(long, default_value = "./wasmhook-data", env = "WASMHOOK_DATA_DIR")]
        data_dir: PathBuf,
        /// The new file (never overwritten).
        #[arg(long)]
        to: PathBuf,
    },
    /// The event log on a server: list, show, replay, follow.
    Events {
        /// The server.
        #[command(flatten)]
        connection: admin::Connection,
        /// The events verb.
        #[command(subcommand)]
        command: admin::events::EventCommand,
    },
    /// Alerts: where the server tells you of trouble (failed or unmatched events, failed
    /// enrollments, breakers, the backlog), signed, at most once per window.
    Alerts {
        /// The server.
        #[command(flatten)]
        connection: admin::Connection,
        /// The alerts verb.
        #[command(subcommand)]
        command: admin::alerts::AlertCommand,
    },
    /// The nodes serving from the server's database (one on the embedded store): heartbeat,
    /// version, claims held, work done.
    Nodes {
        /// The server.
        #[command(flatten)]
        connection: admin::Connection,
        /// Also the nodes that stopped or went silent in the last day.
        #[arg(long)]
        all: bool,
    },
}

/// Plugin verbs.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Run one transform locally: properties as a JSON object on stdin, result on stdout.
    Run(PluginRunArgs),
    /// Upload a component (or replace the one of that name); the server checks its world.
    Add {
        /// The plugin's name: lowercase letters, digits, `-` and `_`.
        name: String,
        /// The `.wasm` component.
        file: PathBuf,
        /// Admit a component up to this many MiB (default 8; a JavaScript component needs ~12).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
        max_size_mib: Option<u32>,
    },
    /// Built-in and uploaded plugins.
    List,
    /// Delete an uploaded plugin (refused while a webhook or workflow uses it).
    Rm {
        /// The plugin's name.
        name: String,
    },
}

/// Records verbs.
#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// An object's records, newest first: filter by property (`--where`, `--prefix`),
    /// search, sort, page on with `--cursor`.
    List(admin::records::ListArgs),
    /// One record with its properties.
    Show {
        /// The object (e.g. `contacts`).
        object: String,
        /// The record id (`rec_…`).
        id: String,
    },
    /// Create or update an object's records from an NDJSON file (one JSON object of
    /// properties per line) or a CSV file (a header row naming the columns), with progress
    /// and a summary; exits 1 if any row failed.
    Import {
        /// The object (e.g. `contacts`).
        object: String,
        /// The NDJSON or CSV file.
        file: PathBuf,
        /// `ndjson` or `csv`; by default CSV for a file named `*.csv`, else NDJSON.
        #[arg(long, value_parser = ["ndjson", "csv"])]
        format: Option<String>,
        /// CSV: fill PROPERTY from the column headed COLUMN (`COLUMN=` leaves it out);
        /// other columns fill the property of their name or label. Repeatable.
        #[arg(long = "map", value_name = "COLUMN=PROPERTY")]
        map: Vec<String>,
    },
}

/// Run an admin verb: its error (the server's reason, or why it could not be asked) is
/// printed and the exit code is 1.
fn admin_verb(
    connection: &admin::Connection,
    verb: impl FnOnce(&admin::client::Client, admin::output::Format) -> Result<ExitCode, admin::client::CallError>,
) -> ExitCode {
    match connection.client().and_then(|client| verb(&client, connection.output)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Run a parsed command line; the exit code reflects success.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            data_dir,
            database,
            database_ca,
            lease,
            listen,
            workers,
            max_backlog,
            request_timeout,
            outbound_allow,
            outbound_ca,
            outbound_breaker_failures,
            outbound_breaker_pause,
            retention_days,
            log_format,
        } => {
            let workers = workers.map_or_else(crate::pipeline::worker::default_threads, usize::from);
            let request_timeout = std::time::Duration::from_secs(request_timeout);
            let options = serve::ServeOptions {
                node: crate::node::NodeOptions {
                    listen,
                    database: database.map(|url| crate::store::postgres::Settings {
                        url,
                        lease: std::time::Duration::from_secs(lease),
                        ca: database_ca,
                    }),
                    workers,
                    max_backlog,
                    request_timeout,
                    outbound: crate::plugins::outbound::OutboundSettings {
                        allow: outbound_allow,
                        ca: outbound_ca,
                        breaker: crate::plugins::outbound::BreakerSettings {
                            failures: outbound_breaker_failures,
                            pause: std::time::Duration::from_secs(outbound_breaker_pause),
                        },
                    },
                    retention_days,
                },
                log_format,
            };
            serve::serve(&data_dir, &options).map(|()| ExitCode::SUCCESS)
        }
        Command::Backup { data_dir, to } => backup::backup(&data_dir, &to),
        Command::Plugin { connection, command: PluginCommand::Add { name, file, max_size_mib } } => {
            Ok(admin_verb(&connection, |c, f| {
                admin::plugins::add(c, f, &name, &file, max_size_mib).map(|()| ExitCode::SUCCESS)
            }))
        }
        Command::Plugin { connection, command: PluginCommand::List } => {
            Ok(admin_verb(&connection, |c, f| admin::plugins::list(c, f).map(|()| ExitCode::SUCCESS)))
        }
        Command::Plugin { connection, command: PluginCommand::Rm { name } } => {
            Ok(admin_verb(&connection, |c, f| admin::plugins::remove(c, f, &name).map(|()| ExitCode::SUCCESS)))
        }
        Command::Webhook { connection, command } => {
            Ok(admin_verb(&connection, |c, f| admin::webhooks::run(c, f, command).map(|()| ExitCode::SUCCESS)))
        }
        Command::Workflow { connection, command } => {
            Ok(admin_verb(&connection, |c, f| admin::workflows::run(c, f, command).map(|()| ExitCode::SUCCESS)))
        }
        Command::Alerts { connection, command } => {
            Ok(admin_verb(&connection, |c, f| admin::alerts::run(c, f, command).map(|()| ExitCode::SUCCESS)))
        }
        Command::Nodes { connection, all } => {
            Ok(admin_verb(&connection, |c, f| admin::nodes::list(c, f, all).map(|()| ExitCode::SUCCESS)))
        }
        Command::Events { connection, command } => {
            Ok(admin_verb(&connection, |c, f| admin::events::run(c, f, command).map(|()| ExitCode::SUCCESS)))
        }
        Command::Records { connection, command: RecordsCommand::List(args) } => {
            Ok(admin_verb(&connection, |c, f| admin::records::list(c, f, &args).map(|()| ExitCode::SUCCESS)))
        }
        Command::Records { connection, command: RecordsCommand::Show { object, id } } => {
            Ok(admin_verb(&connection, |c, f| admin::records::show(c, f, &object, &id).map(|()| ExitCode::SUCCESS)))
        }
        Command::Records { connection, command: RecordsCommand::Import { object, file, format, map } } => {
            let options = admin::records::ImportOptions::new(&file, format.as_deref(), &map)?;
            Ok(admin_verb(&connection, |c, f| {
                Ok(match admin::records::import(c, f, &object, &file, &options)? {
                    admin::records::Outcome::Clean => ExitCode::SUCCESS,
                    admin::records::Outcome::WithFailures => ExitCode::FAILURE,
                })
            }))
        }
        Command::Plugin { command: PluginCommand::Run(args), .. } => {
            let stdin = std::io::read_to_string(std::io::stdin())?;
            match plugin_run(&args, &stdin) {
                Ok(run) => {
                    if !run.log.is_empty() {
                        eprint!("{}", run.log);
                    }
                    println!("{}", run.output);
                    Ok(ExitCode::SUCCESS)
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// A `--database` value: only PostgreSQL URLs (SQLite is the default without one).
fn outbound_range(text: &str) -> Result<crate::plugins::outbound::Cidr, String> {
    crate::plugins::outbound::Cidr::parse(text)
}

fn retention_days(text: &str) -> Result<f64, String> {
    let days: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of days"))?;
    crate::model::retention::Retention::from_days(days).map(|r| r.days())
}

fn postgres_url(url: &str) -> Result<String, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_string())
    } else {
        Err("expected a postgres:// or postgresql:// URL (leave it out to use the SQLite file in --data-dir)".into())
    }
}
