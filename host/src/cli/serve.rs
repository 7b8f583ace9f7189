//! `wasmhook serve`: start a [`Node`](crate::node::Node), print what the admin needs, serve
//! until Ctrl-C, then stop it.

use std::path::Path;

use crate::node::{Node, NodeOptions};

/// How `serve` runs, besides where its data is.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How the node runs.
    pub node: NodeOptions,
    /// Text or JSON log lines.
    pub log_format: crate::telemetry::logs::LogFormat,
}

/// Run the server with its data under `data_dir`.
pub fn serve(data_dir: &Path, options: &ServeOptions) -> anyhow::Result<()> {
    crate::telemetry::logs::init(options.log_format);
    let node = Node::start(data_dir, &options.node)?;
    if node.token_generated() {
        // Printed once, to stdout, never to the log.
        println!(
            "admin token (saved to {}): {}",
            data_dir.join(crate::api::auth::TOKEN_FILE).display(),
            node.admin_token()
        );
    }
    println!("listening on http://{}", node.addr());
    node.wait_for_ctrl_c();
    let panicked = node.shutdown();
    anyhow::ensure!(panicked.is_empty(), "background threads panicked: {}", panicked.join(", "));
    Ok(())
}
