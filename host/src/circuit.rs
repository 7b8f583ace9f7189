//! The state of one breaker: failures in a row of one thing that keeps failing (a
//! transform step that times out, a destination that answers 5xx), the pause they caused,
//! and the probe after it. No I/O and no clock of its own: callers pass the time, so the
//! transform breakers (`pipeline/breaker.rs`) and the destination breakers
//! (`plugins/outbound/breaker.rs`) share one tested state machine and say in their own
//! words what it decided. A success is the caller forgetting the circuit (a closed
//! circuit is no entry), which keeps their maps as small as the set of failing things.

/// When a circuit opens, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trip {
    /// Failures in a row that pause it (at least one).
    pub after: u32,
    /// How long a pause lasts, ms.
    pub pause_ms: i64,
}

/// What a circuit says about a call at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Fewer failures in a row than the trip: call.
    Closed,
    /// The pause is over: this call is the probe (admitting it pauses the others again
    /// until its outcome closes the circuit or counts another failure).
    Probe,
    /// Paused: no call until `until_ms`.
    Paused {
        /// When the pause ends (the caller's clock, ms).
        until_ms: i64,
        /// The failures in a row behind it.
        failures: u32,
    },
}

/// One thing's failures in a row and its pause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Circuit {
    failures: u32,
    paused_until_ms: i64,
}

impl Circuit {
    /// Count a failure at `now_ms`; the one that reaches the trip, or one after a pause has
    /// ended (a failed probe), pauses it. A failure reported while paused (a call that was
    /// already running) does not extend the pause. True if this failure paused it (the
    /// breaker opened, or opened again after a failed probe).
    pub fn failed(&mut self, trip: Trip, now_ms: i64) -> bool {
        self.failures = self.failures.saturating_add(1);
        let pauses = self.failures >= trip.after.max(1) && self.paused_until_ms <= now_ms;
        if pauses {
            self.paused_until_ms = now_ms.saturating_add(trip.pause_ms);
        }
        pauses
    }

    /// What a call at `now_ms` would be, changing nothing.
    pub fn check(&self, trip: Trip, now_ms: i64) -> Admission {
        if self.failures < trip.after.max(1) {
            Admission::Closed
        } else if self.paused_until_ms <= now_ms {
            Admission::Probe
        } else {
            Admission::Paused { until_ms: self.paused_until_ms, failures: self.failures }
        }
    }

    /// Admit a call at `now_ms`: as [`check`](Self::check) says, and a probe pauses the
    /// calls after it for another pause.
    pub fn admit(&mut self, trip: Trip, now_ms: i64) -> Admission {
        let admission = self.check(trip, now_ms);
        if admission == Admission::Probe {
            self.paused_until_ms = now_ms.saturating_add(trip.pause_ms);
        }
        admission
    }
}

#[cfg(test)]
mod tests {
    use super::{Admission, Circuit, Trip};

    const TRIP: Trip = Trip { after: 3, pause_ms: 1000 };

    #[test]
    fn failures_in_a_row_pause_it_and_one_probe_follows_each_pause() {
        let mut c = Circuit::default();
        c.failed(TRIP, 0);
        c.failed(TRIP, 1);
        assert_eq!(c.admit(TRIP, 2), Admission::Closed);
        c.failed(TRIP, 5);
        assert_eq!(c.admit(TRIP, 6), Admission::Paused { until_ms: 1005, failures: 3 });
        c.failed(TRIP, 7);
        assert_eq!(c.check(TRIP, 8), Admission::Paused { until_ms: 1005, failures: 4 }, "not extended while paused");

        assert_eq!(c.check(TRIP, 1005), Admission::Probe);
        assert_eq!(c.admit(TRIP, 1005), Admission::Probe);
        assert_eq!(c.admit(TRIP, 1006), Admission::Paused { until_ms: 2005, failures: 4 }, "one probe at a time");
        c.failed(TRIP, 1500);
        assert_eq!(c.admit(TRIP, 2004), Admission::Paused { until_ms: 2005, failures: 5 });
        assert_eq!(c.admit(TRIP, 2005), Admission::Probe, "a probe whose outcome never came is replaced");
        c.failed(TRIP, 2010);
        assert_eq!(
            c.check(TRIP, 2011),
            Admission::Paused { until_ms: 3005, failures: 6 },
            "a failed probe pauses again"
        );
    }

    #[test]
    fn a_trip_of_zero_is_one() {
        let mut c = Circuit::default();
        let trip = Trip { after: 0, pause_ms: 10 };
        assert_eq!(c.check(trip, 0), Admission::Closed);
        c.failed(trip, 0);
        assert_eq!(c.check(trip, 1), Admission::Paused { until_ms: 10, failures: 1 });
    }
}
