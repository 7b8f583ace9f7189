//! A bounded fan-out: the CPU-bound stages of a batch (coerce, plugin calls) run on up to
//! `threads` OS threads, never on the async runtime's.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Items each extra thread should have at least, so a trickle of events does not pay for
/// thread start-up.
const MIN_ITEMS_PER_THREAD: usize = 8;

pub use crate::cpu_clock::yield_cpu_to_ingest;

/// `work` applied to every item, on up to `threads` threads; results in item order.
/// Each started thread first runs `on_start` (the pipeline lowers its CPU priority there);
/// a batch too small to share runs on the calling thread.
pub fn map_parallel<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    on_start: impl Fn() + Sync,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.min(items.len().div_ceil(MIN_ITEMS_PER_THREAD));
    if threads <= 1 {
        return items.iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    // Threads take the next unclaimed item, so one slow plugin call does not idle the rest.
    let drain = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else { return done };
            done.push((index, work(item)));
        }
    };
    let mut all = std::thread::scope(|scope| {
        let helpers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    on_start();
                    drain()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(items.len());
        for helper in helpers {
            match helper.join() {
                Ok(part) => all.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    all.sort_unstable_by_key(|(index, _)| *index);
    all.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    use super::map_parallel;

    #[test]
    fn keeps_order_and_covers_every_item() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 7] {
            let out = map_parallel(threads, &items, || {}, |x| x * 2);
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        assert!(map_parallel(4, &[] as &[u32], || {}, |x| *x).is_empty());
    }

    #[test]
    fn runs_on_several_threads_when_there_is_enough_work() {
        let items: Vec<u32> = (0..64).collect();
        let ids = map_parallel(
            4,
            &items,
            || {},
            |_| {
                std::thread::sleep(std::time::Duration::from_millis(2));
                std::thread::current().id()
            },
        );
        let distinct: std::collections::HashSet<_> = ids.into_iter().collect();
        assert!(distinct.len() > 1, "all work ran on one thread");
    }
}
