//! The shared backend: a PostgreSQL database that several wasmhook nodes use at once.
//! tokio-postgres connections in a deadpool pool, driven by a current-thread runtime of the
//! store's own that each caller (a blocking thread, never the async runtime's) drives
//! while it waits, whichever runtime it comes from. Migrations run on open, under an
//! advisory lock, so nodes starting together apply each one once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_postgres::Statement;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;
use super::migrations::MIGRATIONS;
use super::sql::{Arg, Dialect, Row, Sql, ToArg, Value};

/// Most connections one node opens.
const POOL_SIZE: usize = 16;

/// How long a caller waits for a free connection (or a new one) before the store fails,
/// the same bound as SQLite's busy timeout.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// Any number that is ours: the advisory lock migrations hold.
const MIGRATION_LOCK: i64 = 0x7761_736d_686f_6f6b; // "wasmhook"

/// How long a claim holds by default before other nodes may take the work over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// A pool of connections to one database, and the runtime that drives them.
pub struct Postgres {
    pool: Pool,
    runtime: tokio::runtime::Runtime,
    /// This node's name in claims.
    node: String,
    /// How long a claim holds.
    lease: Duration,
    /// Webhooks ingest looked up lately, by token (`store/events.rs::TargetCache`).
    pub(super) targets: super::events::TargetCache,
}

/// Who claims work, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The node's name.
    pub node: &'a str,
    /// The lease, in ms.
    pub lease_ms: i64,
}

/// Where the database is and how this node uses it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `postgres://user:password@host:port/db`, with `?sslmode=disable|prefer|require`.
    pub url: String,
    /// How long this node's claims hold.
    pub lease: Duration,
    /// PEM file of the CAs that sign the server's certificate; without one, the Mozilla roots.
    pub ca: Option<PathBuf>,
}

/// TLS for the connections, used as the URL's `sslmode` says (`prefer` by default: TLS when
/// the server offers it). The server's certificate and name are always verified: against
/// `ca` if given (a private CA, as managed databases use), else the Mozilla roots.
fn tls(ca: Option<&Path>) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let bad = |e: &dyn std::fmt::Display| StoreError::Tls(format!("{}: {e}", path.display()));
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
            if roots.is_empty() {
                return Err(bad(&"no certificate in the file"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

impl Postgres {
    /// Connect as `settings` say and migrate; this node claims work as `node`.
    pub fn open(settings: &Settings, node: String) -> Result<Postgres, StoreError> {
        let Settings { url, lease, ca } = settings;
        let lease = *lease;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Url(format!("{e}")))?;
        // Prepared statements are planned per execution with their values: several are
        // written once for optional filters (`?1 IS NULL OR webhook_id = ?1`), whose
        // generic plan cannot use an index (measured: drain 2.5x slower with it).
        let options = config.get_options().map(|o| format!("{o} ")).unwrap_or_default();
        config.options(format!("{options}-c plan_cache_mode=force_custom_plan"));
        // Current-thread: a caller waiting on a statement drives the connection's I/O itself,
        // instead of handing each statement to a worker thread and being woken back
        // (measured: drain 1,325 -> 1,732 events/s on one node, 2,080 -> 3,448 on two).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Pool(format!("cannot start the database runtime: {e}")))?;
        let manager = Manager::from_config(
            config,
            tls(ca.as_deref())?,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        let pg = Postgres { pool, runtime, node, lease, targets: super::events::TargetCache::default() };
        pg.migrate()?;
        Ok(pg)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        self.transaction(|conn| {
            let db: &dyn Sql = conn;
            db.execute("SELECT pg_advisory_xact_lock(?1)", super::sql::args![MIGRATION_LOCK])?;
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)",
                &[],
            )?;
            // Databases migrated before the sequence was shared numbered PostgreSQL's own
            // migrations 1 (the schema at 14) and 2 (15): renumbered once.
            db.execute(
                "UPDATE schema_migrations SET version = version + 13
                 WHERE (SELECT max(version) FROM schema_migrations) < 14",
                &[],
            )?;
            let current: i64 = db.value("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])?;
            for (index, migration) in MIGRATIONS.iter().enumerate().skip(usize::try_from(current).unwrap_or(0)) {
                let Some(sql) = migration.postgres else { continue };
                conn.batch(sql)?;
                db.execute(
                    "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)",
                    super::sql::args![(index + 1) as i64, crate::model::ids::now_ms()],
                )?;
            }
            Ok(())
        })
    }

    /// This node's claims.
    pub fn claim(&self) -> Claim<'_> {
        Claim { node: &self.node, lease_ms: i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX) }
    }

    /// The newest migration applied.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.with(|db| db.value("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]))
    }

    /// Run `work` on one pooled connection, each statement committing by itself.
    pub fn with<T, E: From<StoreError>>(&self, work: impl FnOnce(&dyn Sql) -> Result<T, E>) -> Result<T, E> {
        let client = self.client()?;
        work(&PgConn { client: &client, runtime: &self.runtime })
    }

    /// Run `work` in one transaction on one pooled connection, committed when it returns
    /// `Ok` and rolled back otherwise (also when it panics).
    pub fn transaction<T, E: From<StoreError>>(&self, work: impl FnOnce(&PgConn<'_>) -> Result<T, E>) -> Result<T, E> {
        let client = self.client()?;
        let conn = PgConn { client: &client, runtime: &self.runtime };
        conn.batch("BEGIN")?;
        let open = Open(&conn);
        let out = work(&conn);
        std::mem::forget(open);
        match out {
            Ok(out) => {
                conn.batch("COMMIT")?;
                Ok(out)
            }
            Err(e) => {
                conn.batch("ROLLBACK")?;
                Err(e)
            }
        }
    }

    fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.runtime.block_on(self.pool.get()).map_err(|e| StoreError::Pool(with_causes(&e)))
    }
}

/// An error with its causes (the pool's own message hides why the connection failed:
/// refused, unknown host, bad password).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// Rolls an open transaction back if the work panics, so the connection goes back to the
/// pool clean.
struct Open<'a>(&'a PgConn<'a>);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let _ = self.0.batch("ROLLBACK");
    }
}

/// One pooled connection, speaking the store's SQL vocabulary. Statements are prepared
/// once per connection (with their parameter types) and cached: the server parses and
/// plans each only once (measured: PostgreSQL's CPU was most of the drain's).
pub struct PgConn<'a> {
    client: &'a ClientWrapper,
    runtime: &'a tokio::runtime::Runtime,
}

impl PgConn<'_> {
    /// Run statements without parameters (migrations, transaction control).
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.runtime.block_on(self.client.batch_execute(sql))?)
    }

    /// The prepared statement for `sql` with these arguments' types, and the arguments.
    fn prepare<'b>(
        &self,
        sql: &str,
        bound: &'b [Arg<'b>],
    ) -> Result<(Statement, Vec<&'b (dyn ToSql + Sync)>), StoreError> {
        let (values, types): (Vec<_>, Vec<_>) = bound.iter().map(typed).unzip();
        let statement = self.runtime.block_on(self.client.prepare_typed_cached(&placeholders(sql), &types))?;
        Ok((statement, values))
    }
}

impl Sql for PgConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Vec<Row>, StoreError> {
        let bound: Vec<Arg<'_>> = args.iter().map(|a| a.to_arg()).collect();
        let (statement, values) = self.prepare(sql, &bound)?;
        let rows = self.runtime.block_on(self.client.query(&statement, &values))?;
        rows.iter().map(row).collect()
    }

    fn execute(&self, sql: &str, args: &[&dyn ToArg]) -> Result<u64, StoreError> {
        let bound: Vec<Arg<'_>> = args.iter().map(|a| a.to_arg()).collect();
        let (statement, values) = self.prepare(sql, &bound)?;
        Ok(self.runtime.block_on(self.client.execute(&statement, &values))?)
    }
}

/// An argument with the PostgreSQL type it binds as: statements need no parameter type
/// inference (`$2 IS NULL` works).
fn typed<'a>(arg: &'a Arg<'a>) -> (&'a (dyn ToSql + Sync), Type) {
    match arg {
        Arg::Int(v) => (v as &(dyn ToSql + Sync), Type::INT8),
        Arg::Text(v) => (v as &(dyn ToSql + Sync), Type::TEXT),
        Arg::Blob(v) => (v as &(dyn ToSql + Sync), Type::BYTEA),
        Arg::Ints(v) => (v as &(dyn ToSql + Sync), Type::INT8_ARRAY),
        Arg::Texts(v) => (v as &(dyn ToSql + Sync), Type::TEXT_ARRAY),
        Arg::Blobs(v) => (v as &(dyn ToSql + Sync), Type::BYTEA_ARRAY),
    }
}

/// `?N` → `$N`, outside quoted literals and identifiers.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

fn row(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(index)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(index)?.map(|n| Value::Int(n.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(index)?.map(|n| Value::Int(n.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(index)?.map(|b| Value::Int(b.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(index)?.map(Value::Real)
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(index)?.map(Value::Blob)
        } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
            row.try_get::<_, Option<String>>(index)?.map(Value::Text)
        } else {
            return Err(StoreError::ColumnType { index, found: "a PostgreSQL type the store does not read" });
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_become_dollars_outside_literals() {
        assert_eq!(placeholders("a = ?1 AND b = ?12"), "a = $1 AND b = $12");
        assert_eq!(placeholders("x = '?1' AND y = \"?2\" AND z = ?3"), "x = '?1' AND y = \"?2\" AND z = $3");
        assert_eq!(placeholders("a ? b"), "a ? b");
    }
}
