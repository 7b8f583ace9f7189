//! How long stored data is kept: events after they are received, enrollments (and their
//! step logs) after they end. A duration in days, fractions allowed (a soak or a test
//! keeps seconds' worth), within bounds that keep a typo from deleting everything.

/// One day, in milliseconds.
const DAY_MS: f64 = 86_400_000.0;

/// How long data is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    days: f64,
}

impl Retention {
    /// The server's default (`serve --retention-days`).
    pub const DEFAULT_DAYS: f64 = 30.0;
    /// The shortest: about 8.6 s, for soaks and tests.
    pub const MIN_DAYS: f64 = 0.0001;
    /// The longest: a century.
    pub const MAX_DAYS: f64 = 36_500.0;

    /// A retention of `days`, if within [`Self::MIN_DAYS`]..=[`Self::MAX_DAYS`]; else the reason.
    pub fn from_days(days: f64) -> Result<Retention, String> {
        if days.is_finite() && (Self::MIN_DAYS..=Self::MAX_DAYS).contains(&days) {
            Ok(Retention { days })
        } else {
            Err(format!("between {} and {} days (fractions allowed: 0.5 is 12 hours)", Self::MIN_DAYS, Self::MAX_DAYS))
        }
    }

    /// A retention stored as milliseconds (bounds were checked when it was set).
    pub fn from_ms(ms: i64) -> Retention {
        Retention { days: ms as f64 / DAY_MS }
    }

    /// The default.
    pub fn default_days() -> Retention {
        Retention { days: Self::DEFAULT_DAYS }
    }

    /// In days.
    pub fn days(self) -> f64 {
        self.days
    }

    /// In milliseconds.
    pub fn ms(self) -> i64 {
        (self.days * DAY_MS).round() as i64
    }

    /// The oldest time (unix ms) still kept at `now_ms`: anything before it may go.
    pub fn cutoff(self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(self.ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_conversions() {
        assert!(Retention::from_days(0.0).is_err());
        assert!(Retention::from_days(f64::NAN).is_err());
        assert!(Retention::from_days(36_501.0).is_err());
        let half = Retention::from_days(0.5).unwrap();
        assert_eq!(half.ms(), 43_200_000);
        assert_eq!(Retention::from_ms(half.ms()), half);
        assert_eq!(half.cutoff(50_000_000), 6_800_000);
        assert_eq!(Retention::default_days().days(), 30.0);
    }
}
