//! Signing a sent webhook's body so its receiver can tell it came from us: Standard
//! Webhooks (`webhook-signature: v1,<base64>` over `<id>.<timestamp>.<body>` with the
//! `whsec_` key, beside `webhook-id` and `webhook-timestamp`) or a plain HMAC-SHA256 of
//! the body in a header of the step's choosing, hex or base64. The counterpart of
//! `ingest::signature`, which checks the same schemes on the way in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::model::signature::{Encoding, hmac_sha256, standard_webhooks_key};
use crate::model::workflow::Signing;

/// The headers that sign `body`, sent as message `webhook_id` at `now_s` (unix seconds)
/// with the signing secret's value `key`; an error says why the key cannot sign.
pub fn headers(
    signing: &Signing,
    key: &str,
    webhook_id: &str,
    now_s: i64,
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    match signing {
        Signing::StandardWebhooks { secret } => {
            let key = standard_webhooks_key(key.trim())
                .ok_or_else(|| format!("secret `{secret}` is not a Standard Webhooks key (whsec_<base64>)"))?;
            let timestamp = now_s.to_string();
            let tag = hmac_sha256(&key, &[webhook_id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
            Ok(vec![
                ("webhook-timestamp".into(), timestamp),
                ("webhook-signature".into(), format!("v1,{}", BASE64.encode(tag))),
            ])
        }
        Signing::HmacSha256 { header, encoding, .. } => {
            let tag = hmac_sha256(key.as_bytes(), &[body]);
            let written = match encoding {
                Encoding::Hex => hex::encode(tag),
                Encoding::Base64 => BASE64.encode(tag),
            };
            Ok(vec![(header.clone(), written)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::signature::{Scheme, Verifier};

    /// What we sign, the inbound verifier accepts; a different key it refuses.
    #[test]
    fn the_inbound_verifier_accepts_what_is_signed_and_refuses_another_key() {
        let key = format!("whsec_{}", BASE64.encode(b"a key of thirty-two bytes long!!"));
        let other = format!("whsec_{}", BASE64.encode(b"another key, also 32 bytes long!"));
        let signing = Signing::StandardWebhooks { secret: "HOOK_KEY".into() };
        let body = br#"{"email":"a@b.c"}"#;
        let signed = headers(&signing, &key, "msg_1", 1_700_000_000, body).unwrap();
        let mut all = signed.clone();
        all.push(("webhook-id".into(), "msg_1".into()));
        let header = |name: &str| all.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let verifier = Verifier::new(Scheme::StandardWebhooks, &[key], 300).unwrap();
        assert_eq!(verifier.verify(header, body, 1_700_000_010), Ok(()));
        let stranger = Verifier::new(Scheme::StandardWebhooks, &[other], 300).unwrap();
        assert!(stranger.verify(header, body, 1_700_000_010).is_err());
        assert!(verifier.verify(header, b"{}", 1_700_000_010).is_err(), "another body");

        let bad = headers(&signing, "not base64 !", "msg_1", 0, body).unwrap_err();
        assert!(bad.contains("`HOOK_KEY`") && !bad.contains("not base64"), "{bad}");
    }

    #[test]
    fn hmac_is_written_in_the_header_and_encoding_asked() {
        // RFC 4231 test case 2.
        let body = b"what do ya want for nothing?";
        let hex_signing = Signing::HmacSha256 { secret: "K".into(), header: "X-Sig".into(), encoding: Encoding::Hex };
        let signed = headers(&hex_signing, "Jefe", "msg_1", 0, body).unwrap();
        assert_eq!(
            signed,
            vec![("X-Sig".to_string(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843".to_string())]
        );
        let b64 = Signing::HmacSha256 { secret: "K".into(), header: "X-Sig".into(), encoding: Encoding::Base64 };
        let signed = headers(&b64, "Jefe", "msg_1", 0, body).unwrap();
        assert_eq!(signed[0].1, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    }
}
