//! What each request of a call came to, kept beside the call's log so the act stage can
//! tell a failure that came from outside (a 429 or 5xx answer, an unreachable host) from
//! one the plugin or its step caused, and retry only the first kind.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request of a call and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// `METHOD scheme://host[:port]/path`, as logged (no query, no header values).
    pub request: String,
    /// The step's `allowed_hosts` entry the URL matched (`https://*.example.org:443`), or
    /// [`NOT_ALLOWED`]: what metrics name a destination by, since the URL's own host is
    /// the plugin's to choose (and could carry a secret) while the entries are the admin's.
    pub destination: String,
    /// How it ended.
    pub answer: Answer,
    /// From the request to its answer's head, or to its failure.
    pub duration: Duration,
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The other side answered with this status; `retry_after` is its `Retry-After`, if any.
    Status {
        /// The HTTP status code.
        code: u16,
        /// How long the answer asked a client to wait before trying again.
        retry_after: Option<Duration>,
    },
    /// It could not be reached, or stopped answering (connection refused or reset, a
    /// timeout, a name that does not resolve), with the reason.
    Unreachable(String),
    /// Not sent: the step's allowed hosts or the private-network rule refused it.
    Refused,
    /// Failed in a way trying again will not mend (a certificate that does not verify, a
    /// URL the host cannot send to), with the reason.
    Broken(String),
}

/// The destination of a request no `allowed_hosts` entry matched.
pub const NOT_ALLOWED: &str = "not_allowed";

impl Answer {
    /// The metric label of an answer: its status code, or `unreachable`, `refused`, `broken`.
    pub fn label(&self) -> String {
        match self {
            Answer::Status { code, .. } => code.to_string(),
            Answer::Unreachable(_) => "unreachable".into(),
            Answer::Refused => "refused".into(),
            Answer::Broken(_) => "broken".into(),
        }
    }
}

impl Exchange {
    /// Whether the other side caused this end, so trying again later may succeed: a 429,
    /// a 5xx, or no answer at all.
    pub fn failed_from_outside(&self) -> bool {
        match &self.answer {
            Answer::Status { code, .. } => *code == 429 || (500..600).contains(code),
            Answer::Unreachable(_) => true,
            Answer::Refused | Answer::Broken(_) => false,
        }
    }
}

/// A call's requests in the order they ended; the hooks append, the engine takes them.
#[derive(Clone, Default)]
pub(crate) struct Exchanges(Arc<Mutex<Vec<Exchange>>>);

impl Exchanges {
    pub(crate) fn push(&self, exchange: Exchange) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(exchange);
    }

    pub(crate) fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// How a failed send ends: not sent, unreachable (worth a retry), or broken.
pub(crate) fn failed(error: &wasmtime_wasi_http::Error) -> Answer {
    use wasmtime_wasi_http::Error as E;
    match error {
        E::HttpRequestDenied | E::DestinationIpProhibited => Answer::Refused,
        E::Connect(_)
        | E::Hyper(_)
        | E::DnsTimeout
        | E::DnsError { .. }
        | E::DestinationNotFound
        | E::DestinationUnavailable
        | E::DestinationIpUnroutable
        | E::ConnectionRefused
        | E::ConnectionTerminated
        | E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::ConnectionWriteTimeout
        | E::ConnectionLimitReached
        | E::HttpResponseIncomplete
        | E::HttpResponseTimeout => Answer::Unreachable(error.to_string()),
        other => Answer::Broken(other.to_string()),
    }
}

/// Read a `Retry-After` value: whole seconds, or an HTTP date (as RFC 2822 reads it),
/// measured from `now_ms`; a date in the past is no wait. Anything else is ignored.
pub fn retry_after(value: &str, now_ms: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?.timestamp_millis();
    Some(Duration::from_millis(u64::try_from(at.saturating_sub(now_ms)).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Answer, Exchange, retry_after};

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").unwrap().timestamp_millis();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO), "a past date");
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn only_what_the_other_side_caused_counts_as_from_outside() {
        let ended = |answer| Exchange {
            request: "GET https://a.example/x".into(),
            destination: "https://a.example:443".into(),
            answer,
            duration: Duration::ZERO,
        };
        let status = |code| ended(Answer::Status { code, retry_after: None });
        for code in [429, 500, 502, 503, 504, 599] {
            assert!(status(code).failed_from_outside(), "{code}");
        }
        for code in [200, 201, 301, 400, 401, 403, 404, 409, 422, 600] {
            assert!(!status(code).failed_from_outside(), "{code}");
        }
        assert!(ended(Answer::Unreachable("connection refused".into())).failed_from_outside());
        assert!(!ended(Answer::Refused).failed_from_outside(), "a refusal is the step's own doing");
        assert!(!ended(Answer::Broken("certificate not valid".into())).failed_from_outside());
    }
}
