//! A circuit breaker per transform step (webhook, position, plugin version): a step whose
//! plugin ran into its time limit on several calls in a row is paused for a while, and the events that would call it fail at once
//! with a reason saying so (replayable), instead of each spending the full time limit of a
//! pipeline thread that other webhooks' events are waiting for.
//!
//! Only time-outs count: they are what makes a plugin expensive for everyone else; a trap
//! or a guest error costs about as much as a successful call. A step is keyed by its
//! plugin's sha256 and config too, so uploading a fixed plugin or changing the config
//! starts it closed; and by its webhook and position, because how long a plugin runs depends on its config and input (one slow
//! use of a plugin must not pause its other uses). After the pause one call is let through
//! as a probe: its success closes the breaker, a time-out pauses it again (the state
//! machine is `circuit::Circuit`, shared with the destinations' breakers).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::circuit::{Admission, Circuit, Trip};
use crate::plugins::PluginFailure;

/// Time-outs in a row that pause a plugin.
pub const TRIP_AFTER: u32 = 5;

/// How long a paused plugin is not called.
pub const PAUSE: Duration = Duration::from_secs(30);

const TRIP: Trip = Trip { after: TRIP_AFTER, pause_ms: PAUSE.as_millis() as i64 };

/// One step's recent record: its circuit, and the last time-out's reason, quoted when
/// refusing.
#[derive(Default)]
struct Step {
    circuit: Circuit,
    last_failure: String,
}

/// The breakers of every step a worker has run, by [`step_key`].
pub struct Breakers {
    steps: Mutex<HashMap<String, Step>>,
    /// Times are counted in ms from here (the circuits take a plain clock).
    origin: Instant,
    /// Breakers that opened since the last [`take_opened`](Self::take_opened), by webhook.
    opened: Mutex<HashMap<String, u64>>,
}

impl Default for Breakers {
    fn default() -> Self {
        Breakers { steps: Mutex::default(), origin: Instant::now(), opened: Mutex::default() }
    }
}

/// The key of step `position` (from 0) of `webhook`'s chain, running plugin version
/// `sha256` with `config`: a new upload or a changed config is a new step, closed.
pub fn step_key(webhook: &str, position: usize, sha256: &str, config: &[(String, String)]) -> String {
    use std::hash::{Hash, Hasher};
    // In memory only, so the process's own hasher is enough.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    config.hash(&mut hasher);
    format!("{webhook}/{position}/{sha256}/{:016x}", hasher.finish())
}

impl Breakers {
    /// May the step `key` (running plugin `name`) be run now? If not, the reason to fail
    /// the event with. Let through after a pause, the caller is the probe and must
    /// [`record`](Self::record) its outcome.
    pub fn admit(&self, name: &str, key: &str) -> Result<(), String> {
        self.admit_at(name, key, Instant::now())
    }

    fn ms(&self, at: Instant) -> i64 {
        i64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(i64::MAX)
    }

    fn admit_at(&self, name: &str, key: &str, now: Instant) -> Result<(), String> {
        let now_ms = self.ms(now);
        let mut steps = self.steps.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(step) = steps.get_mut(key) else { return Ok(()) };
        match step.circuit.admit(TRIP, now_ms) {
            Admission::Closed | Admission::Probe => Ok(()),
            Admission::Paused { until_ms, failures } => {
                let left = (until_ms.saturating_sub(now_ms) / 1000).max(1);
                Err(format!(
                    "paused: plugin `{name}` was not run because its last {failures} calls timed out ({}); it is tried again in about {left} s. Upload a fixed version or replay this event later",
                    step.last_failure
                ))
            }
        }
    }

    /// The breakers that opened since the last call, counted by webhook, leaving none.
    pub fn take_opened(&self) -> HashMap<String, u64> {
        std::mem::take(&mut *self.opened.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Record how a call admitted by [`admit`](Self::admit) ended.
    pub fn record(&self, key: &str, outcome: Result<(), &PluginFailure>) {
        self.record_at(key, outcome, Instant::now());
    }

    fn record_at(&self, key: &str, outcome: Result<(), &PluginFailure>, now: Instant) {
        let now_ms = self.ms(now);
        let mut steps = self.steps.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match outcome {
            Err(failure @ PluginFailure::Timeout { .. }) => {
                let step = steps.entry(key.to_string()).or_default();
                if step.circuit.failed(TRIP, now_ms) {
                    // The key starts with the webhook's id (`step_key`).
                    let webhook = key.split('/').next().unwrap_or(key).to_string();
                    *self.opened.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).entry(webhook).or_default() +=
                        1;
                }
                step.last_failure = failure.to_string();
            }
            // Anything but a time-out closes the breaker; forgetting the step keeps the map
            // as small as the set of misbehaving steps.
            _ => {
                steps.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: PluginFailure = PluginFailure::Timeout { limit_ms: 100 };

    #[test]
    fn five_timeouts_in_a_row_pause_the_plugin_and_one_probe_follows_the_pause() {
        let breakers = Breakers::default();
        let start = Instant::now();
        for _ in 0..TRIP_AFTER - 1 {
            breakers.record_at("abc", Err(&TIMEOUT), start);
            assert!(breakers.admit_at("slow", "abc", start).is_ok());
        }
        breakers.record_at("abc", Err(&TIMEOUT), start);
        let refused = breakers.admit_at("slow", "abc", start).unwrap_err();
        assert!(
            refused.contains("plugin `slow` was not run") && refused.contains("last 5 calls timed out"),
            "{refused}"
        );
        assert!(refused.contains("ran longer than 100 ms") && refused.contains("about 30 s"), "{refused}");
        // Another step (or version) is not paused.
        assert!(breakers.admit_at("slow", "def", start).is_ok());

        let later = start + PAUSE;
        assert!(breakers.admit_at("slow", "abc", later).is_ok(), "the probe is let through");
        assert!(breakers.admit_at("slow", "abc", later).is_err(), "only one probe at a time");
        breakers.record_at("abc", Err(&TIMEOUT), later);
        assert!(breakers.admit_at("slow", "abc", later).is_err(), "a timed-out probe pauses it again");

        let much_later = later + PAUSE;
        assert!(breakers.admit_at("slow", "abc", much_later).is_ok());
        breakers.record_at("abc", Ok(()), much_later);
        assert!(breakers.admit_at("slow", "abc", much_later).is_ok());
        assert!(breakers.admit_at("slow", "abc", much_later).is_ok(), "a good probe closes it");
    }

    #[test]
    fn a_call_that_does_not_time_out_resets_the_count_and_traps_do_not_count() {
        let breakers = Breakers::default();
        let now = Instant::now();
        let trap = PluginFailure::Trap { message: "unreachable".into() };
        for round in 0..3 {
            for _ in 0..TRIP_AFTER - 1 {
                breakers.record_at("abc", Err(&TIMEOUT), now);
            }
            let other = if round % 2 == 0 { Ok(()) } else { Err(&trap) };
            breakers.record_at("abc", other, now);
        }
        for _ in 0..10 {
            breakers.record_at("abc", Err(&trap), now);
        }
        assert!(breakers.admit_at("flaky", "abc", now).is_ok());
    }
}
