//! A breaker per destination: after `failures` requests in a row to one `allowed_hosts`
//! entry failed from outside (429, 5xx, no answer), that destination is paused for
//! `pause`, so steps that can reach only paused destinations wait instead of each spending
//! a try (and a worker) on a system that is down. When the pause ends one step is let
//! through as a probe (the others wait another pause); its first answer that is not a
//! failure closes the breaker (the state machine is `circuit::Circuit`, shared with the
//! transform steps' breakers). The state is the node's own, in memory: a restart or
//! another node starts closed, which costs at most `failures` more tries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::circuit::{Admission, Circuit, Trip};
use crate::tally::{Counted, Tally};

/// When a destination is paused, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failed requests in a row that pause a destination.
    pub failures: u32,
    /// How long it stays paused.
    pub pause: Duration,
}

impl Default for BreakerSettings {
    /// Five failures in a row pause a destination for a minute, the product's first retry
    /// wait: a destination that is down then costs one probe a minute, not one try per step.
    fn default() -> Self {
        BreakerSettings { failures: 5, pause: Duration::from_secs(60) }
    }
}

/// A destination a step would wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    /// The `allowed_hosts` entry, as metrics name it.
    pub destination: String,
    /// The failures in a row that paused it.
    pub failures: u32,
    /// When the pause ends (unix ms).
    pub until_ms: i64,
}

/// The breakers of every destination this node has sent to.
#[derive(Debug, Default)]
pub struct Breakers {
    settings: BreakerSettings,
    circuits: Mutex<HashMap<String, Circuit>>,
    /// Where an opening is counted (the dashboard, the `breaker_opened` alert), if anywhere.
    tally: Option<Arc<Tally>>,
}

impl Breakers {
    /// Closed breakers that open as `settings` say.
    pub fn new(settings: BreakerSettings) -> Breakers {
        Breakers { settings, circuits: Mutex::default(), tally: None }
    }

    /// These breakers' settings, counting each opening into `tally` (subject: the destination).
    pub fn counting_into(&self, tally: Arc<Tally>) -> Breakers {
        Breakers { settings: self.settings, circuits: Mutex::default(), tally: Some(tally) }
    }

    fn trip(&self) -> Trip {
        let pause_ms = i64::try_from(self.settings.pause.as_millis()).unwrap_or(i64::MAX);
        Trip { after: self.settings.failures, pause_ms }
    }

    fn circuits(&self) -> std::sync::MutexGuard<'_, HashMap<String, Circuit>> {
        self.circuits.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Note how a request to `destination` ended at `now_ms`: `true` if it failed from
    /// outside, `false` if it was answered otherwise.
    pub(crate) fn record(&self, destination: &str, failed: bool, now_ms: i64) {
        let mut circuits = self.circuits();
        if failed {
            let opened = circuits.entry(destination.to_string()).or_default().failed(self.trip(), now_ms);
            if let (true, Some(tally)) = (opened, &self.tally) {
                tally.add(destination, now_ms, Counted::BreakerOpened, 1);
            }
        } else {
            circuits.remove(destination);
        }
    }

    /// Whether a step that may reach only `destinations` must wait at `now_ms`, and for
    /// which: only when every one of them is paused (a step listing none never waits).
    /// A destination whose pause has ended admits this step as its probe and pauses again
    /// for the others until the probe's answer closes it.
    pub fn paused(&self, destinations: &[String], now_ms: i64) -> Option<Paused> {
        let trip = self.trip();
        let mut circuits = self.circuits();
        let mut soonest: Option<Paused> = None;
        let mut probe = None;
        for destination in destinations {
            match circuits.get(destination).map_or(Admission::Closed, |c| c.check(trip, now_ms)) {
                Admission::Closed => return None,
                Admission::Probe => {
                    probe.get_or_insert(destination);
                }
                Admission::Paused { until_ms, failures } => {
                    if soonest.as_ref().is_none_or(|s| until_ms < s.until_ms) {
                        soonest = Some(Paused { destination: destination.clone(), failures, until_ms });
                    }
                }
            }
        }
        if let Some(destination) = probe {
            if let Some(circuit) = circuits.get_mut(destination) {
                circuit.admit(trip, now_ms);
            }
            return None;
        }
        soonest
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{BreakerSettings, Breakers};

    const API: &str = "https://api.example.com:443";

    fn breakers() -> Breakers {
        Breakers::new(BreakerSettings { failures: 3, pause: Duration::from_secs(10) })
    }

    #[test]
    fn failures_in_a_row_pause_a_destination_and_an_answer_closes_it() {
        let b = breakers();
        let only = [API.to_string()];
        b.record(API, true, 0);
        b.record(API, true, 1);
        assert_eq!(b.paused(&only, 2), None, "two failures are not yet a pause");
        b.record(API, false, 2);
        b.record(API, true, 3);
        b.record(API, true, 4);
        assert_eq!(b.paused(&only, 5), None, "the answer in between reset the count");
        b.record(API, true, 5);
        let paused = b.paused(&only, 6).expect("three in a row");
        assert_eq!((paused.destination.as_str(), paused.failures, paused.until_ms), (API, 3, 10_005));
        // A failure reported while paused (a try that was already running) does not extend it.
        b.record(API, true, 7);
        assert_eq!(b.paused(&only, 8).map(|p| p.until_ms), Some(10_005));
    }

    #[test]
    fn when_the_pause_ends_one_step_probes_and_the_others_wait() {
        let b = breakers();
        let only = [API.to_string()];
        for t in 0..3 {
            b.record(API, true, t);
        }
        assert_eq!(b.paused(&only, 10_002), None, "the first step after the pause is the probe");
        assert_eq!(b.paused(&only, 10_003).map(|p| p.until_ms), Some(20_002), "the others wait for its answer");
        b.record(API, false, 10_050);
        assert_eq!(b.paused(&only, 10_051), None, "the probe was answered: closed");
    }

    #[test]
    fn a_step_waits_only_when_every_destination_it_may_reach_is_paused() {
        let b = breakers();
        let other = "https://backup.example.com:443";
        for t in 0..3 {
            b.record(API, true, t);
        }
        assert_eq!(b.paused(&[API.to_string(), other.to_string()], 5), None);
        assert_eq!(b.paused(&[], 5), None, "a step that may reach nothing never waits");
        for t in 0..3 {
            b.record(other, true, 100 + t);
        }
        let both = b.paused(&[API.to_string(), other.to_string()], 200).unwrap();
        assert_eq!((both.destination.as_str(), both.until_ms), (API, 10_002), "the pause that ends first");
    }
}
