//! Python written in the workflow (issue 22, item 5): a `custom_code` step with
//! `"language": "python"` and `def main(event): return {"outputFields": …}`, in the
//! product's shape. Saving checks the syntax (a 400 naming the line and column); a real
//! event runs it with `event["inputFields"]`, secrets through `os.getenv`, `print` into
//! the step log, `json`, and `requests` to a loopback API under the outbound rules.

use crate::support;

use super::source_steps::{KEY, save, try_step};
use serde_json::{Value, json};
use support::{Server, ok, start};

/// The product's Python shape, without the network: every input type in, every output
/// type out, a secret, `print`, `json`.
const SCORING: &str = r#"import json
import os

def main(event):
    fields = event["inputFields"]
    print("scoring", fields["customer"], json.dumps({"plan": fields["plan"]}))
    print("key ends", os.getenv("SCORING_KEY"))
    score = fields["seats"] * 10 + (25 if fields["plan"] == "pro" else 0)
    parsed = json.loads('{"tags": ["a", "b"], "ok": true}')
    return {
        "outputFields": {
            "score": score,
            "tier": "hot" if score > 50 else "cold",
            "about": "%s/%s %d tags" % (event["object"]["objectType"], event["object"]["objectId"], len(parsed["tags"])),
            "vip": parsed["ok"] and fields["trial"] is False,
        }
    }
"#;

/// `source_steps`' contacts, secret, webhook and record, and a boolean property.
fn set_up(server: &Server) -> (String, String, String) {
    let made = super::source_steps::set_up(server);
    ok(server.admin("POST", "/objects/contacts/properties", Some(json!({"name": "vip", "type": "boolean"}))), "vip");
    made
}

fn python_step(source: &str) -> Value {
    json!({"type": "custom_code", "language": "python", "source": source,
           "inputs": {"customer": "trigger.customer", "plan": {"value": "pro"}, "seats": 7, "trial": false},
           "secrets": ["SCORING_KEY"],
           "outputs": [{"name": "score", "type": "number"}, {"name": "tier", "type": "string"},
                       {"name": "about", "type": "string"}, {"name": "vip", "type": "boolean"}]})
}

#[test]
fn python_written_in_the_step_runs_for_a_real_event_and_its_outputs_land_on_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let (webhook, hook, record) = set_up(&server);
    let actions = json!([
        python_step(SCORING),
        {"type": "set_property", "property": "score", "value": "action.0.score"},
        {"type": "set_property", "property": "about", "value": "action.0.about"},
        {"type": "set_property", "property": "vip", "value": "action.0.vip"},
    ]);
    let saved = ok(save(&server, &webhook, actions), "workflow");
    assert_eq!(saved["actions"][0]["language"], "python");

    let event = server.post_hook(&hook, &json!({"customer": "cus_1"}));
    assert_eq!(event.status, 202, "{}", event.text);
    let enrollment = server.finished_enrollment(event.body["event_id"].as_str().unwrap());
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    let step = &enrollment["steps"][0];
    assert_eq!(step["language"], "python");
    assert_eq!(
        step["outputs"],
        json!({"score": 95, "tier": "hot", "about": format!("contacts/{record} 2 tags"), "vip": true}),
        "{step:#}"
    );
    let log = step["log"].as_str().unwrap();
    assert!(log.contains("scoring cus_1 {\"plan\": \"pro\"}"), "{log}");
    assert!(log.contains("key ends [secret SCORING_KEY]") && !log.contains(KEY), "{log}");
    let properties =
        ok(server.admin("GET", &format!("/objects/contacts/records/{record}"), None), "record")["properties"].clone();
    assert_eq!((properties["score"].clone(), properties["vip"].clone()), (json!(95), json!(true)));
}

#[test]
fn a_python_step_that_fails_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let (webhook, _, record) = set_up(&server);

    // A syntax error is refused at save, naming its line and column.
    let broken = "def main(event):\n    x = (1,\n    return x\n";
    let refused = save(&server, &webhook, json!([python_step(broken)]));
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["field"], "actions[0].source", "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert_eq!(message, "line 2, column 9: '(' was never closed");

    let actions = json!([
        python_step("def main(event):\n    raise ValueError('the CRM said no')\n"),
        python_step("import pandas\n\ndef main(event):\n    return {}\n"),
        python_step("def main(event):\n    return {'outputFields': {'score': 'many'}}\n"),
        python_step("def main(event):\n    while True:\n        pass\n"),
    ]);
    let mut actions = actions;
    actions[3]["timeout_ms"] = json!(50);
    actions[3]["tries"] = json!(1);
    let workflow = ok(save(&server, &webhook, actions), "workflow")["id"].as_str().unwrap().to_string();

    let raised = try_step(&server, &workflow, "0", &record);
    assert_eq!(raised["outcome"], "failed", "{raised:#}");
    assert_eq!(raised["reason"], "guest_error: thrown: ValueError: the CRM said no", "{raised:#}");
    let imported = try_step(&server, &workflow, "1", &record);
    assert_eq!(imported["outcome"], "failed", "{imported:#}");
    assert!(imported["reason"].as_str().unwrap().contains("pandas"), "{imported:#}");
    let wrong = try_step(&server, &workflow, "2", &record);
    assert_eq!(wrong["reason"], "output `score` is declared number but the code returned \"many\"", "{wrong:#}");
    let runaway = try_step(&server, &workflow, "3", &record);
    assert_eq!(runaway["outcome"], "failed", "{runaway:#}");
    assert!(
        runaway["reason"].as_str().unwrap().starts_with("timeout: the plugin ran longer than 50 ms"),
        "{runaway:#}"
    );
    assert_eq!(server.admin("GET", "/workflows", None).status, 200);
}

/// `requests` the way integrators' snippets use it: a bearer secret from `os.getenv` and
/// `.json()`, a POST with `json=`, and `raise_for_status()` on a 404.
const CALLING: &str = r#"import os
import requests

def main(event):
    base = event["inputFields"]["base"]
    customer = event["inputFields"]["customer"]
    res = requests.get(base + "/score", params={"email": customer},
                       headers={"Authorization": "Bearer " + os.getenv("SCORING_KEY")})
    tier = res.json()["tier"]
    posted = requests.post(base + "/notes", json={"customer": customer, "tier": tier})
    missing = requests.get(base + "/missing")
    try:
        missing.raise_for_status()
        caught = "none"
    except requests.HTTPError as e:
        caught = str(e.response.status_code)
    return {"outputFields": {"tier": tier, "about": "%d %s %s" % (posted.status_code, posted.ok, caught)}}
"#;

#[test]
fn requests_reach_an_allowed_api_through_the_outbound_rules() {
    let api = super::outbound_http::api();
    let dir = tempfile::tempdir().unwrap();
    let server = support::start_with(&dir.path().join("data"), None, &["--outbound-allow", "127.0.0.1/32"]);
    let (webhook, _, record) = set_up(&server);
    let base = format!("http://{}", api.addr);
    let mut step = python_step(CALLING);
    step["inputs"] = json!({"base": {"value": base}, "customer": "trigger.customer"});
    step["outputs"] = json!([{"name": "tier", "type": "string"}, {"name": "about", "type": "string"}]);
    step["allowed_hosts"] = json!([base]);
    let workflow = ok(save(&server, &webhook, json!([step])), "workflow")["id"].as_str().unwrap().to_string();
    api.script.lock().unwrap().extend([(200, ""), (200, ""), (404, "")]);

    let route = format!("/workflows/{workflow}/actions/0/test");
    let tried =
        ok(server.admin("POST", &route, Some(json!({"record_id": record, "trigger": {"customer": "cus_1"}}))), "test")
            ["step"]
            .clone();
    assert_eq!(tried["outcome"], "succeeded", "{tried:#}");
    assert_eq!(tried["outputs"], json!({"tier": "gold", "about": "200 True 404"}));
    assert_eq!(
        *api.seen.lock().unwrap(),
        [format!("GET /score?email=cus_1 | Bearer {KEY}"), "POST /notes | ".into(), "GET /missing | ".into()]
    );
    let (headers, body) = api.requests.lock().unwrap()[1].clone();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"customer": "cus_1", "tier": "gold"}));
    assert!(headers.iter().any(|(n, v)| n == "content-type" && v == "application/json"), "{headers:?}");
    let answers: Vec<&str> =
        tried["requests"].as_array().unwrap().iter().map(|r| r["answer"].as_str().unwrap()).collect();
    assert_eq!(answers, ["200", "200", "404"]);
    assert!(!tried.to_string().contains(KEY), "{tried}");
}

/// On every form of the runtime (as built, the shared snapshot, the source's own), a call
/// leaves nothing to the next and reads its own time; the same text in JavaScript and
/// Python gets a snapshot of each language.
#[test]
fn each_python_call_starts_fresh_on_every_form_of_the_runtime() {
    use std::sync::Arc;
    use wasmhook::plugins::{CallContext, Language, Limits, PluginEngine, World, builtin};
    use wasmhook::value::Value;

    let engine = Arc::new(PluginEngine::new().unwrap());
    let limits =
        Limits { timeout: std::time::Duration::from_secs(2), component_bytes: usize::MAX, ..Limits::default() };
    let plain = engine.load(builtin::PYTHON, World::Script, &limits).expect("the Python runtime loads");
    engine.prepare_runtime(Language::Python).expect("the runtime pre-initializes");
    let shared = engine.runtime(Language::Python).unwrap();
    // Valid in both languages: each gets a snapshot of its own runtime.
    let both = "x = 1";
    let sha = wasmhook::plugins::source_sha256(both);
    engine.prepare_source(Language::Python, both, &sha).unwrap();
    engine.prepare_source(Language::Javascript, both, &sha).unwrap();
    let (py_own, js_own) = (
        engine.script_runtime(Language::Python, both, &sha).unwrap(),
        engine.script_runtime(Language::Javascript, both, &sha).unwrap(),
    );
    assert_ne!(py_own.sha256, js_own.sha256, "one snapshot served two languages");

    let source = "import time\nseen = []\n\ndef main(event):\n    seen.append(1)\n    \
                  return {'outputFields': {'count': len(seen), 'now': int(time.time() * 1000)}}\n";
    let sha = wasmhook::plugins::source_sha256(source);
    engine.prepare_source(Language::Python, source, &sha).unwrap();
    let own = engine.script_runtime(Language::Python, source, &sha).unwrap();
    assert!(own.sha256 != shared.sha256 && shared.sha256 != plain.sha256);
    let run = |runtime: &wasmhook::plugins::LoadedPlugin, at_ms: i64| {
        let call = CallContext { event_id: "evt_py".into(), webhook_id: "wh_py".into(), received_at_ms: at_ms };
        let report = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(engine.script(runtime, &call, source, "{\"inputFields\": {}}", &[], &limits, &[]));
        let outputs = report.result.expect("the call succeeds");
        let get = |name: &str| outputs.iter().find(|p| p.name == name).map(|p| p.value.clone());
        (get("count"), get("now"))
    };
    for runtime in [&plain, &shared, &own] {
        let (one, at) = (Some(Value::Number(1.0)), |ms: f64| Some(Value::Number(ms)));
        assert_eq!(run(runtime, 1_700_000_000_000), (one.clone(), at(1_700_000_000_000.0)));
        assert_eq!(run(runtime, 1_700_000_007_000), (one, at(1_700_000_007_000.0)));
    }
}
