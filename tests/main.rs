//! wasmhook's integration tests, in one test binary (each test file is a module; linking
//! wasmtime once instead of once per file). Most drive the real `wasmhook` binary over
//! HTTP with real plugins and a real database; `support` starts servers and speaks HTTP.
//!
//! `.ci/test` runs everything on SQLite, then the modules that drive a server through its
//! store again on PostgreSQL, selected by module name (`WASMHOOK_TEST_BACKEND=postgres`).

mod fuzz_checks;
mod support;

mod alerts;
mod backup;
mod cli_admin;
mod crash_recovery;
mod dashboard;
mod delay_steps;
mod engine_limits;
mod faults;
mod fuzz_regressions;
mod hostile_input;
mod hostile_neighbours;
mod ingest_backpressure;
mod ingest_errors;
mod ingest_log;
mod ingest_signatures;
mod ingest_slow_clients;
mod ingest_tokens;
mod js_plugin;
mod js_runtime;
mod node;
mod observability;
mod openapi;
mod outbound_http;
mod outbound_https;
mod outbound_retries;
mod outbound_waits;
mod pipeline_e2e;
mod plugin_run_cli;
mod python_steps;
mod records_api;
mod records_import;
mod retention;
mod scale_out;
mod schema;
mod send_webhook;
mod serve_smoke;
mod soak;
mod source_steps;
mod strtotime_php_fixture;
mod ui_browser;
mod webhook_wizard;
mod workflow_actions;
