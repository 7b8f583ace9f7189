//! The workflow editor in the real browser (issue 22): a workflow written from nothing —
//! JavaScript typed into the code box (a syntax error shown at its line, then fixed), an
//! input from the trigger and a fixed one, a secret picked, an output declared, allowed
//! hosts — saved, tried against a real record (outputs, log, the request to a loopback API
//! with the secret in its header, duration), then given a set_property step, a branch and
//! a signed-header send_webhook on its `then` side; the saved workflow is exactly what was
//! clicked, reads as a list, and a real event runs it end to end.

use super::{
    COMPILE_WAIT, WAIT, assert_labelled, browser, click_button, eventually, heading, labelled, screenshot, sign_in,
    wait_in, wait_in_for, wait_text,
};
use crate::support::{self, ok, ready_webhook};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use serde_json::json;

const KEY: &str = "sk_live_editor_31c9";

const BROKEN: &str = concat!(
    "exports.main = async (event, callback) => {\n",
    "  const { customer, base } = event.inputFields;\n",
    "  const data = ;\n",
    "};",
);

const FIXED: &str = concat!(
    "exports.main = async (event, callback) => {\n",
    "  const { customer, base } = event.inputFields;\n",
    "  const res = await fetch(`${base}/score?email=${customer}`,\n",
    "    { headers: { Authorization: `Bearer ${process.env.SCORING_KEY}` } });\n",
    "  const data = await res.json();\n",
    "  console.log('scored', customer, res.status);\n",
    "  callback({ outputFields: { tier: data.tier } });\n",
    "};",
);

/// Every control labelled `label`, in page order.
async fn all_labelled(c: &Client, label: &str) -> Vec<Element> {
    let xpath = format!("//main//label[normalize-space()='{label}']");
    c.wait().at_most(WAIT).for_element(Locator::XPath(&xpath)).await.unwrap_or_else(|e| panic!("`{label}`: {e}"));
    let mut found = Vec::new();
    for l in c.find_all(Locator::XPath(&xpath)).await.unwrap() {
        let id = l.attr("for").await.unwrap().expect("label has for=");
        found.push(c.find(Locator::Id(&id)).await.unwrap());
    }
    found
}

/// The last control labelled `label` (the row just added).
async fn last_labelled(c: &Client, label: &str) -> Element {
    all_labelled(c, label).await.pop().unwrap()
}

/// The checkbox inside the label reading `text`.
async fn checkbox(c: &Client, text: &str) -> Element {
    let xpath = format!("//main//label[normalize-space()='{text}']/input");
    c.wait().at_most(WAIT).for_element(Locator::XPath(&xpath)).await.unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

async fn css(c: &Client, selector: &str) -> Element {
    c.wait().at_most(WAIT).for_element(Locator::Css(selector)).await.unwrap_or_else(|e| panic!("`{selector}`: {e}"))
}

/// Add a step of `kind` with the adder whose kind select is labelled `adder`.
async fn add_step(c: &Client, adder: &str, kind: &str) {
    css(c, &format!("select[aria-label='{adder}']")).await.select_by_value(kind).await.unwrap();
    let button = format!("//select[@aria-label='{adder}']/following-sibling::button");
    c.find(Locator::XPath(&button)).await.unwrap().click().await.unwrap();
}

/// Clear a text control and type `text` into it.
async fn retype(el: &Element, text: &str) {
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_editor_writes_tests_and_saves_code_branch_and_webhook_steps() {
    let api = crate::outbound_http::api();
    let base = format!("http://{}", api.addr);
    let dir = tempfile::tempdir().unwrap();
    let server = support::start_with(&dir.path().join("data"), None, &["--outbound-allow", "127.0.0.1/32"]);
    ok(server.admin("POST", "/objects/contacts/properties", Some(json!({"name": "tier", "type": "string"}))), "tier");
    assert_eq!(server.admin("PUT", "/secrets/SCORING_KEY", Some(json!({"value": KEY}))).status, 204);
    let (_, hook) = ready_webhook(&server, "signups");
    let record = ok(
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_1"}}))),
        "record",
    )["id"]
        .as_str()
        .unwrap()
        .to_string();

    let b = browser().await;
    let c = &b.client;
    sign_in(c, &server).await;
    click_button(c, "Workflows").await;
    heading(c, "Workflows").await;
    click_button(c, "New workflow").await;
    heading(c, "New workflow").await;
    labelled(c, "Workflow name").await.send_keys("Score signups").await.unwrap();
    checkbox(c, "signups").await.click().await.unwrap();
    // The trigger's records' object is picked with it.
    let object = labelled(c, "Object").await;
    eventually("the object did not follow the trigger", || async {
        object.prop("value").await.unwrap().as_deref() == Some("contacts")
    })
    .await;
    add_step(c, "Kind of step to add", "custom_code").await;

    // The code, with a mistake on line 3; its inputs, secret, output and allowed host.
    retype(&labelled(c, "Source (JavaScript)").await, BROKEN).await;
    click_button(c, "Add input").await;
    last_labelled(c, "Input name").await.send_keys("customer").await.unwrap();
    last_labelled(c, "Input value").await.select_by_label("Trigger: customer").await.unwrap();
    click_button(c, "Add input").await;
    last_labelled(c, "Input name").await.send_keys("base").await.unwrap();
    last_labelled(c, "Input value").await.select_by_value("__fixed").await.unwrap();
    let fixed = c.find_all(Locator::Css("input[aria-label='Input value: fixed value']")).await.unwrap();
    fixed[1].send_keys(&base).await.unwrap();
    checkbox(c, "SCORING_KEY").await.click().await.unwrap();
    click_button(c, "Add output").await;
    last_labelled(c, "Output name").await.send_keys("tier").await.unwrap();
    labelled(c, "Allowed hosts").await.send_keys(&base).await.unwrap();
    assert_labelled(c, "the workflow editor").await;

    // Saving refuses the syntax error, shown at its line; nothing is saved. The first check
    // compiles the JavaScript runtime, so the editor says what it waits for and takes no
    // second click meanwhile.
    click_button(c, "Save workflow").await;
    let saving = saving_state(c).await;
    assert_eq!(saving, json!(["Saving: checking the code written in steps…", true, "true"]));
    let said = wait_in_for(c, "p.error[data-line='3']", "Line 3, column", COMPILE_WAIT).await;
    assert_eq!(
        c.execute("return document.querySelector('.editor > .actions > button.primary').disabled", vec![])
            .await
            .unwrap(),
        json!(false),
        "the save button takes clicks again once the answer is in"
    );
    assert!(said.starts_with("Line 3, column 16: unexpected token ';'"), "{said}");
    assert_eq!(css(c, ".code-box .gutter .bad-line").await.text().await.unwrap(), "3");
    assert_eq!(server.admin("GET", "/workflows", None).body["workflows"], json!([]));
    screenshot(c, "20-editor-syntax-error").await;

    retype(&labelled(c, "Source (JavaScript)").await, FIXED).await;
    click_button(c, "Save workflow").await;
    heading(c, "Score signups").await;
    let workflows = ok(server.admin("GET", "/workflows", None), "workflows")["workflows"].clone();
    let id = workflows[0]["id"].as_str().unwrap().to_string();

    // Test step 1 against the record from the editor: outputs, the request, the log.
    click_button(c, "Edit workflow").await;
    heading(c, "Edit Score signups").await;
    css(c, "section[data-address='0'] details.test summary").await.click().await.unwrap();
    labelled(c, "Record value").await.send_keys("cus_1").await.unwrap();
    retype(&labelled(c, "Trigger data (JSON)").await, r#"{"customer": "cus_1"}"#).await;
    click_button(c, "Run test").await;
    let result = wait_in(c, "section[data-address='0'] .test-result", "succeeded").await;
    let outputs = css(c, "section[data-address='0'] .test-result table.outputs").await.text().await.unwrap();
    assert!(outputs.contains("tier") && outputs.contains("\"gold\""), "{outputs}");
    let requests = css(c, "section[data-address='0'] .test-result table.requests").await.text().await.unwrap();
    assert!(requests.contains(&format!("GET {base}/score")) && requests.contains("200"), "{requests}");
    assert!(result.contains("scored cus_1 200"), "{result}");
    assert!(!result.contains(KEY), "{result}");
    assert_eq!(*api.seen.lock().unwrap(), [format!("GET /score?email=cus_1 | Bearer {KEY}")]);
    screenshot(c, "21-editor-test").await;

    // A set_property step from step 1's output, and a branch on the record's tier that
    // sends a webhook with a header read from the secret.
    add_step(c, "Kind of step to add", "set_property").await;
    labelled(c, "Property").await.select_by_value("tier").await.unwrap();
    labelled(c, "Value").await.select_by_label("Step 1 output: tier").await.unwrap();
    add_step(c, "Kind of step to add", "branch").await;
    labelled(c, "If").await.select_by_label("Record: tier").await.unwrap();
    labelled(c, "Compared with").await.send_keys("gold").await.unwrap();
    add_step(c, "Kind of step to add (2.then)", "send_webhook").await;
    retype(&labelled(c, "URL").await, &format!("{base}/notes")).await;
    click_button(c, "Add body field").await;
    labelled(c, "Body field").await.send_keys("tier").await.unwrap();
    labelled(c, "Body value").await.select_by_label("Step 1 output: tier").await.unwrap();
    click_button(c, "Add header").await;
    labelled(c, "Header name").await.send_keys("X-Key").await.unwrap();
    labelled(c, "Header from").await.select_by_value("secret").await.unwrap();
    labelled(c, "Header secret").await.select_by_value("SCORING_KEY").await.unwrap();
    // Otherwise wait a minute and a half (the record is gold: this side does not run).
    add_step(c, "Kind of step to add (2.else)", "delay").await;
    retype(&labelled(c, "Seconds").await, "90").await;
    assert_labelled(c, "the workflow editor with every kind of step").await;
    screenshot(c, "22-editor-steps").await;
    click_button(c, "Save workflow").await;
    heading(c, "Score signups").await;
    wait_text(c, "Set property tier to output tier of step 1").await;
    wait_text(c, "If record tier equals \"gold\"").await;
    wait_text(c, &format!("Send webhook: POST {base}/notes")).await;
    wait_text(c, "Delay 1 min 30 s").await;
    screenshot(c, "23-workflow-steps").await;

    // What was saved is what was clicked.
    let saved = ok(server.admin("GET", &format!("/workflows/{id}"), None), "workflow");
    let actions = &saved["actions"];
    assert_eq!(actions[0]["source"], FIXED);
    assert_eq!(actions[0]["inputs"], json!({"customer": "trigger.customer", "base": {"value": base}}));
    assert_eq!(actions[0]["secrets"], json!(["SCORING_KEY"]));
    assert_eq!(actions[0]["outputs"], json!([{"name": "tier", "type": "string"}]));
    assert_eq!(actions[0]["allowed_hosts"], json!([base]));
    assert_eq!(actions[1], json!({"type": "set_property", "property": "tier", "value": "action.0.tier"}));
    assert_eq!(actions[2]["if"], json!({"source": "record.tier", "op": "equals", "value": "gold"}));
    let sent = &actions[2]["then"][0];
    assert_eq!(sent["url"], format!("{base}/notes"));
    assert_eq!(sent["body"], json!({"tier": "action.0.tier"}));
    assert_eq!(sent["headers"], json!({"X-Key": {"secret": "SCORING_KEY"}}));
    assert_eq!(actions[2]["else"], json!([{"type": "delay", "for_s": 90}]));

    // A real event runs it: the record gets the tier, the webhook goes out with the key.
    let event = server.post_hook(&hook, &json!({"customer": "cus_1"}));
    assert_eq!(event.status, 202, "{}", event.text);
    let enrollment = server.finished_enrollment(event.body["event_id"].as_str().unwrap());
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    let properties = ok(server.admin("GET", &format!("/objects/contacts/records/{record}"), None), "record");
    assert_eq!(properties["properties"]["tier"], "gold");
    let requests = api.requests.lock().unwrap().clone();
    let (headers, body) = requests.last().unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(body).unwrap(), json!({"tier": "gold"}));
    assert!(headers.iter().any(|(n, v)| n == "x-key" && v == KEY), "{headers:?}");
    c.clone().close().await.unwrap();
}

/// The editor's save status while a save is under way, read at once with the save button's
/// state: `[status text, disabled, aria-busy]`.
async fn saving_state(c: &Client) -> serde_json::Value {
    let script = "const status = document.querySelector(\"p.saving[role='status']\");
        const button = document.querySelector('.editor > .actions > button.primary');
        return status ? [status.textContent, button.disabled, button.getAttribute('aria-busy')] : null;";
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let now = c.execute(script, vec![]).await.unwrap();
        if !now.is_null() {
            return now;
        }
        assert!(std::time::Instant::now() < deadline, "no save status appeared");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
