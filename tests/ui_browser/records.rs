//! The records pages in the real browser (issue 26, item 1): an object's records listed
//! with their properties and relative times, searched, sorted and paged; one record opened
//! — its properties edited by their types (a clash with another record's unique value shown
//! at its field, then a good edit saved), the enrollment it is in and the event that
//! matched it, by name.

use super::{
    assert_labelled, browser, click_button, eventually, heading, labelled, screenshot, sign_in, wait_in, wait_text,
};
use crate::support::{self, ok, ready_webhook};

use fantoccini::Locator;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_browsed_searched_opened_and_edited_by_type() {
    let dir = tempfile::tempdir().unwrap();
    let server = support::start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "Signups");
    for property in [
        json!({"name": "name", "label": "Name", "type": "string"}),
        json!({"name": "plan", "label": "Plan", "type": "enum", "options": ["free", "pro"]}),
        json!({"name": "score", "label": "Score", "type": "number"}),
        json!({"name": "vip", "label": "VIP", "type": "boolean"}),
    ] {
        ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    }
    let mut ndjson = String::new();
    for i in 0..60 {
        let name = if i == 7 { "Ada Lovelace".to_string() } else { format!("Person {i:02}") };
        ndjson.push_str(
            &json!({"external_id": format!("cus_{i}"), "name": name, "plan": "free", "score": i}).to_string(),
        );
        ndjson.push('\n');
    }
    assert_eq!(server.import("contacts", ndjson.as_bytes(), true).body["created"], 60);
    let workflow = json!({"name": "Welcome series", "object": "contacts", "triggers": [webhook]});
    ok(server.admin("POST", "/workflows", Some(workflow)), "workflow");
    assert_eq!(server.post_hook(&hook, &json!({"customer": "cus_7"})).status, 202);
    server.drained(&webhook, std::time::Duration::from_secs(30));

    let b = browser().await;
    let c = &b.client;
    sign_in(c, &server).await;
    click_button(c, "Records").await;
    heading(c, "Records").await;
    // A page of 50 with the properties as columns, a relative time with the exact one on hover.
    let table = wait_in(c, "#records", "Person").await;
    assert!(table.contains("Name") && table.contains("Plan") && table.contains("Score"), "{table}");
    let first = c.find(Locator::Css("#records tbody a")).await.unwrap().text().await.unwrap();
    assert!(first.starts_with("Person ") || first == "Ada Lovelace", "a record is called by its name: {first}");
    assert!(table.contains("rec_"), "its id beside: {table}");
    let rows = c.find_all(Locator::Css("#records tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 50);
    let time = c.find(Locator::Css("#records tbody time")).await.unwrap();
    assert!(time.attr("title").await.unwrap().is_some_and(|t| !t.is_empty()), "the exact time on hover");
    assert_labelled(c, "records").await;
    screenshot(c, "20-records-list").await;
    click_button(c, "Next page").await;
    eventually("the second page shows the other 10", || async {
        c.find_all(Locator::Css("#records tbody tr")).await.map(|r| r.len()).unwrap_or(0) == 10
    })
    .await;
    assert!(c.find(Locator::XPath("//a[normalize-space()='Next page']")).await.is_err(), "the last page");

    // Search: starts with, any text property, ignoring case.
    let search = labelled(c, "Search").await;
    search.send_keys("ada").await.unwrap();
    click_button(c, "Show").await;
    eventually("the search shows one record", || async {
        c.find_all(Locator::Css("#records tbody tr")).await.map(|r| r.len()).unwrap_or(0) == 1
    })
    .await;
    wait_in(c, "#records", "Ada Lovelace").await;
    screenshot(c, "21-records-search").await;

    // Open it: properties by type, its enrollment and matching event by name.
    c.find(Locator::Css("#records tbody a")).await.unwrap().click().await.unwrap();
    heading(c, "Ada Lovelace").await;
    wait_in(c, "#record-enrollments", "Welcome series").await;
    wait_in(c, "#record-events", "Signups").await;
    assert_labelled(c, "record").await;
    let plan = labelled(c, "Plan").await;
    assert_eq!(plan.prop("value").await.unwrap().as_deref(), Some("free"));
    // Another record's unique value is refused at its field; nothing is saved.
    let external_id = labelled(c, "external_id (unique)").await;
    external_id.clear().await.unwrap();
    external_id.send_keys("cus_8").await.unwrap();
    click_button(c, "Save").await;
    let refused = wait_in(c, "main [role=alert]", "cus_8").await;
    assert!(refused.contains("properties.external_id"), "{refused}");
    assert_eq!(external_id.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    screenshot(c, "22-record-refused").await;
    external_id.clear().await.unwrap();
    external_id.send_keys("cus_7").await.unwrap();
    plan.select_by_value("pro").await.unwrap();
    labelled(c, "VIP").await.select_by_value("true").await.unwrap();
    let score = labelled(c, "Score").await;
    score.clear().await.unwrap();
    score.send_keys("99.5").await.unwrap();
    click_button(c, "Save").await;
    wait_text(c, "Saved.").await;
    screenshot(c, "23-record-saved").await;

    let found = server.admin("GET", "/objects/contacts/records?external_id=cus_7", None).body;
    let properties = &found["records"][0]["properties"];
    assert_eq!(properties["plan"], "pro");
    assert_eq!(properties["vip"], true);
    assert_eq!(properties["score"], 99.5);
    assert_eq!(properties["name"], "Ada Lovelace", "what was not touched is kept");
}
