//! The calling thread's CPU clock. Work that must not be judged by a busy machine (a
//! plugin call's time limit, an event's cost) is measured in it, not in wall time: a call
//! preempted halfway through would otherwise look slow. And the calling thread's share of
//! the CPU: background work yields it to acknowledging requests.

use std::time::Duration;

/// CPU time the calling thread has used so far; `None` if the clock cannot be read.
pub fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the valid pointer it is given.
    let failed = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0;
    if failed {
        return None;
    }
    Some(Duration::new(u64::try_from(now.tv_sec).ok()?, u32::try_from(now.tv_nsec).ok()?))
}

/// Nice value of the threads that run plugins.
const NICENESS: libc::c_int = 10;

/// Lower the calling thread's scheduling priority. Under a flood, acknowledging (short,
/// latency-bound) then gets the CPU before plugin work (long, throughput-bound), which
/// catches up as soon as the flood eases. Only threads that hold no lock do this (the pool's,
/// the warm-up's, the runtime's pre-initialization): the thread that holds the write lock
/// for a batch's commit keeps normal priority, or ingest would wait for the lock behind a
/// thread the scheduler keeps off the CPU.
pub fn yield_cpu_to_ingest() {
    // SAFETY: setpriority only reads its integer arguments; who = 0 with PRIO_PROCESS
    // means the calling thread on Linux.
    let failed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS) } != 0;
    if failed {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not lower a background thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::thread_cpu_time;

    #[test]
    fn the_clock_counts_work_and_not_sleep() {
        let start = thread_cpu_time().expect("the thread CPU clock is readable on Linux");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let slept = thread_cpu_time().unwrap() - start;
        let mut x = 0u64;
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let worked = thread_cpu_time().unwrap() - start - slept;
        assert!(slept < std::time::Duration::from_millis(20), "sleeping used {slept:?} of CPU");
        assert!(worked > std::time::Duration::from_millis(5), "spinning 30 ms used only {worked:?} of CPU");
    }
}
