//! Admin verbs over the admin API (`plugin add|list|rm`, `webhook …`, `workflow …`,
//! `records import`, `events …`, `nodes`, `alerts …`): what the web UI does, from a terminal or a script.
//!
//! - [`client`]: the HTTP client and the server's refusals as errors.
//! - [`output`]: tables for people, JSON for scripts.
//! - one module per resource: [`plugins`], [`webhooks`], [`workflows`], [`records`], [`events`],
//!   [`nodes`], [`alerts`].

pub mod alerts;
pub mod client;
pub mod events;
pub mod nodes;
pub mod output;
pub mod plugins;
pub mod records;
pub mod webhooks;
pub mod workflows;

use std::path::PathBuf;

use client::{CallError, Client};
use output::Format;

/// Where the server is and how to sign in; every admin verb takes these.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, global = true, env = "WASMHOOK_URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The admin token (default: the `admin-token` file `serve` wrote in WASMHOOK_DATA_DIR,
    /// or in ./wasmhook-data).
    #[arg(long, global = true, env = "WASMHOOK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// How to print answers.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

impl Connection {
    /// A client for this server, with the token from the flag, the environment or the
    /// local server's token file.
    pub fn client(&self) -> Result<Client, CallError> {
        let token = match self.token.as_ref().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            Some(token) => token.to_string(),
            None => local_token()?,
        };
        Ok(Client::new(&self.server, token))
    }
}

/// The token a `serve` on this machine saved, for the common local case.
fn local_token() -> Result<String, CallError> {
    let dir = std::env::var_os("WASMHOOK_DATA_DIR").map_or_else(|| PathBuf::from("./wasmhook-data"), PathBuf::from);
    let path = dir.join(crate::api::auth::TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_string()),
        _ => Err(CallError::Input(format!(
            "no admin token: pass --token or set WASMHOOK_TOKEN (no token file at {})",
            path.display()
        ))),
    }
}
