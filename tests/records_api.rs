//! Objects, properties and records through HTTP against the real binary: uniqueness is
//! enforced by the store and lookups by unique value are what matching will use.

use crate::support;

use serde_json::json;
use support::start;

#[test]
fn unique_properties_are_limited_typed_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let objects = server.admin("GET", "/objects", None);
    let names: Vec<&str> =
        objects.body["objects"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["companies", "contacts", "deals", "tickets"]);

    let define = |body: serde_json::Value| server.admin("POST", "/objects/contacts/properties", Some(body));
    assert_eq!(
        define(json!({"name": "external_id", "label": "External ID", "type": "string", "unique": true})).status,
        201
    );
    assert_eq!(define(json!({"name": "email", "type": "string", "unique": true})).status, 201);
    assert_eq!(define(json!({"name": "plan", "type": "enumeration", "options": ["free", "pro"]})).status, 201);
    assert_eq!(define(json!({"name": "score", "type": "number"})).status, 201);
    let flag = define(json!({"name": "vip", "type": "bool", "unique": true}));
    assert_eq!(flag.status, 400);
    assert_eq!(flag.body["error"]["field"], "unique");
    // Names, labels and options are bounded, and the message says the bound.
    let long_name = define(json!({"name": "x".repeat(101), "type": "string"}));
    assert_eq!(long_name.body["error"]["field"], "name");
    assert!(long_name.body["error"]["message"].as_str().unwrap().contains("1 to 100"), "{:?}", long_name.body);
    let long_label = define(json!({"name": "notes", "label": "x".repeat(256), "type": "string"}));
    assert_eq!(long_label.body["error"]["field"], "label");
    assert!(long_label.body["error"]["message"].as_str().unwrap().contains("255"), "{:?}", long_label.body);
    let repeated = define(json!({"name": "tier", "type": "enum", "options": ["a", "a"]}));
    assert_eq!(repeated.body["error"]["field"], "options[1]");
    let many: Vec<String> = (0..1001).map(|i| format!("o{i}")).collect();
    let too_many = define(json!({"name": "tier", "type": "enum", "options": many}));
    assert_eq!(too_many.body["error"]["field"], "options");
    assert!(too_many.body["error"]["message"].as_str().unwrap().contains("1000"), "{:?}", too_many.body);
    let again = define(json!({"name": "email", "type": "string"}));
    assert_eq!(again.status, 409);
    for i in 0..8 {
        assert_eq!(define(json!({"name": format!("key_{i}"), "type": "number", "unique": true})).status, 201);
    }
    let eleventh = define(json!({"name": "key_8", "type": "string", "unique": true}));
    assert_eq!(eleventh.status, 409);
    assert_eq!(eleventh.body["error"]["code"], "limit_reached");
    let listed = server.admin("GET", "/objects/contacts/properties", None);
    assert_eq!(listed.body["properties"][2]["type"], "enum");
    assert_eq!(server.admin("GET", "/objects/planets/properties", None).status, 404);
}

#[test]
fn records_are_created_looked_up_updated_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    for body in [
        json!({"name": "external_id", "type": "string", "unique": true}),
        json!({"name": "plan", "type": "enum", "options": ["free", "pro"]}),
        json!({"name": "signed_up", "type": "datetime"}),
    ] {
        assert_eq!(server.admin("POST", "/objects/contacts/properties", Some(body)).status, 201);
    }
    let ada = server.admin(
        "POST",
        "/objects/contacts/records",
        Some(json!({"properties": {"external_id": "cus_PxQ81", "plan": "pro", "signed_up": 1710062100000i64}})),
    );
    assert_eq!(ada.status, 201, "{:?}", ada.body);
    let ada_id = ada.body["id"].as_str().unwrap().to_string();
    assert!(ada.body["created_at"].as_str().unwrap().ends_with('Z'));

    let clash =
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_PxQ81"}})));
    assert_eq!(clash.status, 409);
    assert_eq!(clash.body["error"]["field"], "properties.external_id");
    assert!(clash.body["error"]["message"].as_str().unwrap().contains(&ada_id));

    let bad_enum = server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"plan": "gold"}})));
    assert_eq!(bad_enum.body["error"]["field"], "properties.plan");
    let unknown = server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"shoe_size": 44}})));
    assert_eq!(unknown.body["error"]["field"], "properties.shoe_size");

    let found = server.admin("GET", "/objects/contacts/records?external_id=cus_PxQ81", None);
    assert_eq!(found.body["records"][0]["id"], ada_id);
    let not_unique = server.admin("GET", "/objects/contacts/records?plan=pro", None);
    assert_eq!(not_unique.status, 400);
    assert_eq!(not_unique.body["error"]["field"], "plan");

    let moved = server.admin(
        "PATCH",
        &format!("/objects/contacts/records/{ada_id}"),
        Some(json!({"properties": {"external_id": "cus_NEW", "plan": null}})),
    );
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert!(moved.body["properties"].get("plan").is_none(), "null removes a property");
    let old = server.admin("GET", "/objects/contacts/records?external_id=cus_PxQ81", None);
    assert!(old.body["records"].as_array().unwrap().is_empty());
    let new = server.admin("GET", "/objects/contacts/records?external_id=cus_NEW", None);
    assert_eq!(new.body["records"][0]["id"], ada_id);
    // The freed value can be used by another record.
    let grace =
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_PxQ81"}})));
    assert_eq!(grace.status, 201);

    assert_eq!(server.admin("DELETE", &format!("/objects/contacts/records/{ada_id}"), None).status, 204);
    assert_eq!(server.admin("GET", &format!("/objects/contacts/records/{ada_id}"), None).status, 404);
    assert!(
        server.admin("GET", "/objects/contacts/records?external_id=cus_NEW", None).body["records"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn custom_objects_hold_records_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    assert_eq!(
        server.admin("POST", "/objects", Some(json!({"name": "subscriptions", "label": "Subscriptions"}))).status,
        201
    );
    assert_eq!(server.admin("POST", "/objects", Some(json!({"name": "subscriptions"}))).status, 409);
    assert_eq!(server.admin("POST", "/objects", Some(json!({"name": "Bad Name"}))).body["error"]["field"], "name");
    server.admin(
        "POST",
        "/objects/subscriptions/properties",
        Some(json!({"name": "seq", "type": "number", "unique": true})),
    );
    let created = server.admin("POST", "/objects/subscriptions/records", Some(json!({"properties": {"seq": 42}})));
    assert_eq!(created.status, 201);
    // Numbers are matched by value: 42.0 finds 42.
    let found = server.admin("GET", "/objects/subscriptions/records?seq=42.0", None);
    assert_eq!(found.body["records"][0]["id"], created.body["id"]);
}

#[test]
fn ndjson_import_creates_updates_and_reports_failed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    server.admin(
        "POST",
        "/objects/contacts/properties",
        Some(json!({"name": "external_id", "type": "string", "unique": true})),
    );
    server.admin("POST", "/objects/contacts/properties", Some(json!({"name": "email", "type": "string"})));
    let existing = server.admin(
        "POST",
        "/objects/contacts/records",
        Some(json!({"properties": {"external_id": "cus_1", "email": "old@example.com"}})),
    );
    let ndjson = concat!(
        "{\"external_id\": \"cus_1\", \"email\": \"ada@example.com\"}\n",
        "{\"external_id\": \"cus_2\", \"email\": \"grace@example.com\"}\n",
        "\n",
        "not json\n",
        "{\"external_id\": \"cus_3\", \"shoe_size\": 44}\n",
        "{\"external_id\": \"cus_4\"}\n",
        "{\"external_id\": \"cus_2\", \"email\": \"grace.h@example.com\"}\n",
    );
    let answer = server.import("contacts", ndjson.as_bytes(), true);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["created"], 2);
    assert_eq!(answer.body["updated"], 2, "cus_1 existed; cus_2 was created then updated by line 7");
    assert_eq!(answer.body["failed"], 2);
    assert_eq!(answer.body["errors"][0]["line"], 4);
    assert_eq!(answer.body["errors"][1]["line"], 5);
    assert!(answer.body["errors"][1]["error"].as_str().unwrap().contains("shoe_size"));
    let ada =
        server.admin("GET", &format!("/objects/contacts/records/{}", existing.body["id"].as_str().unwrap()), None);
    assert_eq!(ada.body["properties"]["email"], "ada@example.com");
    let grace = server.admin("GET", "/objects/contacts/records?external_id=cus_2", None);
    assert_eq!(grace.body["records"][0]["properties"]["email"], "grace.h@example.com");
    assert_eq!(
        server.admin("GET", "/objects/contacts/records?external_id=cus_4", None).body["records"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_import_frees_and_takes_unique_values_in_file_order_and_refuses_one_held_by_another_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    for name in ["external_id", "email"] {
        let property = json!({"name": name, "type": "string", "unique": true});
        assert_eq!(server.admin("POST", "/objects/contacts/properties", Some(property)).status, 201);
    }
    let create = |external_id: &str, email: &str| {
        let body = json!({"properties": {"external_id": external_id, "email": email}});
        server.admin("POST", "/objects/contacts/records", Some(body)).body["id"].as_str().unwrap().to_string()
    };
    let (a, b) = (create("cus_1", "a@example.com"), create("cus_2", "b@example.com"));
    let ndjson = concat!(
        // b@example.com is B's: refused, and cus_1 keeps its email.
        "{\"external_id\": \"cus_1\", \"email\": \"b@example.com\"}\n",
        // Created.
        "{\"external_id\": \"cus_3\", \"email\": \"c@example.com\"}\n",
        // c@example.com names line 2's record: merged into it, which gives up cus_3.
        "{\"email\": \"c@example.com\", \"external_id\": \"cus_9\"}\n",
        // cus_3 is free again: created.
        "{\"external_id\": \"cus_3\"}\n",
        // Line 2's record, now cus_9, changes its email...
        "{\"external_id\": \"cus_9\", \"email\": \"d@example.com\"}\n",
        // ... so c@example.com is free for a new record.
        "{\"external_id\": \"cus_10\", \"email\": \"c@example.com\"}\n",
    );
    let answer = server.import("contacts", ndjson.as_bytes(), true);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        (answer.body["created"].as_i64(), answer.body["updated"].as_i64()),
        (Some(3), Some(2)),
        "{:?}",
        answer.body
    );
    assert_eq!(answer.body["failed"], 1, "{:?}", answer.body);
    assert_eq!(answer.body["errors"][0]["line"], 1);
    let error = answer.body["errors"][0]["error"].as_str().unwrap();
    assert!(error.contains("email") && error.contains(&b), "{error}");

    let find = |query: &str| {
        let found = server.admin("GET", &format!("/objects/contacts/records?{query}"), None).body;
        let records = found["records"].as_array().unwrap().clone();
        assert_eq!(records.len(), 1, "{query}: {found}");
        records[0].clone()
    };
    assert_eq!(find("external_id=cus_1")["id"], a.as_str());
    assert_eq!(find("external_id=cus_1")["properties"]["email"], "a@example.com");
    let moved = find("external_id=cus_9");
    assert_eq!(moved["properties"]["email"], "d@example.com", "{moved}");
    let again = find("external_id=cus_3");
    assert_ne!(again["id"], moved["id"]);
    assert_eq!(find("email=c%40example.com")["properties"]["external_id"], "cus_10");
    assert_eq!(find("email=b%40example.com")["id"], b.as_str());
}
