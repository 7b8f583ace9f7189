//! The example plugin `plugins/crm-lookup` (built on the `wasmhook-http` helper) looks a
//! contact up in a CRM API over HTTPS, on loopback, with a certificate from a CA this test
//! makes: the server started with `--outbound-ca` verifies it, the API sees the bearer
//! secret, and the contact's company lands on the record; a server without that CA refuses
//! the certificate, so the step fails at once (a certificate will not mend on a retry) and
//! the API never reads a request.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

use super::outbound_http::try_step;
use super::send_webhook::enrolled;
use crate::support::{Server, ok, ready_webhook, start_with};

const CRM_LOOKUP: &str = concat!(env!("WASMHOOK_GUEST_DIR"), "/crm_lookup.wasm");
const CRM_KEY: &str = "pat-na1-test-0f3c";

/// A CA and a certificate it signed for 127.0.0.1, made with `openssl` in `dir`: the CA's
/// PEM, the server's certificate and key.
fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-days", "1", "-subj", "/CN=wasmhook test CA", "-keyout", "ca.key", "-out", "ca.crt"],
    ]
    .concat());
    run(&[&["req"][..], &ec, &["-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"]].concat());
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
    (dir.join("ca.crt"), dir.join("server.crt"), dir.join("server.key"))
}

/// A CRM API on loopback over TLS: `GET /crm/v3/objects/contacts/ann%40example.com…`
/// answers the contact, any other path 404. Keeps `target | authorization` of each request
/// it read.
struct Crm {
    addr: String,
    seen: Arc<Mutex<Vec<String>>>,
}

fn crm(cert: &Path, key: &Path) -> Crm {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let Ok(tls) = rustls::ServerConnection::new(config.clone()) else { continue };
            // A client that refuses the certificate ends the handshake: the read fails.
            let mut reader = BufReader::new(rustls::StreamOwned::new(tls, tcp));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.is_empty() {
                continue;
            }
            let mut auth = String::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    auth = value.trim().to_string();
                }
            }
            let target = line.split_whitespace().nth(1).unwrap_or_default().to_string();
            log.lock().unwrap().push(format!("{target} | {auth}"));
            let (status, body) = if target.starts_with("/crm/v3/objects/contacts/ann%40example.com?") {
                (200, json!({"id": "51", "properties": {"company": "Acme", "lifecyclestage": "customer"}}))
            } else {
                (404, json!({"status": "error", "message": "resource not found"}))
            };
            let body = body.to_string();
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.conn.send_close_notify();
            let _ = stream.flush();
        }
    });
    Crm { addr, seen }
}

/// The plugin, its secret, a `company` property, a ready webhook and `cus_1` with an email:
/// (webhook, hook path, record id).
fn set_up(server: &Server) -> (String, String, String) {
    let (webhook, hook) = ready_webhook(server, "signups");
    for property in [json!({"name": "email", "type": "string"}), json!({"name": "company", "type": "string"})] {
        ok(server.admin("POST", "/objects/contacts/properties", Some(property)), "property");
    }
    let uploaded = server.upload_plugin("crm-lookup", CRM_LOOKUP);
    assert_eq!(uploaded.status, 200, "{}", uploaded.text);
    assert_eq!(server.admin("PUT", "/secrets/CRM_KEY", Some(json!({"value": CRM_KEY}))).status, 204);
    let record = json!({"properties": {"external_id": "cus_1", "email": "ann@example.com"}});
    let record = ok(server.admin("POST", "/objects/contacts/records", Some(record)), "record");
    (webhook, hook, record["id"].as_str().unwrap().to_string())
}

fn lookup_workflow(server: &Server, webhook: &str, crm: &Crm) -> String {
    let base = format!("https://{}", crm.addr);
    let actions = json!([
        {"type": "custom_code", "plugin": "crm-lookup",
         "inputs": {"email": "record.email", "base_url": {"value": base}},
         "secrets": ["CRM_KEY"], "allowed_hosts": [base],
         "outputs": [{"name": "found", "type": "boolean"}, {"name": "crm_id", "type": "string"},
                     {"name": "company", "type": "string"}, {"name": "lifecycle_stage", "type": "string"}]},
        {"type": "set_property", "property": "company", "value": "action.0.company"}
    ]);
    let saved = json!({"name": "crm lookup", "object": "contacts", "triggers": [webhook], "actions": actions});
    ok(server.admin("POST", "/workflows", Some(saved)), "workflow")["id"].as_str().unwrap().to_string()
}

#[test]
fn the_example_crm_lookup_reads_a_contact_over_https_verified_against_the_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(dir.path());
    let crm = crm(&cert, &key);
    let ca = ca.to_str().unwrap();
    let server = start_with(&dir.path().join("data"), None, &["--outbound-allow", "127.0.0.1/32", "--outbound-ca", ca]);
    let (webhook, hook, record) = set_up(&server);
    lookup_workflow(&server, &webhook, &crm);

    let enrollment = enrolled(&server, &hook, &json!({"customer": "cus_1"}));
    assert_eq!(enrollment["status"], "completed", "{enrollment:#}");
    let outputs = &enrollment["steps"][0]["outputs"];
    assert_eq!(*outputs, json!({"found": true, "crm_id": "51", "company": "Acme", "lifecycle_stage": "customer"}));
    let written = server.admin("GET", &format!("/objects/contacts/records/{record}"), None).body;
    assert_eq!(written["properties"]["company"], "Acme", "{written:#}");
    let seen = crm.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [format!(
            "/crm/v3/objects/contacts/ann%40example.com?idProperty=email&properties=company,lifecyclestage | Bearer {CRM_KEY}"
        )]
    );
    // The step log shows the request without its query; the secret is nowhere.
    let log = enrollment["steps"][0]["log"].as_str().unwrap_or_default();
    assert!(
        log.contains(&format!("GET https://{}/crm/v3/objects/contacts/ann%40example.com -> 200", crm.addr)),
        "{log}"
    );
    assert!(!enrollment.to_string().contains(CRM_KEY));
}

#[test]
fn without_the_test_ca_the_certificate_is_refused_and_the_step_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = test_ca(dir.path());
    let crm = crm(&cert, &key);
    let server = start_with(&dir.path().join("data"), None, &["--outbound-allow", "127.0.0.1/32"]);
    let (webhook, _, record) = set_up(&server);
    let workflow = lookup_workflow(&server, &webhook, &crm);

    let step = try_step(&server, &workflow, &record);
    assert_eq!(step["outcome"], "failed", "a certificate that does not verify is not retried: {step:#}");
    let reason = step["reason"].as_str().unwrap();
    assert!(reason.contains("http_error") && reason.to_lowercase().contains("tls"), "{reason}");
    assert!(crm.seen.lock().unwrap().is_empty(), "no request was read over an unverified connection");
}
