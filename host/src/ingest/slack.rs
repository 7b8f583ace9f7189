//! Slack's Request URL check: when an admin enters a webhook's URL in a Slack app, Slack
//! posts a signed `{"type": "url_verification", "challenge": "…"}` and enables the URL only
//! if the answer carries the challenge. It is a handshake, not an event: answered 200 and
//! neither stored nor captured as the test event.

use serde_json::Value as Json;

/// Longest challenge echoed (Slack's are ~50 characters); a longer one is stored as an
/// ordinary event instead of being reflected.
const MAX_CHALLENGE: usize = 1024;

/// The challenge to answer if `payload` is Slack's URL verification.
pub fn url_challenge(payload: &Json) -> Option<&str> {
    if payload.get("type").and_then(Json::as_str) != Some("url_verification") {
        return None;
    }
    payload.get("challenge").and_then(Json::as_str).filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE)
}

#[cfg(test)]
mod tests {
    use super::url_challenge;
    use serde_json::json;

    #[test]
    fn only_a_url_verification_with_a_challenge_is_one() {
        let verification = json!({"token": "t", "challenge": "3eZbrw1aB", "type": "url_verification"});
        assert_eq!(url_challenge(&verification), Some("3eZbrw1aB"));
        assert_eq!(url_challenge(&json!({"type": "event_callback", "challenge": "x"})), None);
        assert_eq!(url_challenge(&json!({"type": "url_verification", "challenge": 5})), None);
        assert_eq!(url_challenge(&json!({"type": "url_verification", "challenge": "x".repeat(1025)})), None);
        assert_eq!(url_challenge(&json!(["url_verification"])), None);
    }
}
