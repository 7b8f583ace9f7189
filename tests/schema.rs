//! The two backends' schemas cannot drift apart unnoticed: a SQLite file and a PostgreSQL
//! database, each migrated by a node started in this process, have the same tables,
//! columns (type and nullability), primary keys and indexes (columns, uniqueness,
//! partiality), but for the differences listed here with their reasons. Any other
//! difference is named. Needs the test PostgreSQL server (`.ci/test` starts it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use wasmhook::node::{DatabaseSettings, Node, NodeOptions};

use crate::support;

/// Differences by design, each `(what, why)`; `what` is as [`describe`] prints it.
const KNOWN: &[(&str, &str)] = &[
    ("only sqlite: table meta", "SQLite's first migration; PostgreSQL records versions in schema_migrations"),
    ("only postgres: column properties.rowid", "SQLite's implicit rowid, made explicit so properties list in order"),
    (
        "only postgres: column enrollments.once_key",
        "one enrollment per record for concurrent nodes; one SQLite writer needs none",
    ),
    ("only postgres: index enrollments_once", "as once_key"),
    ("only postgres: index enrollments_one_running", "one running enrollment per record across concurrent nodes"),
    (
        "only sqlite: index enrollments_running_by_record",
        "PostgreSQL's unique enrollments_one_running has its columns and predicate (dropped in migration 20)",
    ),
];

/// A column: normalised type and whether it may be NULL.
type Column = (String, bool);

/// An explicitly created index: table, columns, unique, partial.
type Index = (String, String, bool, bool);

#[derive(Default, Debug)]
struct Schema {
    columns: BTreeMap<(String, String), Column>,
    primary_keys: BTreeMap<String, String>,
    indexes: BTreeMap<String, Index>,
}

fn node_options(database: Option<DatabaseSettings>) -> NodeOptions {
    NodeOptions {
        listen: "127.0.0.1:0".into(),
        database,
        workers: 1,
        max_backlog: 1000,
        request_timeout: Duration::from_secs(10),
        outbound: Default::default(),
        retention_days: 30.0,
    }
}

/// Start a node on `database` (SQLite in `dir` when `None`) so it migrates, then stop it.
fn migrate(dir: &Path, database: Option<DatabaseSettings>) {
    let node = Node::start(dir, &node_options(database)).expect("the node starts and migrates");
    assert!(node.shutdown().is_empty());
}

fn normal_type(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "integer".into(),
        "text" => "text".into(),
        "blob" | "bytea" => "bytes".into(),
        other => other.into(),
    }
}

/// `(a, b)` from `... ON table (a, b) ...`, spaces normalised.
fn index_columns(sql: &str) -> String {
    let on = sql.find(" ON ").expect("an index definition names its table");
    let open = sql[on..].find('(').expect("index columns") + on;
    let close = sql[open..].find(')').expect("index columns close") + open;
    sql[open + 1..close].split(',').map(str::trim).collect::<Vec<_>>().join(", ")
}

fn sqlite_schema(file: &Path) -> Schema {
    let db = rusqlite::Connection::open(file).unwrap();
    let mut schema = Schema::default();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for table in tables {
        let mut pk = BTreeMap::new();
        let mut info = db.prepare(&format!("PRAGMA table_info({table})")).unwrap();
        let rows = info
            .query_map([], |r| {
                Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(5)?))
            })
            .unwrap();
        for row in rows {
            let (name, declared, not_null, in_pk) = row.unwrap();
            if in_pk > 0 {
                pk.insert(in_pk, name.clone());
            }
            // A primary key is never NULL in PostgreSQL; SQLite leaves TEXT keys nullable.
            let nullable = not_null == 0 && in_pk == 0;
            schema.columns.insert((table.clone(), name), (normal_type(&declared), nullable));
        }
        schema.primary_keys.insert(table.clone(), pk.into_values().collect::<Vec<_>>().join(", "));
    }
    let indexes: Vec<(String, String, String)> = db
        .prepare("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (name, table, sql) in indexes {
        let unique = sql.to_ascii_uppercase().starts_with("CREATE UNIQUE");
        let partial = sql.to_ascii_uppercase().contains(" WHERE ");
        schema.indexes.insert(name, (table, index_columns(&sql), unique, partial));
    }
    schema
}

fn postgres_schema(database: &str) -> Schema {
    let mut schema = Schema::default();
    let rows = |sql: &str| -> Vec<Vec<String>> {
        support::psql(database, sql)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect()
    };
    for row in rows(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> 'schema_migrations'",
    ) {
        let nullable = row[3] == "YES";
        schema.columns.insert((row[0].clone(), row[1].clone()), (normal_type(&row[2]), nullable));
    }
    for row in rows(
        "SELECT c.conrelid::regclass::text,
                string_agg(a.attname, ', ' ORDER BY array_position(c.conkey, a.attnum))
         FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
         WHERE c.contype = 'p' AND c.conrelid::regclass::text <> 'schema_migrations'
         GROUP BY c.conrelid",
    ) {
        schema.primary_keys.insert(row[0].clone(), row[1].clone());
    }
    for row in rows(
        "SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i
         WHERE i.schemaname = 'public' AND i.indexname NOT IN (SELECT conname FROM pg_constraint)",
    ) {
        let (table, name, sql) = (&row[0], &row[1], &row[2]);
        let unique = sql.starts_with("CREATE UNIQUE");
        let partial = sql.contains(" WHERE ");
        let columns = index_columns(&sql.replace(" USING btree ", " "));
        schema.indexes.insert(name.clone(), (table.clone(), columns, unique, partial));
    }
    schema
}

/// Every difference between the two schemas, one line each.
fn describe(sqlite: &Schema, postgres: &Schema) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let tables = |s: &Schema| s.columns.keys().map(|(t, _)| t.clone()).collect::<BTreeSet<_>>();
    let (lite_tables, pg_tables) = (tables(sqlite), tables(postgres));
    for table in lite_tables.difference(&pg_tables) {
        found.insert(format!("only sqlite: table {table}"));
    }
    for table in pg_tables.difference(&lite_tables) {
        found.insert(format!("only postgres: table {table}"));
    }
    let shared = |table: &str| lite_tables.contains(table) && pg_tables.contains(table);
    for ((table, column), lite) in &sqlite.columns {
        match postgres.columns.get(&(table.clone(), column.clone())) {
            None if shared(table) => {
                found.insert(format!("only sqlite: column {table}.{column}"));
            }
            Some(pg) if pg != lite => {
                found.insert(format!("column {table}.{column}: sqlite {lite:?}, postgres {pg:?}"));
            }
            _ => {}
        }
    }
    for (table, column) in postgres.columns.keys() {
        if shared(table) && !sqlite.columns.contains_key(&(table.clone(), column.clone())) {
            found.insert(format!("only postgres: column {table}.{column}"));
        }
    }
    for (table, key) in &sqlite.primary_keys {
        if let Some(pg) = postgres.primary_keys.get(table).filter(|pg| *pg != key) {
            found.insert(format!("primary key of {table}: sqlite ({key}), postgres ({pg})"));
        }
    }
    for (name, lite) in &sqlite.indexes {
        match postgres.indexes.get(name) {
            None => {
                found.insert(format!("only sqlite: index {name}"));
            }
            Some(pg) if pg != lite => {
                found.insert(format!("index {name}: sqlite {lite:?}, postgres {pg:?}"));
            }
            Some(_) => {}
        }
    }
    for name in postgres.indexes.keys().filter(|n| !sqlite.indexes.contains_key(*n)) {
        found.insert(format!("only postgres: index {name}"));
    }
    found
}

#[test]
fn both_backends_migrate_to_the_same_schema_but_for_the_listed_differences() {
    let lite_dir = tempfile::tempdir().unwrap();
    migrate(lite_dir.path(), None);
    let pg_dir = tempfile::tempdir().unwrap();
    let database = support::new_database();
    let settings = DatabaseSettings {
        url: database.clone(),
        lease: Duration::from_secs(30),
        ca: std::env::var_os("WASMHOOK_DATABASE_CA").map(Into::into),
    };
    migrate(pg_dir.path(), Some(settings.clone()));

    // One numbered sequence: SQLite is at its last version, PostgreSQL recorded the same
    // one (it began at 14, its baseline).
    let lite_file = lite_dir.path().join("wasmhook.db");
    let lite_version: i64 =
        rusqlite::Connection::open(&lite_file).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    let versions = "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations";
    let every_one: Vec<String> = (14..=lite_version).map(|v| v.to_string()).collect();
    assert_eq!(support::psql(&database, versions), every_one.join(","));
    // A database migrated before the sequence was shared (PostgreSQL's own 1 and 2) is
    // renumbered at start, not migrated again (which would fail on existing tables).
    support::psql(&database, "UPDATE schema_migrations SET version = version - 13");
    migrate(pg_dir.path(), Some(settings));
    assert_eq!(support::psql(&database, versions), every_one.join(","));

    let sqlite = sqlite_schema(&lite_file);
    let postgres = postgres_schema(&database);
    assert!(sqlite.columns.len() > 80, "the SQLite schema was read: {} columns", sqlite.columns.len());
    assert!(postgres.indexes.len() >= 10, "the PostgreSQL indexes were read: {:?}", postgres.indexes);
    let found = describe(&sqlite, &postgres);
    let known: BTreeSet<String> = KNOWN.iter().map(|(what, _)| what.to_string()).collect();
    let unexplained: Vec<_> = found.difference(&known).collect();
    assert!(unexplained.is_empty(), "the schemas differ (add a migration to the other backend): {unexplained:#?}");
    let stale: Vec<_> = known.difference(&found).collect();
    assert!(stale.is_empty(), "listed differences that are gone (remove them from KNOWN): {stale:#?}");
}

#[test]
fn a_difference_is_named() {
    let mut a = Schema::default();
    a.columns.insert(("t".into(), "x".into()), ("text".into(), false));
    a.indexes.insert("t_x".into(), ("t".into(), "x".into(), false, false));
    let mut b = Schema::default();
    b.columns.insert(("t".into(), "x".into()), ("integer".into(), false));
    b.columns.insert(("t".into(), "y".into()), ("text".into(), true));
    let found: Vec<_> = describe(&a, &b).into_iter().collect();
    assert_eq!(
        found,
        [
            "column t.x: sqlite (\"text\", false), postgres (\"integer\", false)",
            "only postgres: column t.y",
            "only sqlite: index t_x"
        ]
    );
}
