//! `wasmhook backup`: a consistent copy of the embedded database, and what else a restore
//! needs from the data dir (kept out of the copy on purpose: a stolen backup without the
//! secrets key does not reveal the secrets).

use std::path::Path;
use std::process::ExitCode;

use crate::api::auth::TOKEN_FILE;
use crate::secrets::KEY_FILE;
use crate::store::backup::backup as copy;

/// Back up `data_dir`'s database to `to` and print the report; exit 1 with the reason if not.
pub fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<ExitCode> {
    let made = match copy(data_dir, to) {
        Ok(made) => made,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "backed up {} to {}: {:.1} MiB, schema version {}, {} events, {} records, in {:.1} s (one consistent snapshot; a server using it kept serving)",
        data_dir.join(crate::store::DB_FILE).display(),
        made.path.display(),
        made.bytes as f64 / (1024.0 * 1024.0),
        made.schema_version,
        made.events,
        made.records,
        made.took.as_secs_f64()
    );
    println!(
        "a restore also needs these files of {}, which the backup does not hold (keep them apart from it):",
        data_dir.display()
    );
    let key = data_dir.join(KEY_FILE);
    if key.is_file() {
        println!("  {} — the key the secrets are sealed with; without it every secret is lost", key.display());
    } else {
        println!("  ({KEY_FILE} is not there: no secret was ever stored)");
    }
    let token = data_dir.join(TOKEN_FILE);
    if token.is_file() {
        println!("  {} — the admin API token (or set WASMHOOK_ADMIN_TOKEN on the restored server)", token.display());
    } else {
        println!("  ({TOKEN_FILE} is not there: the admin token comes from WASMHOOK_ADMIN_TOKEN)");
    }
    println!("restore steps: docs/operations.md");
    Ok(ExitCode::SUCCESS)
}
