//! `wasmhook serve` as a real process on loopback: data dir, admin token, health, and the
//! plugin listing behind the token.

use crate::support;

use support::start;

/// A minimal HTTP/1.1 GET; returns status and body.
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let answer = support::request(addr, "GET", path, token, None, b"");
    (answer.status, answer.body)
}

#[test]
fn serve_creates_data_dir_and_guards_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wasmhook-data");
    let token = {
        let server = start(&data);
        let token = server.printed_token.clone().expect("first start prints the generated token");
        // The data dir holds the SQLite file, or, on a shared database, none.
        assert_eq!(data.join("wasmhook.db").exists(), !support::on_postgres());
        let token_file = data.join("admin-token");
        assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
        }

        let (status, body) = get(&server.addr, "/healthz", None);
        assert_eq!(status, 200);
        assert_eq!(body["status"], "ok");

        let (status, body) = get(&server.addr, "/api/v1/plugins", None);
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "missing_token");
        let (status, body) = get(&server.addr, "/api/v1/plugins", Some("whk_admin_wrong"));
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "invalid_token");
        // Every 401 says which scheme to use; the scheme is matched in any case.
        for authorization in ["", "Bearer whk_admin_wrong", "Basic dXNlcjpwYXNz"] {
            let headers: Vec<(&str, &str)> =
                if authorization.is_empty() { vec![] } else { vec![("Authorization", authorization)] };
            let answer = support::request_with(&server.addr, "GET", "/api/v1/plugins", &headers, b"");
            assert_eq!(answer.status, 401, "{authorization}");
            assert_eq!(answer.header("www-authenticate").as_deref(), Some("Bearer"), "{authorization}");
        }
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            let authorization = format!("{scheme} {token}");
            let answer = support::request_with(
                &server.addr,
                "GET",
                "/api/v1/plugins",
                &[("Authorization", &authorization)],
                b"",
            );
            assert_eq!(answer.status, 200, "{scheme}");
        }

        // A filter naming no event status is refused, not answered with nothing.
        let (status, body) = get(&server.addr, "/api/v1/events?status=bogus", Some(&token));
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["field"], "status");
        assert!(body["error"]["message"].as_str().unwrap().contains("unmatched"), "{body}");
        assert_eq!(get(&server.addr, "/api/v1/events?status=unmatched", Some(&token)).0, 200);
        let replay = server.admin("POST", "/events/replay", Some(serde_json::json!({"status": "bogus"})));
        assert_eq!(replay.status, 400, "{:?}", replay.body);
        assert_eq!(replay.body["error"]["field"], "status");

        let (status, body) = get(&server.addr, "/api/v1/plugins", Some(&token));
        assert_eq!(status, 200);
        let plugins = body["plugins"].as_array().unwrap();
        let strtotime = plugins.iter().find(|p| p["name"] == "strtotime").expect("strtotime listed");
        assert_eq!(strtotime["world"], "transform");
        assert_eq!(strtotime["builtin"], true);
        assert_eq!(strtotime["sha256"].as_str().unwrap().len(), 64);
        assert!(strtotime["size"].as_u64().unwrap() > 10_000);
        assert!(plugins.iter().any(|p| p["name"] == "normalize"));
        token
    };
    // A restart keeps the token and does not print it again.
    let server = start(&data);
    assert_eq!(server.printed_token, None);
    assert_eq!(get(&server.addr, "/api/v1/plugins", Some(&token)).0, 200);
}

/// Mode bits of `path` (permissions only).
#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_data_dir_and_every_file_in_it_are_private_to_the_servers_user() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("wasmhook-data");
    let server = start(&data);
    // A webhook (and its `external_id` property), an event, and an import, which spools its
    // upload into a directory of the data dir.
    let (_, hook) = support::ready_webhook(&server, "modes");
    assert_eq!(server.post_hook(&hook, &serde_json::json!({"customer": "a"})).status, 202);
    let answer = server.import("contacts", b"{\"external_id\": \"a\"}\n", true);
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(mode(&data), 0o700);
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), expected, "{name}: {:o}", mode(&path));
        seen.push(name);
    }
    seen.sort();
    let segments: Vec<_> = std::fs::read_dir(data.join("ingest-log")).map(|d| d.collect()).unwrap_or_default();
    assert_eq!(segments.is_empty(), support::on_postgres(), "an ingest log only on SQLite");
    for segment in segments {
        let path = segment.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}: {:o}", path.display(), mode(&path));
    }
    let mut expected = vec!["admin-token", "imports", "node-id", "secrets.key"];
    if !support::on_postgres() {
        // The database, its write-ahead log and its shared-memory index, and the ingest log
        // (a directory of segments, each 0600 too: checked below).
        expected.extend(["ingest-log", "wasmhook.db", "wasmhook.db-shm", "wasmhook.db-wal"]);
    } else {
        // The test's note of its database (made by the test, 0600 too).
        expected.extend(["test-database"]);
    }
    expected.sort();
    assert_eq!(seen, expected);
}

#[cfg(unix)]
#[test]
fn a_data_dir_others_can_read_is_named_in_a_warning_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(start(&data));
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("admin-token"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = dir.path().join("log");
    let server = support::start_with(&data, Some((&log, "warn")), &[]);
    assert_eq!(get(&server.addr, "/healthz", None).0, 200);
    let logged = std::fs::read_to_string(&log).unwrap();
    let warnings: Vec<&str> = logged.lines().filter(|l| l.contains("other local users may read")).collect();
    assert_eq!(warnings.len(), 2, "{logged}");
    assert!(warnings[0].contains(&*data.display().to_string()) && warnings[0].contains("0755"), "{logged}");
    assert!(warnings[0].contains("chmod 0700"), "{logged}");
    assert!(warnings[1].contains("admin-token") && warnings[1].contains("0644"), "{logged}");
    assert!(warnings[1].contains("chmod 0600"), "{logged}");
    // Modes an admin chose are theirs to change; the server does not widen or narrow them.
    assert_eq!(mode(&data), 0o755);
}
