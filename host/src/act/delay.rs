//! A delay step: when it ends, read from its length or from a point in time, and whether
//! that has come. The wait itself is the enrollment's due time in the store (the runner
//! commits it), so a waiting enrollment holds no thread and survives a restart.

use serde_json::Value as Json;

use super::sources::Scope;
use super::step::{Ended, Try};
use crate::model::step::StepDetail;
use crate::model::workflow::{Delay, DelayEnd};

/// Numbers below this are unix seconds, at or above it unix milliseconds: 1e11 seconds is
/// the year 5138, 1e11 milliseconds March 1973 (strtotime writes seconds, the record page
/// milliseconds).
const SECONDS_BELOW: f64 = 1e11;

/// Run the delay step: `Succeeded` once its end has come, else `WaitUntil` its end.
pub(super) fn run(delay: &Delay, this_try: &Try, scope: &Scope<'_>) -> (StepDetail, Ended) {
    let failed =
        |value: Json, why: String| (StepDetail::Delay { until: None, until_ms: None, value }, Ended::Failed(why));
    let (until_ms, value) = match delay.end() {
        Some(DelayEnd::After(seconds)) => {
            let wait = i64::try_from(seconds).unwrap_or(i64::MAX).saturating_mul(1000);
            (this_try.first_ms.saturating_add(wait), Json::Null)
        }
        Some(DelayEnd::At { until, offset_s }) => {
            let (_, value) = scope.read(until);
            match point_in_time(&value) {
                Some(at) => (at.saturating_add(offset_s.saturating_mul(1000)), value),
                None => {
                    let why = format!(
                        "`{}` is {value}, not a point in time (unix seconds or ms, a date or an RFC 3339 time)",
                        until.to_json().as_str().unwrap_or("until")
                    );
                    return failed(value, why);
                }
            }
        }
        // Saving a workflow refuses any other shape.
        None => return failed(Json::Null, "a delay takes `for_s`, or `until` (with `offset_s`)".into()),
    };
    let detail = StepDetail::Delay { until: Some(crate::http::rfc3339(until_ms)), until_ms: Some(until_ms), value };
    let ended = if this_try.now_ms >= until_ms { Ended::Succeeded } else { Ended::WaitUntil(until_ms) };
    (detail, ended)
}

/// A value as unix ms: a number (seconds or ms, see [`SECONDS_BELOW`]), an RFC 3339 time,
/// or a `YYYY-MM-DD` date (its midnight, UTC).
pub fn point_in_time(value: &Json) -> Option<i64> {
    match value {
        Json::Number(n) => {
            let n = n.as_f64().filter(|n| n.is_finite())?;
            let ms = if n.abs() < SECONDS_BELOW { n * 1000.0 } else { n };
            // Within chrono's range, so the time can be written.
            (ms.abs() < 8.0e15).then_some(ms.round() as i64)
        }
        Json::String(text) => {
            let text = text.trim();
            if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
                return Some(at.timestamp_millis());
            }
            let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;
    use crate::model::workflow::Source;

    fn scope_with<'a>(record: &'a Map<String, Json>) -> Scope<'a> {
        Scope { trigger: record, record, defs: &[], actions: &[], steps: &[] }
    }

    #[test]
    fn points_in_time_are_read_in_seconds_ms_dates_and_rfc3339() {
        assert_eq!(point_in_time(&json!(1_700_000_000)), Some(1_700_000_000_000));
        assert_eq!(point_in_time(&json!(1_700_000_000_123_i64)), Some(1_700_000_000_123));
        assert_eq!(point_in_time(&json!("2026-12-24")), Some(1_798_070_400_000));
        assert_eq!(point_in_time(&json!("2026-12-24T10:00:00+01:00")), Some(1_798_102_800_000));
        assert_eq!(point_in_time(&json!("soon")), None);
        assert_eq!(point_in_time(&json!(true)), None);
        assert_eq!(point_in_time(&json!(1e300)), None);
    }

    #[test]
    fn a_delay_waits_from_its_first_try_and_ends_when_due() {
        let record = Map::new();
        let scope = scope_with(&record);
        let delay = Delay { for_s: Some(60), until: None, offset_s: None };
        let first = Try { attempt: 1, first_ms: 1_000_000, now_ms: 1_000_000 };
        assert_eq!(run(&delay, &first, &scope).1, Ended::WaitUntil(1_060_000));
        let woken = Try { attempt: 2, first_ms: 1_000_000, now_ms: 1_060_001 };
        assert_eq!(run(&delay, &woken, &scope).1, Ended::Succeeded);
    }

    #[test]
    fn a_delay_until_reads_its_source_and_adds_the_offset() {
        let record: Map<String, Json> = json!({"renews": "2026-12-24", "note": "x"}).as_object().unwrap().clone();
        let scope = scope_with(&record);
        let now = Try { attempt: 1, first_ms: 0, now_ms: 1_790_000_000_000 };
        let day_before = Delay { for_s: None, until: Some(Source::Record("renews".into())), offset_s: Some(-86_400) };
        let (detail, ended) = run(&day_before, &now, &scope);
        assert_eq!(ended, Ended::WaitUntil(1_798_070_400_000 - 86_400_000));
        assert!(matches!(detail, StepDetail::Delay { until: Some(until), .. } if until == "2026-12-23T00:00:00.000Z"));
        let past = Try { now_ms: 1_800_000_000_000, ..now };
        assert_eq!(run(&day_before, &past, &scope).1, Ended::Succeeded, "a time already past ends at once");
        let text = Delay { for_s: None, until: Some(Source::Record("note".into())), offset_s: None };
        assert!(matches!(run(&text, &now, &scope).1, Ended::Failed(why) if why.contains("record.note")));
    }
}
