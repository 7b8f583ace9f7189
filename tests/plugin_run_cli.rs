//! `wasmhook plugin run` through the real binary: stdin in, stdout out, one-line errors.

use std::io::Write;
use std::process::{Command, Stdio};

const HOSTILE: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_hostile.wasm");

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn plugin_run(args: &[&str], stdin: &str) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmhook"))
        .args(["plugin", "run"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .spawn()
        .expect("binary starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn next_monday_9am_resolves_against_now() {
    let out = plugin_run(&["strtotime", "--config", "from=d", "--now", "1700000000"], r#"{"d":"next monday 9am"}"#);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["d_unix"], 1_700_470_800);
    assert_eq!(json["d"], "next monday 9am");
}

#[test]
fn payment_webhook_date_converts_with_target_unit_and_zone() {
    let payload = r#"{"data.object.id":"pi_3Nw","data.object.created_at":"2024-03-10 09:15:00","amount":4200}"#;
    let out = plugin_run(
        &[
            "strtotime",
            "--config",
            "from=data.object.created_at",
            "--config",
            "to=created_ms",
            "--config",
            "unit=ms",
            "--config",
            "timezone=America/New_York",
        ],
        payload,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    // 09:15 EDT (UTC-4, DST began that morning) = 13:15 UTC.
    assert_eq!(json["created_ms"], 1_710_076_500_000i64);
    assert_eq!(json["amount"], 4200);
}

#[test]
fn unparseable_date_exits_non_zero_with_one_line_quoting_the_value() {
    let out = plugin_run(&["strtotime", "--config", "from=d", "--now", "1700000000"], r#"{"d":"the day after never"}"#);
    assert_ne!(out.code, 0);
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains(r#""the day after never""#), "{}", out.stderr);
    assert!(out.stderr.contains("guest_error"), "{}", out.stderr);
}

#[test]
fn bad_stdin_and_missing_config_are_reported() {
    let out = plugin_run(&["strtotime", "--config", "from=d"], "not json");
    assert_ne!(out.code, 0);
    assert!(out.stderr.starts_with("error: stdin is not JSON"), "{}", out.stderr);

    let out = plugin_run(&["strtotime"], r#"{"d":"today"}"#);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("`from` is required"), "{}", out.stderr);

    let out = plugin_run(&["strtotime", "--config", "from=d"], r#"{"d":{"nested":true}}"#);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("`d` is an object"), "{}", out.stderr);
}

#[test]
fn a_wasm_file_runs_under_the_same_limits() {
    let out = plugin_run(&[HOSTILE, "--config", "mode=loop", "--timeout-ms", "50"], "{}");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("timeout"), "{}", out.stderr);

    let out = plugin_run(&[HOSTILE, "--config", "mode=echo"], r#"{"email":"Ada@Example.com"}"#);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), r#"{"email":"Ada@Example.com"}"#);

    let out = plugin_run(&["/nonexistent/plugin.wasm"], "{}");
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("cannot read plugin"), "{}", out.stderr);
}

#[test]
fn normalize_makes_matching_keys_canonical() {
    let out = plugin_run(
        &["normalize", "--config", "customer.email=email", "--config", "customer.phone=digits"],
        r#"{"customer.email":"  Ada.Lovelace@Example.COM ","customer.phone":"+1 (555) 010-9999","note":" keep me "}"#,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["customer.email"], "ada.lovelace@example.com");
    assert_eq!(json["customer.phone"], "15550109999");
    assert_eq!(json["note"], " keep me ");

    let out = plugin_run(&["normalize", "--config", "customer.email=email"], r#"{"customer.email":"nobody"}"#);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("invalid_email"), "{}", out.stderr);
}

const TEMPLATE: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/plugin_template.wasm");

#[test]
fn the_plugin_template_runs_as_built() {
    let out = plugin_run(&[TEMPLATE, "--config", "from=name"], r#"{"name": " Ada King  Lovelace", "plan": "pro"}"#);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let result: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        result,
        serde_json::json!({"name": " Ada King  Lovelace", "plan": "pro", "first_name": "Ada King", "last_name": "Lovelace"})
    );
    assert_eq!(out.stderr, "split `name` into first and last name\n", "the guest's print is shown");
    let typo = plugin_run(&[TEMPLATE, "--config", "form=name"], r#"{"name": "Ada"}"#);
    assert_eq!(typo.code, 1);
    assert!(typo.stderr.contains("bad_config") && typo.stderr.contains("unknown config key `form`"), "{}", typo.stderr);
}
