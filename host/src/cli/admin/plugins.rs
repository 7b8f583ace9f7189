//! `plugin add|list|rm`: components on the server.

use std::path::{Path, PathBuf};

use serde_json::Value;
use ureq::http::Method;

use super::client::{Body, CallError, Client, encode, query};
use super::output::{Format, cell, details, items, print, table};

/// Upload (or replace) plugin `name` from the component at `file`, admitting up to
/// `max_size_mib` MiB if given (the server's default is 8).
pub fn add(
    client: &Client,
    format: Format,
    name: &str,
    file: &Path,
    max_size_mib: Option<u32>,
) -> Result<(), CallError> {
    let bytes = std::fs::read(file).map_err(|source| CallError::Read { path: PathBuf::from(file), source })?;
    let path = format!("/plugins/{}{}", encode(name), query(&[("max_size_mib", max_size_mib.map(|m| m.to_string()))]));
    let answer = client.call(Method::PUT, &path, Body::Bytes(&bytes))?;
    print(format, &answer, details);
    Ok(())
}

/// The built-ins and uploads.
pub fn list(client: &Client, format: Format) -> Result<(), CallError> {
    let answer = client.get("/plugins")?;
    print(format, &answer, |a| {
        let rows: Vec<Vec<String>> = items(a, "plugins")
            .iter()
            .map(|p| {
                let sha = cell(p, "sha256");
                vec![
                    cell(p, "name"),
                    cell(p, "world"),
                    cell(p, "size"),
                    if p["builtin"] == Value::Bool(true) { "built-in".into() } else { "uploaded".into() },
                    sha.chars().take(12).collect(),
                ]
            })
            .collect();
        table(&["NAME", "WORLD", "BYTES", "SOURCE", "SHA256"], &rows)
    });
    Ok(())
}

/// Delete an uploaded plugin (the server refuses while a webhook or workflow uses it).
pub fn remove(client: &Client, format: Format, name: &str) -> Result<(), CallError> {
    client.call(Method::DELETE, &format!("/plugins/{}", encode(name)), Body::Empty)?;
    print(format, &serde_json::json!({"deleted": name}), |_| format!("deleted plugin {name}\n"));
    Ok(())
}
