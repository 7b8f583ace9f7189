//! The OpenAPI document the server publishes describes the API it serves: every documented
//! operation is routed by the live server, and each one's security says whether it needs
//! the admin token (checked by calling it without one).

use crate::support;

use serde_json::Value;
use support::{request_with, start};

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
            // The router's own refusals have no JSON body; a handler's 404 says what it missed.
            assert_ne!(served.status, 405, "{method} {path} is not routed");
            assert!(
                served.status != 404 || served.body["error"]["code"].is_string(),
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
