//! `wasmhook serve`: open the store, load the admin token, serve HTTP until Ctrl-C.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::api::auth::{AdminToken, TokenSource};
use crate::api::{AppState, app};
use crate::plugins::{Limits, PluginEngine, builtin::BUILTINS};
use crate::store::Store;
use crate::store::sql::Dialect;

/// How `serve` runs, besides where its data is.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: String,
    /// A PostgreSQL database, or `None` for the SQLite file in the data dir.
    pub database: Option<crate::store::postgres::Settings>,
    /// Threads that run plugins.
    pub workers: usize,
    /// Unprocessed events beyond which ingest answers 503.
    pub max_backlog: u64,
    /// Time allowed for a request's headers, and for an ingest request's body.
    pub request_timeout: std::time::Duration,
    /// Text or JSON log lines.
    pub log_format: crate::telemetry::logs::LogFormat,
}

/// Run the server with its data under `data_dir`.
pub fn serve(data_dir: &Path, options: &ServeOptions) -> anyhow::Result<()> {
    let ServeOptions { listen, database, workers, max_backlog, request_timeout, log_format } = options.clone();
    crate::telemetry::logs::init(log_format);
    let metrics = crate::telemetry::metrics::install().context("installing the metrics recorder")?;
    let store = Store::open_database(data_dir, database.as_ref()).context("opening the store")?;
    let (admin_token, source) =
        AdminToken::load_or_create(data_dir, std::env::var("WASMHOOK_ADMIN_TOKEN").ok()).context("admin token")?;
    if let TokenSource::Generated = source {
        // Printed once, to stdout, never to the log.
        println!(
            "admin token (saved to {}): {}",
            data_dir.join(crate::api::auth::TOKEN_FILE).display(),
            admin_token.reveal()
        );
    }
    // Compile the built-ins at start so a broken build fails now, not on the first event.
    let engine = PluginEngine::new()?;
    for b in BUILTINS {
        engine.load(b.bytes, b.world, &Limits::default()).with_context(|| format!("built-in plugin {}", b.name))?;
    }
    let store = Arc::new(store);
    let engine = Arc::new(engine);
    // Also drains events a previous run accepted but did not finish.
    let worker_store = Arc::new(store.worker_connection().context("opening the worker's connection")?);
    let vault = Arc::new(crate::secrets::Vault::open(data_dir).context("opening the secrets key")?);
    let senders = Arc::new(crate::ingest::senders::Senders::default());
    senders.reload(&store, &vault).context("loading webhook signature settings")?;
    let limits = Arc::new(crate::ingest::limits::RateLimits::default());
    limits.reload(&store).context("loading webhook rate limits")?;
    // Also resumes enrollments a previous run left between two steps.
    let act_store = store.worker_connection().context("opening the act stage's connection")?;
    let act = crate::act::runner::spawn(act_store, engine.clone(), vault.clone(), workers)
        .context("starting the act stage")?;
    let backlog = Arc::new(
        crate::ingest::backlog::Backlog::open(&store, max_backlog)
            .context("counting events waiting to be processed")?,
    );
    let waker = crate::pipeline::worker::spawn(worker_store, engine.clone(), workers, act, backlog.clone())
        .context("starting the pipeline worker")?;
    super::warm::spawn(store.clone(), engine.clone()).context("starting the plugin warm-up")?;
    if store.dialect() == Dialect::Postgres {
        // Other nodes change settings in the shared database: pick them up.
        super::refresh::spawn(store.clone(), vault.clone(), senders.clone(), limits.clone())
            .context("starting the settings refresh")?;
    }
    for import in store.running_imports().context("reading unfinished imports")? {
        // An import's rows are spooled on the node that received them; on a shared database
        // the others leave it to that node.
        if store.dialect() == Dialect::Postgres && !std::path::Path::new(&import.spool_path).exists() {
            continue;
        }
        tracing::info!(import = %import.id, lines_done = import.lines_done, "resuming an import");
        crate::import::spawn(store.clone(), import).context("resuming an import")?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        let public_url = std::env::var("WASMHOOK_PUBLIC_URL").unwrap_or_else(|_| format!("http://{addr}"));
        let writer = crate::ingest::writer::Writer::spawn(&store).context("starting the ingest writer")?;
        let state = Arc::new(AppState {
            admin_token,
            store,
            public_url,
            engine,
            waker,
            writer,
            data_dir: data_dir.to_path_buf(),
            vault,
            senders,
            limits,
            backlog,
            body_timeout: request_timeout,
            metrics,
        });
        tracing::info!(%addr, data_dir = %data_dir.display(), "wasmhook listening");
        println!("listening on http://{addr}");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let limits = crate::api::server::ConnectionLimits {
            header_timeout: request_timeout,
            ..crate::api::server::DEFAULT_LIMITS
        };
        crate::api::server::serve(listener, app(state), limits, shutdown).await;
        anyhow::Ok(())
    })
}
