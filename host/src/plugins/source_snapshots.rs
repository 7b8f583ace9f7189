//! Which steps' sources have a snapshot of their own (the runtime pre-initialized with the
//! source compiled), which wait for one, and which to drop when there are too many: the
//! bookkeeping only; the engine makes the snapshots on a thread of its own.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

/// Sources with a snapshot at once. Each holds its compiled code in memory (the runtime's
/// component with the source, compiled: 8.7 MB for JavaScript, 18.9 MB for Python), so a
/// server with many workflows keeps the ones used last; the others run on the shared
/// snapshot (README, *Benchmark*: 2.8 and 2.1 times slower a call).
pub const MAX_SOURCE_SNAPSHOTS: usize = 8;

/// The sources' snapshots by key (the engine's: language and the source's SHA-256), with
/// the work queued.
pub struct SourceSnapshots<K, T> {
    ready: HashMap<K, (Arc<T>, u64)>,
    queued: VecDeque<(K, String)>,
    /// Every source ever queued: a snapshot is made once per source and server, so a
    /// source dropped for room (or one whose snapshot failed) is not made again and again.
    tried: HashSet<K>,
    working: bool,
    uses: u64,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, T> SourceSnapshots<K, T> {
    /// Room for `capacity` snapshots.
    pub fn new(capacity: usize) -> Self {
        SourceSnapshots {
            ready: HashMap::new(),
            queued: VecDeque::new(),
            tried: HashSet::new(),
            working: false,
            uses: 0,
            capacity: capacity.max(1),
        }
    }

    /// The snapshot of the source under `key`, if made (and kept).
    pub fn get(&mut self, key: &K) -> Option<Arc<T>> {
        self.uses += 1;
        let uses = self.uses;
        self.ready.get_mut(key).map(|(snapshot, used)| {
            *used = uses;
            snapshot.clone()
        })
    }

    /// Ask for a snapshot of `source` (under `key`): queued unless it was asked for
    /// before, or the queue already holds as many as are kept (asking again later may
    /// queue it then). True when the caller must start a worker (none is running).
    pub fn want(&mut self, key: K, source: &str) -> bool {
        if self.queued.len() >= self.capacity || !self.tried.insert(key.clone()) {
            return false;
        }
        self.queued.push_back((key, source.to_string()));
        !std::mem::replace(&mut self.working, true)
    }

    /// The next source to make a snapshot of; `None` ends the worker.
    pub fn next_job(&mut self) -> Option<(K, String)> {
        let job = self.queued.pop_front();
        self.working = job.is_some();
        job
    }

    /// Keep the snapshot made for `key`, dropping the least recently used one if full.
    pub fn made(&mut self, key: K, snapshot: Arc<T>) {
        if self.ready.len() >= self.capacity
            && let Some(oldest) = self.ready.iter().min_by_key(|(_, (_, used))| *used).map(|(key, _)| key.clone())
        {
            self.ready.remove(&oldest);
        }
        self.uses += 1;
        self.ready.insert(key, (snapshot, self.uses));
    }

    /// How many snapshots are kept.
    pub fn kept(&self) -> usize {
        self.ready.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_queued_once_and_the_least_recently_used_snapshot_makes_room() {
        let mut snapshots = SourceSnapshots::<&str, u32>::new(2);
        assert!(snapshots.want("a", "source a"), "the first wish starts a worker");
        assert!(!snapshots.want("b", "source b"), "a worker is running");
        assert!(!snapshots.want("a", "source a"), "asked for before");
        assert_eq!(snapshots.next_job(), Some(("a", "source a".into())));
        snapshots.made("a", Arc::new(1));
        assert_eq!(snapshots.next_job(), Some(("b", "source b".into())));
        snapshots.made("b", Arc::new(2));
        assert_eq!(snapshots.next_job(), None, "the worker ends");
        assert_eq!(snapshots.get(&"a").as_deref(), Some(&1), "a is now used after b");
        assert!(snapshots.want("c", "source c"), "a new worker for a new source");
        assert_eq!(snapshots.next_job(), Some(("c", "source c".into())));
        snapshots.made("c", Arc::new(3));
        assert_eq!(snapshots.next_job(), None);
        assert_eq!(snapshots.kept(), 2);
        assert_eq!(snapshots.get(&"b"), None, "b was used least recently");
        assert_eq!(snapshots.get(&"a").as_deref(), Some(&1));
        assert!(!snapshots.want("b", "source b"), "a dropped source is not made again");

        // No more waits in the queue than are kept; one refused may be asked for again.
        assert!(snapshots.want("d", "d"));
        assert!(!snapshots.want("e", "e"));
        assert!(!snapshots.want("f", "f"), "the queue holds 2");
        assert_eq!(snapshots.next_job().map(|(sha, _)| sha), Some("d"));
        assert!(!snapshots.want("f", "f"), "a worker is running, and f is queued now");
        assert_eq!(snapshots.next_job().map(|(sha, _)| sha), Some("e"));
        assert_eq!(snapshots.next_job().map(|(sha, _)| sha), Some("f"));
    }
}
