//! The admin web UI in real headless Chromium (Debian's chromium + chromedriver, driven over
//! WebDriver): the whole wizard clicked through, test and real events posted with a plain
//! HTTP client, the enrolled record seen in the event log, the chain tried on the sample,
//! workflows, and a wrong-world plugin upload refused with its reason. Screenshots of
//! each step land in `target/ui-screenshots/`.

mod dashboard;
mod record_import;
mod records;
mod workflow_editor;

use crate::support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::{Server, start};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WRONG_WORLD: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_wrong_world.wasm");
const HOSTILE: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_hostile.wasm");
const WAIT: Duration = Duration::from_secs(15);
/// How long an answer that compiles a language runtime first may take: ~9 s alone on a
/// 2-core machine, and over 15 s with the rest of the suite running beside it.
const COMPILE_WAIT: Duration = Duration::from_secs(120);

/// A chromedriver process and a browser session on it; both end on drop.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn browser() -> Browser {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "browser tests need Debian's chromium and chromium-driver: `.ci/install-test-tools` installs them"
    );
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,800",
    ];
    let mut capabilities = serde_json::Map::new();
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.push(format!("--user-data-dir={}", profile.path().display()));
    capabilities.insert("goog:chromeOptions".into(), json!({"binary": CHROMIUM, "args": all}));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + WAIT;
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await {
            Ok(client) => break client,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    };
    Browser { client, driver, _profile: profile }
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

fn xpath_text(text: &str) -> String {
    format!("normalize-space()='{text}'")
}

async fn heading(c: &Client, text: &str) {
    let xpath = format!("//h1[{}]", xpath_text(text));
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("heading `{text}`: {e}"));
}

async fn click_button(c: &Client, text: &str) {
    let xpath = format!("//button[{}] | //a[{}]", xpath_text(text), xpath_text(text));
    let el =
        c.wait().at_most(WAIT).for_element(Locator::XPath(&xpath)).await.unwrap_or_else(|e| panic!("`{text}`: {e}"));
    el.click().await.unwrap();
}

/// The control a `<label>` with this text is for.
async fn labelled(c: &Client, label: &str) -> fantoccini::elements::Element {
    labelled_in(c, "body", label).await
}

/// The control a `<label>` with this text, inside the first element matching `scope_css`,
/// is for.
async fn labelled_in(c: &Client, scope_css: &str, label: &str) -> fantoccini::elements::Element {
    let scope = c.wait().at_most(WAIT).for_element(Locator::Css(scope_css)).await.unwrap();
    let deadline = Instant::now() + WAIT;
    let found = loop {
        match scope.find(Locator::XPath(&format!(".//label[{}]", xpath_text(label)))).await {
            Ok(found) => break found,
            Err(e) => assert!(Instant::now() < deadline, "label `{label}`: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id = found.attr("for").await.unwrap().expect("label has for=");
    c.find(Locator::Id(&id)).await.unwrap()
}

/// The text of the first element matching `css`; a page that re-renders meanwhile (the
/// element goes stale) is read again.
async fn text(c: &Client, css: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = c.wait().at_most(WAIT).for_element(Locator::Css(css)).await;
        match found.map(|el| async move { el.text().await }) {
            Ok(reading) => match reading.await {
                Ok(text) => return text,
                Err(e) => assert!(Instant::now() < deadline, "`{css}` kept going stale: {e}"),
            },
            Err(e) => panic!("`{css}` never appeared: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn page_text(c: &Client) -> String {
    text(c, "main").await
}

/// Wait until `main` shows `needle`.
async fn wait_text(c: &Client, needle: &str) {
    wait_in(c, "main", needle).await;
}

/// Wait until the element matching `selector` shows `needle`; its text.
async fn wait_in(c: &Client, selector: &str, needle: &str) -> String {
    wait_in_for(c, selector, needle, WAIT).await
}

/// [`wait_in`], waiting up to `wait`.
async fn wait_in_for(c: &Client, selector: &str, needle: &str, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let now = match c.find(Locator::Css(selector)).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if now.contains(needle) {
            return now;
        }
        assert!(Instant::now() < deadline, "`{needle}` never appeared in `{selector}`; it says:\n{now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn press(c: &Client, key: Key) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key.into() })
        .then(KeyAction::Up { value: key.into() });
    c.perform_actions(keys).await.unwrap();
}

/// Form controls on the page with no accessible name (no label, no aria-label).
async fn unlabelled(c: &Client) -> Vec<Value> {
    let script = "return [...document.querySelectorAll('main input, main select, main textarea')]
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map((el) => el.outerHTML);";
    c.execute(script, vec![]).await.unwrap().as_array().cloned().unwrap_or_default()
}

async fn assert_labelled(c: &Client, page: &str) {
    let missing = unlabelled(c).await;
    assert!(missing.is_empty(), "{page}: controls without a label: {missing:?}");
}

/// Poll `check` until it holds, or fail saying `what` never happened.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(c: &Client, server: &Server) {
    c.goto(&format!("http://{}/ui", server.addr)).await.unwrap();
    heading(c, "Sign in").await;
    let token = labelled(c, "Admin token").await;
    token.send_keys("wrong-token").await.unwrap();
    click_button(c, "Sign in").await;
    wait_text(c, "That token was not accepted.").await;
    token.clear().await.unwrap();
    token.send_keys(&server.token).await.unwrap();
    token.send_keys(&Key::Enter.to_string()).await.unwrap();
    heading(c, "Webhooks").await;
}

fn post(server: &Server, path: &str, payload: &Value) -> u16 {
    server.post_hook(path, payload).status
}

fn payment(customer: &str, amount: i64) -> Value {
    json!({"type": "charge.succeeded", "data": {"object": {
        "customer": customer, "amount": amount, "captured": true, "created_at": "2024-03-10T09:15:00Z"}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_takes_a_webhook_from_name_to_an_enrolled_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let unique = json!({"name": "external_id", "type": "string", "unique": true});
    assert_eq!(server.admin("POST", "/objects/contacts/properties", Some(unique)).status, 201);
    let plain = json!({"name": "nickname", "type": "string"});
    assert_eq!(server.admin("POST", "/objects/contacts/properties", Some(plain)).status, 201);
    let record =
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_42"}})));
    let record_id = record.body["id"].as_str().unwrap().to_string();

    let b = browser().await;
    let c = &b.client;
    sign_in(c, &server).await;
    assert!(page_text(c).await.contains("0 of 100 webhooks used"));
    screenshot(c, "01-webhooks-empty").await;

    // Name (submitted from the keyboard).
    click_button(c, "New webhook").await;
    heading(c, "New webhook").await;
    let name = labelled(c, "Webhook name").await;
    name.send_keys("Stripe payments").await.unwrap();
    name.send_keys(&Key::Enter.to_string()).await.unwrap();

    // Connect: the URL, and the page moves on by itself when the test event arrives.
    heading(c, "Connect Stripe payments").await;
    let url = labelled(c, "Webhook URL").await.prop("value").await.unwrap().unwrap();
    let hook = support::hook_path(&url);
    assert!(text(c, "#test-event-status").await.contains("Waiting for the test event"));
    screenshot(c, "02-connect-waiting").await;
    assert_eq!(post(&server, &hook, &payment("cus_1", 1000)), 202);
    heading(c, "Review the test event").await;
    wait_text(c, "cus_1").await;
    // Retry: back to waiting, a new sample replaces the first.
    click_button(c, "Retry a new test event").await;
    heading(c, "Connect Stripe payments").await;
    assert_eq!(post(&server, &hook, &payment("cus_2", 5000)), 202);
    heading(c, "Review the test event").await;
    wait_text(c, "5000").await;
    assert!(!page_text(c).await.contains("cus_1"));
    screenshot(c, "03-review").await;

    // Map: Next is blocked until every card has a type.
    click_button(c, "Use this event: map its fields").await;
    heading(c, "Map the fields").await;
    let next = c.find(Locator::XPath("//button[normalize-space()='Next: match']")).await.unwrap();
    assert!(!next.is_enabled().await.unwrap(), "Next is blocked while cards have no type");
    assert!(text(c, "#map-status").await.contains("5 of 5 fields still need a data type"));
    screenshot(c, "04-map-untyped").await;
    assert_labelled(c, "map").await;
    c.find(Locator::Css("section[data-path='type'] button.danger")).await.unwrap().click().await.unwrap();
    wait_text(c, "4 of 4 fields still need a data type").await;
    let amount_type = labelled_in(c, "section[data-path='data.object.amount']", "Data type").await;
    amount_type.select_by_value("number").await.unwrap();
    let label = labelled_in(c, "section[data-path='data.object.amount']", "Property label").await;
    label.send_keys("Amount (cents)").await.unwrap();
    wait_text(c, "3 of 4 fields still need a data type").await;
    // The date offers strtotime in one click (which also types it as string).
    c.find(Locator::XPath(
        "//section[@data-path='data.object.created_at']//button[normalize-space()='Convert with strtotime']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_text(c, "Converted by strtotime into created_at_unix").await;
    click_button(c, "Use suggested types").await;
    wait_text(c, "All 4 fields have a type.").await;
    let next = c.find(Locator::XPath("//button[normalize-space()='Next: match']")).await.unwrap();
    assert!(next.is_enabled().await.unwrap());
    screenshot(c, "05-map-typed").await;
    // Readable on a narrow screen: nothing wider than the viewport.
    c.set_window_size(390, 844).await.unwrap();
    let overflow = c
        .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth;", vec![])
        .await
        .unwrap();
    assert!(overflow.as_i64().unwrap() <= 0, "horizontal overflow of {overflow} px at 390 px wide");
    screenshot(c, "06-map-narrow").await;
    c.set_window_size(1280, 800).await.unwrap();
    next.click().await.unwrap();

    // Match: only unique properties are offered.
    heading(c, "Match to a record").await;
    labelled(c, "Object").await.select_by_value("contacts").await.unwrap();
    let record_select = labelled(c, "Unique record property").await;
    let offered = record_select.find_all(Locator::Css("option")).await.unwrap();
    let mut values = Vec::new();
    for o in &offered {
        values.push(o.attr("value").await.unwrap().unwrap_or_default());
    }
    assert_eq!(values, ["", "external_id"], "the non-unique `nickname` is not offered");
    labelled(c, "Webhook property").await.select_by_value("data.object.customer").await.unwrap();
    record_select.select_by_value("external_id").await.unwrap();
    screenshot(c, "07-match").await;
    assert_labelled(c, "match").await;
    click_button(c, "Save").await;
    heading(c, "Stripe payments").await;
    wait_text(c, "ready").await;
    screenshot(c, "08-webhook-ready").await;
    let webhook_id = c.current_url().await.unwrap().fragment().unwrap().trim_start_matches("/webhooks/").to_string();
    let saved = server.admin("GET", &format!("/webhooks/{webhook_id}"), None).body;
    assert_eq!(saved["state"], "ready");
    assert_eq!(saved["mapping"]["properties"].as_array().unwrap().len(), 4);
    assert_eq!(saved["transforms"][0]["config"]["to"], "created_at_unix");

    // Transforms: the chain tried on the captured sample, step by step.
    click_button(c, "Transforms").await;
    heading(c, "Transforms of Stripe payments").await;
    click_button(c, "Test against the captured sample").await;
    wait_text(c, "Every step succeeded.").await;
    wait_text(c, "1710062100").await;
    screenshot(c, "09-transforms-test").await;
    assert_labelled(c, "transforms").await;

    // A real event, sent by a plain HTTP client, enrolls the record; the log shows it.
    let workflow = json!({"name": "Thank payers", "object": "contacts", "enabled": true, "reenroll": false,
                          "triggers": [webhook_id],
                          "actions": [{"type": "set_property", "property": "nickname", "value": {"value": "payer"}}]});
    let workflow = server.admin("POST", "/workflows", Some(workflow)).body;
    assert_eq!(post(&server, &hook, &payment("cus_42", 4200)), 202);
    click_button(c, "Events").await;
    heading(c, "Events").await;
    labelled(c, "Webhook").await.select_by_value(&webhook_id).await.unwrap();
    labelled(c, "Status").await.select_by_value("enrolled").await.unwrap();
    eventually("the event never showed as enrolled", || async {
        click_button(c, "Filter").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.find(Locator::Css("main tbody a")).await.is_ok()
    })
    .await;
    screenshot(c, "10-events").await;
    assert_labelled(c, "events").await;
    c.find(Locator::Css("main tbody a")).await.unwrap().click().await.unwrap();
    wait_text(c, "Raw payload").await;
    assert_eq!(text(c, "#event-status").await, "enrolled");
    // The matched record by name, its id beside, linked to its page.
    let matched = text(c, "#matched-record").await;
    assert!(matched.contains(&format!("({record_id})")), "{matched}");
    let detail = page_text(c).await;
    for part in ["After coercion", "Transform steps", "Properties", "Stage trace", "created_at_unix", "Enrollments"] {
        assert!(detail.contains(part), "the detail shows {part}:\n{detail}");
    }
    screenshot(c, "11-event-detail").await;
    // Replay runs the event through the current settings: with the workflow disabled, it
    // says so; a bulk replay of those events after re-enabling it enrolls again.
    let workflow_id = workflow["id"].as_str().unwrap().to_string();
    let toggle = |enabled: bool| {
        server.admin("PATCH", &format!("/workflows/{workflow_id}"), Some(json!({ "enabled": enabled })))
    };
    assert_eq!(toggle(false).status, 200);
    click_button(c, "Replay this event").await;
    wait_text(c, "no_workflow").await;
    assert_eq!(toggle(true).status, 200);
    click_button(c, "Events").await;
    heading(c, "Events").await;
    labelled(c, "Webhook").await.select_by_value(&webhook_id).await.unwrap();
    labelled(c, "Status").await.select_by_value("no_workflow").await.unwrap();
    click_button(c, "Filter").await;
    c.wait().at_most(WAIT).for_element(Locator::Css("main tbody a")).await.unwrap();
    click_button(c, "Replay all matching").await;
    c.accept_alert().await.unwrap();
    wait_text(c, "1 event queued for replay.").await;
    let enrolled = format!("/events?webhook={webhook_id}&status=enrolled");
    eventually("the bulk replay did not enroll again", || async {
        server.admin("GET", &enrolled, None).body["events"].as_array().is_some_and(|e| e.len() == 1)
    })
    .await;

    // The webhook's own retention, set on its page.
    c.goto(&format!("http://{}/ui#/webhooks/{webhook_id}", server.addr)).await.unwrap();
    wait_in(c, "#retention-now", "(the server's default)").await;
    let days = labelled(c, "Keep events for (days)").await;
    days.clear().await.unwrap();
    days.send_keys("7").await.unwrap();
    click_button(c, "Save retention").await;
    wait_in(c, "#retention-now", "Events are kept 7 days after they arrive (this webhook's own)").await;
    let retention = server.admin("GET", &format!("/webhooks/{webhook_id}"), None).body["retention"].clone();
    assert_eq!(retention, json!({"days": 7.0, "source": "webhook"}));
    c.execute("document.getElementById('retention-now').scrollIntoView()", vec![]).await.unwrap();
    screenshot(c, "11b-webhook-retention").await;
    click_button(c, "Use the server default").await;
    wait_in(c, "#retention-now", "(the server's default)").await;

    // Workflows: the enrollment and its (empty) step log; disable from the list.
    click_button(c, "Workflows").await;
    heading(c, "Workflows").await;
    click_button(c, "Thank payers").await;
    heading(c, "Thank payers").await;
    wait_text(c, &record_id).await;
    screenshot(c, "12-workflow").await;
    // The enrollment's step log: the set_property step and what it wrote.
    c.find(Locator::Css("main tbody a")).await.unwrap().click().await.unwrap();
    wait_text(c, "Steps").await;
    wait_text(c, "nickname").await;
    wait_text(c, "payer").await;
    screenshot(c, "13-enrollment-steps").await;
    click_button(c, "Workflows").await;
    heading(c, "Workflows").await;
    c.find(Locator::Css("input[aria-label='Enable Thank payers']")).await.unwrap().click().await.unwrap();
    wait_text(c, "Thank payers is disabled.").await;
    assert_eq!(server.admin("GET", &format!("/workflows/{workflow_id}"), None).body["enabled"], false);
    c.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_world_plugin_is_refused_with_its_reason_and_a_transform_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let b = browser().await;
    let c = &b.client;
    // Keyboard only: from the page's heading, Tab reaches the token field, Enter signs in;
    // then Tab reaches the first control of the page, Enter follows it.
    c.goto(&format!("http://{}/ui", server.addr)).await.unwrap();
    heading(c, "Sign in").await;
    press(c, Key::Tab).await;
    let focused = c.execute("return document.activeElement.id;", vec![]).await.unwrap();
    let token_id = labelled(c, "Admin token").await.attr("id").await.unwrap().unwrap();
    assert_eq!(focused, json!(token_id), "Tab from the heading reaches the token field");
    let typed = KeyActions::new("keyboard".into());
    let typed = server
        .token
        .chars()
        .fold(typed, |a, ch| a.then(KeyAction::Down { value: ch }).then(KeyAction::Up { value: ch }));
    c.perform_actions(typed).await.unwrap();
    press(c, Key::Enter).await;
    heading(c, "Webhooks").await;
    press(c, Key::Tab).await;
    let focused = c.execute("return document.activeElement.textContent;", vec![]).await.unwrap();
    assert_eq!(focused, "New webhook");
    press(c, Key::Enter).await;
    heading(c, "New webhook").await;
    click_button(c, "Plugins").await;
    heading(c, "Plugins").await;
    wait_text(c, "strtotime").await;
    let upload = |name: &'static str, path: &'static str| async move {
        let name_input = labelled(c, "Name").await;
        name_input.clear().await.unwrap();
        name_input.send_keys(name).await.unwrap();
        labelled(c, "Component file (.wasm)").await.send_keys(path).await.unwrap();
        click_button(c, "Upload").await;
    };
    upload("cli-app", WRONG_WORLD).await;
    let refused = text(c, "#upload-result .error").await;
    assert!(refused.contains("but exports [wasi:cli/run"), "the refusal names what it found: {refused}");
    wait_text(c, "The plugin was refused").await;
    screenshot(c, "14-plugin-refused").await;
    let listed = server.admin("GET", "/plugins", None).body;
    assert!(!listed.to_string().contains("cli-app"), "a refused upload is not kept");

    upload("spin", HOSTILE).await;
    wait_text(c, "Uploaded spin: a transform plugin").await;
    heading(c, "Plugins").await;
    eventually("the upload was never listed", || async { text(c, "main table").await.contains("spin") }).await;
    screenshot(c, "15-plugins").await;
    assert_labelled(c, "plugins").await;
    c.clone().close().await.unwrap();
}
