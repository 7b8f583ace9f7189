//! The `tracing` subscriber: human-readable text by default, or one JSON object per line
//! for log pipelines (`serve --log-format json`). `RUST_LOG` picks the level (default info).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Text, coloured on a terminal.
    Text,
    /// One JSON object per line: timestamp, level, target, message, fields and the spans
    /// around it (the request id among them).
    Json,
}

/// Install the subscriber, writing to stderr.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // The PostgreSQL driver logs every statement's parameters at debug level, webhook
    // tokens among them: whatever RUST_LOG asks, it logs at info at most.
    let filter = match "tokio_postgres=info".parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // Colour codes only for a terminal; a log file gets plain text.
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
}
