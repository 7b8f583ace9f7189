//! A custom code action written in JavaScript (plugins/lead-score-js), built from source
//! by the project's own files (npm ci + componentize-js), uploaded with the CLI and run
//! by the same host as the Rust plugins: outputs land on the record, `console.log` in the
//! step log, a thrown `{code, message}` fails the step with that reason.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, hook_path, ok, run_command_bounded, start, start_with};

fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/lead-score-js")
}

/// `npm ci` and `npm run build`, as docs/plugins.md tells integrators to.
fn build_component() -> PathBuf {
    let dir = plugin_dir();
    for args in [&["ci", "--no-audit", "--no-fund"][..], &["run", "build"][..]] {
        let mut npm = Command::new("npm");
        npm.args(args).current_dir(&dir);
        let out = npm.output().unwrap_or_else(|e| panic!("npm {args:?} does not start (is Node.js installed?): {e}"));
        assert!(
            out.status.success(),
            "npm {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir.join("dist/lead-score.wasm")
}

fn cli(server: &Server, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmhook"));
    command.args(args).env("WASMHOOK_URL", format!("http://{}", server.addr)).env("WASMHOOK_TOKEN", &server.token);
    // Compiling the ~12 MB component takes ~10 s on this machine's two cores.
    run_command_bounded(command, Duration::from_secs(180))
}

#[test]
fn a_javascript_action_scores_leads_in_the_same_host() {
    let component = build_component();
    let size = std::fs::metadata(&component).unwrap().len();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let path = component.to_string_lossy().into_owned();

    // Past the default 8 MiB the upload is refused with the way to admit it.
    let refused = cli(&server, &["plugin", "add", "lead-score", &path]);
    let reason = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1));
    assert!(reason.contains(&format!("component is {size} bytes")) && reason.contains("--max-size-mib"), "{reason}");
    let beyond = server.admin("PUT", "/plugins/lead-score?max_size_mib=65", None);
    assert_eq!((beyond.status, beyond.body["error"]["field"].as_str()), (400, Some("max_size_mib")));
    let added = cli(&server, &["plugin", "add", "lead-score", &path, "--max-size-mib", "16", "--output", "json"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let added: Value = serde_json::from_slice(&added.stdout).unwrap();
    assert_eq!((added["world"].as_str(), added["size"].as_u64()), (Some("action"), Some(size)));

    for property in [
        json!({"name": "email", "type": "string", "unique": true}),
        json!({"name": "lead_score", "type": "number"}),
        json!({"name": "lead_tier", "type": "enum", "options": ["hot", "warm", "cold"]}),
    ] {
        ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    }
    let webhook = ok(server.admin("POST", "/webhooks", Some(json!({"name": "Trials"}))), "webhook");
    let id = webhook["id"].as_str().unwrap().to_string();
    let hook = hook_path(webhook["url"].as_str().unwrap());
    ok(server.post_hook(&hook, &json!({"email": "t@example.com", "plan": "pro", "seats": 3})), "test event");
    let mapping = json!({"properties": [{"path": "email", "type": "string"}, {"path": "plan", "type": "string"},
                                        {"path": "seats", "type": "number"}]});
    ok(server.admin("PUT", &format!("/webhooks/{id}/mapping"), Some(mapping)), "mapping");
    let rule = json!({"object": "contacts", "webhook_property": "email", "record_property": "email"});
    ok(server.admin("PUT", &format!("/webhooks/{id}/match"), Some(rule)), "match");
    let actions = json!([
        {"type": "custom_code", "plugin": "lead-score",
         "inputs": {"email": "trigger.email", "plan": "trigger.plan", "seats": "trigger.seats"},
         "outputs": [{"name": "score", "type": "number"}, {"name": "tier", "type": "string"}]},
        {"type": "set_property", "property": "lead_score", "value": "action.0.score"},
        {"type": "set_property", "property": "lead_tier", "value": "action.0.tier"}
    ]);
    let workflow = ok(
        server.admin(
            "POST",
            "/workflows",
            Some(json!({"name": "score leads", "object": "contacts", "triggers": [id], "actions": actions})),
        ),
        "workflow",
    );
    let records: Vec<String> = ["ada@acme.io", "bob@gmail.com"]
        .iter()
        .map(|email| {
            let body = json!({"properties": {"email": email}});
            ok(server.admin("POST", "/objects/contacts/records", Some(body)), "record")["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();

    let events: Vec<String> = [
        json!({"email": "ada@acme.io", "plan": "Enterprise", "seats": 12}),
        json!({"email": "bob@gmail.com", "plan": "free", "seats": 1}),
    ]
    .iter()
    .map(|payload| ok(server.post_hook(&hook, payload), "event")["event_id"].as_str().unwrap().to_string())
    .collect();
    let expected = [(100.0, "hot"), (12.0, "cold")];
    for ((event, record), (score, tier)) in events.iter().zip(&records).zip(expected) {
        let run = server.finished_enrollment(event);
        assert_eq!(run["status"], "completed", "{run}");
        let step = &run["steps"][0];
        assert_eq!(step["outputs"]["score"].as_f64(), Some(score), "{step}");
        assert!(step["log"].as_str().unwrap().contains(&format!("scores {score} ({tier})")), "console.log: {step}");
        let properties =
            ok(server.admin("GET", &format!("/objects/contacts/records/{record}"), None), "record")["properties"]
                .clone();
        assert_eq!((properties["lead_score"].as_f64(), properties["lead_tier"].as_str()), (Some(score), Some(tier)));
    }

    // A thrown {code, message} is the step's typed failure.
    let workflow_id = workflow["id"].as_str().unwrap();
    let test = json!({"record_id": records[0], "trigger": {"plan": "pro"}});
    let tried = ok(server.admin("POST", &format!("/workflows/{workflow_id}/actions/0/test"), Some(test)), "test");
    assert_eq!(tried["step"]["outcome"], "failed", "{tried}");
    let reason = tried["step"]["reason"].as_str().unwrap();
    assert_eq!(reason, "guest_error: missing_input: input `email` (an e-mail address) is required");

    // After a restart the server compiles the upload in the background at once, instead
    // of on the first event that needs it.
    drop(server);
    let log = dir.path().join("restart.log");
    let server = start_with(&dir.path().join("data"), Some((&log, "info")), &["--log-format", "json"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let warmed = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let line = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["fields"]["message"] == "uploaded plugins compiled");
        if let Some(line) = line {
            break line;
        }
        assert!(std::time::Instant::now() < deadline, "no warm-up line: {text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(warmed["fields"]["count"], 1, "{warmed}");
    let test = json!({"record_id": records[1], "trigger": {"email": "bob@gmail.com"}});
    let tried = ok(server.admin("POST", &format!("/workflows/{workflow_id}/actions/0/test"), Some(test)), "test");
    assert_eq!(tried["step"]["outcome"], "succeeded", "{tried}");
}
