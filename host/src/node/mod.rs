//! A node: the composition root. [`Node::start`] opens the store, starts every background
//! part of a server (ingest writer, pipeline lanes, act runner, resumed imports, plugin
//! warm-up, settings refresh on a shared database) and serves HTTP on its own runtime;
//! [`Node::shutdown`] stops them all and joins them. `wasmhook serve` only parses flags,
//! prints and waits for Ctrl-C; tests start nodes in-process where a process adds nothing.
//!
//! - [`heartbeat`]: what the node says of itself in the `nodes` table, every few seconds.

pub mod heartbeat;

use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::api::auth::{AdminToken, TokenSource};
use crate::api::{AppState, app};
use crate::ingest::{Ingest, IngestState};
use crate::plugins::{Limits, PluginEngine, builtin::BUILTINS};
use crate::store::Store;
use crate::store::sql::Dialect;
use crate::work::threads::Threads;

/// Where a PostgreSQL database is and how a node uses it (`serve --database`).
pub use crate::store::postgres::Settings as DatabaseSettings;

/// How a node runs, besides where its data is.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// A PostgreSQL database, or `None` for the SQLite file in the data dir.
    pub database: Option<DatabaseSettings>,
    /// Threads that run plugins.
    pub workers: usize,
    /// Unprocessed events beyond which ingest answers 503.
    pub max_backlog: u64,
    /// Time allowed for a request's headers, and for an ingest request's body.
    pub request_timeout: Duration,
    /// What action plugins' HTTP requests may reach besides public addresses, and the CAs
    /// HTTPS is verified against.
    pub outbound: crate::plugins::outbound::OutboundSettings,
    /// Days events (and ended enrollments) are kept, unless a webhook says otherwise.
    pub retention_days: f64,
}

/// The settings the parts behind the HTTP layer start with (checked [`NodeOptions`]).
struct Sizing {
    workers: usize,
    max_backlog: u64,
    request_timeout: Duration,
    retention: crate::model::retention::Retention,
}

/// A node could not start: what it was doing, and why.
#[derive(Debug, thiserror::Error)]
#[error("{doing}")]
pub struct StartError {
    doing: String,
    #[source]
    source: Box<dyn Error + Send + Sync + 'static>,
}

/// Names what failed while starting (as `anyhow::Context` does, for a typed error).
trait Doing<T> {
    fn doing(self, what: impl Into<String>) -> Result<T, StartError>;
}

impl<T, E: Into<Box<dyn Error + Send + Sync + 'static>>> Doing<T> for Result<T, E> {
    fn doing(self, what: impl Into<String>) -> Result<T, StartError> {
        self.map_err(|e| StartError { doing: what.into(), source: e.into() })
    }
}

/// A running server: its HTTP listener and every background thread.
pub struct Node {
    addr: SocketAddr,
    admin_token: String,
    token_generated: bool,
    runtime: Option<tokio::runtime::Runtime>,
    http: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
    threads: Threads,
}

impl Node {
    /// Start a node with its data under `data_dir`; it serves until [`Node::shutdown`].
    pub fn start(data_dir: &Path, options: &NodeOptions) -> Result<Node, StartError> {
        let NodeOptions { listen, database, workers, max_backlog, request_timeout, outbound, retention_days } =
            options.clone();
        let retention = crate::model::retention::Retention::from_days(retention_days)
            .map_err(|bounds| std::io::Error::new(std::io::ErrorKind::InvalidInput, bounds))
            .doing("reading --retention-days")?;
        let workers = workers.max(1);
        if let Some(point) = crate::crash::arm_from_env().doing("reading the crash point")? {
            tracing::warn!(
                ?point,
                "a crash point is armed ({}): this process will abort on purpose",
                crate::crash::ENV
            );
        }
        let metrics = crate::telemetry::metrics::install().doing("installing the metrics recorder")?;
        let store = Store::open_database(data_dir, database.as_ref()).doing("opening the store")?;
        // Made 0700/0600 now; a data dir from an older version or made by hand may be wider.
        for (path, mode) in crate::store::files::wider_than_private(data_dir) {
            let private = if path.is_dir() { "0700" } else { "0600" };
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:04o}"),
                "other local users may read this data (it holds webhook tokens and secrets): chmod {private} it"
            );
        }
        let (admin_token, source) =
            AdminToken::load_or_create(data_dir, std::env::var("WASMHOOK_ADMIN_TOKEN").ok()).doing("admin token")?;
        // Compile the built-ins at start so a broken build fails now, not on the first event.
        // What the stages count per minute, for the dashboard and the alerts (`watch`).
        let tally = Arc::new(crate::tally::Tally::default());
        let outbound = outbound.policy().doing("reading the outbound settings")?.counting_openings(tally.clone());
        let engine = PluginEngine::new().doing("starting the plugin engine")?.with_outbound(outbound);
        for b in BUILTINS {
            engine.load(b.bytes, b.world, &Limits::default()).doing(format!("built-in plugin {}", b.name))?;
        }
        let threads = Threads::default();
        let started = Self::start_parts(
            data_dir,
            store,
            engine,
            Sizing { workers, max_backlog, request_timeout, retention },
            tally.clone(),
            &threads,
        );
        let (store, engine, vault, ingest) = match started {
            Ok(parts) => parts,
            Err(e) => {
                // Whatever started before the failure stops with it.
                threads.stop();
                threads.join();
                return Err(e);
            }
        };
        // Serving starts with the heartbeat, so the node is listed as soon as it answers.
        let bound =
            tokio::runtime::Builder::new_multi_thread().enable_all().build().doing("starting the runtime").and_then(
                |runtime| {
                    let listener =
                        runtime.block_on(tokio::net::TcpListener::bind(&listen)).doing(format!("binding {listen}"))?;
                    let addr = listener.local_addr().doing("reading the listening address")?;
                    let node_id = crate::store::node_name(data_dir).doing("reading the node's name")?;
                    let seen = Self::seen(&node_id, addr);
                    heartbeat::start(store.clone(), seen, &threads).doing("starting the heartbeat")?;
                    let public_url = std::env::var("WASMHOOK_PUBLIC_URL").unwrap_or_else(|_| format!("http://{addr}"));
                    // Its own connection: a flush never waits behind an admin request.
                    let watch = crate::watch::Watch {
                        store: Arc::new(store.worker_connection().doing("opening the watch's connection")?),
                        tally,
                        backlog: ingest.backlog.clone(),
                        engine: engine.clone(),
                        vault: vault.clone(),
                        public_url: public_url.clone(),
                    };
                    crate::watch::spawn(watch, &threads).doing("starting the dashboard's counts and the alerts")?;
                    Ok((runtime, listener, addr, node_id, public_url))
                },
            );
        let (runtime, listener, addr, node_id, public_url) = match bound {
            Ok(bound) => bound,
            Err(e) => {
                drop(ingest);
                threads.stop();
                threads.join();
                return Err(e);
            }
        };
        let token = admin_token.reveal().to_string();
        let state = Arc::new(AppState {
            admin_token,
            store,
            public_url,
            engine,
            ingest,
            threads: threads.clone(),
            data_dir: data_dir.to_path_buf(),
            vault,
            metrics,
            retention,
            node_id,
        });
        let limits = crate::api::server::ConnectionLimits {
            header_timeout: request_timeout,
            ..crate::api::server::DEFAULT_LIMITS
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = app(state);
        let server = runtime.spawn(async move {
            crate::api::server::serve(listener, router, limits, async {
                let _ = stopped.await;
            })
            .await;
        });
        tracing::info!(%addr, data_dir = %data_dir.display(), "wasmhook listening");
        Ok(Node {
            addr,
            admin_token: token,
            token_generated: matches!(source, TokenSource::Generated),
            runtime: Some(runtime),
            http: Some((stop, server)),
            threads,
        })
    }

    /// Everything behind the HTTP layer, started on `threads`.
    #[allow(clippy::type_complexity)]
    fn start_parts(
        data_dir: &Path,
        store: Store,
        engine: PluginEngine,
        sizing: Sizing,
        tally: Arc<crate::tally::Tally>,
        threads: &Threads,
    ) -> Result<(Arc<Store>, Arc<PluginEngine>, Arc<crate::secrets::Vault>, Ingest), StartError> {
        let Sizing { workers, max_backlog, request_timeout: body_timeout, retention } = sizing;
        let store = Arc::new(store);
        let engine = Arc::new(engine);
        // Also drains events a previous run accepted but did not finish.
        let worker_store = Arc::new(store.worker_connection().doing("opening the worker's connection")?);
        let vault = Arc::new(crate::secrets::Vault::open(data_dir).doing("opening the secrets key")?);
        let senders = Arc::new(crate::ingest::senders::Senders::default());
        senders.reload(&store, &vault).doing("loading webhook signature settings")?;
        // On a shared database the nodes share each webhook's bucket: the limit is the cluster's.
        let limits = Arc::new(match store.dialect() {
            Dialect::Sqlite => crate::ingest::limits::RateLimits::default(),
            Dialect::Postgres => crate::ingest::limits::RateLimits::shared(store.clone()),
        });
        limits.reload(&store).doing("loading webhook rate limits")?;
        // Also resumes enrollments a previous run left between two steps.
        let act_store = store.worker_connection().doing("opening the act stage's connection")?;
        let act = crate::act::runner::spawn(act_store, engine.clone(), vault.clone(), workers, tally.clone(), threads)
            .doing("starting the act stage")?;
        // Events acknowledged into the ingest log before a crash go into the database before
        // anything counts or processes what waits there.
        let recovered = match store.dialect() {
            Dialect::Sqlite => {
                Some(crate::ingest::applier::recover(&store, data_dir).doing("applying the ingest log")?)
            }
            Dialect::Postgres => None,
        };
        let backlog = Arc::new(
            crate::ingest::backlog::Backlog::open(&store, max_backlog)
                .doing("counting events waiting to be processed")?,
        );
        let (waker, from_log) = crate::pipeline::worker::spawn(
            worker_store,
            engine.clone(),
            workers,
            act,
            backlog.clone(),
            tally.clone(),
            threads,
        )
        .doing("starting the pipeline worker")?;
        crate::work::warm::spawn(store.clone(), engine.clone(), threads).doing("starting the plugin warm-up")?;
        if store.dialect() == Dialect::Postgres {
            // Other nodes change settings in the shared database: pick them up.
            crate::ingest::refresh::spawn(store.clone(), vault.clone(), senders.clone(), limits.clone(), threads)
                .doing("starting the settings refresh")?;
        }
        for import in store.running_imports().doing("reading unfinished imports")? {
            // An import's rows are spooled on the node that received them; on a shared
            // database the others leave it to that node.
            if store.dialect() == Dialect::Postgres && !Path::new(&import.spool_path).exists() {
                continue;
            }
            tracing::info!(import = %import.id, lines_done = import.lines_done, "resuming an import");
            crate::import::spawn(store.clone(), import, threads).doing("resuming an import")?;
        }
        // Its own connection: a batch of deletes never waits behind an admin request.
        let pruner_store = Arc::new(store.worker_connection().doing("opening the pruner's connection")?);
        crate::retention::spawn(pruner_store, retention, threads).doing("starting the pruner")?;
        let writer = match recovered {
            Some(log) => {
                let apply = Box::new(from_log);
                crate::ingest::writer::Writer::spawn_logged(log, &store, apply, waker.clone(), backlog.clone(), threads)
            }
            None => crate::ingest::writer::Writer::spawn(&store, waker.clone(), backlog.clone(), threads),
        }
        .doing("starting the ingest writer")?;
        Ok((
            store,
            engine,
            vault,
            Ingest::new(IngestState { writer, senders, limits, backlog, waker, body_timeout, tally }),
        ))
    }

    /// What this node's first heartbeat says of it.
    fn seen(id: &str, addr: SocketAddr) -> crate::model::node::NodeSeen {
        let started_at_ms = crate::model::ids::now_ms();
        crate::model::node::NodeSeen {
            id: id.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            address: addr.to_string(),
            host: heartbeat::host_name(),
            pid: i64::from(std::process::id()),
            started_at_ms,
            heartbeat_at_ms: started_at_ms,
            stopped_at_ms: None,
            work: crate::model::node::WorkDone::default(),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Whether the token was made at this start (to be shown once).
    pub fn token_generated(&self) -> bool {
        self.token_generated
    }

    /// The names of the background threads still running.
    pub fn running_threads(&self) -> Vec<String> {
        self.threads.running()
    }

    /// Block until the process receives Ctrl-C (SIGINT).
    pub fn wait_for_ctrl_c(&self) {
        if let Some(runtime) = &self.runtime {
            let _ = runtime.block_on(tokio::signal::ctrl_c());
        }
    }

    /// Stop serving (requests in flight finish, within the server's drain time), stop every
    /// background thread after its current unit of work, and join them; what was not
    /// processed stays in the store for the next start. Returns the names of threads that
    /// panicked.
    pub fn shutdown(mut self) -> Vec<String> {
        self.stop()
    }

    fn stop(&mut self) -> Vec<String> {
        self.threads.stop();
        if let Some(runtime) = self.runtime.take() {
            if let Some((stop, server)) = self.http.take() {
                let _ = stop.send(());
                let _ = runtime.block_on(server);
            }
            // Connections still open hold the application state (the ingest writer's and
            // the pipeline's handles among it): dropping their tasks lets those threads end.
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        self.threads.join()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.runtime.is_some() {
            self.stop();
        }
    }
}
