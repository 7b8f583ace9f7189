//! A call's time limit, counted in the CPU time of the thread that runs it.
//!
//! The epoch ticks in wall time, so a deadline in ticks alone ends a call that was merely
//! waiting for a core: a trivial transform failed as "ran longer than 100 ms" while three
//! nodes and the test suite shared two cores. When the epoch deadline passes, the budget
//! looks at the thread's CPU clock instead and either ends the call or extends the
//! deadline by what is left of the limit. Transforms cannot block (no I/O is granted, sleep
//! returns at once), so a call that runs is a call that spends CPU, and the limit still
//! ends every runaway loop within about one limit of CPU time. An action may wait on HTTP
//! (bounded by its own timeouts), so its wall bound is at least 20 s.

use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

use super::engine::EPOCH_TICK;
use crate::cpu_clock::thread_cpu_time;

/// Wall time a call may take, as a multiple of its CPU limit: the bound that holds even
/// when the CPU clock cannot be read or the machine starves the thread for good.
const WALL_FACTOR: u32 = 20;

/// The smallest wall-time bound of a transform, so a short limit still tolerates a loaded
/// machine.
pub(super) const MIN_WALL: Duration = Duration::from_secs(2);

/// The smallest wall-time bound of an action: its HTTP requests wait without spending CPU,
/// and a try may take the product's 20 s.
pub(super) const MIN_WALL_ACTION: Duration = Duration::from_secs(20);

/// One call's time accounting, started just before the call.
#[derive(Debug, Clone, Copy)]
pub(super) struct CpuBudget {
    limit: Duration,
    wall_limit: Duration,
    cpu_start: Option<Duration>,
    wall_start: Instant,
}

impl CpuBudget {
    /// Start counting now, on the calling thread, for a call limited to `limit` of CPU time
    /// and `WALL_FACTOR` times that of wall time, but never less than `min_wall`.
    pub(super) fn start(limit: Duration, min_wall: Duration) -> Self {
        let wall_limit = limit.saturating_mul(WALL_FACTOR).max(min_wall);
        CpuBudget { limit, wall_limit, cpu_start: thread_cpu_time(), wall_start: Instant::now() }
    }

    /// The first epoch deadline, in ticks: the whole limit, as if the call had a core to itself.
    pub(super) fn first_deadline(&self) -> u64 {
        ticks(self.limit)
    }

    /// Called on the running thread when the epoch deadline passes: end the call or extend it.
    pub(super) fn on_deadline(&self) -> UpdateDeadline {
        let cpu_used = match (self.cpu_start, thread_cpu_time()) {
            (Some(start), Some(now)) => Some(now.saturating_sub(start)),
            _ => None,
        };
        decide(self.limit, self.wall_limit, cpu_used, self.wall_start.elapsed())
    }
}

/// The decision, apart from the clocks: without a CPU reading the wall-time bound is the
/// only one; with it, the call goes on for the CPU time it has left.
fn decide(limit: Duration, wall_limit: Duration, cpu_used: Option<Duration>, wall_used: Duration) -> UpdateDeadline {
    if wall_used >= wall_limit {
        return UpdateDeadline::Interrupt;
    }
    match cpu_used {
        Some(used) if used < limit => UpdateDeadline::Continue(ticks(limit - used)),
        Some(_) => UpdateDeadline::Interrupt,
        None => UpdateDeadline::Continue(ticks(wall_limit - wall_used)),
    }
}

/// A duration in whole epoch ticks, rounded up, at least one.
fn ticks(time: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    u64::try_from(time.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn continues(decision: UpdateDeadline) -> Option<u64> {
        match decision {
            UpdateDeadline::Continue(ticks) => Some(ticks),
            UpdateDeadline::Interrupt => None,
            _ => panic!("a synchronous call never yields"),
        }
    }

    #[test]
    fn a_call_that_waited_for_a_core_goes_on_for_the_cpu_time_it_has_left() {
        // 100 ms of wall time passed, but the thread ran for 10 ms: 90 ms (18 ticks) remain.
        assert_eq!(continues(decide(100 * MS, 2000 * MS, Some(10 * MS), 100 * MS)), Some(18));
    }

    #[test]
    fn a_call_that_spent_its_cpu_time_ends() {
        assert_eq!(continues(decide(100 * MS, 2000 * MS, Some(100 * MS), 100 * MS)), None);
        assert_eq!(continues(decide(100 * MS, 2000 * MS, Some(250 * MS), 300 * MS)), None);
    }

    #[test]
    fn the_wall_bound_ends_a_call_whatever_its_cpu_time() {
        assert_eq!(continues(decide(100 * MS, 2000 * MS, Some(MS), 2000 * MS)), None);
        // Without a CPU reading, the call runs until the wall bound.
        assert_eq!(continues(decide(100 * MS, 2000 * MS, None, 500 * MS)), Some(300));
        assert_eq!(continues(decide(100 * MS, 2000 * MS, None, 2001 * MS)), None);
    }

    #[test]
    fn the_wall_bound_is_a_multiple_of_the_limit_but_never_short() {
        assert_eq!(CpuBudget::start(100 * MS, MIN_WALL).wall_limit, MIN_WALL);
        assert_eq!(CpuBudget::start(Duration::from_secs(5), MIN_WALL).wall_limit, Duration::from_secs(100));
        assert_eq!(CpuBudget::start(100 * MS, MIN_WALL_ACTION).wall_limit, Duration::from_secs(20));
    }
}
