//! The embedded backend: one SQLite file under the data dir, opened in WAL mode with full
//! fsync and migrated on open (`PRAGMA user_version` counts the migrations applied).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;
use super::gate::{Priority, WriteGate};
use super::migrations::MIGRATIONS;
use super::sql::{Arg, Dialect, Row, Sql, ToArg, Value};

/// The database file's name inside the data dir.
pub const DB_FILE: &str = "wasmhook.db";

/// Page cache per connection, in KiB when negative. Kept small on purpose: in WAL mode a
/// connection throws its whole cache away whenever another connection has committed, and
/// ingest and the worker commit alternately, so a big cache costs a long walk to discard
/// it on every transaction (measured: 6% of the worker's time with 64 MiB).
const PAGE_CACHE: i64 = -4 * 1024;

/// Bytes of the database file read through a memory map: pages outside the page cache
/// (a match lookup in a million-record object) cost a memory access instead of a `read`
/// call and a copy, and the map, unlike the cache, survives other connections' commits.
const MMAP_BYTES: i64 = 16 * 1024 * 1024 * 1024;

/// One connection to the file behind a mutex: SQLite serialises writers anyway, and
/// callers run on blocking threads, never on the async runtime's. Write transactions
/// begin `IMMEDIATE`, so with a second connection (the worker's) a writer waits for the
/// lock (busy timeout) instead of failing on a stale read snapshot.
pub struct Sqlite {
    conn: Mutex<Connection>,
    dir: PathBuf,
    /// Shared by every connection of this process to the file; taken before each write
    /// transaction.
    write_gate: Arc<WriteGate>,
}

impl Sqlite {
    /// Open (creating if needed) `<data_dir>/wasmhook.db` and migrate it.
    pub fn open(data_dir: &Path) -> Result<Sqlite, StoreError> {
        let dir_error = |source| StoreError::DataDir { path: data_dir.to_path_buf(), source };
        super::files::create_private_dir(data_dir).map_err(dir_error)?;
        let path = data_dir.join(DB_FILE);
        super::files::create_private_file(&path).map_err(dir_error)?;
        let mut conn = Connection::open(&path)?;
        // SQLite quietly falls back to read-only when it cannot open the file for writing;
        // serving then would acknowledge nothing and retry every write forever.
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::ReadOnly { path });
        }
        // WAL + FULL: a commit is on disk before we acknowledge anything that depends on it.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        configure(&conn, "FULL")?;
        migrate(&mut conn)?;
        Ok(Sqlite { conn: Mutex::new(conn), dir: data_dir.to_path_buf(), write_gate: Arc::default() })
    }

    /// A further connection to the same file sharing the write gate, with its own sync mode.
    pub fn another_connection(&self, synchronous: &str) -> Result<Sqlite, StoreError> {
        let conn = Connection::open(self.dir.join(DB_FILE))?;
        configure(&conn, synchronous)?;
        Ok(Sqlite { conn: Mutex::new(conn), dir: self.dir.clone(), write_gate: self.write_gate.clone() })
    }

    /// Copy everything in the WAL into the database file and empty the WAL.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(self.conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?)
    }

    /// The schema version now in the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn().pragma_query_value(None, "user_version", |row| row.get(0))?)
    }

    /// Run `work` on the connection, each statement committing by itself.
    pub fn with<T, E: From<StoreError>>(&self, work: impl FnOnce(&dyn Sql) -> Result<T, E>) -> Result<T, E> {
        work(&SqliteConn(&self.conn()))
    }

    /// Run `work` in one write transaction, committed when it returns `Ok`; also says how
    /// long the write gate held it back.
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        priority: Priority,
        work: impl FnOnce(&dyn Sql) -> Result<T, E>,
    ) -> Result<(T, Duration), E> {
        let pass = self.write_gate.enter(priority);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(StoreError::from)?;
        let out = work(&SqliteConn(&tx))?;
        tx.commit().map_err(StoreError::from)?;
        Ok((out, pass.waited()))
    }

    /// [`transaction`](Self::transaction) committed with a full fsync whatever the
    /// connection's sync mode: the WAL, with every commit before this one, is on disk when it
    /// returns.
    pub fn transaction_synced<T, E: From<StoreError>>(
        &self,
        priority: Priority,
        work: impl FnOnce(&dyn Sql) -> Result<T, E>,
    ) -> Result<(T, Duration), E> {
        let normal: i64 =
            self.conn().pragma_query_value(None, "synchronous", |row| row.get(0)).map_err(StoreError::from)?;
        self.conn().pragma_update(None, "synchronous", "FULL").map_err(StoreError::from)?;
        let out = self.transaction(priority, work);
        // 1 is NORMAL, 2 FULL (the pragma reads back as a number).
        let back = if normal == 2 { "FULL" } else { "NORMAL" };
        self.conn().pragma_update(None, "synchronous", back).map_err(StoreError::from)?;
        out
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions
        // roll back on drop), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Run `work` in one write transaction on a connection opened outside the store (a
/// backup's copy), committed when it returns `Ok`.
pub fn in_transaction<T>(
    conn: &Connection,
    work: impl FnOnce(&dyn Sql) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match work(&SqliteConn(conn)) {
        Ok(out) => {
            conn.execute_batch("COMMIT")?;
            Ok(out)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn configure(conn: &Connection, synchronous: &str) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "cache_size", PAGE_CACHE)?;
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(usize::try_from(current).unwrap_or(0)) {
        tx.execute_batch(migration.sqlite)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// A connection or transaction, speaking the store's SQL vocabulary. Statements are
/// prepared once per connection and cached.
struct SqliteConn<'a>(&'a Connection);

impl SqliteConn<'_> {
    fn prepare(&self, sql: &str, args: &[&dyn ToArg]) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql)?;
        for (index, arg) in args.iter().enumerate() {
            stmt.raw_bind_parameter(index + 1, Bound(arg.to_arg()))?;
        }
        Ok(stmt)
    }
}

impl Sql for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.prepare(sql, args)?;
        let columns = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..columns).map(|i| row.get_ref(i).map(value)).collect::<Result<_, _>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute(&self, sql: &str, args: &[&dyn ToArg]) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql, args)?;
        Ok(stmt.raw_execute()? as u64)
    }
}

/// An [`Arg`] as rusqlite binds it.
struct Bound<'a>(Arg<'a>);

impl rusqlite::ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Arg::Int(Some(n)) => ValueRef::Integer(n),
            Arg::Text(Some(s)) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(Some(b)) => ValueRef::Blob(b),
            Arg::Int(None) | Arg::Text(None) | Arg::Blob(None) => ValueRef::Null,
            // Multi-row statements give SQLite `VALUES` lists (`sql::RowSource`).
            Arg::Ints(_) | Arg::Texts(_) | Arg::Blobs(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure("SQLite binds no arrays".into()));
            }
        }))
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}
