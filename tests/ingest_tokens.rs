//! Token hygiene against the real binary: webhook tokens are long and random, rotation
//! keeps the old URL alive for its grace period only (across a restart too), and the old
//! URL still answers to the webhook's sender check while it lives.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Server, hook_path, start};

fn events(server: &Server, webhook: &str) -> usize {
    let log = server.admin("GET", &format!("/events?webhook={webhook}&limit=500"), None);
    log.body["events"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_rotated_token_works_until_its_grace_period_ends_and_not_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "rotating"})));
    let id = created.body["id"].as_str().unwrap().to_string();
    let old = hook_path(created.body["url"].as_str().unwrap());
    let token = created.body["token"].as_str().unwrap();
    let random = token.strip_prefix("whk_").expect("token prefix");
    assert!(random.len() * 4 >= 128 && random.chars().all(|c| c.is_ascii_hexdigit()), "{token}");
    assert_eq!(server.post_hook(&old, &json!({"n": 0})).status, 202);

    // Bad grace periods are refused naming the field; nothing changes.
    for bad in [json!({"grace_seconds": -1}), json!({"grace_seconds": 604_801}), json!({"grace_seconds": "soon"})] {
        let refused = server.admin("POST", &format!("/webhooks/{id}/rotate-token"), Some(bad.clone()));
        assert_eq!(refused.status, 400, "{bad}: {:?}", refused.body);
        assert_eq!(refused.body["error"]["field"], "grace_seconds", "{:?}", refused.body);
    }
    assert_eq!(server.admin("POST", "/webhooks/wh_nope/rotate-token", None).status, 404);
    assert_eq!(server.admin("GET", &format!("/webhooks/{id}"), None).body["url"], created.body["url"]);

    let rotated = server.admin("POST", &format!("/webhooks/{id}/rotate-token"), Some(json!({"grace_seconds": 3})));
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let rotated_at = Instant::now();
    let new = hook_path(rotated.body["url"].as_str().unwrap());
    assert_ne!(new, old);
    assert!(rotated.body["previous_token"]["expires_at"].is_string(), "{:?}", rotated.body);
    assert!(!rotated.body.to_string().contains(&old[7..]), "the old token is not shown again");

    // Both URLs reach the webhook during the grace period, also after a restart.
    assert_eq!(server.post_hook(&old, &json!({"n": 1})).status, 202);
    assert_eq!(server.post_hook(&new, &json!({"n": 2})).status, 202);
    drop(server);
    server = start(dir.path());
    assert_eq!(server.post_hook(&old, &json!({"n": 3})).status, 202);
    assert_eq!(events(&server, &id), 4);

    // After the grace period the old URL is as unknown as one that never existed.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(rotated_at.elapsed()) + Duration::from_millis(200));
    let gone = server.post_hook(&old, &json!({"n": 4}));
    assert_eq!(gone.status, 404, "{:?}", gone.body);
    assert_eq!(gone.body, server.post_hook("/hooks/whk_0000000000000000000000000000000000000000", &json!({})).body);
    assert_eq!(server.post_hook(&new, &json!({"n": 5})).status, 202);
    assert!(server.admin("GET", &format!("/webhooks/{id}"), None).body["previous_token"].is_null());

    // A rotation without grace stops the current URL at once.
    let again = server.admin("POST", &format!("/webhooks/{id}/rotate-token"), Some(json!({"grace_seconds": 0})));
    assert_eq!(again.status, 200);
    assert!(again.body["previous_token"].is_null());
    assert_eq!(server.post_hook(&new, &json!({"n": 6})).status, 404);
    let newest = hook_path(again.body["url"].as_str().unwrap());
    assert_eq!(server.post_hook(&newest, &json!({"n": 7})).status, 202);
    assert_eq!(events(&server, &id), 6);
}

#[test]
fn the_old_token_is_still_held_to_the_webhooks_sender_check_and_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let created = server.admin("POST", "/webhooks", Some(json!({"name": "signed"})));
    let id = created.body["id"].as_str().unwrap().to_string();
    let old = hook_path(created.body["url"].as_str().unwrap());
    let signature = json!({"scheme": "github", "secrets": ["It's a Secret to Everybody"]});
    assert_eq!(server.admin("PUT", &format!("/webhooks/{id}/signature"), Some(signature)).status, 200);
    let limit = json!({"per_second": 1, "burst": 3});
    assert_eq!(server.admin("PUT", &format!("/webhooks/{id}/rate-limit"), Some(limit)).status, 200);
    let rotated = server.admin("POST", &format!("/webhooks/{id}/rotate-token"), None);
    assert_eq!(rotated.status, 200);
    let new = hook_path(rotated.body["url"].as_str().unwrap());
    // Unsigned requests are refused on either URL; the bucket is the webhook's, shared.
    assert_eq!(server.post_hook(&old, &json!({})).status, 401);
    assert_eq!(server.post_hook(&new, &json!({})).status, 401);
    assert_eq!(server.post_hook(&old, &json!({})).status, 401);
    assert_eq!(server.post_hook(&new, &json!({})).status, 429);
    assert_eq!(server.post_hook(&old, &json!({})).status, 429);
    // The default grace is a day.
    let expires = rotated.body["previous_token"]["expires_at"].as_str().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap().timestamp();
    let in_a_day = chrono::Utc::now().timestamp() + 86_400;
    assert!((expires - in_a_day).abs() < 60, "{expires} vs {in_a_day}");
    assert_eq!(events(&server, &id), 0);
}
