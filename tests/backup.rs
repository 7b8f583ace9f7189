//! `wasmhook backup` against a node serving under load: the copy restores into a new data
//! dir with every event acknowledged before the backup began, and (with the data dir's
//! `secrets.key` copied beside it, as the backup's report says) its secrets still decrypt.
//! On PostgreSQL there is no file to copy, and the verb says where to look instead.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use support::{ok, ready_webhook, request_with, run_bounded, start};

const SECRET: &str = "sender-secret";

/// A delivery signed the way GitHub signs, with `SECRET`.
fn post_signed(addr: &str, hook: &str, body: &str) -> support::Answer {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let headers = [("Content-Type", "application/json"), ("X-Hub-Signature-256", signature.as_str())];
    request_with(addr, "POST", hook, &headers, body.as_bytes())
}

#[test]
fn a_backup_under_load_restores_every_acknowledged_event_and_the_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data);
    let (webhook, hook) = ready_webhook(&server, "orders");
    let signature = json!({"scheme": "github", "secret": SECRET});
    ok(server.admin("PUT", &format!("/webhooks/{webhook}/signature"), Some(signature)), "signature");

    // Load: signed deliveries one after another; each acknowledged id with when it was.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let load = {
        let (stop, acked, addr, hook) = (stop.clone(), acked.clone(), server.addr.clone(), hook.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 50_000 {
                n += 1;
                let answer = post_signed(&addr, &hook, &json!({"customer": format!("cus_{n}"), "n": n}).to_string());
                assert_eq!(answer.status, 202, "{:?}", answer.body);
                let id = answer.body["event_id"].as_str().unwrap().to_string();
                acked.lock().unwrap().push((id, Instant::now()));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "the load did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let began = Instant::now();
    let copy = dir.path().join("backup.db");
    let data_arg = data.to_str().unwrap();
    let out =
        run_bounded(&["backup", "--data-dir", data_arg, "--to", copy.to_str().unwrap()], Duration::from_secs(120));
    let ended = Instant::now();
    // The server kept acknowledging while and after the copy was made.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().iter().filter(|(_, at)| *at > ended).count() < 100 {
        assert!(Instant::now() < deadline, "ingest stalled after the backup");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    if support::on_postgres() {
        assert!(!out.status.success(), "{stdout}");
        assert!(stderr.contains("PostgreSQL") && stderr.contains("docs/operations.md"), "{stderr}");
        return;
    }
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("secrets.key") && stdout.contains("admin-token"),
        "the report names what else a restore needs: {stdout}"
    );
    assert_eq!(std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777, 0o600, "the copy holds tokens in clear");
    let again =
        run_bounded(&["backup", "--data-dir", data_arg, "--to", copy.to_str().unwrap()], Duration::from_secs(60));
    assert!(!again.status.success(), "a backup never overwrites");
    drop(server);

    // Restore as docs/operations.md says: the copy as the database, the key and the token beside it.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::set_permissions(&restored, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::copy(&copy, restored.join("wasmhook.db")).unwrap();
    for file in ["secrets.key", "admin-token"] {
        std::fs::copy(data.join(file), restored.join(file)).unwrap();
    }
    let server = start(&restored);
    assert_eq!(server.printed_token, None, "the restored data dir keeps its admin token");
    let before: Vec<String> =
        acked.lock().unwrap().iter().filter(|(_, at)| *at < began).map(|(id, _)| id.clone()).collect();
    assert!(before.len() >= 300);
    for id in &before {
        let event = server.admin("GET", &format!("/events/{id}"), None);
        assert_eq!(event.status, 200, "event {id}, acknowledged before the backup began, is in the restore");
    }
    assert!(server.count_events(&webhook, None) >= before.len());
    // The sender secret decrypts with the copied key: a signed delivery is taken, an unsigned one is not.
    assert_eq!(post_signed(&server.addr, &hook, r#"{"customer":"cus_after"}"#).status, 202);
    let unsigned = server.post_hook(&hook, &json!({"customer": "cus_after"}));
    assert_eq!(unsigned.status, 401, "{:?}", unsigned.body);
}
