//! The act stage: a thread that takes running enrollments whose next step is due, starts
//! one step of each as a task on the stage's runtime, and commits the steps that ended, each
//! with its effect, in one transaction per turn. Steps that wait on another system (a custom
//! code call's requests, a sent webhook) are futures: waiting holds no thread, and a slow
//! API holds up only its own steps: the others end and commit meanwhile.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value as Json};

use super::plan;
use super::sources::Scope;
use super::step::{self, Ended, Services};
use crate::model::ids::{EnrollmentId, WorkflowId, now_ms};
use crate::model::property::PropertyDef;
use crate::model::workflow::{Enrollment, EnrollmentStatus, Workflow};
use crate::plugins::{CallContext, PluginEngine, World};
use crate::secrets::Vault;
use crate::store::workflows::StepSaved;
use crate::store::{Store, StoreError};
use crate::tally::{Counted, Tally};
use crate::work::plugin_cache::PluginCache;
use crate::work::threads::Threads;
use crate::work::waker::Waker;

/// Longest sleep without a wake-up (a retry coming due is found by then at the latest).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Steps in flight at most: as many as action calls may hold instances at once
/// ([`crate::plugins::engine::ACTION_SLOTS`]), so none waits for a slot and a stopping node
/// waits for one bound (a step's 20 s) at most.
pub const MAX_IN_FLIGHT: usize = 128;

/// Due enrollments are looked for when at least this many steps could start, so a stream of
/// steps ending one by one does not query the store for each.
const START_AT_LEAST: usize = MAX_IN_FLIGHT / 4;

/// Start the stage on its own connection, with `threads` threads to run steps on; it
/// stops when the node stops, after the steps in flight have ended and been committed.
pub fn spawn(
    store: Store,
    engine: Arc<PluginEngine>,
    vault: Arc<Vault>,
    threads: usize,
    tally: Arc<Tally>,
    node: &Threads,
) -> std::io::Result<Waker> {
    let mut act = Act::new(store, engine, vault, threads)?;
    act.tally = Some(tally);
    let waker = act.waker();
    let stopping = node.clone();
    node.spawn("wasmhook-act", move || act.run(&stopping))?;
    Ok(waker)
}

/// The act stage's state: its store, the steps in flight, and the runtime they run on.
pub struct Act {
    store: Arc<Store>,
    services: Arc<Services>,
    runtime: tokio::runtime::Runtime,
    /// The enrollments whose step runs, and their workflows.
    in_flight: HashMap<EnrollmentId, WorkflowId>,
    /// Steps that ended, waiting for the next commit.
    ended: Arc<Mutex<Vec<StepSaved>>>,
    wake: Waker,
    woken: Receiver<()>,
    most_in_flight: usize,
    /// Where failed enrollments are counted per workflow (the dashboard, the alerts).
    tally: Option<Arc<Tally>>,
}

impl Act {
    /// The stage on `store` (its own connection), running steps on `threads` threads.
    pub fn new(store: Store, engine: Arc<PluginEngine>, vault: Arc<Vault>, threads: usize) -> std::io::Result<Act> {
        let store = Arc::new(store);
        let cache = Arc::new(PluginCache::default());
        let plugin = {
            let (store, engine, cache) = (store.clone(), engine.clone(), cache);
            Box::new(move |name: &str, sha: Option<&str>| cache.get_pinned(&store, &engine, name, sha, World::Action))
        };
        let secrets = {
            let store = store.clone();
            Box::new(move |names: &[String]| vault.get(&store, names).map_err(|e| e.to_string()))
        };
        let services = Arc::new(Services { engine, plugin, secrets });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("wasmhook-act-step")
            .enable_all()
            .build()?;
        let (tx, woken) = sync_channel(1);
        Ok(Act {
            store,
            services,
            runtime,
            in_flight: HashMap::new(),
            ended: Arc::default(),
            wake: Waker::new(tx),
            woken,
            most_in_flight: 0,
            tally: None,
        })
    }

    /// Wakes the stage (the pipeline calls it after enrolling).
    pub fn waker(&self) -> Waker {
        self.wake.clone()
    }

    /// The most steps that were in flight at once so far.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight
    }

    fn run(&mut self, node: &Threads) {
        while !node.stopping() {
            let (committed, started) = self.turn().unwrap_or_else(|e| {
                tracing::error!(error = %e, "running workflow steps hit a storage error; retrying");
                (0, 0)
            });
            if committed + started > 0 {
                continue;
            }
            let wait = match self.store.next_due_at() {
                Ok(Some(at)) if at > now_ms() => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)),
                // Due now, so in flight: its end wakes the stage.
                _ => IDLE_POLL,
            };
            self.wait(wait.min(IDLE_POLL));
        }
        // A step is never cut short: the ones in flight end (each within its bound) and commit.
        while !self.in_flight.is_empty() {
            if let Err(e) = self.commit_ended() {
                tracing::error!(error = %e, "committing the last workflow steps hit a storage error; retrying");
            }
            self.wait(IDLE_POLL);
        }
    }

    /// Wait for a wake-up or `timeout`. The stage holds a waker of its own (its steps'
    /// ends wake it), so the channel never disconnects: stopping is the node's flag.
    fn wait(&self, timeout: Duration) {
        let _ = self.woken.recv_timeout(timeout);
    }

    /// Commit the steps that ended, then start the due ones there is room for: how many
    /// were committed and how many started.
    pub fn turn(&mut self) -> Result<(usize, usize), StoreError> {
        let committed = self.commit_ended()?;
        let room = MAX_IN_FLIGHT - self.in_flight.len();
        let started = if room >= START_AT_LEAST || self.in_flight.is_empty() { self.start_due(room)? } else { 0 };
        Ok((committed, started))
    }

    /// Run until no step is due or in flight (benchmarks, tests).
    pub fn run_until_idle(&mut self) -> Result<(), StoreError> {
        loop {
            let (committed, started) = self.turn()?;
            if committed + started == 0 {
                if self.in_flight.is_empty() {
                    return Ok(());
                }
                self.wait(IDLE_POLL);
            }
        }
    }

    fn commit_ended(&mut self) -> Result<usize, StoreError> {
        let ended = std::mem::take(&mut *self.ended.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        if ended.is_empty() {
            return Ok(0);
        }
        let saved = self.store.save_steps(&ended, now_ms());
        // Out of flight either way: if the commit failed, the steps are still due and run again.
        let workflows: Vec<Option<WorkflowId>> =
            ended.iter().map(|step| self.in_flight.remove(&step.enrollment_id)).collect();
        saved?;
        if let Some(tally) = &self.tally {
            let failed = ended.iter().zip(&workflows).filter(|(step, _)| step.status == EnrollmentStatus::Failed);
            let counts =
                failed.filter_map(|(_, workflow)| Some((workflow.as_ref()?.as_str(), Counted::EnrollmentFailed, 1)));
            tally.add_all(counts, now_ms());
        }
        // Counted once committed (steps are counted as they run, like plugin calls).
        for done in ended.iter().filter(|s| s.status != EnrollmentStatus::Running) {
            crate::telemetry::metrics::enrollment_ended(done.status.as_str());
        }
        Ok(ended.len())
    }

    /// Start one step of each due enrollment not in flight, at most `room` of them.
    fn start_due(&mut self, room: usize) -> Result<usize, StoreError> {
        let limit = u32::try_from(self.in_flight.len() + room).unwrap_or(u32::MAX);
        let due: Vec<Enrollment> = self
            .store
            .due_enrollments(now_ms(), limit)?
            .into_iter()
            .filter(|e| !self.in_flight.contains_key(&e.id))
            .take(room)
            .collect();
        let mut workflows: HashMap<WorkflowId, Option<Arc<Workflow>>> = HashMap::new();
        let mut defs: HashMap<String, Arc<Vec<PropertyDef>>> = HashMap::new();
        let started = due.len();
        for enrollment in due {
            if !workflows.contains_key(&enrollment.workflow_id) {
                let workflow = self.store.workflow(&enrollment.workflow_id)?.map(Arc::new);
                workflows.insert(enrollment.workflow_id.clone(), workflow);
            }
            let workflow = workflows[&enrollment.workflow_id].clone();
            let (record, object_defs) = match &workflow {
                Some(w) => {
                    if !defs.contains_key(&w.object) {
                        defs.insert(w.object.clone(), Arc::new(self.store.properties(&w.object)?.unwrap_or_default()));
                    }
                    let record = self.store.record(&w.object, &enrollment.record_id)?.map(|r| r.properties);
                    (record, defs[&w.object].clone())
                }
                None => (None, Arc::default()),
            };
            self.in_flight.insert(enrollment.id.clone(), enrollment.workflow_id.clone());
            self.start(Work { enrollment, workflow, record, defs: object_defs });
        }
        self.most_in_flight = self.most_in_flight.max(self.in_flight.len());
        Ok(started)
    }

    /// Run `work`'s step as a task; its end is queued for the next commit and wakes the stage.
    fn start(&self, work: Work) {
        let services = self.services.clone();
        let (ended, wake) = (self.ended.clone(), self.wake.clone());
        let enrollment = work.enrollment.id.clone();
        let now = now_ms();
        let step = self.runtime.spawn(async move { step_one(&work, &services, now).await });
        self.runtime.spawn(async move {
            // A panic while stepping (a wasmhook bug; plugin traps are values) fails that
            // enrollment with the message instead of stopping the act stage for every one.
            let saved = step.await.unwrap_or_else(|failed| panicked(enrollment, failed));
            ended.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(saved);
            wake.wake();
        });
    }
}

/// One enrollment's step with everything it reads.
struct Work {
    enrollment: Enrollment,
    workflow: Option<Arc<Workflow>>,
    record: Option<Map<String, Json>>,
    defs: Arc<Vec<PropertyDef>>,
}

/// The step of `enrollment` whose task ended without an answer: failed, with the panic's message.
fn panicked(enrollment: EnrollmentId, failed: tokio::task::JoinError) -> StepSaved {
    let message = match failed.try_into_panic() {
        Ok(panic) => crate::work::panic::panic_message(panic.as_ref()),
        Err(cancelled) => cancelled.to_string(),
    };
    tracing::error!(enrollment = %enrollment, %message, "running a step panicked");
    StepSaved {
        enrollment_id: enrollment,
        step: None,
        status: EnrollmentStatus::Failed,
        reason: Some(format!("wasmhook hit an internal error running the next step ({message})")),
        next_attempt_at_ms: now_ms(),
        write: None,
    }
}

async fn step_one(work: &Work, services: &Services, now: i64) -> StepSaved {
    let enrollment = &work.enrollment;
    let end = |status, reason: Option<String>| StepSaved {
        enrollment_id: enrollment.id.clone(),
        step: None,
        status,
        reason,
        next_attempt_at_ms: now,
        write: None,
    };
    let Some(workflow) = &work.workflow else {
        return end(EnrollmentStatus::Failed, Some("the workflow was deleted".into()));
    };
    let Some(record) = &work.record else {
        return end(EnrollmentStatus::Failed, Some(format!("record {} was deleted", enrollment.record_id)));
    };
    let Some(next) = plan::next(&workflow.actions, &enrollment.steps) else {
        return end(EnrollmentStatus::Completed, None);
    };
    let empty = Map::new();
    let scope = Scope {
        trigger: enrollment.trigger.get("properties").and_then(Json::as_object).unwrap_or(&empty),
        record,
        defs: &work.defs,
        actions: &workflow.actions,
        steps: &enrollment.steps,
    };
    let call = CallContext {
        event_id: enrollment.event_id.to_string(),
        webhook_id: enrollment.trigger["webhook_id"].as_str().unwrap_or_default().to_string(),
        received_at_ms: enrollment.trigger["received_at_ms"].as_i64().unwrap_or(enrollment.enrolled_at_ms),
    };
    let subject =
        step::Subject { enrollment: enrollment.id.as_str(), workflow, record_id: enrollment.record_id.as_str() };
    let ran = step::run(&next, &scope, services, &call, &subject, now).await;
    let write =
        ran.write.map(|(property, value)| (workflow.object.clone(), enrollment.record_id.clone(), property, value));
    let (status, reason, at) = match ran.ended {
        Ended::Failed(reason) => {
            (EnrollmentStatus::Failed, Some(format!("step {} failed: {reason}", next.address)), now)
        }
        Ended::RetryAt(at) | Ended::WaitUntil(at) => (EnrollmentStatus::Running, None, at),
        Ended::Succeeded => {
            let mut steps = enrollment.steps.clone();
            steps.push(ran.entry.clone());
            let more = plan::next(&workflow.actions, &steps).is_some();
            (if more { EnrollmentStatus::Running } else { EnrollmentStatus::Completed }, None, now)
        }
    };
    StepSaved {
        enrollment_id: enrollment.id.clone(),
        step: Some(ran.entry),
        status,
        reason,
        next_attempt_at_ms: at,
        write,
    }
}
