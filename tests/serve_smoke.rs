//! `wasmhook serve` as a real process on loopback: data dir, admin token, health, and the
//! plugin listing behind the token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    addr: String,
    printed_token: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &std::path::Path) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_wasmhook"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("WASMHOOK_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    // Owned by `Server` from here on, so the process is reaped even if start-up fails.
    let mut server = Server {
        child,
        addr: String::new(),
        printed_token: None,
    };
    let stdout = server.child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("admin token") {
            server.printed_token = rest.rsplit(": ").next().map(str::to_string);
        }
        if let Some(addr) = line.strip_prefix("listening on http://") {
            server.addr = addr.to_string();
            return server;
        }
    }
}

/// A minimal HTTP/1.1 GET; returns status and body.
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn serve_creates_data_dir_and_guards_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wasmhook-data");
    let token = {
        let server = start(&data);
        let token = server
            .printed_token
            .clone()
            .expect("first start prints the generated token");
        assert!(data.join("wasmhook.db").exists());
        let token_file = data.join("admin-token");
        assert_eq!(std::fs::read_to_string(&token_file).unwrap(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
                0o600
            );
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
        let strtotime = plugins
            .iter()
            .find(|p| p["name"] == "strtotime")
            .expect("strtotime listed");
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
