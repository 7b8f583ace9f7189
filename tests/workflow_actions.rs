//! Workflows that act, end to end through HTTP against the real binary, a real SQLite
//! file and real `action` components: custom code computes outputs, `set_property` writes
//! them onto the record, a branch takes the right side; secrets reach only their step and
//! never show; failures and timeouts are visible per step; a crash between two steps
//! resumes at the next one.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, hook_path, ok, start, start_logging};

const ECHO_ACTION: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_echo_action.wasm");
const TEMPLATE: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/action_template.wasm");
const SECRET: &str = "sk_live_Zq81xT0pSecret";

/// Upload a component; returns its sha256.
fn upload(server: &Server, name: &str, path: &str) -> String {
    let bytes = std::fs::read(path).expect("guest built by host/build.rs");
    let answer = support::request(
        &server.addr,
        "PUT",
        &format!("/api/v1/plugins/{name}"),
        Some(&server.token),
        Some("application/wasm"),
        &bytes,
    );
    assert_eq!(answer.status, 200, "upload {name}: {:?}", answer.body);
    answer.body["sha256"].as_str().unwrap().to_string()
}

/// Contacts with properties for the actions to write, two plugins, a secret, and a ready
/// webhook (name, signup date through strtotime) matching on `external_id`.
fn set_up(server: &Server) -> (String, String) {
    for property in [
        json!({"name": "external_id", "type": "string", "unique": true}),
        json!({"name": "greeting", "type": "string"}),
        json!({"name": "signup_days", "type": "number"}),
        json!({"name": "tier", "type": "enum", "options": ["new", "loyal"]}),
        json!({"name": "vip", "type": "boolean"}),
    ] {
        ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    }
    upload(server, "echo", ECHO_ACTION);
    for (name, value) in [("CRM_KEY", SECRET), ("OTHER_KEY", "another-secret-value")] {
        let answer = server.admin("PUT", &format!("/secrets/{name}"), Some(json!({"value": value})));
        assert_eq!(answer.status, 204, "{:?}", answer.body);
    }
    let webhook = ok(server.admin("POST", "/webhooks", Some(json!({"name": "signups"}))), "webhook");
    let id = webhook["id"].as_str().unwrap().to_string();
    let hook = hook_path(webhook["url"].as_str().unwrap());
    let sample = json!({"customer": "cus_0", "name": "Sample", "signed_up": "2020-01-01T00:00:00Z", "fail": "x"});
    assert_eq!(server.post_hook(&hook, &sample).body["status"], "test_event");
    ok(
        server.admin(
            "PUT",
            &format!("/webhooks/{id}/mapping"),
            Some(json!({"properties": [
                {"path": "customer", "type": "string"},
                {"path": "name", "type": "string"},
                {"path": "signed_up", "type": "string"},
                {"path": "fail", "type": "string"}
            ]})),
        ),
        "mapping",
    );
    ok(
        server.admin(
            "PUT",
            &format!("/webhooks/{id}/transforms"),
            Some(json!([{"plugin": "strtotime", "config": {"from": "signed_up"}}])),
        ),
        "transforms",
    );
    ok(
        server.admin(
            "PUT",
            &format!("/webhooks/{id}/match"),
            Some(json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"})),
        ),
        "match",
    );
    (id, hook)
}

fn record(server: &Server, external_id: &str) -> String {
    let body = ok(
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": external_id}}))),
        "record",
    );
    body["id"].as_str().unwrap().to_string()
}

fn workflow(server: &Server, webhook: &str, reenroll: bool, actions: Value) -> String {
    let body = ok(
        server.admin(
            "POST",
            "/workflows",
            Some(json!({"name": "onboarding", "object": "contacts", "reenroll": reenroll, "triggers": [webhook], "actions": actions})),
        ),
        "workflow",
    );
    body["id"].as_str().unwrap().to_string()
}

/// The enrollment the event made, once it is no longer running.
fn finished_enrollment(server: &Server, event_id: &str) -> Value {
    server.finished_enrollment(event_id)
}

/// The enrollment of `workflow` that `event` made, with its steps, once it is not running
/// (for events that enroll into several workflows).
fn finished_in(server: &Server, workflow: &str, event: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = server.admin("GET", &format!("/workflows/{workflow}/enrollments"), None).body;
        if let Some(e) = all["enrollments"].as_array().unwrap().iter().find(|e| e["event_id"] == event)
            && e["status"] != "running"
        {
            return server.admin("GET", &format!("/enrollments/{}", e["id"].as_str().unwrap()), None).body;
        }
        assert!(Instant::now() < deadline, "no finished enrollment of {workflow} for {event}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn post(server: &Server, hook: &str, payload: Value) -> String {
    let answer = server.post_hook(hook, &payload);
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    answer.body["event_id"].as_str().unwrap().to_string()
}

fn props(server: &Server, id: &str) -> Value {
    server.admin("GET", &format!("/objects/contacts/records/{id}"), None).body["properties"].clone()
}

fn steps(enrollment: &Value) -> Vec<(String, String)> {
    enrollment["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["address"].as_str().unwrap().to_string(), s["outcome"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn custom_code_set_property_and_branch_run_and_secrets_stay_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = start_logging(&dir.path().join("data"), Some(&log));
    let (webhook, hook) = set_up(&server);
    let ada = record(&server, "cus_ada");
    let bob = record(&server, "cus_bob");
    let actions = json!([
        {"type": "custom_code", "plugin": "date-diff", "inputs": {"from": "trigger.signed_up_unix"},
         "outputs": [{"name": "days", "type": "number"}, {"name": "to_unix", "type": "datetime"}]},
        {"type": "set_property", "property": "signup_days", "value": "action.0.days"},
        {"type": "custom_code", "plugin": "echo", "inputs": {"name": "trigger.name", "print": {"value": "hi from the plugin"}},
         "secrets": ["CRM_KEY"],
         "outputs": [{"name": "greeting", "type": "string"}, {"name": "secrets", "type": "string"},
                     {"name": "secret_values", "type": "string"}]},
        {"type": "set_property", "property": "greeting", "value": "action.2.greeting"},
        {"type": "branch", "if": {"source": "action.0.days", "op": "greater", "value": 365},
         "then": [{"type": "set_property", "property": "tier", "value": {"value": "loyal"}},
                  {"type": "set_property", "property": "vip", "value": true}],
         "else": [{"type": "set_property", "property": "tier", "value": {"value": "new"}}]}
    ]);
    let workflow_id = workflow(&server, &webhook, false, actions.clone());
    let shown = ok(server.admin("GET", &format!("/workflows/{workflow_id}"), None), "workflow");
    let mut pinned = actions.clone();
    let echo_sha = server.admin("GET", "/plugins", None).body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "echo")
        .unwrap()["sha256"]
        .clone();
    pinned[2]["sha256"] = echo_sha;
    assert_eq!(shown["actions"], pinned, "actions round-trip as written, the upload pinned by hash");
    let in_use = server.admin("DELETE", "/plugins/echo", None);
    assert_eq!(in_use.status, 409, "{:?}", in_use.body);
    assert!(in_use.body["error"]["message"].as_str().unwrap().contains("step 2 of workflow"));

    let old = post(&server, &hook, json!({"customer": "cus_ada", "name": "Ada", "signed_up": "2020-01-01T00:00:00Z"}));
    let new = post(&server, &hook, json!({"customer": "cus_bob", "name": "Bob", "signed_up": "yesterday"}));
    let ada_run = finished_enrollment(&server, &old);
    let bob_run = finished_enrollment(&server, &new);
    assert_eq!(ada_run["status"], "completed", "{ada_run}");
    assert_eq!(bob_run["status"], "completed", "{bob_run}");

    // Ada signed up in 2020: the then side ran.
    let a = props(&server, &ada);
    assert!(a["signup_days"].as_f64().unwrap() > 365.0 * 4.0, "{a}");
    assert_eq!(a["greeting"], "hello Ada");
    assert_eq!(a["tier"], "loyal");
    assert_eq!(a["vip"], true);
    let ok_steps = |list: &[&str]| list.iter().map(|a| (a.to_string(), "succeeded".to_string())).collect::<Vec<_>>();
    assert_eq!(steps(&ada_run), ok_steps(&["0", "1", "2", "3", "4", "4.then.0", "4.then.1"]));
    // Bob signed up yesterday: the else side ran, the then side did not.
    let b = props(&server, &bob);
    assert_eq!(b["signup_days"].as_f64(), Some(1.0));
    assert_eq!(b["greeting"], "hello Bob");
    assert_eq!(b["tier"], "new");
    assert!(b.get("vip").is_none(), "{b}");
    assert_eq!(steps(&bob_run), ok_steps(&["0", "1", "2", "3", "4", "4.else.0"]));

    // Each step shows its inputs, outputs, duration; the secret only by name.
    let echo = &ada_run["steps"][2];
    assert_eq!(echo["inputs"]["name"], "Ada");
    assert_eq!(echo["secrets"], json!(["CRM_KEY"]));
    assert_eq!(echo["outputs"]["secrets"], "CRM_KEY", "the plugin received exactly its named secret");
    assert_eq!(echo["outputs"]["secret_values"], "[secret CRM_KEY]", "an echoed secret is redacted");
    assert!(echo["outputs"].get("event").is_none(), "undeclared outputs are dropped");
    assert_eq!(echo["log"].as_str().unwrap().trim(), "hi from the plugin");
    assert!(echo["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(ada_run["steps"][0]["inputs"]["from"].as_f64(), Some(1_577_836_800.0));
    assert_eq!(ada_run["steps"][4]["branch"], "then");

    // The secret value is in no answer and no log line.
    let secrets = ok(server.admin("GET", "/secrets", None), "secrets");
    assert_eq!(secrets["secrets"][0]["name"], "CRM_KEY");
    assert_eq!(secrets["secrets"][1]["name"], "OTHER_KEY");
    assert!(secrets["secrets"][0].get("value").is_none());
    for path in [
        format!("/enrollments/{}", ada_run["id"].as_str().unwrap()),
        format!("/workflows/{workflow_id}/enrollments"),
        format!("/workflows/{workflow_id}"),
        format!("/events/{old}"),
        "/events".to_string(),
        "/secrets".to_string(),
        format!("/objects/contacts/records/{ada}"),
    ] {
        let body = server.admin("GET", &path, None).body.to_string();
        assert!(!body.contains(SECRET), "{path} shows the secret");
    }
    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("secret set"), "the log is captured");
    assert!(!logged.contains(SECRET), "the secret is in the log");
    let key = std::fs::metadata(dir.path().join("data/secrets.key")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777, 0o600);
    let stored = support::stored_bytes(&dir.path().join("data"));
    let hex: String = SECRET.bytes().map(|b| format!("{b:02x}")).collect();
    let found = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    assert!(!found(SECRET.as_bytes()) && !found(hex.as_bytes()), "the secret is stored in clear");
}

#[test]
fn failures_are_visible_per_step_and_other_enrollments_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, hook) = set_up(&server);
    let ids: Vec<String> = ["cus_a", "cus_b", "cus_c"].iter().map(|c| record(&server, c)).collect();
    workflow(
        &server,
        &webhook,
        true,
        json!([
            {"type": "custom_code", "plugin": "echo", "inputs": {"name": "trigger.name", "fail": "trigger.fail"},
             "outputs": [{"name": "greeting", "type": "string"}]},
            {"type": "set_property", "property": "greeting", "value": "action.0.greeting"}
        ]),
    );
    let failing = post(&server, &hook, json!({"customer": "cus_a", "name": "A", "fail": "the CRM said no"}));
    let fine = post(&server, &hook, json!({"customer": "cus_b", "name": "B"}));
    let failed = finished_enrollment(&server, &failing);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["reason"], "step 0 failed: guest_error: asked_to_fail: the CRM said no");
    assert_eq!(steps(&failed), vec![("0".to_string(), "failed".to_string())]);
    assert!(props(&server, &ids[0]).get("greeting").is_none());
    assert_eq!(finished_enrollment(&server, &fine)["status"], "completed");
    assert_eq!(props(&server, &ids[1])["greeting"], "hello B");

    // A declared output of the wrong type fails the step with a clear reason.
    let wrong = workflow(
        &server,
        &webhook,
        true,
        json!([{"type": "custom_code", "plugin": "echo", "inputs": {"name": "trigger.name"},
                "outputs": [{"name": "greeting", "type": "number"}]}]),
    );
    let event = post(&server, &hook, json!({"customer": "cus_c", "name": "C"}));
    let typed = finished_in(&server, &wrong, &event);
    assert_eq!(typed["status"], "failed");
    assert_eq!(
        typed["reason"],
        "step 0 failed: output `greeting` is declared number but the plugin returned \"hello C\""
    );

    // A timeout is retried with backoff, then fails; each try is in the log.
    let slow = workflow(
        &server,
        &webhook,
        true,
        json!([{"type": "custom_code", "plugin": "echo", "inputs": {"name": "trigger.name", "spin": 1e12},
                "timeout_ms": 50, "tries": 2, "backoff_ms": 100}]),
    );
    let event = post(&server, &hook, json!({"customer": "cus_c", "name": "C"}));
    let timed_out = finished_in(&server, &slow, &event);
    assert_eq!(timed_out["status"], "failed");
    assert_eq!(steps(&timed_out), vec![("0".into(), "retrying".into()), ("0".into(), "failed".into())]);
    assert_eq!(timed_out["steps"][1]["attempt"], 2);
    assert_eq!(timed_out["reason"], "step 0 failed: timeout: the plugin ran longer than 50 ms");
}

#[test]
fn workflow_actions_are_checked_when_saved() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, _) = set_up(&server);
    let refused = |actions: Value, field: &str, message_part: &str| {
        let answer = server.admin(
            "POST",
            "/workflows",
            Some(json!({"name": "w", "object": "contacts", "triggers": [webhook], "actions": actions})),
        );
        assert_eq!(answer.status, 400, "{actions}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["field"], field, "{:?}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(message_part), "{message}");
    };
    refused(json!([{"type": "custom_code", "plugin": "strtotime"}]), "actions[0].plugin", "is a transform");
    refused(json!([{"type": "custom_code", "plugin": "nope"}]), "actions[0].plugin", "no plugin `nope`");
    refused(json!([{"type": "send_email"}]), "actions[0]", "unknown variant");
    refused(json!([{"type": "set_property", "property": "vip", "value": 3}]), "actions[0].value", "boolean property");
    refused(
        json!([{"type": "set_property", "property": "tier", "value": {"value": "gold"}}]),
        "actions[0].value",
        "not an option",
    );
    refused(
        json!([{"type": "set_property", "property": "external_id", "value": {"value": "x"}}]),
        "actions[0].property",
        "unique",
    );
    refused(json!([{"type": "set_property", "property": "greeting", "value": "Ada"}]), "actions[0]", "not a source");
    refused(
        json!([{"type": "set_property", "property": "greeting", "value": "action.1.greeting"},
               {"type": "custom_code", "plugin": "echo", "outputs": [{"name": "greeting", "type": "string"}]}]),
        "actions[0].value",
        "no step 1 runs before",
    );
    refused(
        json!([{"type": "custom_code", "plugin": "echo", "outputs": [{"name": "n", "type": "number"}]},
               {"type": "set_property", "property": "vip", "value": "action.0.n"}]),
        "actions[1].value",
        "boolean",
    );
    refused(
        json!([{"type": "branch", "if": {"source": "trigger.name", "op": "greater", "value": "abc"}, "then": []}]),
        "actions[0].if.value",
        "number",
    );
    refused(
        json!([{"type": "branch", "if": {"source": "trigger.name", "op": "is_empty"},
                "then": [{"type": "custom_code", "plugin": "echo", "secrets": ["bad name!"]}]}]),
        "actions[0].then[0].secrets[0]",
        "secret name",
    );
    // Bounds: 200 steps in all (branches' count), each webhook a trigger once.
    let step = json!({"type": "set_property", "property": "greeting", "value": {"value": "hi"}});
    let nested = json!([{"type": "branch", "if": {"source": "trigger.name", "op": "is_empty"},
                         "then": vec![step.clone(); 150], "else": vec![step.clone(); 50]}]);
    refused(nested, "actions", "at most 200 steps");
    let long_name = server.admin(
        "POST",
        "/workflows",
        Some(json!({"name": "w".repeat(256), "object": "contacts", "triggers": [webhook], "actions": []})),
    );
    assert_eq!(long_name.body["error"]["field"], "name", "{:?}", long_name.body);
    assert!(long_name.body["error"]["message"].as_str().unwrap().contains("255"), "{:?}", long_name.body);
    let twice = server.admin(
        "POST",
        "/workflows",
        Some(json!({"name": "w", "object": "contacts", "triggers": [webhook, webhook], "actions": [step]})),
    );
    assert_eq!(twice.status, 400, "{:?}", twice.body);
    assert_eq!(twice.body["error"]["field"], "triggers[1]", "{:?}", twice.body);
    assert!(twice.body["error"]["message"].as_str().unwrap().contains("a trigger already"), "{:?}", twice.body);
    let listed = server.admin("GET", "/workflows", None).body;
    assert_eq!(listed["workflows"].as_array().map(Vec::len), Some(0), "nothing refused was stored: {listed}");

    let answer = server.admin("PUT", "/secrets/bad%20name", Some(json!({"value": "x"})));
    assert_eq!(answer.status, 400);
    assert_eq!(server.admin("PUT", "/secrets/OK", Some(json!({}))).body["error"]["field"], "value");
}

/// Kill the server while the third step of an enrollment runs; after a restart the
/// enrollment resumes at that step and the two before it are not run again.
#[test]
fn a_crash_between_steps_resumes_at_the_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = start(&data);
    let (webhook, hook) = set_up(&server);
    let ada = record(&server, "cus_ada");
    workflow(
        &server,
        &webhook,
        true,
        json!([
            {"type": "custom_code", "plugin": "echo", "inputs": {"name": "trigger.name"},
             "outputs": [{"name": "greeting", "type": "string"}]},
            {"type": "set_property", "property": "greeting", "value": "action.0.greeting"},
            // Several seconds of CPU: the kill lands while it runs.
            {"type": "custom_code", "plugin": "echo", "inputs": {"name": "trigger.name", "spin": 4e9},
             "timeout_ms": 20000, "outputs": [{"name": "length", "type": "number"}]},
            {"type": "set_property", "property": "signup_days", "value": "action.2.length"}
        ]),
    );
    let event = post(&server, &hook, json!({"customer": "cus_ada", "name": "Ada"}));
    let deadline = Instant::now() + Duration::from_secs(30);
    let enrollment_id = loop {
        let detail = server.admin("GET", &format!("/events/{event}"), None).body;
        if let Some(id) = detail["enrollments"][0]["enrollment_id"].as_str() {
            let e = server.admin("GET", &format!("/enrollments/{id}"), None).body;
            if e["steps_run"] == 2 {
                assert_eq!(e["status"], "running");
                break id.to_string();
            }
        }
        assert!(Instant::now() < deadline, "the first two steps did not run");
        std::thread::sleep(Duration::from_millis(10));
    };
    // While it runs, the record does not enroll again (even with re-enrollment on).
    let again = post(&server, &hook, json!({"customer": "cus_ada", "name": "Ada"}));
    let deadline = Instant::now() + Duration::from_secs(30);
    let second = loop {
        let e = server.admin("GET", &format!("/events/{again}"), None).body;
        if e["status"] != "accepted" {
            break e;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(second["status"], "already_enrolled", "{second}");
    assert!(second["reason"].as_str().unwrap().contains("still running"), "{second}");
    let before = server.admin("GET", &format!("/enrollments/{enrollment_id}"), None).body;
    assert_eq!(before["status"], "running", "the slow step was still running at the kill");
    assert_eq!(before["steps_run"], 2);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(props_offline(&data), 2, "two steps were committed before the kill");

    let server = start(&data);
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let e = server.admin("GET", &format!("/enrollments/{enrollment_id}"), None).body;
        if e["status"] != "running" {
            break e;
        }
        assert!(Instant::now() < deadline, "the enrollment did not resume");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(after["status"], "completed", "{after}");
    let ok_steps = ["0", "1", "2", "3"].iter().map(|a| (a.to_string(), "succeeded".to_string())).collect::<Vec<_>>();
    assert_eq!(steps(&after), ok_steps, "steps 0 and 1 ran once, 2 and 3 after the restart");
    assert_eq!(after["steps"][2]["attempt"], 1, "a killed try leaves no entry");
    assert_eq!(after["steps"][0]["started_at_ms"], before["steps"][0]["started_at_ms"]);
    let p = props(&server, &ada);
    assert_eq!(p["greeting"], "hello Ada");
    assert_eq!(p["signup_days"].as_f64(), Some(3.0));
}

/// Steps committed for the one enrollment, read from the store with the server stopped.
fn props_offline(data: &Path) -> usize {
    let sql = "SELECT steps_json FROM enrollments WHERE status = 'running'";
    let steps: String = match support::database_for(data) {
        Some(url) => support::psql(&url, sql),
        None => rusqlite::Connection::open(data.join("wasmhook.db")).unwrap().query_row(sql, [], |r| r.get(0)).unwrap(),
    };
    serde_json::from_str::<Vec<Value>>(&steps).unwrap().len()
}

#[test]
fn one_action_is_tested_against_a_real_record_and_applied_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, _) = set_up(&server);
    let ada = record(&server, "cus_ada");
    let id = workflow(
        &server,
        &webhook,
        false,
        json!([
            {"type": "custom_code", "plugin": "date-diff",
             "inputs": {"from": "trigger.signed_up_unix", "to": {"value": "2020-02-01"}},
             "outputs": [{"name": "days", "type": "number"}]},
            {"type": "set_property", "property": "greeting", "value": "trigger.name"}
        ]),
    );
    let test = |n: &str, body: Value| server.admin("POST", &format!("/workflows/{id}/actions/{n}/test"), Some(body));
    let code = test("0", json!({"record_id": ada, "trigger": {"signed_up_unix": 1_577_836_800}}));
    assert_eq!(code.status, 200, "{:?}", code.body);
    assert_eq!(code.body["step"]["outcome"], "succeeded");
    assert_eq!(code.body["step"]["outputs"]["days"].as_f64(), Some(31.0));
    assert_eq!(code.body["applied"], false);

    let dry = test("1", json!({"record_id": ada, "trigger": {"name": "Zed"}}));
    assert_eq!(dry.body["write"], json!({"property": "greeting", "value": "Zed"}));
    assert_eq!(dry.body["applied"], false);
    assert!(props(&server, &ada).get("greeting").is_none(), "a dry run changes nothing");
    let applied = test("1", json!({"record_id": ada, "trigger": {"name": "Zed"}, "apply": true}));
    assert_eq!(applied.body["applied"], true);
    assert_eq!(props(&server, &ada)["greeting"], "Zed");

    let failing = test("0", json!({"record_id": ada}));
    assert_eq!(failing.body["step"]["outcome"], "failed");
    assert_eq!(failing.body["step"]["reason"], "guest_error: missing_input: input `from` has no value");
    assert_eq!(test("7", json!({"record_id": ada})).status, 404);
    assert_eq!(test("0", json!({})).body["error"]["field"], "record_id");
    assert_eq!(test("0", json!({"record_id": "rec_nope"})).body["error"]["field"], "record_id");
}

/// A step runs the component version it was saved with: new bytes under the plugin's name
/// reach a workflow only when it is saved again.
#[test]
fn custom_code_runs_the_version_it_was_saved_with() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, hook) = set_up(&server);
    let ada = record(&server, "cus_ada");
    let first = upload(&server, "greeter", ECHO_ACTION);
    let actions = json!([
        {"type": "custom_code", "plugin": "greeter", "inputs": {"name": "trigger.name", "text": "trigger.name"},
         "outputs": [{"name": "greeting", "type": "string"}, {"name": "length", "type": "number"}]}
    ]);
    let id = workflow(&server, &webhook, true, actions.clone());
    let saved = server.admin("GET", &format!("/workflows/{id}"), None).body;
    assert_eq!(saved["actions"][0]["sha256"], first.as_str());

    // The template (outputs `length` only) replaces the bytes under the same name.
    let second = upload(&server, "greeter", TEMPLATE);
    assert_ne!(first, second);
    let event = post(&server, &hook, json!({"customer": "cus_ada", "name": "Ada"}));
    let run = finished_enrollment(&server, &event);
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["steps"][0]["sha256"], first.as_str(), "the pinned version ran");
    assert_eq!(run["steps"][0]["outputs"]["greeting"], "hello Ada");

    // Saving the actions again adopts the current version.
    let patched = server.admin("PATCH", &format!("/workflows/{id}"), Some(json!({"actions": actions})));
    assert_eq!(patched.body["actions"][0]["sha256"], second.as_str(), "{:?}", patched.body);
    let tried = server.admin(
        "POST",
        &format!("/workflows/{id}/actions/0/test"),
        Some(json!({"record_id": ada, "trigger": {"name": "Ada"}})),
    );
    assert_eq!(tried.body["step"]["sha256"], second.as_str());
    assert_eq!(tried.body["step"]["outputs"]["length"].as_f64(), Some(3.0));
    assert!(tried.body["step"]["outputs"].get("greeting").is_none(), "the template returns no greeting");
    // An older version can be named explicitly; an unknown one is refused.
    let mut older = actions.clone();
    older[0]["sha256"] = json!(first);
    let back = server.admin("PATCH", &format!("/workflows/{id}"), Some(json!({"actions": older})));
    assert_eq!(back.body["actions"][0]["sha256"], first.as_str(), "{:?}", back.body);
    older[0]["sha256"] = json!("0".repeat(64));
    let unknown = server.admin("PATCH", &format!("/workflows/{id}"), Some(json!({"actions": older})));
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error"]["field"], "actions[0].sha256");
}
