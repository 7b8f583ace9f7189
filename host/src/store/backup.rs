//! A consistent copy of the embedded database while the server keeps serving.
//!
//! `VACUUM INTO` reads one snapshot (a WAL read transaction, which never blocks the
//! server's writers) and writes a compact copy of it. The copy is written to a private
//! temporary file beside the target, checked (`PRAGMA quick_check`), flushed to disk, and
//! only then given its name, which it never takes from an existing file: a crash or a full
//! disk leaves no half backup under the name an operator will restore from.
//!
//! Events the server acknowledged but has not stored in the database yet are in its ingest
//! log: the log is read before the snapshot, and what the snapshot lacks of it is applied to
//! the copy, so the backup holds every event acknowledged before it began.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::DB_FILE;
use super::files::create_private_file;

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// There is no SQLite database in the data dir.
    #[error(
        "no database at {0} (is this the data dir `serve` uses? a PostgreSQL deployment backs up with its own tools: see docs/operations.md)"
    )]
    NoDatabase(PathBuf),
    /// The target exists; a backup never overwrites.
    #[error("{0} exists; a backup never overwrites a file, name a new one")]
    TargetExists(PathBuf),
    /// The target's name is not UTF-8 (SQLite takes it as text).
    #[error("{0} is not a UTF-8 path")]
    NotUtf8(PathBuf),
    /// A file could not be made, written or renamed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite refused to read the database or to write the copy.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The copy did not pass its check.
    #[error("the copy failed its integrity check: {0}")]
    Corrupt(String),
    /// The ingest log could not be read.
    #[error(transparent)]
    Log(#[from] super::ingest_log::LogError),
    /// What the ingest log held could not be applied to the copy.
    #[error("applying the ingest log to the copy: {0}")]
    Apply(#[from] super::StoreError),
}

/// What a backup made.
#[derive(Debug, Clone)]
pub struct Backup {
    /// The file written.
    pub path: PathBuf,
    /// Its size, bytes.
    pub bytes: u64,
    /// The schema version in it.
    pub schema_version: i64,
    /// Events in it.
    pub events: i64,
    /// Records in it.
    pub records: i64,
    /// How long it took.
    pub took: Duration,
}

/// Copy the database under `data_dir` into the new file `to` (mode 0600).
pub fn backup(data_dir: &Path, to: &Path) -> Result<Backup, BackupError> {
    let started = Instant::now();
    let source = data_dir.join(DB_FILE);
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source));
    }
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_path_buf()));
    }
    let file_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::File { path, source }
    };
    let name = to.file_name().ok_or_else(|| BackupError::File {
        path: to.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let partial = to.with_file_name(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
    let partial_text = partial.to_str().ok_or_else(|| BackupError::NotUtf8(to.to_path_buf()))?.to_string();
    // Made empty and private first: SQLite writes into an empty file, keeping its mode (the
    // copy holds webhook tokens in clear, as the database does).
    create_private_file(&partial).map_err(file_error(&partial))?;
    let made = copy_and_check(data_dir, &source, &partial_text);
    let result = made.and_then(|(schema_version, events, records)| {
        std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(file_error(&partial))?;
        // A hard link, unlike a rename, fails if the name was taken meanwhile.
        std::fs::hard_link(&partial, to).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::TargetExists(to.to_path_buf()),
            _ => BackupError::File { path: to.to_path_buf(), source: e },
        })?;
        sync_parent(to).map_err(file_error(to))?;
        let bytes = std::fs::metadata(to).map_err(file_error(to))?.len();
        Ok(Backup { path: to.to_path_buf(), bytes, schema_version, events, records, took: started.elapsed() })
    });
    let _ = std::fs::remove_file(&partial);
    result
}

/// `VACUUM INTO` the empty file `into`, add what the ingest log holds and the snapshot
/// lacks, then check the copy; its schema version and counts.
fn copy_and_check(data_dir: &Path, source: &Path, into: &str) -> Result<(i64, i64, i64), BackupError> {
    // Read first: a segment deleted after this read held only groups the snapshot has.
    let logged = read_log(data_dir)?;
    let from =
        Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    // The server may hold the write lock for a moment when the snapshot begins.
    from.busy_timeout(Duration::from_secs(30))?;
    from.execute("VACUUM INTO ?1", [into])?;
    drop(from);
    let copy = Connection::open_with_flags(into, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    // Written in place: a write-ahead log beside the copy would not go with its name.
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    let applied: Option<i64> = copy
        .query_row("SELECT seq FROM ingest_log_applied WHERE id = 1", [], |row| row.get(0))
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let applied = applied.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
    let missing: Vec<&super::ingest_log::LoggedGroup> = logged.iter().filter(|g| g.seq > applied).collect();
    super::events::apply_logged_to(&copy, &missing)?;
    let check: String = copy.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if check != "ok" {
        return Err(BackupError::Corrupt(check));
    }
    let schema_version = copy.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let events = copy.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?;
    let records = copy.query_row("SELECT count(*) FROM records", [], |row| row.get(0))?;
    Ok((schema_version, events, records))
}

/// Every whole group in the data dir's ingest log (none if it has no log).
fn read_log(data_dir: &Path) -> Result<Vec<super::ingest_log::LoggedGroup>, BackupError> {
    let dir = data_dir.join(super::ingest_log::LOG_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut groups = Vec::new();
    for (_, path) in super::ingest_log::segments(&dir)? {
        match super::ingest_log::read_segment(&path) {
            Ok(read) => groups.extend(read.groups),
            // Reclaimed meanwhile: the database had all of it before the snapshot.
            Err(super::ingest_log::LogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(groups)
}

/// Make a new name in `path`'s directory durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => std::fs::File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_never_overwrites_and_needs_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("copy.db");
        assert!(matches!(backup(dir.path(), &to), Err(BackupError::NoDatabase(_))));
        drop(super::super::sqlite::Sqlite::open(dir.path()).unwrap());
        let made = backup(dir.path(), &to).unwrap();
        assert!(made.schema_version > 0);
        assert!(matches!(backup(dir.path(), &to), Err(BackupError::TargetExists(_))));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
