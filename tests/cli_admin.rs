//! The admin verbs of the `wasmhook` binary against a running server: every verb, both
//! output formats, the server's refusals printed with a non-zero exit, and `events tail`
//! following events live as they arrive and settle.

use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, hook_path, run_command_bounded, start};

const ECHO_ACTION: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_echo_action.wasm");
const WRONG_WORLD: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_wrong_world.wasm");

/// `wasmhook` pointed at `server` through WASMHOOK_URL / WASMHOOK_TOKEN.
fn cli(server: &Server) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmhook"));
    command
        .env("WASMHOOK_URL", format!("http://{}", server.addr))
        .env("WASMHOOK_TOKEN", &server.token)
        .env_remove("WASMHOOK_DATA_DIR");
    command
}

/// Run a verb to its end.
fn run(server: &Server, args: &[&str]) -> Output {
    let mut command = cli(server);
    command.args(args);
    run_command_bounded(command, Duration::from_secs(60))
}

/// Run a verb that must succeed; its stdout.
fn ok(server: &Server, args: &[&str]) -> String {
    let out = run(server, args);
    assert!(out.status.success(), "wasmhook {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Run a verb with `--output json`; its answer.
fn json_of(server: &Server, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--output", "json"]);
    let text = ok(server, &args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("wasmhook {args:?} printed no JSON ({e}): {text}"))
}

/// Run a verb that must fail; its stderr.
fn refused(server: &Server, args: &[&str]) -> String {
    let out = run(server, args);
    assert_eq!(out.status.code(), Some(1), "wasmhook {args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "a failure prints nothing on stdout");
    String::from_utf8(out.stderr).expect("utf-8 errors")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Start `events tail --output json` with `args`; its lines arrive on the receiver.
fn follow(server: &Server, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut tail = cli(server)
        .args(["events", "tail", "--interval-ms", "100", "--output", "json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stdout = tail.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    (tail, seen)
}

#[test]
fn every_admin_verb_drives_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let files = dir.path();

    // plugin add | list | rm
    let listed = ok(&server, &["plugin", "list"]);
    assert!(listed.starts_with("NAME") && listed.contains("strtotime  transform"), "{listed}");
    let added = json_of(&server, &["plugin", "add", "echo", ECHO_ACTION]);
    assert_eq!((added["name"].as_str(), added["world"].as_str()), (Some("echo"), Some("action")));
    let plugins = json_of(&server, &["plugin", "list"]);
    let echo = plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").expect("echo listed");
    assert_eq!(echo["sha256"], added["sha256"]);
    assert!(ok(&server, &["plugin", "list"]).contains("echo       action"));
    let wrong = refused(&server, &["plugin", "add", "wrong", WRONG_WORLD]);
    assert!(wrong.contains("wasi:cli/run") && wrong.contains("HTTP 422, plugin_refused"), "{wrong}");
    assert_eq!(ok(&server, &["plugin", "rm", "echo"]), "deleted plugin echo\n");
    assert!(!ok(&server, &["plugin", "list"]).contains("echo"));
    assert!(refused(&server, &["plugin", "rm", "strtotime"]).contains("built in"));

    // webhook create | list | show | map | transforms | match | signature
    let created = json_of(&server, &["webhook", "create", "Signups"]);
    let id = created["id"].as_str().unwrap().to_string();
    let hook = hook_path(created["url"].as_str().unwrap());
    assert_eq!(created["state"], "awaiting_test_event");
    let table = ok(&server, &["webhook", "list"]);
    assert!(table.contains(&id) && table.contains("Signups") && table.ends_with("1 of 100 webhooks\n"), "{table}");
    let test_event = json!({"email": "ada@example.com", "plan": "pro", "signed_up": "2026-01-02 10:00:00 UTC"});
    assert_eq!(server.post_hook(&hook, &test_event).status, 202);
    let mapped = json_of(&server, &["webhook", "map", &id, "email=string", "plan=enum:free,pro", "signed_up=string"]);
    let paths: Vec<&str> =
        mapped["mapping"]["properties"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["email", "plan", "signed_up"]);
    assert_eq!(mapped["mapping"]["properties"][1]["options"], json!(["free", "pro"]));
    let chain = ok(&server, &["webhook", "transforms", &id, "strtotime:from=signed_up,to=signed_up_unix"]);
    assert_eq!(chain, "STEP  PLUGIN     CONFIG\n1     strtotime  from=signed_up to=signed_up_unix\n");
    assert_eq!(ok(&server, &["webhook", "transforms", &id]), chain, "no steps given: the chain is shown");
    let from_file = write(files, "chain.json", r#"[{"plugin": "no-such-plugin", "config": {}}]"#);
    let bad_chain = refused(&server, &["webhook", "transforms", &id, "--file", &from_file]);
    assert!(bad_chain.contains("field `[0]"), "the server's field is printed: {bad_chain}");
    for property in
        [json!({"name": "email", "type": "string", "unique": true}), json!({"name": "name", "type": "string"})]
    {
        assert!(server.admin("POST", "/objects/contacts/properties", Some(property)).status < 300);
    }
    let matched = ok(
        &server,
        &["webhook", "match", &id, "--object", "contacts", "--webhook-property", "email", "--record-property", "email"],
    );
    assert!(matched.contains("state          ready"), "{matched}");
    let secret = write(files, "secret", "  whsec_cli_test_secret\n");
    let signed = json_of(&server, &["webhook", "signature", &id, "--scheme", "github", "--secret-file", &secret]);
    assert_eq!((signed["scheme"].as_str(), signed["secrets"].as_u64()), (Some("github"), Some(1)), "{signed}");
    assert!(ok(&server, &["webhook", "signature", &id]).contains("github"));
    assert_eq!(ok(&server, &["webhook", "signature", &id, "--remove"]), "signature check removed\n");
    let shown = json_of(&server, &["webhook", "show", &id]);
    assert_eq!((shown["state"].as_str(), shown["match"]["object"].as_str()), (Some("ready"), Some("contacts")));
    assert!(ok(&server, &["webhook", "show", &id]).contains("signed_up_unix"));

    // records import: a progress bar on a terminal, a summary always; a bad line fails the run.
    let rows = "{\"email\": \"ada@example.com\", \"name\": \"Ada\"}\n{\"email\": \"bob@example.com\"}\n";
    let clean = write(files, "clean.ndjson", rows);
    let summary = ok(&server, &["records", "import", "contacts", &clean]);
    assert!(summary.contains(": done\n  created 2, updated 0, failed 0 (2 lines"), "{summary}");
    let mixed = write(files, "mixed.ndjson", "{\"email\": \"ada@example.com\", \"name\": \"Ada L.\"}\n{\"nope\": 1}\n");
    let out = run(&server, &["records", "import", "contacts", &mixed]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(printed.contains("created 0, updated 1, failed 1") && printed.contains("line 2: "), "{printed}");

    // records list | show: a table with the properties, filters, pages, one record's lines.
    let listed = ok(&server, &["records", "list", "contacts", "--where", "email=ada@example.com"]);
    assert!(listed.starts_with("ID") && listed.contains("Ada L.") && !listed.contains("bob@"), "{listed}");
    let page = ok(&server, &["records", "list", "contacts", "--limit", "1", "--sort", "-updated"]);
    assert!(page.contains("ada@example.com") && page.contains("more: --cursor"), "the updated one first: {page}");
    let cursor = page.lines().last().unwrap().trim_start_matches("more: --cursor ").to_string();
    let next = ok(&server, &["records", "list", "contacts", "--limit", "1", "--sort", "-updated", "--cursor", &cursor]);
    assert!(next.contains("bob@example.com"), "{next}");
    let searched = json_of(&server, &["records", "list", "contacts", "--search", "BOB", "--prefix", "email=b"]);
    let bob = searched["records"].as_array().unwrap();
    assert_eq!(bob.len(), 1, "{searched}");
    let bob_id = bob[0]["id"].as_str().unwrap();
    let shown = ok(&server, &["records", "show", "contacts", bob_id]);
    assert!(shown.contains(bob_id) && shown.contains("properties\n  email  bob@example.com"), "{shown}");
    let bad = refused(&server, &["records", "list", "contacts", "--where", "shoe_size=44"]);
    assert!(bad.contains("shoe_size"), "{bad}");
    assert!(refused(&server, &["records", "list", "contacts", "--where", "email"]).contains("PROPERTY=VALUE"));
    assert!(refused(&server, &["records", "show", "contacts", "rec_none"]).contains("no such record"));

    // A CSV (by its name): columns mapped by header or by --map, the rest listed as left out.
    let csv = write(files, "people.csv", "\u{feff}Email,Nom,Notes\r\ncarol@example.com,\"Carol, C.\",x\r\n");
    let summary = ok(&server, &["records", "import", "contacts", &csv, "--map", "Nom=name"]);
    assert!(summary.contains(": done\n  created 1, updated 0, failed 0 (2 lines"), "{summary}");
    assert!(
        summary.contains("columns left out (no property of their name; --map COLUMN=PROPERTY): Notes"),
        "{summary}"
    );
    let carol = ok(&server, &["records", "list", "contacts", "--where", "email=carol@example.com"]);
    assert!(carol.contains("Carol, C."), "{carol}");
    assert!(refused(&server, &["records", "import", "contacts", &csv, "--map", "Nom"]).contains("COLUMN=PROPERTY"));
    let unknown = refused(&server, &["records", "import", "contacts", &csv, "--map", "Nom=shoe_size"]);
    assert!(unknown.contains("map.Nom") && unknown.contains("shoe_size"), "{unknown}");
    assert!(refused(&server, &["records", "import", "contacts", &clean, "--map", "a=b"]).contains("CSV"));

    // workflow create | list | show
    let spec = json!({"name": "welcome", "object": "contacts", "triggers": [id],
                      "actions": [{"type": "set_property", "property": "name", "value": {"value": "welcomed"}}]});
    let spec_file = write(files, "workflow.json", &spec.to_string());
    let workflow = json_of(&server, &["workflow", "create", &spec_file]);
    let workflow_id = workflow["id"].as_str().unwrap().to_string();
    let listed = ok(&server, &["workflow", "list"]);
    assert!(listed.contains(&workflow_id) && listed.contains("welcome") && listed.contains("contacts"), "{listed}");
    assert_eq!(json_of(&server, &["workflow", "show", &workflow_id])["actions"], spec["actions"]);

    // events tail follows new events as they arrive and as they settle.
    let (mut tail, seen) = follow(&server, &["--webhook", &id]);
    let (mut unmatched_tail, unmatched_seen) = follow(&server, &["--status", "unmatched"]);
    std::thread::sleep(Duration::from_millis(500));
    for email in ["ada@example.com", "bob@example.com", "nobody@example.com"] {
        assert_eq!(server.post_hook(&hook, &json!({"email": email, "plan": "free", "signed_up": "today"})).status, 202);
    }
    let mut settled = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while settled.values().filter(|s: &&String| *s != "accepted").count() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = seen.recv_timeout(left).expect("tail printed the events as they settled");
        let event: Value = serde_json::from_str(&line).expect("tail prints one JSON event per line");
        assert_eq!(event["webhook_id"], id.as_str(), "only the webhook asked for");
        settled.insert(event["id"].as_str().unwrap().to_string(), event["status"].as_str().unwrap().to_string());
    }
    let only: Value = serde_json::from_str(&unmatched_seen.recv_timeout(Duration::from_secs(20)).unwrap()).unwrap();
    assert_eq!(only["status"], "unmatched", "--status shows only that status: {only}");
    assert!(unmatched_seen.recv_timeout(Duration::from_millis(500)).is_err(), "one unmatched event, shown once");
    for child in [&mut tail, &mut unmatched_tail] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut outcomes: Vec<&str> = settled.values().map(String::as_str).collect();
    outcomes.sort_unstable();
    assert_eq!(outcomes, ["enrolled", "enrolled", "unmatched"], "the test event is older than the tail");

    // events list | show | replay
    let enrolled = json_of(&server, &["events", "list", "--webhook", &id, "--status", "enrolled"]);
    let enrolled = enrolled["events"].as_array().unwrap();
    assert_eq!(enrolled.len(), 2);
    let event_id = enrolled[0]["id"].as_str().unwrap();
    // What tail looks its watched events up with: these ids, nothing else.
    let both = format!("/events?ids={event_id},evt_none,{}", enrolled[1]["id"].as_str().unwrap());
    let looked_up = server.admin("GET", &both, None).body;
    assert_eq!(looked_up["events"].as_array().unwrap().len(), 2, "{looked_up}");
    let many = format!("/events?ids={}", vec!["evt_x"; 101].join(","));
    assert_eq!(server.admin("GET", &many, None).body["error"]["field"], "ids");
    assert_eq!(server.admin("GET", "/events?ids=evt_x&since=evt_y", None).status, 400);
    let table = ok(&server, &["events", "list", "--webhook", &id, "--limit", "2"]);
    assert!(table.starts_with("ID") && table.lines().count() == 4 && table.contains("more: --cursor"), "{table}");
    let shown = ok(&server, &["events", "show", event_id]);
    assert!(shown.contains("matched_record_id") && shown.contains("signed_up_unix"), "{shown}");
    assert_eq!(ok(&server, &["events", "replay", event_id]), format!("replaying {event_id}\n"));
    assert_eq!(ok(&server, &["events", "replay", "--webhook", &id, "--status", "unmatched"]), "replaying 1 events\n");
    server.drained(&id, Duration::from_secs(20));
    let enrollments = json_of(&server, &["workflow", "show", &workflow_id, "--enrollments"]);
    assert_eq!(enrollments["enrollments"].as_array().unwrap().len(), 2, "a replay never enrolls twice");
    assert!(ok(&server, &["workflow", "show", &workflow_id, "--enrollments"]).contains("completed"));
}

#[test]
fn failures_print_the_reason_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let missing = refused(&server, &["webhook", "show", "wh_nope"]);
    assert_eq!(missing, "error: no such webhook (HTTP 404, not_found)\n");
    let empty = refused(&server, &["webhook", "create", ""]);
    assert!(empty.contains("(field `name`; HTTP 400, invalid_request)"), "{empty}");
    assert!(refused(&server, &["webhook", "map", "wh_x", "email"]).contains("expected PATH=TYPE"));
    let mut wrong_token = cli(&server);
    wrong_token.args(["webhook", "list", "--token", "not-the-token"]);
    let out = run_command_bounded(wrong_token, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"), "{}", String::from_utf8_lossy(&out.stderr));
    let mut nobody = cli(&server);
    nobody.args(["events", "list", "--server", "http://127.0.0.1:9"]);
    let out = run_command_bounded(nobody, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the server at http://127.0.0.1:9/api/v1/events")
    );
    let absent = write(dir.path(), "unused", "");
    assert!(refused(&server, &["plugin", "add", "x", &format!("{absent}.missing")]).contains("cannot read"));
}

#[test]
fn the_local_servers_token_file_is_used_when_no_token_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data);
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmhook"));
    command
        .args(["webhook", "create", "From the file", "--server", &format!("http://{}", server.addr)])
        .env_remove("WASMHOOK_TOKEN")
        .env_remove("WASMHOOK_URL")
        .env("WASMHOOK_DATA_DIR", &data);
    let out = run_command_bounded(command, Duration::from_secs(30));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("From the file"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmhook"));
    command
        .args(["webhook", "list"])
        .env_remove("WASMHOOK_TOKEN")
        .env("WASMHOOK_URL", format!("http://{}", server.addr))
        .env("WASMHOOK_DATA_DIR", dir.path().join("elsewhere"));
    let out = run_command_bounded(command, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no admin token: pass --token or set WASMHOOK_TOKEN"));
}
