//! Group commit: one thread owns ingest writes. Requests that arrive while a commit is
//! being fsync'd wait in a queue and all go into the next transaction, so durability costs
//! one fsync per batch, not per request, and no request waits for an artificial window.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use tokio::sync::oneshot;

use crate::store::Store;
use crate::store::events::{IngestJob, Receipt};
use crate::work::threads::Threads;

/// Requests waiting for a commit before ingest answers 503 instead of queueing more.
pub const QUEUE_CAPACITY: usize = 8192;

/// Most requests in one transaction.
const MAX_GROUP: usize = 512;

/// Why a request could not be committed; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The queue is full: the disk is not keeping up.
    #[error("ingest is overloaded; retry shortly")]
    Overloaded,
    /// The commit failed (disk full, I/O error, ...).
    #[error("the event could not be stored: {0}")]
    Storage(String),
}

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The ingest connection could not be opened.
    #[error("opening the ingest connection: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The thread could not be started.
    #[error("starting the ingest writer thread: {0}")]
    Thread(#[from] std::io::Error),
}

type Reply = oneshot::Sender<Result<Option<Vec<Receipt>>, String>>;

/// The handle ingest handlers submit to.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<(IngestJob, Reply)>,
}

impl Writer {
    /// Start the writer thread on a connection of its own; it ends when every handle is
    /// dropped.
    pub fn spawn(store: &Store, threads: &Threads) -> Result<Writer, StartError> {
        let store = store.ingest_connection()?;
        let (queue, jobs) = sync_channel(QUEUE_CAPACITY);
        threads.spawn("wasmhook-ingest-writer", move || run(&store, &jobs))?;
        Ok(Writer { queue })
    }

    /// Commit one request; resolves once its events are on disk (or were refused).
    pub async fn submit(&self, job: IngestJob) -> Result<Option<Vec<Receipt>>, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send((job, reply)).map_err(|e| match e {
            TrySendError::Full(_) => WriteError::Overloaded,
            TrySendError::Disconnected(_) => WriteError::Storage("the ingest writer stopped".into()),
        })?;
        answer.await.map_err(|_| WriteError::Storage("the ingest writer stopped".into()))?.map_err(WriteError::Storage)
    }
}

fn run(store: &Store, jobs: &Receiver<(IngestJob, Reply)>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (work, replies): (Vec<IngestJob>, Vec<Reply>) = group.into_iter().unzip();
        match store.ingest_many(work) {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = replies.len(), "ingest commit failed; nothing acknowledged");
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
