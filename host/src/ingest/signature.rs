//! Sender verification on the raw body, before anything is parsed or stored: the schemes
//! of Standard Webhooks, GitHub, Stripe, Shopify, Slack, and a generic HMAC-SHA256.
//! Signatures are decoded, length-checked, then compared in constant time; one or two
//! secrets are accepted (rotation); timestamps must be within the tolerance both ways.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

pub use crate::model::signature::Encoding;
use crate::model::signature::{TAG_BYTES, hmac_sha256, standard_webhooks_key};

/// How far a timestamp is from our clock, in words with the direction: `off` is our clock
/// minus the timestamp. Past a year the seconds say nothing a sender can act on (a
/// timestamp in milliseconds, or zero), so the message says so instead.
fn how_far(off: i64) -> String {
    const YEAR_S: u64 = 365 * 86_400;
    let direction = if off >= 0 { "in the past" } else { "in the future" };
    match off.unsigned_abs() {
        s if s > YEAR_S => format!("more than a year {direction} (is it in seconds since 1970?)"),
        s => format!("{s} s {direction}"),
    }
}

/// Default tolerance between the sender's timestamp and our clock.
pub const DEFAULT_TOLERANCE_S: i64 = 300;

/// How a webhook's sender signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case")]
pub enum Scheme {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> ...`; `whsec_` secrets.
    StandardWebhooks,
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Github,
    /// `Stripe-Signature: t=<ts>,v1=<hex>[,v1=...]` over `<ts>.<body>`.
    Stripe,
    /// `X-Shopify-Hmac-SHA256: <base64>`.
    Shopify,
    /// `X-Slack-Signature: v0=<hex>` over `v0:<ts>:<body>`, `X-Slack-Request-Timestamp`.
    Slack,
    /// Any HMAC-SHA256 header: over the body, or `<ts>.<body>` with a timestamp header.
    HmacSha256 {
        /// The header carrying the signature.
        header: String,
        /// `hex` or `base64`.
        #[serde(default)]
        encoding: Encoding,
        /// A prefix before the signature (`sha256=`), required when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        /// A header with the unix timestamp that is signed too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_header: Option<String>,
    },
}

/// Why a request was refused; each is a 401 with its code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A header the scheme needs is absent.
    #[error("the `{0}` header is missing")]
    Missing(String),
    /// A header is present but not in the scheme's form.
    #[error("the `{0}` header is malformed")]
    Malformed(String),
    /// The signed timestamp is too far from our clock: by how much (our clock minus the
    /// timestamp, so positive is in the past) and the tolerance.
    #[error("the timestamp is {far} (tolerance {tolerance} s)", far = how_far(*.0), tolerance = .1)]
    Stale(i64, i64),
    /// No signature matches any active secret.
    #[error("no signature matches")]
    Mismatch,
}

impl Refusal {
    /// The JSON error code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Missing(_) => "signature_missing",
            Refusal::Malformed(_) => "signature_malformed",
            Refusal::Stale(..) => "signature_timestamp_out_of_tolerance",
            Refusal::Mismatch => "signature_mismatch",
        }
    }
}

/// A scheme with its keys, ready to check requests.
#[derive(Debug, Clone)]
pub struct Verifier {
    scheme: Scheme,
    keys: Vec<Vec<u8>>,
    tolerance_s: i64,
}

/// Why a secret cannot be used with a scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadSecret(pub String);

impl Verifier {
    /// The scheme it checks.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Build a verifier from the admin's secrets (1 or 2 during rotation). Standard
    /// Webhooks secrets are `whsec_<base64>` and are decoded; other schemes use the bytes.
    pub fn new(scheme: Scheme, secrets: &[String], tolerance_s: i64) -> Result<Verifier, BadSecret> {
        if secrets.is_empty() || secrets.len() > 2 {
            return Err(BadSecret("give one secret, or two while rotating".into()));
        }
        let keys = secrets
            .iter()
            .map(|secret| {
                if secret.is_empty() {
                    return Err(BadSecret("a secret cannot be empty".into()));
                }
                match scheme {
                    Scheme::StandardWebhooks => standard_webhooks_key(secret)
                        .ok_or_else(|| BadSecret("a standard-webhooks secret is whsec_<base64>".into())),
                    _ => Ok(secret.as_bytes().to_vec()),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Verifier { scheme, keys, tolerance_s })
    }

    /// Check one request: `header` looks a header up by name (case-insensitively).
    pub fn verify<'h>(&self, header: impl Fn(&str) -> Option<&'h str>, body: &[u8], now: i64) -> Result<(), Refusal> {
        let need = |name: &str| header(name).map(str::trim).ok_or_else(|| Refusal::Missing(name.to_string()));
        match &self.scheme {
            Scheme::StandardWebhooks => {
                let id = need("webhook-id")?;
                let ts = self.fresh(need("webhook-timestamp")?, "webhook-timestamp", now)?;
                let sigs = need("webhook-signature")?;
                let candidates = sigs.split(' ').filter_map(|s| s.strip_prefix("v1,")).map(|s| BASE64.decode(s).ok());
                self.any_match(candidates, &[id.as_bytes(), b".", ts.as_bytes(), b".", body])
            }
            Scheme::Github => {
                let sig = need("X-Hub-Signature-256")?;
                let hex =
                    sig.strip_prefix("sha256=").ok_or_else(|| Refusal::Malformed("X-Hub-Signature-256".into()))?;
                self.any_match([hex::decode(hex).ok()], &[body])
            }
            Scheme::Stripe => {
                let header = need("Stripe-Signature")?;
                let mut ts = None;
                let mut v1 = Vec::new();
                for part in header.split(',') {
                    match part.trim().split_once('=') {
                        Some(("t", value)) => ts = Some(value),
                        Some(("v1", value)) => v1.push(hex::decode(value).ok()),
                        _ => {}
                    }
                }
                let ts = ts.ok_or_else(|| Refusal::Malformed("Stripe-Signature".into()))?;
                let ts = self.fresh(ts, "Stripe-Signature", now)?;
                self.any_match(v1, &[ts.as_bytes(), b".", body])
            }
            Scheme::Shopify => self.any_match([BASE64.decode(need("X-Shopify-Hmac-SHA256")?).ok()], &[body]),
            Scheme::Slack => {
                let ts = self.fresh(need("X-Slack-Request-Timestamp")?, "X-Slack-Request-Timestamp", now)?;
                let sig = need("X-Slack-Signature")?;
                let hex = sig.strip_prefix("v0=").ok_or_else(|| Refusal::Malformed("X-Slack-Signature".into()))?;
                self.any_match([hex::decode(hex).ok()], &[b"v0:", ts.as_bytes(), b":", body])
            }
            Scheme::HmacSha256 { header: name, encoding, prefix, timestamp_header } => {
                let sig = need(name)?;
                let sig = match prefix {
                    Some(p) => sig.strip_prefix(p.as_str()).ok_or_else(|| Refusal::Malformed(name.clone()))?,
                    None => sig,
                };
                let decoded = match encoding {
                    Encoding::Hex => hex::decode(sig).ok(),
                    Encoding::Base64 => BASE64.decode(sig).ok(),
                };
                match timestamp_header {
                    Some(ts_name) => {
                        let ts = self.fresh(need(ts_name)?, ts_name, now)?;
                        self.any_match([decoded], &[ts.as_bytes(), b".", body])
                    }
                    None => self.any_match([decoded], &[body]),
                }
            }
        }
    }

    /// The timestamp text, if it is a number within the tolerance of `now`.
    fn fresh<'t>(&self, ts: &'t str, name: &str, now: i64) -> Result<&'t str, Refusal> {
        let at: i64 = ts.parse().map_err(|_| Refusal::Malformed(name.to_string()))?;
        let off = now.saturating_sub(at);
        if off.unsigned_abs() > self.tolerance_s.unsigned_abs() {
            return Err(Refusal::Stale(off, self.tolerance_s));
        }
        Ok(ts)
    }

    /// Whether any well-formed candidate equals the HMAC of `parts` under any key. Every
    /// candidate is compared with every key (no early exit on which key matched).
    fn any_match(&self, candidates: impl IntoIterator<Item = Option<Vec<u8>>>, parts: &[&[u8]]) -> Result<(), Refusal> {
        let expected: Vec<[u8; TAG_BYTES]> = self.keys.iter().map(|key| hmac_sha256(key, parts)).collect();
        let mut matched = false;
        for candidate in candidates.into_iter().flatten() {
            // Length first: an empty or truncated signature never matches.
            if candidate.len() != TAG_BYTES {
                continue;
            }
            for tag in &expected {
                matched |= bool::from(tag.as_slice().ct_eq(&candidate));
            }
        }
        if matched { Ok(()) } else { Err(Refusal::Mismatch) }
    }
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    /// Computed here with the hmac crate, not through the code under test.
    type HmacSha256 = Hmac<Sha256>;

    /// The published vectors (copied from the shared data set into tests/fixtures).
    #[test]
    fn published_vectors() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/signature-vectors.json")).unwrap();
        let vectors = file["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 10);
        for v in vectors {
            let scheme: Scheme = serde_json::from_value(serde_json::json!({"scheme": v["scheme"]})).unwrap();
            let verifier = Verifier::new(scheme, &[v["secret"].as_str().unwrap().to_string()], 300).unwrap();
            let headers = v["headers"].as_object().unwrap();
            let header = |name: &str| {
                headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, value)| value.as_str())
            };
            let body = v["body"].as_str().unwrap().as_bytes();
            let now = v["now"].as_i64().unwrap_or(0);
            let outcome = verifier.verify(header, body, now);
            assert_eq!(outcome.is_ok(), v["valid"].as_bool().unwrap(), "{v}: {outcome:?}");
        }
    }

    fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(key).unwrap();
        mac.update(msg);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn tampering_wrong_secret_rotation_and_truncation() {
        let body = br#"{"id":1}"#;
        let sig = format!("sha256={}", hmac_hex(b"old", body));
        let github = |secrets: &[&str]| {
            Verifier::new(Scheme::Github, &secrets.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 300).unwrap()
        };
        let header = |value: &str| {
            let value = value.to_string();
            move |name: &str| (name == "X-Hub-Signature-256").then(|| Box::leak(value.clone().into_boxed_str()) as &str)
        };
        assert_eq!(github(&["old"]).verify(header(&sig), body, 0), Ok(()));
        assert_eq!(github(&["old"]).verify(header(&sig), br#"{"id":2}"#, 0), Err(Refusal::Mismatch));
        assert_eq!(github(&["new"]).verify(header(&sig), body, 0), Err(Refusal::Mismatch));
        assert_eq!(
            github(&["new", "old"]).verify(header(&sig), body, 0),
            Ok(()),
            "rotation: the old secret still works"
        );
        assert_eq!(github(&["old"]).verify(header("sha256="), body, 0), Err(Refusal::Mismatch));
        assert_eq!(github(&["old"]).verify(header(&sig[..20]), body, 0), Err(Refusal::Mismatch));
        assert_eq!(
            github(&["old"]).verify(header(&hmac_hex(b"old", body)), body, 0).unwrap_err().code(),
            "signature_malformed"
        );
        assert_eq!(github(&["old"]).verify(|_| None, body, 0), Err(Refusal::Missing("X-Hub-Signature-256".into())));
        assert!(Verifier::new(Scheme::Github, &[], 300).is_err());
        assert!(Verifier::new(Scheme::Github, &[String::new()], 300).is_err());
    }

    #[test]
    fn generic_hmac_with_prefix_base64_and_timestamp_in_both_directions() {
        let body = b"{}";
        let scheme = Scheme::HmacSha256 {
            header: "X-Sig".into(),
            encoding: Encoding::Base64,
            prefix: Some("v1=".into()),
            timestamp_header: Some("X-Ts".into()),
        };
        let v = Verifier::new(scheme, &["k".into()], 300).unwrap();
        let sig = |ts: &str| {
            let mut mac = HmacSha256::new_from_slice(b"k").unwrap();
            mac.update(format!("{ts}.").as_bytes());
            mac.update(body);
            format!("v1={}", BASE64.encode(mac.finalize().into_bytes()))
        };
        let check = |ts: &'static str, now: i64| {
            let s: &'static str = Box::leak(sig(ts).into_boxed_str());
            v.verify(
                move |n| {
                    if n == "X-Sig" {
                        Some(s)
                    } else if n == "X-Ts" {
                        Some(ts)
                    } else {
                        None
                    }
                },
                body,
                now,
            )
        };
        assert_eq!(check("1000", 1200), Ok(()));
        assert_eq!(check("1000", 1301).unwrap_err().code(), "signature_timestamp_out_of_tolerance");
        assert_eq!(check("1000", 699).unwrap_err().code(), "signature_timestamp_out_of_tolerance", "future too");
        assert_eq!(check("soon", 1000).unwrap_err().code(), "signature_malformed");
        let said = |ts: &'static str, now: i64| check(ts, now).unwrap_err().to_string();
        assert_eq!(said("1000", 1301), "the timestamp is 301 s in the past (tolerance 300 s)");
        assert_eq!(said("1000", 699), "the timestamp is 301 s in the future (tolerance 300 s)");
        assert_eq!(
            said("-9223372036854775808", 1000),
            "the timestamp is more than a year in the past (is it in seconds since 1970?) (tolerance 300 s)"
        );
        assert_eq!(
            said("1700000000000", 1_700_000_000),
            "the timestamp is more than a year in the future (is it in seconds since 1970?) (tolerance 300 s)"
        );
    }
}
