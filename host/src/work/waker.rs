//! Waking a background thread when there is work for it, without ever blocking the waker.

use std::sync::Arc;
use std::sync::mpsc::SyncSender;

/// Wakes the worker's lanes; cheap to clone, never blocks (wake-ups coalesce).
#[derive(Clone)]
pub struct Waker(Arc<[SyncSender<()>]>);

impl Waker {
    /// A waker for the thread reading the other end of `channel` (capacity 1).
    pub fn new(channel: SyncSender<()>) -> Waker {
        Waker(Arc::new([channel]))
    }

    /// A waker for every thread reading the other ends of `channels`.
    pub fn of(channels: Vec<SyncSender<()>>) -> Waker {
        Waker(channels.into())
    }

    /// Say there is work.
    pub fn wake(&self) {
        for channel in self.0.iter() {
            let _ = channel.try_send(());
        }
    }
}
