//! Group commit: one thread owns ingest writes. Requests that arrive while a commit is
//! being fsync'd wait in a queue and all go into the next transaction, so durability costs
//! one fsync per batch, not per request, and no request waits for an artificial window.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use tokio::sync::oneshot;

use super::applier::{self, Apply, Recovered};
use super::backlog::Backlog;
use super::unapplied::Unapplied;
use crate::model::event::EventStatus;
use crate::model::ids::{EventId, WebhookId};
use crate::model::webhook::WebhookState;
use crate::store::events::{Admission, Admitted, IngestJob, Receipt, Target, admit_group};
use crate::store::ingest_log::{Appender, LoggedGroup, Spares};
use crate::store::{Store, StoreError};
use crate::work::threads::Threads;
use crate::work::waker::Waker;

/// Requests waiting for a commit before ingest answers 503 instead of queueing more.
pub const QUEUE_CAPACITY: usize = 8192;

/// Most requests in one transaction.
const MAX_GROUP: usize = 512;

/// Writer threads committing groups to PostgreSQL at once: while one group waits for its
/// WAL flush the next one is being sent (the server flushes concurrent commits together).
const DATABASE_WRITERS: usize = 2;

/// Why a request could not be committed; nothing of it was stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The queue is full: the disk is not keeping up.
    #[error("ingest is overloaded; retry shortly")]
    Overloaded,
    /// The database has not taken the events acknowledged so far (locked, full).
    #[error("{0} acknowledged events are waiting for the database, which is not taking writes")]
    Unapplied(usize),
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

type Answer = Option<Vec<Receipt>>;
type Reply = oneshot::Sender<Result<Answer, WriteError>>;

/// Events acknowledged but not yet in the database, past which ingest answers 503: the
/// database has stopped taking writes (locked, full) and memory must not grow without end.
/// 32,768 events of ~1 KB hold ~32 MiB.
pub const MAX_UNAPPLIED: usize = 32_768;

/// The handle ingest handlers submit to.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<(IngestJob, Reply)>,
    unapplied: Option<Arc<Unapplied>>,
}

impl Writer {
    /// Start the writer thread on a connection of its own, acknowledging after its own
    /// commit (PostgreSQL: nodes keep nothing of their own); it ends when every handle is
    /// dropped.
    pub fn spawn(store: &Store, waker: Waker, backlog: Arc<Backlog>, threads: &Threads) -> Result<Writer, StartError> {
        let store = Arc::new(store.ingest_connection()?);
        let (queue, jobs) = sync_channel(QUEUE_CAPACITY);
        let jobs = Arc::new(std::sync::Mutex::new(jobs));
        for _ in 0..DATABASE_WRITERS {
            let (store, jobs, waker, backlog) = (store.clone(), jobs.clone(), waker.clone(), backlog.clone());
            threads.spawn("wasmhook-ingest-writer", move || {
                run(
                    || next_group(&jobs.lock().unwrap_or_else(|p| p.into_inner())),
                    |work| {
                        let answers = store.ingest_many(work).map_err(|e| WriteError::Storage(e.to_string()))?;
                        let queued =
                            answers.iter().flatten().flatten().filter(|r| r.status == EventStatus::Accepted).count();
                        if queued > 0 {
                            backlog.added(queued as u64);
                            waker.wake();
                        }
                        Ok(answers)
                    },
                )
            })?;
        }
        Ok(Writer { queue, unapplied: None })
    }

    /// Start the writer thread acknowledging after the ingest log's `fdatasync` (SQLite),
    /// and the applier that stores what it acknowledged; both end when every handle is
    /// dropped and what was acknowledged is stored.
    pub fn spawn_logged(
        recovered: Recovered,
        store: &Store,
        apply: Box<dyn Apply>,
        waker: Waker,
        backlog: Arc<Backlog>,
        threads: &Threads,
    ) -> Result<Writer, StartError> {
        let Recovered { dir, first, applied } = recovered;
        let spares = Spares::new(first.number() + 1);
        let appender = Appender::new(first, applied + 1, spares.clone());
        let unapplied = Arc::new(Unapplied::new(applied, appender.start()));
        // Ends once the appender is dropped, with the writer.
        let segments_dir = dir.clone();
        threads.spawn("wasmhook-log-segments", move || spares.make_ahead(&segments_dir))?;
        applier::spawn(store.worker_connection()?, unapplied.clone(), dir, apply, waker, threads)?;
        let mut log = Logged {
            read: store.worker_connection()?,
            appender,
            unapplied: unapplied.clone(),
            backlog,
            next_seq: applied + 1,
        };
        let (queue, jobs) = sync_channel(QUEUE_CAPACITY);
        let closing = unapplied.clone();
        threads.spawn("wasmhook-ingest-writer", move || {
            run(|| next_group(&jobs), |work| log.commit(work));
            closing.close();
        })?;
        Ok(Writer { queue, unapplied: Some(unapplied) })
    }

    /// Commit one request; resolves once its events are on disk (or were refused).
    pub async fn submit(&self, job: IngestJob) -> Result<Answer, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send((job, reply)).map_err(|e| match e {
            TrySendError::Full(_) => WriteError::Overloaded,
            TrySendError::Disconnected(_) => WriteError::Storage("the ingest writer stopped".into()),
        })?;
        answer.await.map_err(|_| WriteError::Storage("the ingest writer stopped".into()))?
    }

    /// What was acknowledged but is not in the database yet (SQLite; none on PostgreSQL).
    pub fn unapplied(&self) -> Option<&Arc<Unapplied>> {
        self.unapplied.as_ref()
    }
}

/// The next request and every one queued meanwhile (up to [`MAX_GROUP`]); `None` once
/// every handle is dropped.
fn next_group(jobs: &Receiver<(IngestJob, Reply)>) -> Option<Vec<(IngestJob, Reply)>> {
    let mut group = vec![jobs.recv().ok()?];
    while group.len() < MAX_GROUP {
        match jobs.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    Some(group)
}

/// Commit each group [`next_group`] takes, together, and answer its requests.
fn run(
    mut next: impl FnMut() -> Option<Vec<(IngestJob, Reply)>>,
    mut commit: impl FnMut(Vec<IngestJob>) -> Result<Vec<Answer>, WriteError>,
) {
    while let Some(group) = next() {
        let (work, replies): (Vec<IngestJob>, Vec<Reply>) = group.into_iter().unzip();
        match commit(work) {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                if let WriteError::Storage(reason) = &e {
                    tracing::error!(%reason, requests = replies.len(), "ingest commit failed; nothing acknowledged");
                }
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// The SQLite writer's side of the ingest log: decisions from the database and what is
/// still waiting in [`Unapplied`], then one record per group appended and `fdatasync`'d.
struct Logged {
    read: Store,
    appender: Appender,
    unapplied: Arc<Unapplied>,
    backlog: Arc<Backlog>,
    next_seq: u64,
}

impl Logged {
    fn commit(&mut self, jobs: Vec<IngestJob>) -> Result<Vec<Answer>, WriteError> {
        if self.unapplied.events() >= MAX_UNAPPLIED {
            return Err(WriteError::Unapplied(self.unapplied.events()));
        }
        let storage = |e: &dyn std::fmt::Display| WriteError::Storage(e.to_string());
        let Admitted { answers, rows } =
            admit_group(&mut FromLog { read: &self.read, unapplied: &self.unapplied }, jobs)
                .map_err(|e| storage(&e))?;
        if rows.is_empty() {
            return Ok(answers);
        }
        let group = LoggedGroup { seq: self.next_seq, events: rows };
        self.appender.append(&group).map_err(|e| storage(&e))?;
        self.next_seq += 1;
        // Counted before the applier can see them: it may finish them from memory at once.
        let queued = group.events.iter().filter(|e| e.status == EventStatus::Accepted).count();
        self.backlog.added(queued as u64);
        self.unapplied.push(Arc::new(group), self.appender.start());
        Ok(answers)
    }
}

/// [`Admission`] for the log: what waits in [`Unapplied`] is looked at before the database,
/// because the applier stores a group before it forgets it, so whatever the order of the
/// two a decision never misses it.
struct FromLog<'a> {
    read: &'a Store,
    unapplied: &'a Unapplied,
}

impl Admission for FromLog<'_> {
    fn target(&mut self, token: &str, at_ms: i64) -> Result<Option<Target>, StoreError> {
        let Some(mut target) = self.read.ingest_target(token, at_ms)? else {
            return Ok(None);
        };
        if target.state == WebhookState::AwaitingTestEvent {
            if self.unapplied.captured(&target.id) {
                target.state = WebhookState::AwaitingMapping;
            } else {
                // The applier may have stored a capture and forgotten it between the read
                // and the look: read again, after the look.
                return self.read.ingest_target(token, at_ms);
            }
        }
        Ok(Some(target))
    }

    fn original(&mut self, webhook: &WebhookId, key: &str) -> Result<Option<EventId>, StoreError> {
        match self.unapplied.original(webhook, key) {
            Some(first) => Ok(Some(first)),
            None => self.read.original_delivery(webhook, key),
        }
    }

    fn capture(&mut self, _webhook: &WebhookId, _event: &EventId) -> Result<bool, StoreError> {
        // One process owns the file, and `target` already saw captures still waiting.
        Ok(true)
    }
}
