//! The writer gate: one write transaction at a time across this process's connections,
//! with ingest first. SQLite allows one writer per file; a writer that finds its lock
//! taken waits in SQLite's busy handler, which sleeps in growing steps (up to 100 ms).
//! Waiting here instead, a writer is woken the moment the other one commits.
//!
//! Ingest goes first: senders wait on its commits, and under a flood its throughput is
//! bounded by how long each group commit takes, lock waits included. A background writer
//! (the pipeline, imports, admin changes) enters only once ingest has left the gate free
//! for [`INGEST_QUIET`], so between two group commits of a flood it stays out; it never
//! waits longer than [`MAX_BACKGROUND_WAIT`], so processing still moves during a flood.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the gate must have been free of ingest before a background writer enters.
pub const INGEST_QUIET: Duration = Duration::from_millis(2);

/// The longest a background writer is held back for ingest.
pub const MAX_BACKGROUND_WAIT: Duration = Duration::from_millis(50);

/// Who is asking to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Ingest's group commit: senders are waiting for it.
    Ingest,
    /// Everything else (the pipeline worker, imports, admin changes).
    Background,
}

#[derive(Default)]
struct State {
    held: bool,
    ingest_waiting: usize,
    /// When an ingest commit last left the gate.
    ingest_left: Option<Instant>,
}

/// The gate; shared (in an `Arc`) by every connection to one database file.
#[derive(Default)]
pub struct WriteGate {
    state: Mutex<State>,
    opened: Condvar,
}

/// Holding the gate; it opens when this is dropped.
pub struct Pass<'a> {
    gate: &'a WriteGate,
    priority: Priority,
    waited: Duration,
}

impl Pass<'_> {
    /// How long the gate held this writer back.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl WriteGate {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields updated together; a panic elsewhere cannot leave
        // them half-written.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wait for the gate; ingest goes before background writers (see the module notes).
    pub fn enter(&self, priority: Priority) -> Pass<'_> {
        let asked = Instant::now();
        let mut state = self.lock();
        if priority == Priority::Ingest {
            state.ingest_waiting += 1;
        }
        loop {
            // How long a background writer must still stand aside for ingest.
            let stand_aside = match priority {
                Priority::Ingest => None,
                Priority::Background if asked.elapsed() >= MAX_BACKGROUND_WAIT => None,
                Priority::Background if state.ingest_waiting > 0 => Some(MAX_BACKGROUND_WAIT - asked.elapsed()),
                Priority::Background => state
                    .ingest_left
                    .map(|left| INGEST_QUIET.saturating_sub(left.elapsed()))
                    .filter(|rest| !rest.is_zero()),
            };
            if !state.held && stand_aside.is_none() {
                break;
            }
            state = match stand_aside {
                Some(rest) => self.opened.wait_timeout(state, rest).unwrap_or_else(|poisoned| poisoned.into_inner()).0,
                None => self.opened.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner()),
            };
        }
        if priority == Priority::Ingest {
            state.ingest_waiting -= 1;
        }
        state.held = true;
        Pass { gate: self, priority, waited: asked.elapsed() }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        state.held = false;
        if self.priority == Priority::Ingest {
            state.ingest_left = Some(Instant::now());
        }
        drop(state);
        self.gate.opened.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::{Priority, WriteGate};

    #[test]
    fn one_writer_at_a_time() {
        let gate = Arc::new(WriteGate::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (gate, inside) = (gate.clone(), inside.clone());
                std::thread::spawn(move || {
                    let priority = if i % 2 == 0 { Priority::Ingest } else { Priority::Background };
                    for _ in 0..200 {
                        let _pass = gate.enter(priority);
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two writers inside");
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn a_waiting_ingest_writer_goes_first() {
        let gate = Arc::new(WriteGate::default());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let pass = gate.enter(Priority::Background);
        let spawn = |priority, name: &'static str| {
            let (gate, order) = (gate.clone(), order.clone());
            std::thread::spawn(move || {
                let _pass = gate.enter(priority);
                order.lock().unwrap().push(name);
            })
        };
        // Both wait well under MAX_BACKGROUND_WAIT before the gate opens.
        let background = spawn(Priority::Background, "background");
        std::thread::sleep(Duration::from_millis(5));
        let ingest = spawn(Priority::Ingest, "ingest");
        std::thread::sleep(Duration::from_millis(5));
        drop(pass);
        background.join().unwrap();
        ingest.join().unwrap();
        assert_eq!(*order.lock().unwrap(), ["ingest", "background"]);
    }

    #[test]
    fn background_writers_wait_for_a_quiet_gap_but_not_forever() {
        let gate = WriteGate::default();
        drop(gate.enter(Priority::Ingest));
        let started = std::time::Instant::now();
        drop(gate.enter(Priority::Background));
        assert!(started.elapsed() >= super::INGEST_QUIET, "entered right after an ingest commit");

        // Ingest committing back to back on another thread: background still gets in.
        let gate = Arc::new(gate);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flood = {
            let (gate, stop) = (gate.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    drop(gate.enter(Priority::Ingest));
                }
            })
        };
        let started = std::time::Instant::now();
        drop(gate.enter(Priority::Background));
        let waited = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        flood.join().unwrap();
        assert!(waited < super::MAX_BACKGROUND_WAIT + Duration::from_secs(1), "starved for {waited:?}");
    }
}
