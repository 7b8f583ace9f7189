//! `wasmhook-bench`: the benchmarks, in a binary of their own so the server carries none of
//! their code. Each prints a table measured in one run on this machine; those that need a
//! server start the `wasmhook` binary that sits beside this one.

mod actions;
mod baseline;
mod calls;
mod matching;
mod neighbours;
mod nodes;
mod outbound;
mod retention;
mod scripts;
mod server;
mod soak;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// wasmhook-bench: plugin call cost by default, or another benchmark.
#[derive(Debug, Parser)]
#[command(name = "wasmhook-bench", version, about)]
pub struct BenchCli {
    /// Calls per measured variant (plugin call cost).
    #[arg(long, default_value_t = 20_000)]
    pub iterations: u32,
    /// Another benchmark.
    #[command(subcommand)]
    pub what: Option<BenchCommand>,
}

/// Benchmarks other than plugin call cost.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Serve a bare axum handler (content type + JSON parse, no storage): the reference
    /// that `bench/ingest.sh` measures durable ingest against.
    Baseline {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
    },
    /// Ingest (at each client count) and drain rates of 1 node on SQLite and of 1 to 3 nodes
    /// on one PostgreSQL database, with the CPU each part used, in one run.
    Nodes {
        /// A PostgreSQL server to create the bench databases on (`postgres://user@host:port`);
        /// without it only SQLite is measured.
        #[arg(long, env = "WASMHOOK_BENCH_POSTGRES")]
        postgres: Option<String>,
        /// Events per setup and client count.
        #[arg(long, default_value_t = 20_000)]
        events: u32,
        /// Client threads sending them (keep-alive connections), comma-separated: the ingest
        /// is measured once for each count, one after another on the same store.
        #[arg(long, value_delimiter = ',', default_values_t = [16u32, 64])]
        clients: Vec<u32>,
        /// Contacts the events are spread over.
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        /// PostgreSQL setups measured: 1 to this many nodes (1 to 3), e.g. 1 to repeat the
        /// single-node comparison quickly.
        #[arg(long, default_value_t = 3)]
        most_nodes: usize,
    },
    /// Match lookups/s against objects of each size (records imported first), in one run.
    Match {
        /// Object sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [10_000u64, 1_000_000])]
        records: Vec<u64>,
        /// Lookups measured per size.
        #[arg(long, default_value_t = 200_000)]
        lookups: u32,
    },
    /// Enrollments/s with one custom code step and one `set_property`, against the same
    /// workflow without actions, in one run.
    Actions {
        /// Events (one per record, each enrolling it).
        #[arg(long, default_value_t = 20_000)]
        enrollments: u64,
    },
    /// What a custom code step calling another system costs: against the same kind of
    /// step without a request, and with an API that answers after a delay (wall time
    /// against the ideal, requests in flight), in one run.
    Outbound {
        /// Events (one per record, each enrolling it).
        #[arg(long, default_value_t = 500)]
        enrollments: u64,
        /// How long the slow API takes to answer, ms.
        #[arg(long, default_value_t = 50)]
        delay_ms: u64,
    },
    /// What one call of custom code costs: JavaScript written in a step (runtime as built,
    /// pre-initialized), the componentize-js action, the Rust date-diff action, with the
    /// memory of each instance, in one run.
    Scripts {
        /// Calls per variant.
        #[arg(long, default_value_t = 2_000)]
        calls: u32,
    },
    /// A healthy webhook's acknowledgement and processing latency and rate, alone and
    /// beside webhooks whose plugins loop, spin, overflow, bomb memory or trap, in one run.
    Neighbours {
        /// Seconds of load per phase.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Healthy requests per second.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        /// Alone / beside-hostile pairs, interleaved.
        #[arg(long, default_value_t = 2)]
        rounds: u32,
        /// The hostile guest component (default: the one built with this binary).
        #[arg(long, default_value = neighbours::DEFAULT_HOSTILE_PLUGIN)]
        hostile_plugin: std::path::PathBuf,
    },
    /// The server under steady load (half the maximum ingest rate, transforms and actions
    /// on every event) for a long time: memory, open files and backlog sampled.
    Soak {
        /// Seconds of steady load.
        #[arg(long, default_value_t = 600.0)]
        seconds: f64,
        /// Requests per second (default: half the maximum, measured first).
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds between samples.
        #[arg(long, default_value_t = 30.0)]
        every: f64,
        /// The server's backlog bound (`serve --max-backlog`).
        #[arg(long, default_value_t = 100_000)]
        max_backlog: u64,
        /// The server's retention in days (`serve --retention-days`; default 30).
        #[arg(long)]
        retention_days: Option<f64>,
    },
    /// Ingest with and without retention pruning running: two soaks at one rate, the
    /// second with a short retention; the acknowledgement p99 of each and the database
    /// size over time.
    Retention {
        /// Seconds of steady load, each run.
        #[arg(long, default_value_t = 90.0)]
        seconds: f64,
        /// Requests per second, both runs.
        #[arg(long, default_value_t = 2_000.0)]
        rate: f64,
        /// The short retention of the second run, days (0.0002 = 17.3 s).
        #[arg(long, default_value_t = 0.0002)]
        retention_days: f64,
        /// Seconds between samples.
        #[arg(long, default_value_t = 5.0)]
        every: f64,
    },
}

/// Run the benchmark `args` name and print its table.
pub fn run(args: BenchCli) -> anyhow::Result<ExitCode> {
    let iterations = args.iterations;
    match args.what {
        Some(BenchCommand::Baseline { listen }) => baseline::serve_baseline(&listen).map(|()| ExitCode::SUCCESS),
        None => {
            print!("{}", calls::run(iterations)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(BenchCommand::Scripts { calls }) => {
            print!("{}", scripts::run(calls)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(BenchCommand::Match { records, lookups }) => {
            anyhow::ensure!(!records.is_empty() && records.iter().all(|&n| n > 0), "--records needs sizes above 0");
            print!("{}", matching::run(&records, lookups)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(BenchCommand::Neighbours { seconds, rate, rounds, hostile_plugin }) => {
            anyhow::ensure!(seconds > 0.0 && rate > 0.0, "--seconds and --rate need numbers above 0");
            let plan = neighbours::Plan { seconds, rate, rounds, hostile_plugin };
            print!("{}", neighbours::run(&plan)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(BenchCommand::Soak { seconds, rate, every, max_backlog, retention_days }) => {
            anyhow::ensure!(seconds > 0.0 && every > 0.0, "--seconds and --every need numbers above 0");
            anyhow::ensure!(rate.is_none_or(|r| r > 0.0), "--rate needs a number above 0");
            print!("{}", soak::run(&soak::Plan { seconds, rate, every, max_backlog, retention_days })?.report);
            Ok(ExitCode::SUCCESS)
        }
        Some(BenchCommand::Retention { seconds, rate, retention_days, every }) => {
            anyhow::ensure!(
                seconds > 0.0 && every > 0.0 && rate > 0.0,
                "--seconds, --rate and --every need numbers above 0"
            );
            print!("{}", retention::run(seconds, rate, retention_days, every)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(BenchCommand::Nodes { postgres, events, clients, records, most_nodes }) => {
            anyhow::ensure!(
                events > 0 && !clients.is_empty() && clients.iter().all(|&c| c > 0) && records > 0,
                "--events, --clients and --records need numbers above 0"
            );
            anyhow::ensure!((1..=3).contains(&most_nodes), "--most-nodes takes 1, 2 or 3");
            anyhow::ensure!(clients.iter().all(|&c| c <= events), "--clients may not exceed --events");
            print!("{}", nodes::run(&nodes::Plan { postgres, events, clients, records, most_nodes })?);
            Ok(ExitCode::SUCCESS)
        }
        Some(BenchCommand::Outbound { enrollments, delay_ms }) => {
            anyhow::ensure!(enrollments > 0, "--enrollments needs a number above 0");
            print!("{}", outbound::run(enrollments, delay_ms)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(BenchCommand::Actions { enrollments }) => {
            anyhow::ensure!(enrollments > 0, "--enrollments needs a number above 0");
            print!("{}", actions::run(enrollments)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
