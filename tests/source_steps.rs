//! Custom code written in the workflow (issue 22): a `custom_code` step carries JavaScript
//! `source` in the product's shape instead of naming a plugin. Saving checks the syntax
//! (a 400 naming the line and column) and pins the source by hash; a real event runs it
//! in the built-in runtime with its inputs, the record it matched and its secrets, and
//! the outputs land on the record; each try's log records the version that ran.

use crate::support;

use serde_json::{Value, json};
use sha2::Digest as _;
use support::{Server, ok, ready_webhook, start};

pub(crate) const KEY: &str = "sk_live_scoring_77f1";

/// The snippet of the issue without the network: inputs, the object, the origin, a secret
/// in `process.env`, `console.log`, and `callback({outputFields})`.
const SCORING: &str = r#"exports.main = async (event, callback) => {
  const { customer, plan, seats } = event.inputFields;
  console.log('scoring', customer, { plan, seats });
  console.log('key ends', process.env.SCORING_KEY);
  console.log('ran at', Date.now());
  const score = seats * 10 + (plan === 'pro' ? 25 : 0);
  callback({
    outputFields: {
      score,
      tier: score > 50 ? 'hot' : 'cold',
      about: `${event.object.objectType}/${event.object.objectId} in ${event.origin.workflowName}`,
    },
  });
};
"#;

fn sha256(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Contacts with the properties the steps write, the secret, and a ready webhook: the
/// webhook's id and hook path, and the record `cus_1`'s id.
pub(crate) fn set_up(server: &Server) -> (String, String, String) {
    for property in [
        json!({"name": "score", "type": "number"}),
        json!({"name": "tier", "type": "string"}),
        json!({"name": "about", "type": "string"}),
    ] {
        ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    }
    assert_eq!(server.admin("PUT", "/secrets/SCORING_KEY", Some(json!({"value": KEY}))).status, 204);
    let (webhook, hook) = ready_webhook(server, "signups");
    let record = ok(
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_1"}}))),
        "record",
    );
    (webhook, hook, record["id"].as_str().unwrap().to_string())
}

fn code_step(source: &str) -> Value {
    json!({"type": "custom_code", "language": "javascript", "source": source,
           "inputs": {"customer": "trigger.customer", "plan": {"value": "pro"}, "seats": 7},
           "secrets": ["SCORING_KEY"],
           "outputs": [{"name": "score", "type": "number"}, {"name": "tier", "type": "string"},
                       {"name": "about", "type": "string"}]})
}

pub(crate) fn save(server: &Server, webhook: &str, actions: Value) -> support::Answer {
    let workflow = json!({"name": "Score signups", "object": "contacts", "triggers": [webhook], "actions": actions});
    server.admin("POST", "/workflows", Some(workflow))
}

/// Try step `address` of `workflow` against `record` through the test route: its step entry.
pub(crate) fn try_step(server: &Server, workflow: &str, address: &str, record: &str) -> Value {
    let route = format!("/workflows/{workflow}/actions/{address}/test");
    ok(server.admin("POST", &route, Some(json!({"record_id": record}))), "action test")["step"].clone()
}

#[test]
fn javascript_written_in_the_step_runs_for_a_real_event_and_its_outputs_land_on_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let (webhook, hook, record) = set_up(&server);
    let actions = json!([
        code_step(SCORING),
        {"type": "set_property", "property": "score", "value": "action.0.score"},
        {"type": "set_property", "property": "tier", "value": "action.0.tier"},
        {"type": "set_property", "property": "about", "value": "action.0.about"},
    ]);
    let saved = ok(save(&server, &webhook, actions), "workflow");
    // Pinned by the source's hash, which the saved step shows.
    assert_eq!(saved["actions"][0]["sha256"], sha256(SCORING), "{saved:#}");
    assert_eq!(saved["actions"][0]["source"], SCORING);
    let workflow = saved["id"].as_str().unwrap().to_string();

    let event = server.post_hook(&hook, &json!({"customer": "cus_1"}));
    assert_eq!(event.status, 202, "{}", event.text);
    let enrollment = server.finished_enrollment(event.body["event_id"].as_str().unwrap());
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    let step = &enrollment["steps"][0];
    assert_eq!(step["language"], "javascript", "{step:#}");
    assert!(step.get("plugin").is_none(), "{step:#}");
    assert_eq!(step["sha256"], sha256(SCORING), "the run records the version that ran");
    assert_eq!(step["inputs"], json!({"customer": "cus_1", "plan": "pro", "seats": 7}));
    assert_eq!(step["secrets"], json!(["SCORING_KEY"]));
    let log = step["log"].as_str().unwrap();
    assert!(log.contains(r#"scoring cus_1 {"plan":"pro","seats":7}"#), "{log}");
    // The secret reached the code (it logged it) and never the log.
    assert!(log.contains("key ends [secret SCORING_KEY]"), "{log}");
    assert!(!enrollment.to_string().contains(KEY), "{enrollment}");
    // The code's clock reads the try's start (a plugin's reads the event's arrival).
    assert!(log.contains(&format!("ran at {}", step["started_at_ms"])), "{log} / {step:#}");

    let properties =
        ok(server.admin("GET", &format!("/objects/contacts/records/{record}"), None), "record")["properties"].clone();
    assert_eq!(properties["score"], 95);
    assert_eq!(properties["tier"], "hot");
    assert_eq!(properties["about"], format!("contacts/{record} in Score signups"));

    // A new version of the source is pinned anew; the next run records it.
    let second = SCORING.replace("seats * 10", "seats * 2");
    let patched = ok(
        server.admin("PATCH", &format!("/workflows/{workflow}"), Some(json!({"actions": [code_step(&second)]}))),
        "patch",
    );
    assert_eq!(patched["actions"][0]["sha256"], sha256(&second));
    let step = try_step(&server, &workflow, "0", &record);
    assert_eq!(step["outcome"], "succeeded", "{step:#}");
    assert_eq!(step["sha256"], sha256(&second));
    assert_eq!(step["outputs"]["score"], 39, "{step:#}");
    assert_eq!(step["outputs"]["tier"], "cold");
}

#[test]
fn a_syntax_error_is_refused_when_the_workflow_is_saved_naming_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let (webhook, _, _) = set_up(&server);
    let broken = "exports.main = async (event, callback) => {\n  const x = ;\n};\n";
    let refused = save(&server, &webhook, json!([code_step(broken)]));
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["field"], "actions[0].source", "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("line 2, column 13: unexpected token ';'"), "{message}");

    // Nested in a branch, the field names its path; nothing was saved meanwhile.
    let branch = json!([{"type": "branch", "if": {"source": "trigger.customer", "op": "is_empty"},
                         "then": [code_step("exports.main = (")]}]);
    let refused = save(&server, &webhook, branch);
    assert_eq!(refused.body["error"]["field"], "actions[0].then[0].source", "{:?}", refused.body);
    assert_eq!(server.admin("GET", "/workflows", None).body["workflows"], json!([]));

    // The step's other shapes are refused naming the field too.
    let cases = [
        (json!({"type": "custom_code", "source": SCORING}), "actions[0].language"),
        (
            json!({"type": "custom_code", "language": "javascript", "source": SCORING, "plugin": "date-diff"}),
            "actions[0].source",
        ),
        (json!({"type": "custom_code", "language": "javascript"}), "actions[0].plugin"),
        (json!({"type": "custom_code", "language": "cobol", "source": SCORING}), "actions[0]"),
    ];
    for (step, field) in cases {
        let refused = save(&server, &webhook, json!([step]));
        assert_eq!(refused.status, 400, "{step}: {:?}", refused.body);
        assert_eq!(refused.body["error"]["field"], field, "{step}: {:?}", refused.body);
    }

    // A saved workflow keeps its working source when a broken one is sent.
    let workflow =
        ok(save(&server, &webhook, json!([code_step(SCORING)])), "workflow")["id"].as_str().unwrap().to_string();
    let patch = server.admin("PATCH", &format!("/workflows/{workflow}"), Some(json!({"actions": [code_step(broken)]})));
    assert_eq!(patch.status, 400, "{:?}", patch.body);
    let kept = ok(server.admin("GET", &format!("/workflows/{workflow}"), None), "workflow");
    assert_eq!(kept["actions"][0]["source"], SCORING);

    // The editor's Test tries a draft without saving it: checked like a save, then run.
    let route = format!("/workflows/{workflow}/actions/1/test");
    let record =
        server.admin("GET", "/objects/contacts/records?external_id=cus_1", None).body["records"][0]["id"].clone();
    let draft = json!([code_step(SCORING), code_step(&SCORING.replace("seats * 10", "seats * 100"))]);
    let tried = ok(server.admin("POST", &route, Some(json!({"record_id": record, "actions": draft}))), "draft test");
    assert_eq!(tried["step"]["outcome"], "succeeded", "{tried:#}");
    assert_eq!(tried["step"]["outputs"]["score"], 725, "{tried:#}");
    assert_eq!(tried["step"]["sha256"], sha256(&SCORING.replace("seats * 10", "seats * 100")));
    let broken_draft = json!({"record_id": record, "actions": [code_step(SCORING), code_step(broken)]});
    let refused = server.admin("POST", &route, Some(broken_draft));
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["field"], "actions[1].source", "{:?}", refused.body);
    let kept = ok(server.admin("GET", &format!("/workflows/{workflow}"), None), "workflow");
    assert_eq!(kept["actions"].as_array().unwrap().len(), 1, "a draft is never saved: {kept:#}");
}

#[test]
fn a_failing_step_says_why_a_thrown_error_a_missing_module_a_wrong_output_a_runaway_loop_a_memory_blow_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let (webhook, _, record) = set_up(&server);
    let step = |source: &str, extra: Value| {
        let mut step = code_step(source);
        step.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        step
    };
    let actions = json!([
        step("exports.main = async () => { throw new Error('the CRM said no'); };", json!({})),
        step("const _ = require('lodash');\nexports.main = async () => ({ outputFields: {} });", json!({})),
        step("exports.main = async (event, callback) => callback({ outputFields: { score: 'many' } });", json!({})),
        step("exports.main = async () => { while (true) {} };", json!({"timeout_ms": 50, "tries": 2})),
        step(
            "exports.main = async () => { const kept = []; let s = 'x'; for (;;) { s = s + s; kept.push(s + '!'); } };",
            json!({"timeout_ms": 2000}),
        ),
    ]);
    let workflow = ok(save(&server, &webhook, actions), "workflow")["id"].as_str().unwrap().to_string();

    let thrown = try_step(&server, &workflow, "0", &record);
    assert_eq!(thrown["outcome"], "failed", "{thrown:#}");
    assert_eq!(thrown["reason"], "guest_error: thrown: Error: the CRM said no", "{thrown:#}");

    let required = try_step(&server, &workflow, "1", &record);
    assert_eq!(required["outcome"], "failed", "{required:#}");
    assert!(required["reason"].as_str().unwrap().contains("require('lodash')"), "{required:#}");

    let wrong = try_step(&server, &workflow, "2", &record);
    assert_eq!(wrong["outcome"], "failed", "{wrong:#}");
    assert_eq!(wrong["reason"], "output `score` is declared number but the code returned \"many\"", "{wrong:#}");

    // A loop that never ends is stopped at the step's CPU limit and tried again.
    let runaway = try_step(&server, &workflow, "3", &record);
    assert_eq!(runaway["outcome"], "retrying", "{runaway:#}");
    assert!(
        runaway["reason"].as_str().unwrap().starts_with("timeout: the plugin ran longer than 50 ms"),
        "{runaway:#}"
    );
    // Memory that grows without end stops at the sandbox's cap and fails the step.
    let blown = try_step(&server, &workflow, "4", &record);
    assert_eq!(blown["outcome"], "failed", "{blown:#}");
    assert!(blown["reason"].as_str().unwrap().starts_with("memory_limit"), "{blown:#}");
    // The server still answers.
    assert_eq!(server.admin("GET", "/workflows", None).status, 200);
}

/// Calls other systems the way integrators' snippets do: `fetch` with a bearer secret and
/// `res.json()`, `axios.post` with a JSON body, a caught `axios` 404, a host the step does
/// not list, and a 503 that is tried again on the step's schedule.
const CALLING: &str = r#"const axios = require('axios');
exports.main = async (event, callback) => {
  const { base, customer } = event.inputFields;
  const res = await fetch(`${base}/score?email=${encodeURIComponent(customer)}`,
    { headers: { Authorization: `Bearer ${process.env.SCORING_KEY}` } });
  const data = await res.json();
  const posted = await axios.post(`${base}/notes`, { customer, tier: data.tier },
    { headers: { 'X-Key': process.env.SCORING_KEY } });
  let missing = 0;
  try { await axios.get(`${base}/missing`); } catch (e) { missing = e.response.status; }
  callback({ outputFields: {
    tier: data.tier,
    score: res.status + missing,
    about: `${posted.status} ${posted.data.path} ${res.headers.get('content-type')} ${res.ok}`,
  } });
};
"#;

#[test]
fn fetch_and_axios_reach_an_allowed_api_through_the_outbound_rules() {
    let api = super::outbound_http::api();
    let dir = tempfile::tempdir().unwrap();
    let server = support::start_with(&dir.path().join("data"), None, &["--outbound-allow", "127.0.0.1/32"]);
    let (webhook, hook, record) = set_up(&server);
    let base = format!("http://{}", api.addr);
    let calling = |source: &str, allowed: &[&str]| {
        let mut step = code_step(source);
        step["inputs"] = json!({"base": {"value": base}, "customer": "trigger.customer"});
        step["allowed_hosts"] = json!(allowed);
        step
    };
    let actions = json!([
        calling(CALLING, &[&base]),
        {"type": "set_property", "property": "about", "value": "action.0.about"},
    ]);
    ok(save(&server, &webhook, actions), "workflow");
    api.script.lock().unwrap().extend([(200, ""), (200, ""), (404, "")]);

    let event = server.post_hook(&hook, &json!({"customer": "cus_1"}));
    assert_eq!(event.status, 202, "{}", event.text);
    let enrollment = server.finished_enrollment(event.body["event_id"].as_str().unwrap());
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    let step = &enrollment["steps"][0];
    assert_eq!(step["outputs"], json!({"tier": "gold", "score": 604, "about": "200 /notes application/json true"}));
    assert_eq!(
        *api.seen.lock().unwrap(),
        [format!("GET /score?email=cus_1 | Bearer {KEY}"), "POST /notes | ".into(), "GET /missing | ".into()]
    );
    let (headers, body) = api.requests.lock().unwrap()[1].clone();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"customer": "cus_1", "tier": "gold"}));
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    assert_eq!(header("x-key").as_deref(), Some(KEY));
    // Each request is on the step's log, without its query; no secret anywhere.
    let log = step["log"].as_str().unwrap();
    for line in
        [format!("GET {base}/score -> 200"), format!("POST {base}/notes -> 200"), format!("GET {base}/missing -> 404")]
    {
        assert!(log.contains(&line), "{line} not in {log}");
    }
    assert!(!log.contains("email=cus_1"), "{log}");
    // ... and listed apart, as the editor's Test shows them.
    let made: Vec<(String, String)> = step["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["request"].as_str().unwrap().to_string(), r["answer"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        made,
        [
            (format!("GET {base}/score"), "200".to_string()),
            (format!("POST {base}/notes"), "200".into()),
            (format!("GET {base}/missing"), "404".into())
        ]
    );
    assert!(step["requests"][0]["duration_ms"].as_f64().unwrap() > 0.0, "{step:#}");
    assert!(!enrollment.to_string().contains(KEY), "{enrollment}");
    let properties =
        ok(server.admin("GET", &format!("/objects/contacts/records/{record}"), None), "record")["properties"].clone();
    assert_eq!(properties["about"], "200 /notes application/json true");

    // A 503 thrown out of axios is tried again later, on the step's schedule.
    let flaky = "const axios = require('axios');\n\
                 exports.main = async (event) => { await axios.get(event.inputFields.base + '/flaky'); return {}; };";
    let unlisted = "exports.main = async (event) => { await fetch(event.inputFields.base + '/secret-place'); };";
    let tried = ok(save(&server, &webhook, json!([calling(flaky, &[&base]), calling(unlisted, &[])])), "workflow");
    let tried = tried["id"].as_str().unwrap();
    api.script.lock().unwrap().push_back((503, ""));
    let step = try_step(&server, tried, "0", &record);
    assert_eq!(step["outcome"], "retrying", "{step:#}");
    let reason = step["reason"].as_str().unwrap();
    assert!(reason.contains("AxiosError: Request failed with status code 503"), "{reason}");
    assert!(reason.contains("answered 503"), "{reason}");

    // A host the step does not list: fetch rejects, nothing is sent, the step fails at once.
    let seen = api.seen.lock().unwrap().len();
    let step = try_step(&server, tried, "1", &record);
    assert_eq!(step["outcome"], "failed", "{step:#}");
    let reason = step["reason"].as_str().unwrap();
    assert!(reason.contains("TypeError: fetch failed: GET") && reason.contains("HttpRequestDenied"), "{reason}");
    assert_eq!(api.seen.lock().unwrap().len(), seen, "the API saw {:?}", api.seen.lock().unwrap());
}
