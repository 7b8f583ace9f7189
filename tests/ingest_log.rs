//! The ingest log (SQLite): an event is acknowledged once its group is in the log, and the
//! database gets it a moment later. These tests kill the server while the database cannot
//! take the events (another process holds its lock), so only the log has them, then damage
//! the log's tail the way a crash mid-append does, and restart: every acknowledged event is
//! there exactly once, the torn record is reported and nothing of it is applied, and the
//! applied segments are gone.

use crate::support;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use support::{ready_webhook, start, start_logging};

/// The log's segments, oldest first.
fn segments(data: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(data.join("ingest-log")).unwrap().map(|e| e.unwrap().path()).collect();
    found.sort();
    found
}

#[test]
fn events_only_the_log_held_at_a_kill_are_applied_at_start_and_a_torn_tail_is_ignored() {
    if support::on_postgres() {
        return; // PostgreSQL nodes acknowledge after their own commit: no log.
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "orders");
    let post = |server: &support::Server, n: usize| {
        let answer = server.post_hook(&hook, &json!({"customer": "cus_1", "n": n}));
        assert_eq!(answer.status, 202, "{:?}", answer.body);
        answer.body["event_id"].as_str().unwrap().to_string()
    };
    let mut acknowledged: Vec<String> = (0..5).map(|n| post(&server, n)).collect();

    // Another process holds the database's write lock: what follows is only in the log.
    let mut intruder = rusqlite::Connection::open(dir.path().join("wasmhook.db")).unwrap();
    let lock = intruder.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive).unwrap();
    let held: Vec<String> = (5..25).map(|n| post(&server, n)).collect();
    let batch = server.post_hook(&hook, &json!([{"customer": "cus_1", "n": 25}, {"customer": "cus_1", "n": 26}]));
    assert_eq!(batch.status, 202, "{:?}", batch.body);
    let batch_ids: Vec<String> =
        batch.body["event_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let in_database: i64 = lock.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap();
    lock.rollback().unwrap();
    drop(intruder);
    acknowledged.extend(held.iter().cloned());
    acknowledged.extend(batch_ids.iter().cloned());

    // A crash in the middle of an append leaves part of a record: here, the first half of
    // a copy of the newest segment's first record (the one made ahead holds none yet).
    let before = segments(dir.path());
    let newest = before.iter().rev().find(|s| holds_a_record(s)).expect("a segment with a record").clone();
    let bytes = std::fs::read(&newest).unwrap();
    let length = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert!(bytes.len() >= 8 + length, "the segment holds a whole record");
    let torn = &bytes[..(8 + length) / 2];
    std::fs::OpenOptions::new().append(true).open(&newest).unwrap().write_all(torn).unwrap();

    let log = dir.path().join("server.log");
    let server = start_logging(dir.path(), Some(&log));
    server.drained(&webhook, Duration::from_secs(60));
    for id in &acknowledged {
        let event = server.admin("GET", &format!("/events/{id}"), None);
        assert_eq!(event.status, 200, "acknowledged event {id} is missing after the restart");
        assert_eq!(event.body["payload"]["customer"], "cus_1");
        assert_eq!(event.body["stage"], "match", "{id} went through the pipeline: {:?}", event.body);
    }
    // Exactly the acknowledged events (and the test event): the torn record added nothing,
    // and a group applied before the kill was not applied twice.
    assert_eq!(server.count_events(&webhook, None), acknowledged.len() + 1);
    assert!(in_database < acknowledged.len() as i64 + 1, "the lock kept the held events out of the database");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("ignored the end of an ingest log segment"), "the torn tail is reported:\n{text}");
    assert!(text.contains("applied events the ingest log held from before the restart"), "{text}");
    // Everything the old segments held is in the database: they are gone; a new one is
    // open and the next may be made ahead, both empty.
    let left = segments(dir.path());
    assert!((1..=2).contains(&left.len()), "{left:?}");
    assert!(left.iter().all(|s| !before.contains(s) && !holds_a_record(s)), "{left:?} after {before:?}");
}

/// Whether a segment starts with a record (a new segment is all zeros).
fn holds_a_record(segment: &Path) -> bool {
    std::fs::read(segment).unwrap().get(..4).is_some_and(|length| length != [0; 4])
}

/// Senders posting 16-event batches of ~1 KB events at once from four connections until
/// the server is gone; every batch carries its own request id (`crash-<sender>-<n>`). The
/// event ids of the batches acknowledged.
fn post_until_gone(server: &support::Server, hook: &str) -> Vec<String> {
    let pad = "x".repeat(1000);
    std::thread::scope(|scope| {
        let senders: Vec<_> = (0..4)
            .map(|sender| {
                let pad = &pad;
                scope.spawn(move || {
                    let mut acknowledged = Vec::new();
                    // Bounded: a crash point that is never reached fails the test instead of hanging it.
                    for n in 0..3000 {
                        let batch: Vec<_> = (0..16)
                            .map(|i| json!({"customer": "cus_1", "sender": sender, "n": n, "i": i, "pad": pad}))
                            .collect();
                        let id = format!("crash-{sender}-{n}");
                        let headers = [("content-type", "application/json"), ("x-request-id", id.as_str())];
                        let body = serde_json::to_vec(&batch).unwrap();
                        let answer = support::request_with(&server.addr, "POST", hook, &headers, &body);
                        match answer.status {
                            202 => acknowledged.extend(
                                answer.body["event_ids"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .map(|v| v.as_str().unwrap().to_string()),
                            ),
                            0 => break,
                            other => panic!("sender {sender}: {other} {}", answer.text),
                        }
                    }
                    acknowledged
                })
            })
            .collect();
        senders.into_iter().flat_map(|s| s.join().unwrap()).collect()
    })
}

#[test]
fn a_crash_at_each_moment_the_log_adds_loses_no_acknowledged_event_and_stores_no_request_in_part() {
    if support::on_postgres() {
        return;
    }
    // Each point is reached once per group (or per applied batch, or per deleted segment);
    // the counts put the crash well inside the load. The last needs a segment filled (16 MiB,
    // ~950 batches) and applied.
    let points = [("log-mid-write", 60), ("log-synced", 60), ("applied", 8), ("reclaim-mid-delete", 1)];
    for (point, n) in points {
        let dir = tempfile::tempdir().unwrap();
        let armed = format!("{point}:{n}");
        let mut server = support::start_env(dir.path(), None, &[], &[("WASMHOOK_CRASH_AT", &armed)]);
        let (webhook, hook) = ready_webhook(&server, "orders");
        let acknowledged = post_until_gone(&server, &hook);
        let ended = server.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&ended),
            Some(6),
            "{point}: the server was to abort there; it ended {ended:?} after {} acknowledged events",
            acknowledged.len()
        );

        let log = dir.path().join("server.log");
        let server = start_logging(dir.path(), Some(&log));
        server.drained(&webhook, Duration::from_secs(120));
        let db = rusqlite::Connection::open(dir.path().join("wasmhook.db")).unwrap();
        let mut stored = std::collections::HashSet::new();
        let mut query =
            db.prepare("SELECT id FROM events WHERE webhook_id = ?1 AND request_id LIKE 'crash-%'").unwrap();
        for id in query.query_map([&webhook], |r| r.get::<_, String>(0)).unwrap() {
            stored.insert(id.unwrap());
        }
        let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
        assert!(lost.is_empty(), "{point}: {} acknowledged events lost, e.g. {:?}", lost.len(), &lost[..1]);
        // Stored but never answered: at most the batches in flight (four senders × 16).
        let unanswered = stored.len() - acknowledged.len();
        assert!(unanswered <= 64, "{point}: {unanswered} events stored that were not acknowledged");
        let mut parts = db
            .prepare(
                "SELECT request_id, count(*) FROM events WHERE webhook_id = ?1 AND request_id LIKE 'crash-%' \
                 GROUP BY request_id HAVING count(*) <> 16",
            )
            .unwrap();
        let partial: Vec<(String, i64)> =
            parts.query_map([&webhook], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
        assert!(partial.is_empty(), "{point}: requests stored in part: {partial:?}");
        // Disk stays bounded: the segments before the crash are gone.
        let left = segments(dir.path());
        assert!(left.len() <= 2, "{point}: {left:?}");
        let text = std::fs::read_to_string(&log).unwrap();
        if point == "log-mid-write" {
            assert!(text.contains("ignored the end of an ingest log segment"), "{point}: the torn tail is reported");
        }
        eprintln!("{point}:{n}: {} acknowledged, {unanswered} stored unanswered, none lost", acknowledged.len());
    }
}

#[test]
fn a_backup_holds_events_the_database_did_not_have_yet() {
    if support::on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "orders");
    let mut intruder = rusqlite::Connection::open(dir.path().join("wasmhook.db")).unwrap();
    let lock = intruder.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive).unwrap();
    let held: Vec<String> = (0..10)
        .map(|n| {
            let answer = server.post_hook(&hook, &json!({"customer": "cus_1", "n": n}));
            assert_eq!(answer.status, 202, "{:?}", answer.body);
            answer.body["event_id"].as_str().unwrap().to_string()
        })
        .collect();
    // The data dir as it is while the events are only in the log (the server goes on).
    let frozen = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", dir.path().display()))
        .arg(frozen.path())
        .status()
        .unwrap();
    assert!(copied.success());
    lock.rollback().unwrap();
    drop(intruder);
    let before = rusqlite::Connection::open(frozen.path().join("wasmhook.db")).unwrap();
    let there: i64 = before.query_row("SELECT count(*) FROM events WHERE id = ?1", [&held[0]], |r| r.get(0)).unwrap();
    assert_eq!(there, 0, "the copied database does not have the held events");
    drop(before);
    let copy = frozen.path().join("backup.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhook"))
        .args(["backup", "--data-dir"])
        .arg(frozen.path())
        .arg("--to")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let db = rusqlite::Connection::open(&copy).unwrap();
    for id in &held {
        let n: i64 = db.query_row("SELECT count(*) FROM events WHERE id = ?1", [id], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "{id} is not in the backup");
    }
    server.drained(&webhook, Duration::from_secs(30));
}

#[test]
fn events_of_a_webhook_measured_cheap_are_processed_from_memory_with_the_enrollment_rules_kept() {
    if support::on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (webhook, hook) = ready_webhook(&server, "orders");
    let record =
        server.admin("POST", "/objects/contacts/records", Some(json!({"properties": {"external_id": "cus_1"}})));
    assert_eq!(record.status, 201, "{:?}", record.body);
    let flow = json!({"name": "welcome", "object": "contacts", "triggers": [webhook], "actions": []});
    let flow = server.admin("POST", "/workflows", Some(flow));
    assert_eq!(flow.status, 201, "{:?}", flow.body);
    let workflow = flow.body["id"].as_str().unwrap().to_string();
    let record = record.body["id"].as_str().unwrap().to_string();
    let post = |n: usize| {
        let answer = server.post_hook(&hook, &json!({"customer": "cus_1", "n": n}));
        assert_eq!(answer.status, 202, "{:?}", answer.body);
        answer.body["event_id"].as_str().unwrap().to_string()
    };
    let from_log = |server: &support::Server| {
        support::metric_sum(&server.metrics(), "wasmhook_events_processed_from_log_total", &[])
    };
    // A new webhook's first event goes through the pipeline's lanes, which measure its cost.
    let first = [post(0)];
    server.drained(&webhook, Duration::from_secs(30));
    let before = from_log(&server);
    assert_eq!(before, 0.0, "a webhook not measured yet is never processed by the applier");

    // The first event's cost includes a cold plugin instance: on a loaded machine it can
    // measure slow, and the lanes then go on processing until a batch measures cheap. One
    // event at a time until the applier takes one (a webhook measured cheap), bounded.
    let mut warm = 1;
    let mut before = before;
    while from_log(&server) == before {
        assert!(warm < 20, "the applier never took an event of a cheap webhook");
        post(warm);
        server.drained(&webhook, Duration::from_secs(30));
        warm += 1;
    }
    before = from_log(&server);

    // Measured cheap: from now on the applier processes its events as it stores them.
    let later: Vec<String> = (warm..warm + 39).map(post).collect();
    server.drained(&webhook, Duration::from_secs(30));
    assert_eq!(from_log(&server) - before, later.len() as f64, "each processed from memory");
    let status = |id: &String| server.admin("GET", &format!("/events/{id}"), None).body;
    assert_eq!(status(&first[0])["status"], "enrolled");
    for id in &later {
        let event = status(id);
        // One enrollment per record for this workflow: the rule holds on this path too.
        assert_eq!(event["status"], "already_enrolled", "{event:#}");
        assert_eq!(event["matched_record_id"], record.as_str(), "{event:#}");
    }
    let enrollments = server.admin("GET", &format!("/workflows/{workflow}/enrollments"), None).body;
    let enrollments = enrollments["enrollments"].as_array().unwrap();
    assert_eq!(enrollments.len(), 1, "{enrollments:#?}");
    assert_eq!(enrollments[0]["event_id"], first[0].as_str());
}
