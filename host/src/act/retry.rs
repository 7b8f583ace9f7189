//! Which failed tries of a custom code or send_webhook step run again, and when. A try is retried when the
//! failure came from outside: its last request was answered 429 or 5xx or got no answer,
//! or the plugin returned the error code `retry`. The wait follows the step's
//! [`RetrySchedule`] (or the answer's `Retry-After`), and no try starts later than the
//! schedule's `for_s` after the step's first. Other failures (a 400, a refused host, a
//! trap with no request behind it) end the step at once. Pure functions: the step log and
//! the enrollment's due time are the durable state, so a restart keeps the schedule.

use std::time::Duration;

use crate::model::workflow::RetrySchedule;
use crate::plugins::PluginFailure;
use crate::plugins::outbound::{Answer, Exchange};

/// The guest error code by which a plugin asks to be tried again later.
pub const RETRY_CODE: &str = "retry";

/// The shortest wait before a retry, whatever `Retry-After` says (a `Retry-After: 0` loop
/// would otherwise spin on a destination that keeps refusing).
const MIN_WAIT: Duration = Duration::from_secs(1);

/// Why a failed try is worth another.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// Its last request was answered 429 or 5xx.
    Answered {
        /// The request as logged.
        request: String,
        /// The status.
        code: u16,
        /// The answer's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Its last request got no answer.
    Unreachable {
        /// The request as logged.
        request: String,
        /// Why.
        why: String,
    },
    /// The plugin returned the error code `retry`.
    Asked,
    /// Every destination the step may reach is paused by its breaker; the try did not run.
    Paused {
        /// The destination whose pause ends first.
        destination: String,
        /// The failures in a row that paused it.
        failures: u32,
        /// Until its pause ends.
        wait: Duration,
    },
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Answered { request, code, .. } => write!(f, "{request} answered {code}"),
            Cause::Unreachable { request, why } => write!(f, "{request} got no answer ({why})"),
            Cause::Asked => write!(f, "the plugin asked to be retried"),
            Cause::Paused { destination, failures, .. } => {
                write!(f, "{destination} is paused after {failures} failed requests in a row; the try did not run")
            }
        }
    }
}

/// The cause that makes a failed try worth another, if any. CPU timeouts and memory
/// exhaustion are the plugin's own (timeouts have their `tries`).
pub fn cause(failure: &PluginFailure, requests: &[Exchange]) -> Option<Cause> {
    match failure {
        PluginFailure::GuestError { code, .. } if code == RETRY_CODE => return Some(Cause::Asked),
        PluginFailure::Timeout { .. } | PluginFailure::MemoryLimit { .. } => return None,
        PluginFailure::GuestError { .. } | PluginFailure::Trap { .. } | PluginFailure::InvalidOutput { .. } => {}
    }
    cause_of_last(requests)
}

/// The cause that makes a try worth another when its last request failed from outside
/// (answered 429 or 5xx, or got no answer); a custom code try's and a sent webhook's.
pub fn cause_of_last(requests: &[Exchange]) -> Option<Cause> {
    let last = requests.last().filter(|r| r.failed_from_outside())?;
    Some(match &last.answer {
        Answer::Status { code, retry_after } => {
            Cause::Answered { request: last.request.clone(), code: *code, retry_after: *retry_after }
        }
        Answer::Unreachable(why) => Cause::Unreachable { request: last.request.clone(), why: why.clone() },
        Answer::Refused | Answer::Broken(_) => return None,
    })
}

/// What becomes of a try that failed from outside.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run it again at `at_ms`; `reason` says why and when.
    RetryAt {
        /// Unix ms.
        at_ms: i64,
        /// For the step log.
        reason: String,
    },
    /// The schedule is spent: the step fails with `reason`.
    GiveUp {
        /// For the step log and the enrollment.
        reason: String,
    },
}

/// Decide for try `attempt` (1-based) of a step whose first try started at `first_ms`,
/// failed at `now_ms` because of `cause`.
pub fn decide(cause: &Cause, schedule: &RetrySchedule, attempt: u32, first_ms: i64, now_ms: i64) -> Decision {
    let doubling = Duration::from_secs(schedule.first_s.saturating_mul(1u64 << (attempt.saturating_sub(1)).min(32)));
    let max = Duration::from_secs(schedule.max_s);
    let (wait, why) = match cause {
        Cause::Answered { retry_after: Some(asked), .. } => (*asked, ", as its Retry-After asked"),
        Cause::Paused { wait, .. } => (*wait, ", when the pause ends"),
        _ => (doubling, ""),
    };
    // A pause is waited out whole: a try cannot run before it ends, whatever max_s says.
    let wait = if matches!(cause, Cause::Paused { .. }) { wait } else { wait.min(max) }.max(MIN_WAIT);
    let at_ms = now_ms.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
    let until_ms = first_ms.saturating_add(i64::try_from(schedule.for_s.saturating_mul(1000)).unwrap_or(i64::MAX));
    if at_ms > until_ms {
        let over = Duration::from_millis(u64::try_from(now_ms.saturating_sub(first_ms)).unwrap_or(0));
        let tries = if attempt == 1 { "1 try".to_string() } else { format!("{attempt} tries") };
        return Decision::GiveUp {
            reason: format!(
                "{cause}; gave up after {tries} over {} (retries stop {} after the first try)",
                human(over),
                human(Duration::from_secs(schedule.for_s))
            ),
        };
    }
    let when = chrono::DateTime::from_timestamp_millis(at_ms)
        .map_or_else(String::new, |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    Decision::RetryAt { at_ms, reason: format!("{cause}; try {} at {when} (in {}{why})", attempt + 1, human(wait)) }
}

/// The step's reason: the plugin's failure, then the decision's `reason` (which starts with
/// the cause), naming the cause only once when the plugin's message already says it.
pub fn explained(failure: &str, cause: &Cause, reason: &str) -> String {
    let cause = cause.to_string();
    match reason.strip_prefix(cause.as_str()) {
        Some(rest) if failure.contains(cause.as_str()) => format!("{failure}{rest}"),
        _ => format!("{failure}; {reason}"),
    }
}

/// `850 ms`, `12 s`, `5 min`, `8 h`, `3 d`: the largest unit that fits, rounded down.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        1..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Cause, Decision, cause, decide, explained};
    use crate::model::workflow::RetrySchedule;
    use crate::plugins::PluginFailure;
    use crate::plugins::outbound::{Answer, Exchange};

    fn ended(answer: Answer) -> Exchange {
        Exchange {
            request: "GET https://api.example.com/contacts".into(),
            destination: "https://api.example.com:443".into(),
            answer,
            duration: Duration::ZERO,
        }
    }

    fn guest(code: &str) -> PluginFailure {
        PluginFailure::GuestError { code: code.into(), message: "m".into() }
    }

    #[test]
    fn only_failures_from_outside_are_retried() {
        let status = |code| ended(Answer::Status { code, retry_after: None });
        let trap = PluginFailure::Trap { message: "panicked".into() };
        assert!(matches!(cause(&guest("http_status"), &[status(503)]), Some(Cause::Answered { code: 503, .. })));
        assert!(matches!(cause(&trap, &[status(429)]), Some(Cause::Answered { code: 429, .. })));
        assert!(matches!(
            cause(&trap, &[ended(Answer::Unreachable("connection refused".into()))]),
            Some(Cause::Unreachable { .. })
        ));
        assert_eq!(cause(&guest("retry"), &[]), Some(Cause::Asked));
        // The last request decides: a 503 followed by a 404 is the 404's failure.
        assert_eq!(cause(&guest("http_status"), &[status(503), status(404)]), None);
        assert_eq!(cause(&guest("http_status"), &[status(400)]), None);
        assert_eq!(cause(&guest("http_error"), &[ended(Answer::Refused)]), None);
        assert_eq!(cause(&guest("bad_config"), &[]), None);
        assert_eq!(cause(&PluginFailure::Timeout { limit_ms: 100 }, &[status(503)]), None, "timeouts have tries");
    }

    fn answered(retry_after: Option<Duration>) -> Cause {
        Cause::Answered { request: "GET https://api.example.com/contacts".into(), code: 503, retry_after }
    }

    fn at(decision: &Decision) -> i64 {
        match decision {
            Decision::RetryAt { at_ms, .. } => *at_ms,
            Decision::GiveUp { reason } => panic!("gave up: {reason}"),
        }
    }

    #[test]
    fn the_wait_doubles_from_a_minute_to_eight_hours_for_three_days() {
        let schedule = RetrySchedule::default();
        let now = 1_000_000_000;
        let waits: Vec<i64> =
            (1..=11).map(|attempt| at(&decide(&answered(None), &schedule, attempt, now, now)) - now).collect();
        let minutes: Vec<i64> = waits.iter().map(|w| w / 60_000).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 64, 128, 256, 480, 480]);
        // A try that would start more than three days after the first is not made.
        let late = now + 3 * 86_400_000 - 60_000;
        match decide(&answered(None), &schedule, 12, now, late) {
            Decision::GiveUp { reason } => assert!(reason.contains("gave up after 12 tries over 2 d"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let decided = decide(&answered(None), &schedule, 1, now, now);
        let Decision::RetryAt { reason, .. } = decided else { unreachable!() };
        assert!(reason.starts_with("GET https://api.example.com/contacts answered 503; try 2 at "), "{reason}");
        assert!(reason.ends_with("(in 60 s)"), "{reason}");
    }

    #[test]
    fn retry_after_sets_the_wait_within_the_schedule() {
        let schedule = RetrySchedule { first_s: 60, max_s: 600, for_s: 3600 };
        let now = 5_000;
        let asked = decide(&answered(Some(Duration::from_secs(5))), &schedule, 1, now, now);
        assert_eq!(at(&asked) - now, 5_000);
        assert!(
            matches!(&asked, Decision::RetryAt { reason, .. } if reason.ends_with("(in 5 s, as its Retry-After asked)"))
        );
        assert_eq!(at(&decide(&answered(Some(Duration::from_secs(86_400))), &schedule, 1, now, now)) - now, 600_000);
        assert_eq!(at(&decide(&answered(Some(Duration::ZERO)), &schedule, 1, now, now)) - now, 1_000, "at least 1 s");
        let unreachable = Cause::Unreachable { request: "GET x".into(), why: "connection refused".into() };
        assert_eq!(at(&decide(&unreachable, &schedule, 3, now, now)) - now, 240_000);
    }

    #[test]
    fn the_cause_is_said_once() {
        let answered = Cause::Answered { request: "GET https://a.example/x".into(), code: 503, retry_after: None };
        let reason = "GET https://a.example/x answered 503; try 2 at T (in 60 s)";
        assert_eq!(
            explained("guest_error: http_status: GET https://a.example/x answered 503", &answered, reason),
            "guest_error: http_status: GET https://a.example/x answered 503; try 2 at T (in 60 s)"
        );
        assert_eq!(
            explained("guest_error: crm: lookup failed", &answered, reason),
            "guest_error: crm: lookup failed; GET https://a.example/x answered 503; try 2 at T (in 60 s)"
        );
    }
}
