//! Where everything is kept: the embedded SQLite file under the data dir (the default), or
//! a PostgreSQL database shared by several nodes. All SQL lives in this module and its
//! children, written once in the vocabulary of [`sql`] for both backends.
//!
//! - [`sqlite`], [`postgres`]: the two backends, their connections and migrations.
//! - [`webhooks`]: webhook events, their tokens, states, test event and mapping.
//! - [`events`]: received deliveries and their statuses.
//! - [`backup`]: a consistent copy of the SQLite file while it serves.
//! - [`batch`]: the pipeline worker's write transaction over many events; `read_ahead`:
//!   what it reads for all of its events at once.
//! - [`gate`]: one writer at a time across connections, ingest first.
//! - [`records`]: objects, their properties (some unique) and records.
//! - [`imports`]: bulk record imports, their progress and errors; `import_chunk`: a
//!   chunk applied as a set.
//! - [`retention`]: deleting what is no longer kept, in small batches; the database size.
//! - [`workflows`]: workflows and their enrollments.
//! - [`plugins`]: uploaded plugin components.
//! - [`nodes`]: the nodes serving from the database, their heartbeats and claims.
//! - [`rate_buckets`]: webhooks' rate limits shared by a cluster's nodes.

pub mod alerts;
pub mod backup;
pub mod batch;
pub mod events;
pub mod files;
pub mod gate;
mod import_chunk;
pub mod imports;
pub mod ingest_log;
mod migrations;
pub mod nodes;
pub mod plugins;
pub mod postgres;
pub mod rate_buckets;
mod read_ahead;
pub mod records;
pub mod retention;
pub mod secrets;
pub mod sql;
pub mod sqlite;
pub mod tallies;
pub mod webhooks;
pub mod workflows;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use sqlite::DB_FILE;

use gate::Priority;
use sql::Sql;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data dir could not be created.
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database file (or its filesystem) cannot be written; wasmhook must write to ingest.
    #[error(
        "the database {path} is read-only (its file or filesystem refuses writes); wasmhook stores every event it acknowledges, so it cannot serve from it: make it writable (permissions, remount) and start again"
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// SQLite refused.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused, or the connection to it failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had in time (server down, pool exhausted).
    #[error("postgres connection: {0}")]
    Pool(String),
    /// The TLS settings for the database are unusable (the CA file).
    #[error("database TLS: {0}")]
    Tls(String),
    /// The database URL does not parse.
    #[error("database URL: {0}")]
    Url(String),
    /// A write collided with another node's and must be retried.
    #[error("a concurrent write to {0} collided; retrying")]
    Conflict(&'static str),
    /// A multi-row statement's rows could not be bound (a bug in the caller).
    #[error("multi-row statement: {0}")]
    RowArgument(&'static str),
    /// A statement returned no row where one was expected.
    #[error("a statement returned no row")]
    NoRow,
    /// A row had fewer columns than read.
    #[error("no column {index} in the row")]
    Column {
        /// The column asked for.
        index: usize,
    },
    /// A column held another type than read (a bug or a hand-edited database).
    #[error("column {index} holds {found}")]
    ColumnType {
        /// The column.
        index: usize,
        /// What it held.
        found: &'static str,
    },
    /// A stored JSON column did not parse (a bug or a hand-edited file).
    #[error("corrupt stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored name outside its vocabulary (a hand-edited database, or a newer version's).
    #[error("corrupt stored value: {0}")]
    Vocabulary(#[from] crate::model::UnknownName),
}

/// The file in the data dir that names this node in claims on a shared database.
pub const NODE_FILE: &str = "node-id";

/// This node's name (`node-id` in its data dir): made once and kept in the data dir, so a node restarted after a crash
/// takes its own unfinished claims back at once instead of waiting out their lease (the
/// data dir is one node's; two nodes never share one).
pub fn node_name(data_dir: &Path) -> Result<String, StoreError> {
    let io = |source| StoreError::DataDir { path: data_dir.to_path_buf(), source };
    files::create_private_dir(data_dir).map_err(io)?;
    let path = data_dir.join(NODE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_string()),
        Ok(_) | Err(_) => {
            let name = crate::model::ids::new_id(crate::model::ids::IdKind::Node, crate::model::ids::now_ms());
            let mut file =
                files::private_file_options().write(true).create(true).truncate(true).open(&path).map_err(io)?;
            std::io::Write::write_all(&mut file, name.as_bytes()).map_err(io)?;
            Ok(name)
        }
    }
}

/// An open store on either backend. Cheap handles for the ingest writer and the pipeline
/// come from [`Store::ingest_connection`] and [`Store::worker_connection`].
pub struct Store {
    db: Db,
}

enum Db {
    Sqlite(sqlite::Sqlite),
    Postgres(Arc<postgres::Postgres>),
}

impl Store {
    /// Open (creating if needed) `<data_dir>/wasmhook.db` and migrate it.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Ok(Store { db: Db::Sqlite(sqlite::Sqlite::open(data_dir)?) })
    }

    /// Connect to a PostgreSQL database and migrate it, as the node whose data dir is
    /// `data_dir`; work this node claims is taken over by others if it does not finish
    /// within the settings' lease.
    pub fn open_postgres(data_dir: &Path, settings: &postgres::Settings) -> Result<Store, StoreError> {
        let node = node_name(data_dir)?;
        Ok(Store { db: Db::Postgres(Arc::new(postgres::Postgres::open(settings, node)?)) })
    }

    /// The PostgreSQL database if given, else the SQLite file in `data_dir`.
    pub fn open_database(data_dir: &Path, database: Option<&postgres::Settings>) -> Result<Store, StoreError> {
        match database {
            Some(settings) => Store::open_postgres(data_dir, settings),
            None => Store::open(data_dir),
        }
    }

    /// On PostgreSQL, this node's claims; SQLite has one node per file and claims nothing.
    fn claim(&self) -> Option<postgres::Claim<'_>> {
        match &self.db {
            Db::Sqlite(_) => None,
            Db::Postgres(p) => Some(p.claim()),
        }
    }

    /// The engine behind this store.
    pub fn dialect(&self) -> sql::Dialect {
        match &self.db {
            Db::Sqlite(_) => sql::Dialect::Sqlite,
            Db::Postgres(_) => sql::Dialect::Postgres,
        }
    }

    /// A handle for the pipeline worker. On SQLite a second connection committing with
    /// `synchronous=NORMAL`: atomic and crash-safe, but not fsync'd per commit.
    ///
    /// Why that is enough: everything the worker writes (statuses, details, enrollments)
    /// is derived from events that are durable elsewhere first (SQLite: in the ingest log,
    /// whose segments are deleted only after a fsync'd commit of the database). If power
    /// fails before a worker commit reaches the disk, the event is simply `accepted` again
    /// (or applied again from the log) and is reprocessed at start, and enrollment is
    /// idempotent per (workflow, event, record). WAL frames are appended in order, so a
    /// checkpoint or the next fsync'd commit makes every earlier commit durable. On
    /// PostgreSQL, the shared pool.
    pub fn worker_connection(&self) -> Result<Store, StoreError> {
        self.another_connection("NORMAL")
    }

    /// A handle for the ingest writer: on SQLite a connection of its own committing with
    /// full fsync like the main one, so admin reads and writes never hold ingest up.
    pub fn ingest_connection(&self) -> Result<Store, StoreError> {
        self.another_connection("FULL")
    }

    fn another_connection(&self, synchronous: &str) -> Result<Store, StoreError> {
        let db = match &self.db {
            Db::Sqlite(s) => Db::Sqlite(s.another_connection(synchronous)?),
            Db::Postgres(p) => Db::Postgres(p.clone()),
        };
        Ok(Store { db })
    }

    /// SQLite: copy everything in the WAL into the database file and empty the WAL.
    /// PostgreSQL manages its own log: nothing to do.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(s) => s.checkpoint(),
            Db::Postgres(_) => Ok(()),
        }
    }

    /// How many migrations the database has had.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        match &self.db {
            Db::Sqlite(s) => s.schema_version(),
            Db::Postgres(p) => p.schema_version(),
        }
    }

    /// Run `work` with the database, each statement committing by itself.
    fn with<T, E: From<StoreError>>(&self, work: impl FnOnce(&dyn Sql) -> Result<T, E>) -> Result<T, E> {
        match &self.db {
            Db::Sqlite(s) => s.with(work),
            Db::Postgres(p) => p.with(work),
        }
    }

    /// Run `work` in one write transaction, committed when it returns `Ok`.
    fn transaction<T, E: From<StoreError>>(
        &self,
        priority: Priority,
        work: impl FnOnce(&dyn Sql) -> Result<T, E>,
    ) -> Result<T, E> {
        Ok(self.transaction_timed(priority, work)?.0)
    }

    /// [`transaction`](Self::transaction), also saying how long SQLite's write gate held
    /// it back (PostgreSQL has no gate: writers run concurrently).
    fn transaction_timed<T, E: From<StoreError>>(
        &self,
        priority: Priority,
        work: impl FnOnce(&dyn Sql) -> Result<T, E>,
    ) -> Result<(T, Duration), E> {
        match &self.db {
            Db::Sqlite(s) => s.transaction(priority, work),
            Db::Postgres(p) => Ok((p.transaction(|conn| work(conn))?, Duration::ZERO)),
        }
    }
}
