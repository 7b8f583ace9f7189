//! The OpenAPI document the server publishes describes the API it serves: every documented
//! operation is routed by the live server, each one's security says whether it needs the
//! admin token (checked by calling it without one), and the answers fit their documented
//! schemas (checked field by field along a walk through the API).

use crate::support;

use serde_json::Value;
use support::{request, request_with, start};

#[test]
fn the_document_describes_the_served_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let answer = request_with(&server.addr, "GET", "/api/v1/openapi.json", &[], b"");
    assert_eq!(answer.status, 200, "the document needs no token");
    let document = answer.body;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "OpenAPI 3: {}", document["openapi"]);
    assert_eq!(document["info"]["title"], "wasmhook");
    assert_eq!(document["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");
    let paths = document["paths"].as_object().unwrap();
    for core in ["/hooks/{token}", "/api/v1/webhooks", "/api/v1/events/{id}/replay", "/api/v1/workflows", "/metrics"] {
        assert!(paths.contains_key(core), "{core} is documented");
    }

    let mut operations = 0;
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            assert!(ids.insert(operation["operationId"].as_str().unwrap().to_string()), "unique operation ids");
            let concrete = path.replace("{token}", "whk_unknown").replace(['{', '}'], "");
            let method = method.to_uppercase();
            let token = format!("Bearer {}", server.token);
            let json = ("Content-Type", "application/json");
            let with_token = [json, ("Authorization", token.as_str())];
            let served = request_with(&server.addr, &method, &concrete, &with_token, b"{}");
            // The router's own refusals say `unknown_route` (404) or `method_not_allowed`
            // (405); a handler's 404 says what it missed.
            assert_ne!(served.status, 405, "{method} {path} is not routed");
            assert!(
                served.status != 404
                    || (served.body["error"]["code"].is_string() && served.body["error"]["code"] != "unknown_route"),
                "{method} {path} is not routed: {}",
                served.text
            );
            let public = operation["security"] == serde_json::json!([{}]);
            let anonymous = request_with(&server.addr, &method, &concrete, &[json], b"{}");
            if public {
                assert_ne!(anonymous.status, 401, "{method} {path} is documented as public");
            } else {
                assert_eq!(anonymous.status, 401, "{method} {path} is documented as needing the admin token");
            }
            assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
        }
    }
    assert!(operations >= 45, "{operations} operations");
    let schema = &document["components"]["schemas"]["NewWebhook"];
    assert_eq!(schema["required"], Value::from(vec!["name"]), "request bodies carry their schema: {schema}");
}

/// The framework's own refusals answer the documented error body too (axum answers them
/// as plain text or nothing), with a code that says which refusal it is.
#[test]
fn the_routers_own_refusals_have_the_documented_error_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let token = format!("Bearer {}", server.token);
    let admin = [("Authorization", token.as_str())];
    let cases: [(&str, &str, u16, &str); 5] = [
        ("GET", "/api/v1/events?limit=-1", 400, "invalid_request"),
        ("GET", "/api/v1/webhooks/%FF%FE", 400, "invalid_request"),
        ("GET", "/api/v1/no-such-thing", 404, "unknown_route"),
        ("GET", "/nothing/here", 404, "unknown_route"),
        ("PATCH", "/api/v1/webhooks", 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        let answer = request_with(&server.addr, method, path, &admin, b"");
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.text);
        assert_eq!(answer.header("content-type").as_deref(), Some("application/json"), "{method} {path}");
        let error = &answer.body["error"];
        assert_eq!(error["code"], code, "{method} {path}: {}", answer.text);
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{method} {path}: {}", answer.text);
        assert!(answer.header("x-request-id").is_some(), "{method} {path} keeps its request id");
    }
    let wrong_method = request_with(&server.addr, "PATCH", "/api/v1/webhooks", &admin, b"");
    assert!(
        wrong_method.header("allow").is_some_and(|a| a.contains("GET")),
        "405 keeps Allow: {}",
        wrong_method.headers
    );
    // A handler's own 404 still names what it missed.
    let missing = request_with(&server.addr, "GET", "/api/v1/webhooks/wh_missing", &admin, b"");
    assert_eq!((missing.status, missing.body["error"]["code"].as_str()), (404, Some("not_found")));
}

/// Whether `value` fits `schema` as the document gives it: `$ref`, `oneOf`/`anyOf`,
/// `allOf`, `type` (one or several), `enum`, `properties` with `required` (a field the
/// schema does not list is an error unless `additionalProperties` allows it), `items`.
fn conforms(document: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &document["components"]["schemas"][name];
        if target.is_null() {
            return Err(format!("{at}: {reference} is not in the document"));
        }
        return conforms(document, target, value, at);
    }
    if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let misfits: Vec<String> =
            options.iter().filter_map(|option| conforms(document, option, value, at).err()).collect();
        return if misfits.len() < options.len() {
            Ok(())
        } else {
            Err(format!("{at}: fits none of its {} forms: {}", options.len(), misfits.join(" / ")))
        };
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        conforms(document, part, value, at)?;
    }
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(several) => several.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let fits = |t: &&str| *t == actual || (*t == "number" && actual == "integer");
    if !types.is_empty() && !types.iter().any(fits) {
        return Err(format!("{at}: {value} is a {actual}; the document says {types:?}"));
    }
    if let Some(names) = schema["enum"].as_array()
        && !value.is_null()
        && !names.contains(value)
    {
        return Err(format!("{at}: {value} is not one of the documented {names:?}"));
    }
    match value {
        Value::Object(fields) => {
            for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !fields.contains_key(required) {
                    return Err(format!("{at}.{required}: documented as required, but missing"));
                }
            }
            let listed = schema["properties"].as_object();
            for (key, field) in fields {
                let at = format!("{at}.{key}");
                match (listed.and_then(|l| l.get(key)), &schema["additionalProperties"]) {
                    (Some(field_schema), _) => conforms(document, field_schema, field, &at)?,
                    (None, Value::Object(_)) => conforms(document, &schema["additionalProperties"], field, &at)?,
                    (None, Value::Bool(true)) => {}
                    // A free-form object (no listed fields) takes any; a described one names each.
                    (None, _) if listed.is_none() => {}
                    (None, _) => return Err(format!("{at}: answered, but not in the document")),
                }
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for (i, item) in items.iter().enumerate() {
                conforms(document, &schema["items"], item, &format!("{at}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[test]
fn the_validator_catches_what_the_document_does_not_say() {
    let document = serde_json::json!({"components": {"schemas": {"Thing": {
        "type": "object", "required": ["id"],
        "properties": {"id": {"type": "string"}, "n": {"type": ["integer", "null"]},
                       "state": {"type": "string", "enum": ["a", "b"]}}}}}});
    let thing = serde_json::json!({"$ref": "#/components/schemas/Thing"});
    let check = |value: Value| conforms(&document, &thing, &value, "$");
    assert_eq!(check(serde_json::json!({"id": "x", "n": null, "state": "a"})), Ok(()));
    assert!(check(serde_json::json!({"n": 1})).unwrap_err().contains("$.id: documented as required"));
    assert!(check(serde_json::json!({"id": "x", "extra": 1})).unwrap_err().contains("$.extra: answered, but not"));
    assert!(check(serde_json::json!({"id": 1})).unwrap_err().contains("is a integer"));
    assert!(check(serde_json::json!({"id": "x", "state": "c"})).unwrap_err().contains("not one of"));
}

/// A server, its OpenAPI document, and a check of every answer against it.
struct Documented {
    server: support::Server,
    document: Value,
    checked: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Documented {
    /// Call `method concrete` (the admin API under `/api/v1` unless it starts with `/hooks`
    /// or `/healthz`), find the operation at `template`, and check that the status is
    /// documented and the body fits that status's schema.
    fn call(&self, method: &str, template: &str, concrete: &str, body: Option<Value>) -> support::Answer {
        let answer = if concrete.starts_with("/hooks/") || concrete == "/healthz" {
            let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
            support::request(&self.server.addr, method, concrete, None, Some("application/json"), &bytes)
        } else {
            self.server.admin(method, concrete, body)
        };
        let full = if template.starts_with("/hooks/") || template == "/healthz" {
            template.to_string()
        } else {
            format!("/api/v1{template}")
        };
        let operation = &self.document["paths"][&full][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {full} is not in the document");
        let response = &operation["responses"][answer.status.to_string()];
        assert!(
            response.is_object(),
            "{method} {concrete} answered {}, not documented: {}",
            answer.status,
            answer.text
        );
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_object() {
            if let Err(misfit) = conforms(&self.document, schema, &answer.body, "$") {
                panic!(
                    "{method} {concrete} ({}) does not match its documented schema: {misfit}\n{}",
                    answer.status, answer.text
                );
            }
        } else {
            assert!(answer.text.is_empty(), "{method} {concrete}: an undocumented body: {}", answer.text);
        }
        self.checked.borrow_mut().insert(format!("{method} {full}"));
        answer
    }

    /// Like [`call`](Self::call), for an answer that must be a success; its body.
    fn ok(&self, method: &str, template: &str, concrete: &str, body: Option<Value>) -> Value {
        let answer = self.call(method, template, concrete, body);
        assert!(answer.status < 300, "{method} {concrete}: {} {}", answer.status, answer.text);
        answer.body
    }
}

/// Every answer of a walk from a new webhook to an enrolled record and back through the
/// event log, plus some refusals, fits the schema the document gives for its operation
/// and status: each field documented, each required one present, types and names as
/// documented. Most operations are walked; the rest stay checked by the unit test that
/// every answer with a body names a schema.
#[test]
fn answers_match_their_documented_schemas() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir.path().join("data"));
    let document = request_with(&server.addr, "GET", "/api/v1/openapi.json", &[], b"").body;
    let api = Documented { server, document, checked: Default::default() };

    api.ok("GET", "/healthz", "/healthz", None);
    api.ok("GET", "/plugins", "/plugins", None);
    api.ok("GET", "/objects", "/objects", None);
    api.ok("POST", "/objects", "/objects", Some(json!({"name": "shipments", "label": "Shipments"})));
    let property = json!({"name": "external_id", "type": "string", "unique": true});
    api.ok("POST", "/objects/{object}/properties", "/objects/contacts/properties", Some(property));
    let tier = json!({"name": "tier", "type": "enum", "options": ["new", "loyal"]});
    api.ok("POST", "/objects/{object}/properties", "/objects/contacts/properties", Some(tier));
    api.ok("GET", "/objects/{object}/properties", "/objects/contacts/properties", None);
    let rec = "/objects/{object}/records";
    let ada = api.ok("POST", rec, "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_ada"}})));
    let ada = ada["id"].as_str().unwrap().to_string();
    let one = "/objects/{object}/records/{id}";
    api.ok("GET", one, &format!("/objects/contacts/records/{ada}"), None);
    api.ok("PATCH", one, &format!("/objects/contacts/records/{ada}"), Some(json!({"properties": {"tier": "new"}})));
    api.ok("GET", rec, "/objects/contacts/records?external_id=cus_ada", None);
    let listed = api.ok("GET", rec, "/objects/contacts/records?limit=1&sort=-updated&q=cus", None);
    assert_eq!(listed["records"][0]["id"], ada.as_str());
    api.ok(
        "GET",
        "/objects/{object}/records/{id}/enrollments",
        &format!("/objects/contacts/records/{ada}/enrollments"),
        None,
    );
    api.call("GET", one, "/objects/contacts/records/rec_missing", None);
    let ndjson = b"{\"external_id\": \"cus_bob\"}\n{\"external_id\": 5}\n";
    let import = request(
        &api.server.addr,
        "POST",
        "/api/v1/objects/contacts/records/import?wait=true",
        Some(&api.server.token),
        Some("application/x-ndjson"),
        ndjson,
    );
    assert_eq!(import.status, 200, "{}", import.text);
    let schema = &api.document["paths"]["/api/v1/objects/{object}/records/import"]["post"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    conforms(&api.document, schema, &import.body, "$").unwrap();
    let import_id = import.body["id"].as_str().unwrap().to_string();
    api.ok("GET", "/imports/{id}", &format!("/imports/{import_id}"), None);
    api.ok("GET", "/imports", "/imports", None);

    let webhook = api.ok("POST", "/webhooks", "/webhooks", Some(json!({"name": "Orders"})));
    let id = webhook["id"].as_str().unwrap().to_string();
    let hook = support::hook_path(webhook["url"].as_str().unwrap());
    api.ok("GET", "/webhooks", "/webhooks", None);
    api.call("GET", "/webhooks/{id}/test-event", &format!("/webhooks/{id}/test-event"), None);
    let sample = json!({"customer": "cus_ada", "placed": "2024-03-10T09:15:00Z", "total": 12.5, "gift": false});
    api.ok("POST", "/hooks/{token}", &hook, Some(sample.clone()));
    api.ok("GET", "/webhooks/{id}/test-event", &format!("/webhooks/{id}/test-event"), None);
    let mapping = json!({"properties": [{"path": "customer", "type": "string"}, {"path": "placed", "type": "string"},
        {"path": "total", "type": "number"}]});
    api.ok("PUT", "/webhooks/{id}/mapping", &format!("/webhooks/{id}/mapping"), Some(mapping));
    let chain = json!([{"plugin": "strtotime", "config": {"from": "placed"}}]);
    api.ok("POST", "/webhooks/{id}/transforms/test", &format!("/webhooks/{id}/transforms/test"), Some(chain.clone()));
    let broken = json!([{"plugin": "strtotime", "config": {"from": "customer"}}]);
    api.ok("POST", "/webhooks/{id}/transforms/test", &format!("/webhooks/{id}/transforms/test"), Some(broken));
    api.ok("PUT", "/webhooks/{id}/transforms", &format!("/webhooks/{id}/transforms"), Some(chain));
    let rule = json!({"object": "contacts", "webhook_property": "customer", "record_property": "external_id"});
    let ready = api.ok("PUT", "/webhooks/{id}/match", &format!("/webhooks/{id}/match"), Some(rule));
    assert_eq!(ready["state"], "ready");
    api.ok("PUT", "/webhooks/{id}/dedup", &format!("/webhooks/{id}/dedup"), Some(json!({"body_path": "order"})));
    let limit = json!({"per_second": 50.0});
    api.ok("PUT", "/webhooks/{id}/rate-limit", &format!("/webhooks/{id}/rate-limit"), Some(limit));
    api.ok("DELETE", "/webhooks/{id}/rate-limit", &format!("/webhooks/{id}/rate-limit"), None);

    let actions = json!([
        {"type": "set_property", "property": "tier", "value": {"value": "loyal"}},
        {"type": "branch", "if": {"source": "trigger.total", "op": "greater", "value": 10},
         "then": [{"type": "set_property", "property": "tier", "value": {"value": "new"}}]}
    ]);
    let workflow = json!({"name": "Tiers", "object": "contacts", "triggers": [id], "actions": actions});
    let workflow = api.ok("POST", "/workflows", "/workflows", Some(workflow));
    let wf = workflow["id"].as_str().unwrap().to_string();
    api.ok("GET", "/workflows", "/workflows", None);
    api.ok("GET", "/workflows/{id}", &format!("/workflows/{wf}"), None);
    api.ok("PATCH", "/workflows/{id}", &format!("/workflows/{wf}"), Some(json!({"name": "Tiers by total"})));
    let try_it = json!({"record_id": ada, "trigger": {"total": 20}, "apply": false});
    let tried = api.ok(
        "POST",
        "/workflows/{id}/actions/{n}/test",
        &format!("/workflows/{wf}/actions/1.then.0/test"),
        Some(try_it),
    );
    assert_eq!(tried["applied"], false);

    let one_event = api.ok(
        "POST",
        "/hooks/{token}",
        &hook,
        Some(json!({"order": "o1", "customer": "cus_ada",
        "placed": "2024-03-11T10:00:00Z", "total": 20})),
    );
    let event = one_event["event_id"].as_str().unwrap().to_string();
    let batch = json!([{"order": "o2", "customer": "cus_ada", "placed": "2024-03-12", "total": 1},
                       {"order": "o3", "customer": "cus_nobody", "placed": "2024-03-12", "total": 1}]);
    api.ok("POST", "/hooks/{token}", &hook, Some(batch));
    api.ok("POST", "/hooks/{token}", &hook, Some(json!({"order": "o1", "customer": "cus_ada"})));
    api.server.drained(&id, std::time::Duration::from_secs(30));
    let enrollment = api.server.finished_enrollment(&event);
    let enrollment_id = enrollment["id"].as_str().unwrap().to_string();
    api.ok("GET", "/enrollments/{id}", &format!("/enrollments/{enrollment_id}"), None);
    api.ok("GET", "/workflows/{id}/enrollments", &format!("/workflows/{wf}/enrollments"), None);
    let page = api.ok("GET", "/events", &format!("/events?webhook={id}&limit=2"), None);
    assert!(page["next_cursor"].is_string(), "a second page: {page}");
    api.ok("GET", "/events", &format!("/events?webhook={id}&since={event}"), None);
    api.ok("GET", "/events", &format!("/events?ids={event}"), None);
    api.call("GET", "/events", "/events?limit=0", None);
    let shown = api.ok("GET", "/events/{id}", &format!("/events/{event}"), None);
    assert_eq!(shown["status"], "enrolled", "{shown}");
    api.ok("POST", "/events/{id}/replay", &format!("/events/{event}/replay"), None);
    api.ok("POST", "/events/replay", "/events/replay", Some(json!({"webhook": id, "status": "unmatched"})));

    let signature =
        json!({"scheme": "hmac-sha256", "secret": "a-long-enough-secret", "header": "X-Sig", "prefix": "sha256="});
    api.ok("PUT", "/webhooks/{id}/signature", &format!("/webhooks/{id}/signature"), Some(signature));
    api.ok("GET", "/webhooks/{id}/signature", &format!("/webhooks/{id}/signature"), None);
    api.call("POST", "/hooks/{token}", &hook, Some(json!({"order": "o9"})));
    api.ok("DELETE", "/webhooks/{id}/signature", &format!("/webhooks/{id}/signature"), None);
    api.ok(
        "POST",
        "/webhooks/{id}/rotate-token",
        &format!("/webhooks/{id}/rotate-token"),
        Some(json!({"grace_seconds": 60})),
    );
    api.ok("GET", "/webhooks/{id}", &format!("/webhooks/{id}"), None);
    api.ok("PUT", "/secrets/{name}", "/secrets/CRM_KEY", Some(json!({"value": "k"})));
    api.ok("GET", "/secrets", "/secrets", None);
    api.call("GET", "/webhooks/{id}", "/webhooks/wh_missing", None);
    api.call(
        "PUT",
        "/webhooks/{id}/mapping",
        &format!("/webhooks/{id}/mapping"),
        Some(json!({"properties": [{"path": "x", "type": "datetime"}]})),
    );

    let walked = api.checked.borrow().len();
    assert!(walked >= 40, "{walked} operations walked: {:?}", api.checked.borrow());
}
