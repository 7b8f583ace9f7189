//! Counts per minute of what happened to each subject — a webhook's events by status, their
//! latency and transform time as histograms, a workflow's failed enrollments, a breaker
//! that opened — kept in memory by the stages that see them and flushed to the store about
//! once a second (`watch/flush.rs`), where the dashboard's series and the alerts read them.
//! A batch adds to a map under one lock; nothing per event reaches the database, and a
//! day's series costs the same to read whatever the traffic (minutes × kinds of count).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::event::EventStatus;

/// Histogram buckets: two per doubling of microseconds, so a percentile read from them is
/// within a factor of √2; 72 of them reach past twelve hours (a replay of an old event;
/// anything longer falls in the last).
pub const BUCKETS: u8 = 72;

/// What one count is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counted {
    /// An event of the subject (a webhook) that ended in this status.
    Event(EventStatus),
    /// An event whose time from receipt to its final status fell in this bucket.
    Latency(u8),
    /// An event whose coerce and transform stage (its plugin calls) took this bucket's time.
    Transform(u8),
    /// An enrollment of the subject (a workflow) that failed after its retries.
    EnrollmentFailed,
    /// A breaker of the subject (a webhook's transform step, or a destination) that opened.
    BreakerOpened,
}

impl Counted {
    /// Its text in the store.
    pub fn to_text(self) -> String {
        match self {
            Counted::Event(status) => format!("event:{}", status.as_str()),
            Counted::Latency(b) => format!("latency:{b}"),
            Counted::Transform(b) => format!("transform:{b}"),
            Counted::EnrollmentFailed => "enrollment_failed".into(),
            Counted::BreakerOpened => "breaker_opened".into(),
        }
    }

    /// Read back from [`to_text`](Self::to_text); `None` for a text this version does not know.
    pub fn parse(text: &str) -> Option<Counted> {
        let bucket = |b: &str| b.parse::<u8>().ok().filter(|b| *b < BUCKETS);
        match text.split_once(':') {
            Some(("event", status)) => EventStatus::parse(status).ok().map(Counted::Event),
            Some(("latency", b)) => bucket(b).map(Counted::Latency),
            Some(("transform", b)) => bucket(b).map(Counted::Transform),
            None if text == "enrollment_failed" => Some(Counted::EnrollmentFailed),
            None if text == "breaker_opened" => Some(Counted::BreakerOpened),
            _ => None,
        }
    }
}

/// The bucket of a duration in microseconds: 0 below 1 µs, then two per doubling.
pub fn bucket_of(us: u64) -> u8 {
    if us == 0 {
        return 0;
    }
    // 2·log2(us), from the bit length and whether the value is past the half-way √2 point.
    let log2 = 63 - us.leading_zeros() as u64;
    let upper_half = log2 >= 1 && (us as f64) >= (1u64 << log2) as f64 * std::f64::consts::SQRT_2;
    let b = 1 + 2 * log2 + u64::from(upper_half);
    u8::try_from(b.min(u64::from(BUCKETS - 1))).unwrap_or(BUCKETS - 1)
}

/// The largest duration (µs) bucket `b` holds: what a percentile falling in it reads.
pub fn bucket_upper_us(b: u8) -> f64 {
    if b == 0 {
        return 0.0;
    }
    2f64.powf(f64::from(b) / 2.0)
}

/// The value (µs) at quantile `q` (0..=1) of a histogram of bucket counts; `None` if empty.
pub fn quantile_us(histogram: &[u64; BUCKETS as usize], q: f64) -> Option<f64> {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the q-th value, from 1; the bucket that reaches it holds that value.
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (b, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(bucket_upper_us(u8::try_from(b).unwrap_or(BUCKETS - 1)));
        }
    }
    None
}

/// One count to add: of `what`, for `subject`, in the minute `minute` (unix minutes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TallyKey {
    /// A webhook id, a workflow id, or a destination.
    pub subject: String,
    /// Unix time in minutes.
    pub minute: i64,
    /// What is counted.
    pub what: Counted,
}

/// Counts not flushed yet.
#[derive(Debug, Default)]
pub struct Tally {
    counts: Mutex<HashMap<TallyKey, u64>>,
}

/// The unix minute of `ms`.
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(60_000)
}

impl Tally {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<TallyKey, u64>> {
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Add `n` of `what` for `subject` at `at_ms`.
    pub fn add(&self, subject: &str, at_ms: i64, what: Counted, n: u64) {
        self.add_all([(subject, what, n)], at_ms);
    }

    /// Add several counts at `at_ms` under one lock. They are summed first without
    /// allocating, so a batch of thousands of events takes the lock once and makes a key
    /// per distinct subject and kind (a few dozen), and none takes it at all.
    pub fn add_all<'s>(&self, counts: impl IntoIterator<Item = (&'s str, Counted, u64)>, at_ms: i64) {
        let mut summed: HashMap<(&str, Counted), u64> = HashMap::new();
        for (subject, what, n) in counts {
            *summed.entry((subject, what)).or_default() += n;
        }
        if summed.is_empty() {
            return;
        }
        let minute = minute_of(at_ms);
        let mut held = self.counts();
        for ((subject, what), n) in summed {
            *held.entry(TallyKey { subject: subject.to_string(), minute, what }).or_default() += n;
        }
    }

    /// Everything counted since the last take, leaving none.
    pub fn take(&self) -> Vec<(TallyKey, u64)> {
        std::mem::take(&mut *self.counts()).into_iter().collect()
    }

    /// Put back counts a failed flush took, to go with the next one.
    pub fn put_back(&self, counts: Vec<(TallyKey, u64)>) {
        let mut held = self.counts();
        for (key, n) in counts {
            *held.entry(key).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_each_doubling_in_two_and_quantiles_read_their_upper_bound() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 3);
        assert_eq!(bucket_of(3), 4, "3 ≥ 2·√2");
        assert_eq!(bucket_of(1000), 20);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        for us in [1u64, 5, 37, 999, 1_000_000, 3_600_000_000] {
            let b = bucket_of(us);
            let upper = bucket_upper_us(b);
            assert!(
                (us as f64) < upper * 1.0001 && (us as f64) >= upper / std::f64::consts::SQRT_2 / 1.0001,
                "{us} in {b}"
            );
        }
        let mut histogram = [0u64; BUCKETS as usize];
        histogram[usize::from(bucket_of(1000))] = 90;
        histogram[usize::from(bucket_of(100_000))] = 10;
        assert_eq!(quantile_us(&histogram, 0.5), Some(bucket_upper_us(bucket_of(1000))));
        assert_eq!(quantile_us(&histogram, 0.9), Some(bucket_upper_us(bucket_of(1000))));
        assert_eq!(quantile_us(&histogram, 0.99), Some(bucket_upper_us(bucket_of(100_000))));
        assert_eq!(quantile_us(&[0; BUCKETS as usize], 0.5), None);
    }

    #[test]
    fn counts_add_per_subject_minute_and_kind_and_read_back_from_text() {
        let tally = Tally::default();
        tally.add_all([("wh_a", Counted::Event(EventStatus::Unmatched), 2), ("wh_a", Counted::Latency(7), 1)], 60_000);
        tally.add("wh_a", 119_999, Counted::Event(EventStatus::Unmatched), 3);
        tally.add("wh_a", 120_000, Counted::Event(EventStatus::Unmatched), 1);
        let mut taken = tally.take();
        taken.sort_by_key(|(k, _)| (k.minute, k.what.to_text()));
        let unmatched = Counted::Event(EventStatus::Unmatched);
        assert_eq!(
            taken.iter().map(|(k, n)| (k.minute, k.what, *n)).collect::<Vec<_>>(),
            vec![(1, unmatched, 5), (1, Counted::Latency(7), 1), (2, unmatched, 1)]
        );
        assert!(tally.take().is_empty());
        tally.put_back(taken);
        assert_eq!(tally.take().len(), 3);
        for what in
            [unmatched, Counted::Latency(71), Counted::Transform(0), Counted::EnrollmentFailed, Counted::BreakerOpened]
        {
            assert_eq!(Counted::parse(&what.to_text()), Some(what));
        }
        assert_eq!(Counted::parse("latency:72"), None);
        assert_eq!(Counted::parse("event:nonsense"), None);
    }
}
