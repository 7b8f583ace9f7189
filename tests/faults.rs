//! Faults from outside: a full disk, a database locked by another process or read-only, a stored plugin that was damaged or removed behind wasmhook's back. Each is
//! reported (an HTTP status and reason, an event's failure reason), nothing
//! acknowledged is lost, and the rest carries on.
//!
//! The disk tests mount a small tmpfs, so they need root (as CI runs).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{Answer, Server, ready_webhook, run_bounded, start};

const HOSTILE: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/guest_hostile.wasm");
const NORMALIZE: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/normalize.wasm");

/// A tmpfs of `size` mounted on a fresh directory; unmounted (lazily) on drop.
struct Tmpfs {
    path: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("data");
        std::fs::create_dir(&path).unwrap();
        mount(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"], &path);
        Tmpfs { path, _parent: parent }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn mount(args: &[&str], path: &Path) {
    let status = Command::new("mount").args(args).arg(path).status().expect("mount runs");
    assert!(status.success(), "mount {args:?} failed: these tests need root (CI runs as root)");
}

/// Post up to `n` events padded with `pad` bytes, stopping at the first refusal: those
/// acknowledged, and the refusal if any.
fn post_until_refused(server: &Server, hook: &str, pad: usize, n: usize) -> (Vec<String>, Option<Answer>) {
    let mut acknowledged = Vec::new();
    for i in 0..n {
        let answer = server.post_hook(hook, &json!({"customer": "cus_1", "n": i, "pad": "x".repeat(pad)}));
        if answer.status != 202 {
            return (acknowledged, Some(answer));
        }
        acknowledged.push(answer.body["event_id"].as_str().unwrap().to_string());
    }
    (acknowledged, None)
}

/// Wait until no event of `webhook` is `accepted`; then each of `ids` is there and settled.
fn all_settled(server: &Server, webhook: &str, ids: &[String]) {
    server.drained(webhook, Duration::from_secs(60));
    for id in ids {
        let event = server.admin("GET", &format!("/events/{id}"), None);
        assert_eq!(event.status, 200, "acknowledged event {id} is missing");
        assert_ne!(event.body["status"], "accepted", "{id}");
    }
}

#[test]
fn a_full_disk_answers_503_acknowledges_only_what_it_stored_and_recovers() {
    // Room for the database, the ingest log's zero-filled 16 MiB segments (the one being
    // filled and the next, made ahead) and the database's share of what they hold.
    let disk = Tmpfs::mount("96m");
    let server = start(&disk.path);
    let (webhook, hook) = ready_webhook(&server, "orders");
    // Leave about 1.5 MiB free: the log's segments have their 16 MiB already, so their rest
    // of up to ~1,600 events of 20 KB is acknowledged (the database catches up once there is
    // room); the segment after them finds the disk full. The one made ahead first, so the
    // space it takes is not counted as free.
    let log = disk.path.join("ingest-log");
    let made = |e: &std::fs::DirEntry| e.metadata().is_ok_and(|m| m.len() == 16 << 20);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&log).unwrap().filter_map(Result::ok).filter(made).count() < 2 {
        assert!(std::time::Instant::now() < deadline, "the next segment was not made ahead");
        std::thread::sleep(Duration::from_millis(20));
    }
    let free = fs_free(&disk.path);
    let filler = disk.path.join("filler");
    std::fs::write(&filler, vec![0u8; (free - 1_536 * 1024) as usize]).unwrap();

    let (before, refused) = post_until_refused(&server, &hook, 20_000, 3_000);
    let refused = refused.expect("3,000 posts were all accepted; the disk never filled");
    assert!(!before.is_empty(), "nothing was accepted before the disk filled");
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], "storage_unavailable");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("disk is full") && message.contains("nothing was accepted"), "{message}");
    assert!(refused.headers.contains("retry-after: 30"), "{}", refused.headers);
    // Still full: still refused, and the server still answers everything else.
    assert_eq!(server.post_hook(&hook, &json!({"customer": "cus_1", "pad": "x".repeat(20_000)})).status, 503);
    assert_eq!(server.admin("GET", "/webhooks", None).status, 200);

    std::fs::remove_file(&filler).unwrap();
    let (after, _) = post_until_refused(&server, &hook, 0, 20);
    assert_eq!(after.len(), 20, "ingest did not recover once space returned");
    let acknowledged: Vec<String> = before.into_iter().chain(after).collect();
    all_settled(&server, &webhook, &acknowledged);
    // Exactly what was acknowledged is stored (plus the test event): no refused request
    // left an event behind for its retry to duplicate.
    assert_eq!(server.count_events(&webhook, None), acknowledged.len() + 1);
    eprintln!("disk full: {} acknowledged; after the filler went, 20 more; none lost", acknowledged.len() - 20);
}

fn fs_free(path: &Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn a_database_locked_by_another_process_holds_events_in_the_ingest_log_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "orders");
    let (first, _) = post_until_refused(&server, &hook, 0, 5);
    assert_eq!(first.len(), 5);

    // Another process takes the write lock and keeps it past wasmhook's 5 s busy timeout.
    let mut intruder = rusqlite::Connection::open(dir.path().join("wasmhook.db")).unwrap();
    let lock = intruder.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive).unwrap();
    // Acknowledging costs the ingest log's append, not the database: senders are answered.
    let (during, refused) = post_until_refused(&server, &hook, 0, 3);
    assert!(refused.is_none(), "refused while the database was locked: {refused:?}");
    // The database cannot have it yet; the event is still answered for, as ingest decided it.
    let waiting = server.admin("GET", &format!("/events/{}", during[0]), None);
    assert_eq!(waiting.status, 200, "{:?}", waiting.body);
    assert_eq!(waiting.body["status"], "accepted");
    assert_eq!(waiting.body["payload"]["n"], 0);
    let stored: i64 = lock.query_row("SELECT count(*) FROM events WHERE id = ?1", [&during[0]], |r| r.get(0)).unwrap();
    assert_eq!(stored, 0, "the lock held, so the event cannot be in the database yet");
    let waiting = support::metric_sum(&server.metrics(), "wasmhook_ingest_log_unapplied_events", &[]);
    // The three, and any of the first five the lock caught before the database had them.
    assert!(
        (during.len() as f64..=(during.len() + first.len()) as f64).contains(&waiting),
        "the gauge shows what waits for the database: {waiting}"
    );
    lock.rollback().unwrap();

    let (after, refused) = post_until_refused(&server, &hook, 0, 5);
    assert!(refused.is_none(), "refused after the lock was released: {refused:?}");
    let acknowledged: Vec<String> = first.into_iter().chain(during).chain(after).collect();
    all_settled(&server, &webhook, &acknowledged);
    assert_eq!(server.count_events(&webhook, None), acknowledged.len() + 1);
    assert_eq!(support::metric_sum(&server.metrics(), "wasmhook_ingest_log_unapplied_events", &[]), 0.0);
}

#[test]
fn events_waiting_for_a_locked_database_are_bounded_by_503s_and_all_stored_once_it_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "orders");
    let mut intruder = rusqlite::Connection::open(dir.path().join("wasmhook.db")).unwrap();
    let lock = intruder.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive).unwrap();
    // Batches of 1,000 events until ingest refuses: past 32,768 waiting it must.
    let batch = json!((0..1000).map(|i| json!({"customer": "cus_1", "i": i})).collect::<Vec<_>>());
    let (mut acknowledged, mut refused) = (Vec::new(), None);
    for _ in 0..40 {
        let answer = server.post_hook(&hook, &batch);
        if answer.status != 202 {
            refused = Some(answer);
            break;
        }
        acknowledged
            .extend(answer.body["event_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()));
    }
    let refused = refused.expect("40,000 events acknowledged while the database took none: memory has no bound");
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], "storage_unavailable");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("waiting for the database") && message.contains("nothing was accepted"), "{message}");
    assert!(refused.headers.contains("retry-after: 30"), "{}", refused.headers);
    assert!((32_768..32_768 + 1000).contains(&acknowledged.len()), "refused after {} events", acknowledged.len());
    let waiting = support::metric_sum(&server.metrics(), "wasmhook_ingest_log_unapplied_events", &[]);
    assert_eq!(waiting, acknowledged.len() as f64);
    lock.rollback().unwrap();
    drop(intruder);

    server.drained(&webhook, Duration::from_secs(180));
    assert_eq!(server.count_events(&webhook, None), acknowledged.len() + 1, "each acknowledged event once");
    let some: Vec<String> = acknowledged.iter().step_by(4099).cloned().collect();
    all_settled(&server, &webhook, &some);
    assert_eq!(server.post_hook(&hook, &json!({"customer": "cus_1"})).status, 202, "taking events again");
}

#[test]
fn a_damaged_or_missing_plugin_fails_its_own_events_clearly_and_the_rest_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let upload = |server: &Server, name: &str, path: &str| {
        let bytes = std::fs::read(path).unwrap();
        let path = format!("/api/v1/plugins/{name}");
        let answer =
            support::request(&server.addr, "PUT", &path, Some(&server.token), Some("application/wasm"), &bytes);
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    };
    upload(&server, "damaged", HOSTILE);
    upload(&server, "vanished", NORMALIZE);
    let chains = [
        ("damaged", json!([{"plugin": "damaged", "config": {"mode": "echo"}}])),
        ("vanished", json!([{"plugin": "vanished", "config": {"customer": "lowercase"}}])),
        ("healthy", json!([{"plugin": "normalize", "config": {"customer": "trim,lowercase"}}])),
    ];
    let mut hooks = Vec::new();
    for (name, chain) in &chains {
        let (id, hook) = ready_webhook(&server, name);
        let set = server.admin("PUT", &format!("/webhooks/{id}/transforms"), Some(chain.clone()));
        assert_eq!(set.status, 200, "{name}: {:?}", set.body);
        hooks.push((id, hook));
    }

    // Behind wasmhook's back, while it is down: flip bytes in one plugin's stored
    // component, delete the other's row.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let db = rusqlite::Connection::open(dir.path().join("wasmhook.db")).unwrap();
    let damage = "UPDATE plugins SET bytes = CAST(substr(bytes, 1, 1000) || zeroblob(64) || substr(bytes, 1065) AS BLOB) WHERE name = 'damaged'";
    assert_eq!(db.execute(damage, []).unwrap(), 1);
    assert_eq!(db.execute("DELETE FROM plugins WHERE name = 'vanished'", []).unwrap(), 1);
    drop(db);

    let server = start(dir.path());
    let sent: Vec<Vec<String>> = hooks
        .iter()
        .map(|(_, hook)| {
            (0..3)
                .map(|n| {
                    let answer = server.post_hook(hook, &json!({"customer": format!("cus_{n}")}));
                    assert_eq!(answer.status, 202, "{:?}", answer.body);
                    answer.body["event_id"].as_str().unwrap().to_string()
                })
                .collect()
        })
        .collect();
    for ((id, _), ids) in hooks.iter().zip(&sent) {
        all_settled(&server, id, ids);
    }
    let reason = |id: &str| {
        let event = server.admin("GET", &format!("/events/{id}"), None).body;
        (event["status"].as_str().unwrap().to_string(), event["reason"].as_str().unwrap_or("").to_string())
    };
    for id in &sent[0] {
        let (status, why) = reason(id);
        assert_eq!(status, "failed", "{why}");
        assert!(why.contains("plugin `damaged` is corrupted") && why.contains("upload it again"), "{why}");
    }
    for id in &sent[1] {
        let (status, why) = reason(id);
        assert_eq!(status, "failed", "{why}");
        assert!(why.contains("plugin `vanished` does not exist"), "{why}");
    }
    for id in &sent[2] {
        let (status, why) = reason(id);
        assert!(status != "failed" && status != "accepted", "the healthy webhook's event {id}: {status} {why}");
    }

    // Uploading the plugin again mends it; a replay then runs it.
    upload(&server, "damaged", HOSTILE);
    let replay = server.admin("POST", &format!("/events/{}/replay", sent[0][0]), None);
    assert!(replay.status < 300, "{:?}", replay.body);
    all_settled(&server, &hooks[0].0, &sent[0][..1]);
    let (status, why) = reason(&sent[0][0]);
    assert_ne!(status, "failed", "{why}");
}

#[test]
fn a_read_only_database_is_refused_at_start_with_a_clear_reason_and_nothing_is_lost() {
    let disk = Tmpfs::mount("56m");
    let mut server = start(&disk.path);
    let (webhook, hook) = ready_webhook(&server, "orders");
    let (acknowledged, _) = post_until_refused(&server, &hook, 0, 5);
    all_settled(&server, &webhook, &acknowledged);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    mount(&["-o", "remount,ro"], &disk.path);
    let data_dir = disk.path.to_str().unwrap();
    let out = run_bounded(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir], Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "serve on a read-only database: {stderr}");
    assert!(stderr.contains("read-only") && stderr.contains("make it writable"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    mount(&["-o", "remount,rw"], &disk.path);
    let server = start(&disk.path);
    all_settled(&server, &webhook, &acknowledged);
    assert_eq!(server.post_hook(&hook, &json!({"customer": "cus_1"})).status, 202);
}
