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
