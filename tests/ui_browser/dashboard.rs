//! The dashboard and the alerts page in the real browser (issue 26, items 3 and 5): the
//! page draws events per minute by status from `GET /stats` as stacked bars, shows the
//! percentiles and the backlog, and lists what needs attention by name, one click from
//! the filtered event log and a bulk replay; an alert is added from the page with a
//! signing key made there.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::json;

use super::{assert_labelled, browser, click_button, heading, labelled, screenshot, sign_in, wait_in};
use crate::support::{self, ok, ready_webhook};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_draws_events_by_status_and_leads_to_what_needs_attention() {
    let dir = tempfile::tempdir().unwrap();
    let server = support::start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "orders");
    ok(
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_1"}}))),
        "record",
    );
    for i in 0..7 {
        let customer = if i < 3 { "cus_1".to_string() } else { format!("nobody_{i}") };
        assert_eq!(server.post_hook(&hook, &json!({"customer": customer})).status, 202);
    }
    // The page draws what is stored: wait for the flush.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.admin("GET", "/stats", None).body["totals"]["unmatched"] != 4 {
        assert!(Instant::now() < deadline, "the counts never reached the store");
        std::thread::sleep(Duration::from_millis(200));
    }

    let b = browser().await;
    let c = &b.client;
    sign_in(c, &server).await;
    click_button(c, "Dashboard").await;
    heading(c, "Dashboard").await;
    let attention = wait_in(c, "#attention", "4 unmatched").await;
    assert!(attention.contains("orders"), "by name: {attention}");
    assert!(wait_in(c, "#tile-events", "8").await.contains("in the last hour"));
    let bars = c.find_all(Locator::Css("#events-chart rect[data-status='unmatched']")).await.unwrap();
    assert!(!bars.is_empty(), "unmatched events are drawn");
    let label = c.find(Locator::Css("#events-chart")).await.unwrap().attr("aria-label").await.unwrap().unwrap();
    assert!(label.contains("unmatched 4") && label.contains("no workflow 3"), "{label}");
    let legend = wait_in(c, "figure.chart figcaption", "unmatched").await;
    assert!(legend.contains("no workflow 3"), "{legend}");
    assert_labelled(c, "dashboard").await;
    screenshot(c, "26-dashboard").await;

    // One click to the event log, filtered.
    click_button(c, "4 unmatched").await;
    heading(c, "Events").await;
    let url = c.current_url().await.unwrap();
    assert!(url.as_str().ends_with(&format!("#/events?webhook={webhook}&status=unmatched")), "{url}");
    c.back().await.unwrap();
    heading(c, "Dashboard").await;
    click_button(c, "Replay unmatched events of orders").await;
    wait_in(c, "#replay-status", "4 unmatched events of orders queued for replay.").await;

    // An alert added from the page, with a key made there.
    click_button(c, "Alerts").await;
    heading(c, "Alerts").await;
    labelled(c, "URL").await.send_keys("https://ops.example.com/wasmhook").await.unwrap();
    labelled(c, "Name").await.send_keys("on-call").await.unwrap();
    c.find(Locator::XPath("//summary[normalize-space()='Make a new signing key']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_button(c, "Generate a key").await;
    let key = wait_in(c, "#new-key", "whsec_").await;
    assert_eq!(labelled(c, "Signing secret").await.prop("value").await.unwrap().as_deref(), Some("ALERTS_KEY"));
    assert_labelled(c, "alerts").await;
    click_button(c, "Add alert").await;
    let card = wait_in(c, "section.alert", "on-call").await;
    assert!(card.contains("unmatched events ≥ 10") && card.contains("No message sent yet."), "{card}");
    screenshot(c, "27-alerts").await;
    let alerts = server.admin("GET", "/alerts", None).body;
    assert_eq!(alerts["alerts"][0]["secret"], "ALERTS_KEY", "{alerts:#}");
    assert!(!alerts.to_string().contains(key.trim()), "the key is never answered");
}
