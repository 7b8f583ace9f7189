//! The `wasmhook-bench` binary: parses the command line and hands over to
//! [`wasmhook::bench`].

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match wasmhook::bench::run(wasmhook::bench::BenchCli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
