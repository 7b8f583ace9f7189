//! A transform guest that misbehaves on request, to prove the host's limits hold.
//!
//! The step config key `mode` picks the behaviour: `loop`, `grow`, `panic`, `sleep`,
//! `recurse`, `big-output`, `chatty`, `fail`, `probe`, `spin` (count to config
//! `iterations`, then echo: slow but within the time limit; the sandbox's clock does not
//! advance, so it counts instead of watching the time); anything else echoes.

wit_bindgen::generate!({
    world: "transform",
    path: "../../../wit",
});

use exports::wasmhook::plugin::transformer::Guest;
use wasmhook::plugin::types::{Context, PluginError, Property, Value};

struct Hostile;

fn text(name: &str, value: impl Into<String>) -> Property {
    Property { name: name.to_string(), value: Value::String(value.into()) }
}

fn number(name: &str, value: f64) -> Property {
    Property { name: name.to_string(), value: Value::Number(value) }
}

// Deliberately unbounded: the host must turn the overflow into a trap.
#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64, pad: &mut [u8; 256]) -> u64 {
    pad[(depth % 256) as usize] = depth as u8;
    let mut next = [0u8; 256];
    recurse(depth + 1, &mut next) + u64::from(pad[0])
}

/// What the guest can learn of its surroundings; the host should give it nothing.
fn probe() -> Vec<Property> {
    use std::hash::{BuildHasher, Hasher};
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let args: Vec<String> = std::env::args().collect();
    let file = match std::fs::read_to_string("/etc/passwd") {
        Ok(s) => format!("read {} bytes", s.len()),
        Err(e) => format!("error: {e}"),
    };
    let dir = match std::fs::read_dir("/") {
        Ok(entries) => format!("listed {} entries", entries.count()),
        Err(e) => format!("error: {e}"),
    };
    let cwd = match std::env::current_dir() {
        Ok(p) => p.display().to_string(),
        Err(e) => format!("error: {e}"),
    };
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(-1.0);
    let start = std::time::Instant::now();
    let mut spin = 0u64;
    for i in 0..100_000u64 {
        spin = spin.wrapping_add(std::hint::black_box(i));
    }
    let elapsed_ns = start.elapsed().as_nanos() as f64;
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(spin);
    vec![
        number("env_count", env.len() as f64),
        text("env", env.join(";")),
        number("args_count", args.len() as f64),
        text("file", file),
        text("dir", dir),
        text("cwd", cwd),
        number("wall_ms", wall_ms),
        number("monotonic_elapsed_ns", elapsed_ns),
        text("random_hash", format!("{:016x}", hasher.finish())),
    ]
}

impl Guest for Hostile {
    fn transform(
        _ctx: Context,
        config: Vec<(String, String)>,
        properties: Vec<Property>,
    ) -> Result<Vec<Property>, PluginError> {
        let mode = config.iter().find(|(k, _)| k == "mode").map(|(_, v)| v.as_str()).unwrap_or("echo");
        match mode {
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let big = vec![7u8; 64 << 20];
                Ok(vec![number("len", std::hint::black_box(big).len() as f64)])
            }
            "panic" => panic!("hostile guest panicked on purpose"),
            "sleep" => {
                // A host call, not a wasm loop: the epoch deadline alone cannot stop it.
                std::thread::sleep(std::time::Duration::from_secs(30));
                Ok(vec![text("slept", "30 s")])
            }
            "recurse" => {
                let mut pad = [0u8; 256];
                Ok(vec![number("depth", recurse(0, &mut pad) as f64)])
            }
            "big-output" => Ok(vec![text("blob", "x".repeat(4 << 20))]),
            "chatty" => {
                for i in 0..20_000 {
                    println!("stdout line {i}");
                    eprintln!("stderr line {i}");
                }
                Ok(properties)
            }
            "fail" => {
                Err(PluginError { code: "bad_config".into(), message: "the hostile guest refuses on purpose".into() })
            }
            "probe" => Ok(probe()),
            "spin" => {
                let iterations: u64 =
                    config.iter().find(|(k, _)| k == "iterations").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
                let mut n = 0u64;
                while n < iterations {
                    n = std::hint::black_box(n + 1);
                }
                Ok(properties)
            }
            _ => Ok(properties),
        }
    }
}

export!(Hostile);
