//! The data dir's files are private to the server's user: webhook tokens and sealed
//! secrets are in the database in clear or next to their key, so the dir is made 0700
//! and the files in it 0600 whatever the umask, and a dir or file found wider is named
//! at start.

use std::path::{Path, PathBuf};

/// Mode of the data dir and of directories made in it.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file made in the data dir.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` (and missing parents) with mode 0700; an existing one is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Options that create a file with mode 0600 (an existing file keeps its mode).
pub fn private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

/// Make `path` as an empty 0600 file unless it exists, so a file another library creates
/// there (SQLite's database; its WAL and shared-memory files copy the database's mode)
/// starts private.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    match private_file_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The data dir and the files directly in it that others than the owner may read, write
/// or enter, with their modes: what a start warns about.
pub fn wider_than_private(data_dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut wide = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o777);
        if let Some(m) = mode(data_dir).filter(|m| m & 0o077 != 0) {
            wide.push((data_dir.to_path_buf(), m));
        }
        let Ok(entries) = std::fs::read_dir(data_dir) else { return wide };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            if let Some(m) = mode(&path).filter(|m| m & 0o077 != 0) {
                wide.push((path, m));
            }
        }
    }
    wide
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0)
    }

    #[test]
    fn made_private_and_wider_modes_are_found() {
        let base = std::env::temp_dir().join(format!("wasmhook-files-{}", std::process::id()));
        let dir = base.join("data");
        create_private_dir(&dir).expect("dir");
        create_private_file(&dir.join("a.db")).expect("file");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("a.db")), 0o600);
        assert!(wider_than_private(&dir).is_empty());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(dir.join("a.db"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(wider_than_private(&dir), vec![(dir.clone(), 0o755), (dir.join("a.db"), 0o644)]);
        let _ = std::fs::remove_dir_all(&base);
    }
}
