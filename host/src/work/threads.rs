//! The background threads of one node: each started by name through [`Threads`], told to
//! stop together, and joined, so a node can be started and stopped in-process.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// A node's background threads. Cheap to clone; every clone is the same set.
#[derive(Clone, Default)]
pub struct Threads(Arc<Inner>);

#[derive(Default)]
struct Inner {
    stopping: Mutex<bool>,
    stopped: Condvar,
    running: Mutex<Vec<(String, JoinHandle<()>)>>,
}

impl Threads {
    /// Start `work` on a thread called `name`, to be joined by [`Threads::join`].
    pub fn spawn(&self, name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let handle = std::thread::Builder::new().name(name.to_string()).spawn(work)?;
        let mut running = lock(&self.0.running);
        // Threads that ended on their own (an import, the warm-up) are reaped here.
        running.retain(|(_, h)| !h.is_finished());
        running.push((name.to_string(), handle));
        Ok(())
    }

    /// Whether the node is stopping: a loop checks it between units of work and returns.
    pub fn stopping(&self) -> bool {
        *lock(&self.0.stopping)
    }

    /// Wait up to `timeout`, returning early (with `false`) when the node starts stopping;
    /// `true` when the full time passed.
    pub fn sleep(&self, timeout: Duration) -> bool {
        let stopping = lock(&self.0.stopping);
        let (stopping, _) = self
            .0
            .stopped
            .wait_timeout_while(stopping, timeout, |stopping| !*stopping)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        !*stopping
    }

    /// Tell every thread to stop after its current unit of work.
    pub fn stop(&self) {
        *lock(&self.0.stopping) = true;
        self.0.stopped.notify_all();
    }

    /// Join every thread started so far (call [`Threads::stop`] first, and drop what
    /// wakes the channel-driven ones); returns the names of those that panicked.
    pub fn join(&self) -> Vec<String> {
        let running = std::mem::take(&mut *lock(&self.0.running));
        running.into_iter().filter_map(|(name, handle)| handle.join().is_err().then_some(name)).collect()
    }

    /// The names of the threads still running.
    pub fn running(&self) -> Vec<String> {
        lock(&self.0.running).iter().filter(|(_, h)| !h.is_finished()).map(|(name, _)| name.clone()).collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Threads;

    #[test]
    fn stop_wakes_sleepers_and_join_waits_for_them() {
        let threads = Threads::default();
        let looping = threads.clone();
        threads.spawn("looper", move || while looping.sleep(Duration::from_secs(60)) {}).unwrap();
        threads.spawn("quick", || {}).unwrap();
        assert!(threads.running().contains(&"looper".to_string()));
        let started = Instant::now();
        threads.stop();
        assert!(threads.stopping());
        assert_eq!(threads.join(), Vec::<String>::new());
        assert!(started.elapsed() < Duration::from_secs(30), "the sleeper woke when told to stop");
        assert!(threads.running().is_empty());
        threads.spawn("panics", || panic!("on purpose")).unwrap();
        assert_eq!(threads.join(), ["panics"]);
    }
}
