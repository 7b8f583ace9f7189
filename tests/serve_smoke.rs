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
