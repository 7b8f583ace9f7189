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
    // Any property filters a listing; one the object does not have is refused by name.
    let by_plan = server.admin("GET", "/objects/contacts/records?plan=pro", None);
    assert_eq!(by_plan.body["records"][0]["id"], ada_id, "{:?}", by_plan.body);
    let unknown = server.admin("GET", "/objects/contacts/records?plan=pro&shoe_size=44", None);
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error"]["field"], "shoe_size");

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

/// Every record id of a listing, following `next_cursor` to its end; and how many pages.
fn list_all(server: &support::Server, query: &str) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/objects/contacts/records?{query}&cursor={c}"),
            None => format!("/objects/contacts/records?{query}"),
        };
        let page = server.admin("GET", &path, None);
        assert_eq!(page.status, 200, "{path}: {:?}", page.body);
        pages += 1;
        ids.extend(page.body["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return (ids, pages),
        }
        assert!(pages < 100, "a listing that never ends: {query}");
    }
}

#[test]
fn records_are_listed_filtered_sorted_and_paged_by_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    for body in [
        json!({"name": "email", "type": "string", "unique": true}),
        json!({"name": "name", "type": "string"}),
        json!({"name": "plan", "type": "enum", "options": ["free", "pro"]}),
        json!({"name": "score", "type": "number"}),
        json!({"name": "vip", "type": "boolean"}),
    ] {
        assert_eq!(server.admin("POST", "/objects/contacts/properties", Some(body)).status, 201);
    }
    let names = ["Ada", "Bob", "Adele", "Carol", "Dan", "adam", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy"];
    let mut created = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let properties = json!({"email": format!("{}@example.com", name.to_lowercase()), "name": name,
                                "plan": if i % 3 == 0 { "pro" } else { "free" }, "score": i % 4, "vip": i == 7});
        let answer = server.admin("POST", "/objects/contacts/records", Some(json!({"properties": properties})));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        created.push(answer.body["id"].as_str().unwrap().to_string());
        // Ids order by creation to the millisecond (ties in random order).
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    // Newest first by default; pages of 5 follow each other without a gap or a repeat.
    let all = server.admin("GET", "/objects/contacts/records", None);
    let first: Vec<&str> = all.body["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(first, newest_first, "default order is newest created first");
    assert!(all.body.get("next_cursor").is_none(), "one page holds them all: {:?}", all.body["next_cursor"]);
    assert_eq!(list_all(&server, "limit=5"), (newest_first.clone(), 3));
    assert_eq!(list_all(&server, "limit=5&sort=created"), (created.clone(), 3));

    // Updating a record moves it to the front of `-updated` and to the end of `updated`.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let patched = server.admin(
        "PATCH",
        &format!("/objects/contacts/records/{}", created[0]),
        Some(json!({"properties": {"score": 9}})),
    );
    assert_eq!(patched.status, 200);
    let (by_update, _) = list_all(&server, "sort=-updated&limit=4");
    assert_eq!(by_update[0], created[0], "the record just updated comes first");
    assert_eq!(by_update.len(), names.len());
    let (oldest_update, _) = list_all(&server, "sort=updated&limit=4");
    assert_eq!(oldest_update.last(), Some(&created[0]));

    // Filters: equality read as the property's type, a prefix ignoring case, a search box.
    let ids = |query: &str| {
        let (mut ids, _) = list_all(&server, query);
        ids.sort();
        ids
    };
    let pick = |which: &[usize]| {
        let mut ids: Vec<String> = which.iter().map(|i| created[*i].clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids("plan=pro"), pick(&[0, 3, 6, 9]));
    assert_eq!(ids("plan=pro&score=3.0"), pick(&[3]), "numbers by value; every filter must hold");
    assert_eq!(ids("vip=true"), pick(&[7]));
    assert_eq!(ids("name.prefix=AD"), pick(&[0, 2, 5]), "prefix ignores case");
    assert_eq!(ids("q=ju"), pick(&[11]), "the search box looks at every text property");
    assert!(ids(&format!("q={}", &created[4][..created[4].len() - 2])).contains(&created[4]), "ids are searched");
    assert_eq!(ids("email=grace@example.com"), pick(&[8]), "a unique value is one lookup");
    assert_eq!(ids("email=grace@example.com&plan=pro"), Vec::<String>::new());
    assert_eq!(list_all(&server, "plan=pro&limit=2").1, 2, "filtered pages are paged too");

    // Refusals name the parameter.
    let refused = |query: &str, field: &str| {
        let answer = server.admin("GET", &format!("/objects/contacts/records?{query}"), None);
        assert_eq!(answer.status, 400, "{query}: {:?}", answer.body);
        assert_eq!(answer.body["error"]["field"], field, "{query}: {:?}", answer.body);
        answer.body["error"]["message"].as_str().unwrap().to_string()
    };
    assert!(refused("limit=0", "limit").contains("1..=200"));
    refused("limit=201", "limit");
    assert!(refused("sort=size", "sort").contains("-updated"));
    refused("cursor=garbage", "cursor");
    let cursor = server.admin("GET", "/objects/contacts/records?limit=1", None).body["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(refused(&format!("sort=updated&cursor={cursor}"), "cursor").contains("same sort"));
    refused("score=lots", "score");
    refused("vip=maybe", "vip");
    refused("plan=gold", "plan");
    refused("score.prefix=4", "score.prefix");
    refused("nickname.prefix=a", "nickname.prefix");
    assert_eq!(server.admin("GET", "/objects/planets/records", None).status, 404);
}

#[test]
fn a_filter_few_records_meet_answers_within_a_bounded_scan_and_pages_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    for body in
        [json!({"name": "external_id", "type": "string", "unique": true}), json!({"name": "tier", "type": "string"})]
    {
        assert_eq!(server.admin("POST", "/objects/contacts/properties", Some(body)).status, 201);
    }
    // 6,000 records (more than one request looks at), one of them the oldest "gold".
    let mut ndjson = String::from("{\"external_id\": \"cus_0\", \"tier\": \"gold\"}\n");
    for i in 1..6000 {
        ndjson.push_str(&format!("{{\"external_id\": \"cus_{i}\", \"tier\": \"basic\"}}\n"));
    }
    let imported = server.import("contacts", ndjson.as_bytes(), true);
    assert_eq!(imported.body["created"], 6000, "{:?}", imported.body);
    // Newest first, the gold one is the last: the first request stops looking before it.
    let first = server.admin("GET", "/objects/contacts/records?tier=gold", None);
    assert_eq!(first.status, 200);
    assert!(first.body["records"].as_array().unwrap().is_empty(), "{:?}", first.body["records"]);
    let cursor = first.body["next_cursor"].as_str().expect("a cursor to go on looking");
    let second = server.admin("GET", &format!("/objects/contacts/records?tier=gold&cursor={cursor}"), None);
    let found = second.body["records"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{:?}", second.body);
    assert_eq!(found[0]["properties"]["external_id"], "cus_0");
    assert!(second.body.get("next_cursor").is_none(), "the listing ends with the oldest record");
}

#[test]
fn a_record_lists_the_events_that_matched_it_and_its_enrollments() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, hook) = support::ready_webhook(&server, "orders");
    let record = |external_id: &str| {
        let body = json!({"properties": {"external_id": external_id}});
        support::ok(server.admin("POST", "/objects/contacts/records", Some(body)), "record")["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ada, bob) = (record("cus_ada"), record("cus_bob"));
    let workflow = json!({"name": "welcome", "object": "contacts", "triggers": [webhook], "reenroll": true});
    let workflow = support::ok(server.admin("POST", "/workflows", Some(workflow)), "workflow");
    for customer in ["cus_ada", "cus_bob", "cus_ada", "cus_nobody"] {
        assert_eq!(server.post_hook(&hook, &json!({"customer": customer})).status, 202);
    }
    server.drained(&webhook, std::time::Duration::from_secs(30));

    let events = server.admin("GET", &format!("/events?record={ada}"), None);
    assert_eq!(events.status, 200, "{:?}", events.body);
    let events = events.body["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e["matched_record_id"] == ada.as_str()));
    assert!(events[0]["id"].as_str() > events[1]["id"].as_str(), "newest first");
    let paged = server.admin("GET", &format!("/events?record={ada}&limit=1"), None).body;
    assert_eq!(paged["events"][0]["id"], events[0]["id"]);
    let cursor = paged["next_cursor"].as_str().unwrap();
    let rest = server.admin("GET", &format!("/events?record={ada}&limit=1&cursor={cursor}"), None).body;
    assert_eq!(rest["events"][0]["id"], events[1]["id"]);

    let enrollments = server.admin("GET", &format!("/objects/contacts/records/{ada}/enrollments"), None);
    assert_eq!(enrollments.status, 200, "{:?}", enrollments.body);
    let enrollments = enrollments.body["enrollments"].as_array().unwrap().clone();
    assert_eq!(enrollments.len(), 2, "re-enrollment is on: {enrollments:?}");
    assert!(enrollments.iter().all(|e| e["record_id"] == ada.as_str() && e["workflow_id"] == workflow["id"]));
    let bobs = server.admin("GET", &format!("/objects/contacts/records/{bob}/enrollments"), None).body;
    assert_eq!(bobs["enrollments"].as_array().unwrap().len(), 1);
    assert_eq!(server.admin("GET", "/objects/contacts/records/rec_missing/enrollments", None).status, 404);
}
