//! Builds the guest components (built-in plugins and test guests) for `wasm32-wasip2`
//! with a nested cargo, so a plain `cargo build` embeds up-to-date plugins.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// Guest crates built here (package, directory): the built-ins the binary embeds, the
/// example actions, and the test guests.
const GUESTS: &[(&str, &str)] = &[
    ("strtotime", "plugins/strtotime"),
    ("normalize", "plugins/normalize"),
    ("date-diff", "plugins/date-diff"),
    ("action-template", "plugins/action-template"),
    ("plugin-template", "plugins/template"),
    ("crm-lookup", "plugins/crm-lookup"),
    ("js-runtime", "plugins/js-runtime"),
    ("guest-hostile", "tests/guests/hostile"),
    ("guest-echo-action", "tests/guests/echo-action"),
    ("guest-wrong-world", "tests/guests/wrong-world"),
    ("guest-http-action", "tests/guests/http-action"),
    ("guest-http-transform", "tests/guests/http-transform"),
];

/// The Python runtime's crate, built apart from the workspace (see `main`).
const PYTHON_RUNTIME: &str = "plugins/py-runtime";

/// A `cargo build` of guests for `wasm32-wasip2` into `target_dir`.
fn guest_cargo(root: &std::path::Path, target_dir: &std::path::Path) -> Command {
    // Guests build with the repository's pinned toolchain (it has the wasm32-wasip2 target)
    // even when the host is built by another one (`cargo +nightly fuzz`): through rustup's
    // proxy, without the outer toolchain's overrides.
    let under_rustup = env::var_os("RUSTUP_TOOLCHAIN").is_some();
    let cargo = if under_rustup { "cargo".into() } else { env::var_os("CARGO").unwrap_or_else(|| "cargo".into()) };
    let mut cmd = Command::new(cargo);
    if under_rustup {
        cmd.env_remove("RUSTUP_TOOLCHAIN").env_remove("RUSTC").env_remove("RUSTDOC");
    }
    cmd.current_dir(root).args(["build", "--release", "--target", "wasm32-wasip2"]).arg("--target-dir").arg(target_dir);
    // The outer build's flags (coverage, clippy, native CPU tuning) are not for guests.
    for var in
        ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"]
    {
        cmd.env_remove(var);
    }
    cmd
}

fn run(mut cmd: Command) {
    let status = cmd.status().expect("failed to start cargo for the guest components");
    assert!(
        status.success(),
        "building guest components failed; is the wasm32-wasip2 target installed? run `rustup toolchain install` in the repository"
    );
}

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ lives inside the workspace").to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = out_dir.join("guest-target");

    // Only what the guests are built from: watching all of plugins/ made the JavaScript
    // plugin's npm build (node_modules, dist/) rebuild the host crate in the test run that
    // followed it (1 min 56 s of a cold CI run).
    let sources = GUESTS.iter().map(|(_, dir)| *dir).chain([
        PYTHON_RUNTIME,
        "plugins/http-client",
        "wit",
        "Cargo.lock",
        "Cargo.toml",
    ]);
    for watched in sources {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut cmd = guest_cargo(&root, &target_dir);
    for (guest, _) in GUESTS {
        cmd.args(["-p", guest]);
    }
    run(cmd);
    // The Python runtime is a workspace of its own: RustPython's parser crates declare a
    // newer rust-version than the toolchain's (they build with it), which would hold the
    // whole workspace to it, and its dependencies would otherwise build for the host too.
    let mut cmd = guest_cargo(&root, &target_dir);
    cmd.arg("--ignore-rust-version").arg("--manifest-path").arg(root.join(PYTHON_RUNTIME).join("Cargo.toml"));
    run(cmd);
    let guest_dir = target_dir.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=WASMHOOK_GUEST_DIR={}", guest_dir.display());
}
