//! What checking a webhook signature on the way in (`ingest::signature`) and signing one
//! on the way out (`act::signing`) share: how a signature is written, how a Standard
//! Webhooks key is read, and the HMAC-SHA256 tag itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Length of an HMAC-SHA256 tag.
pub const TAG_BYTES: usize = 32;

/// The HMAC-SHA256 tag of `parts`, one after the other, under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; TAG_BYTES] {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return [0; TAG_BYTES] };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The key bytes of a Standard Webhooks secret (`whsec_<base64>`, the prefix optional),
/// or `None` when it is not base64.
pub fn standard_webhooks_key(secret: &str) -> Option<Vec<u8>> {
    BASE64.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).ok()
}

/// How a generic signature is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lowercase or uppercase hex.
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

impl Encoding {
    /// Its name as written in settings (`hex`, `base64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{hmac_sha256, standard_webhooks_key};

    #[test]
    fn the_tag_is_rfc_4231s_and_keys_are_read_with_or_without_their_prefix() {
        // RFC 4231 test case 2, the message given in two parts.
        let tag = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex::encode(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(standard_webhooks_key("whsec_AAEC"), Some(vec![0, 1, 2]));
        assert_eq!(standard_webhooks_key("AAEC"), Some(vec![0, 1, 2]));
        assert_eq!(standard_webhooks_key("whsec_%%%"), None);
    }
}
