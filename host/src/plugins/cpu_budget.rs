//! A call's time limit, counted in the CPU time the call itself used.
//!
//! The epoch ticks in wall time, so a deadline in ticks alone ends a call that was merely
//! waiting for a core: a trivial transform failed as "ran longer than 100 ms" while three
//! nodes and the test suite shared two cores. A call runs as a future on a fiber, and may
//! be resumed on another thread after each wait, so its CPU time is metered per poll (the
//! polling thread's CPU clock read before and after; [`Metered`]). When the epoch deadline
//! passes, the budget either ends the call or extends the deadline by what is left of the
//! limit. Transforms cannot block (no I/O is granted, sleep returns at once), so a call that
//! runs is a call that spends CPU, and the limit still ends every runaway loop within about
//! one limit of CPU time. An action may wait on HTTP without spending CPU or a thread, so
//! its wall bound is at least 20 s, and its caller also ends it at that bound while it
//! waits ([`CpuBudget::wall_limit`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
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

/// Ticks an action runs before it lets the other calls on its thread run (10 ms): a
/// guest that computes for its whole limit does not hold up the steps that only wait.
const YIELD_TICKS: u64 = 2;

/// Marks "not being polled" in [`Meter::poll_started_ns`].
const IDLE: u64 = u64::MAX;

/// CPU time a call's future used across its polls, on whichever threads polled it.
#[derive(Debug, Default)]
pub(super) struct Meter {
    /// Nanoseconds used by the polls that ended.
    spent_ns: AtomicU64,
    /// The polling thread's CPU clock when the current poll began ([`IDLE`] between polls).
    poll_started_ns: AtomicU64,
    /// Set when a thread's CPU clock could not be read: the wall bound is then the only one.
    unreadable: std::sync::atomic::AtomicBool,
}

fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

impl Meter {
    /// CPU time used so far, counting the poll in progress (read on the polling thread,
    /// which is where epoch deadlines are handled); `None` if a clock could not be read.
    fn used(&self) -> Option<Duration> {
        if self.unreadable.load(Ordering::Relaxed) {
            return None;
        }
        let mut used = self.spent_ns.load(Ordering::Relaxed);
        let started = self.poll_started_ns.load(Ordering::Relaxed);
        if started != IDLE {
            used = used.saturating_add(nanos(thread_cpu_time()?).saturating_sub(started));
        }
        Some(Duration::from_nanos(used))
    }
}

/// A call's future, metered: each poll's CPU time is added to its [`Meter`].
pub(super) struct Metered<F> {
    inner: Pin<Box<F>>,
    meter: Arc<Meter>,
}

impl<F: Future> Metered<F> {
    /// Meter `inner` into `meter`.
    pub(super) fn new(inner: F, meter: Arc<Meter>) -> Self {
        Metered { inner: Box::pin(inner), meter }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(start) = thread_cpu_time().map(nanos) else {
            self.meter.unreadable.store(true, Ordering::Relaxed);
            return self.inner.as_mut().poll(cx);
        };
        self.meter.poll_started_ns.store(start, Ordering::Relaxed);
        let polled = self.inner.as_mut().poll(cx);
        self.meter.poll_started_ns.store(IDLE, Ordering::Relaxed);
        match thread_cpu_time() {
            Some(end) => {
                self.meter.spent_ns.fetch_add(nanos(end).saturating_sub(start), Ordering::Relaxed);
            }
            None => self.meter.unreadable.store(true, Ordering::Relaxed),
        }
        polled
    }
}

/// One call's time accounting, started just before the call.
#[derive(Debug, Clone)]
pub(super) struct CpuBudget {
    limit: Duration,
    wall_limit: Duration,
    wall_start: Instant,
    meter: Arc<Meter>,
    /// Whether the call runs among others on an executor's thread (an action), and so
    /// yields it now and then instead of only ending or going on.
    yields: bool,
}

impl CpuBudget {
    /// Start counting now for a call limited to `limit` of CPU time (as metered by
    /// `meter`) and `WALL_FACTOR` times that of wall time, but never less than `min_wall`.
    pub(super) fn start(limit: Duration, min_wall: Duration, meter: Arc<Meter>, yields: bool) -> Self {
        let wall_limit = limit.saturating_mul(WALL_FACTOR).max(min_wall);
        CpuBudget { limit, wall_limit, wall_start: Instant::now(), meter, yields }
    }

    /// The meter the call's future is to be wrapped in ([`Metered`]).
    pub(super) fn meter(&self) -> Arc<Meter> {
        self.meter.clone()
    }

    /// The wall time the call may take, waits included.
    pub(super) fn wall_limit(&self) -> Duration {
        self.wall_limit
    }

    /// The first epoch deadline, in ticks: the whole limit, as if the call had a core to
    /// itself (or the first yield, for a call that yields).
    pub(super) fn first_deadline(&self) -> u64 {
        self.pace(ticks(self.limit))
    }

    /// Called on the running thread when the epoch deadline passes: end the call, or extend
    /// it (yielding the thread first, for a call that yields).
    pub(super) fn on_deadline(&self) -> UpdateDeadline {
        match decide(self.limit, self.wall_limit, self.meter.used(), self.wall_start.elapsed()) {
            UpdateDeadline::Continue(left) if self.yields => UpdateDeadline::Yield(self.pace(left)),
            decided => decided,
        }
    }

    fn pace(&self, left: u64) -> u64 {
        if self.yields { left.min(YIELD_TICKS) } else { left }
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
            _ => panic!("decide never yields; on_deadline does"),
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
        let start = |limit, min| CpuBudget::start(limit, min, Arc::default(), false).wall_limit();
        assert_eq!(start(100 * MS, MIN_WALL), MIN_WALL);
        assert_eq!(start(Duration::from_secs(5), MIN_WALL), Duration::from_secs(100));
        assert_eq!(start(100 * MS, MIN_WALL_ACTION), Duration::from_secs(20));
    }

    #[test]
    fn a_call_that_yields_gives_its_thread_up_every_few_ticks_until_its_time_is_spent() {
        let budget = CpuBudget::start(100 * MS, MIN_WALL_ACTION, Arc::default(), true);
        assert_eq!(budget.first_deadline(), YIELD_TICKS);
        assert!(matches!(budget.on_deadline(), UpdateDeadline::Yield(YIELD_TICKS)));
        budget.meter.spent_ns.store(nanos(100 * MS), Ordering::Relaxed);
        assert!(matches!(budget.on_deadline(), UpdateDeadline::Interrupt));
        let alone = CpuBudget::start(100 * MS, MIN_WALL, Arc::default(), false);
        assert_eq!(alone.first_deadline(), 20);
        assert!(matches!(alone.on_deadline(), UpdateDeadline::Continue(20)));
    }

    #[test]
    fn the_meter_adds_the_cpu_time_of_every_poll_and_not_its_sleep() {
        let meter = Arc::new(Meter::default());
        let mut polls = 0;
        let spin_then_wait = std::future::poll_fn(|cx| {
            polls += 1;
            // Spin 20 ms of this thread's CPU, not of the wall clock: on a loaded machine
            // (the test binary's other tests on two cores) 20 ms of wall time held as
            // little as 13 ms of CPU, and the sum fell under the bound below.
            let cpu = || crate::cpu_clock::thread_cpu_time().expect("the thread CPU clock is readable on Linux");
            let spin = cpu();
            while cpu() - spin < 20 * MS {
                std::hint::black_box(polls);
            }
            if polls < 3 {
                cx.waker().wake_by_ref();
                std::thread::sleep(30 * MS);
                return Poll::Pending;
            }
            Poll::Ready(())
        });
        super::super::block_on::block_on(Metered::new(spin_then_wait, meter.clone()));
        let used = meter.used().expect("the thread CPU clock is readable on Linux");
        // Three polls of 20 ms spinning each; the 60 ms they slept do not count.
        assert!(used >= 50 * MS && used < 110 * MS, "metered {used:?}");
    }
}
