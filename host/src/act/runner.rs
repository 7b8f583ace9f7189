//! The act stage's thread: takes running enrollments whose next step is due, runs one step
//! of each (plugin calls fanned out on the pool), and commits every step with its effect
//! in one transaction per round, then goes again until nothing is due.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

use serde_json::{Map, Value as Json};

use super::plan;
use super::sources::Scope;
use super::step::{self, Ended, Services};
use crate::model::ids::{WorkflowId, now_ms};
use crate::model::property::PropertyDef;
use crate::model::workflow::{Enrollment, EnrollmentStatus, Workflow};
use crate::plugins::{CallContext, PluginEngine, World};
use crate::secrets::Vault;
use crate::store::workflows::StepSaved;
use crate::store::{Store, StoreError};
use crate::work::plugin_cache::PluginCache;
use crate::work::pool;
use crate::work::threads::Threads;
use crate::work::waker::Waker;

/// Longest sleep without a wake-up (a retry coming due is found by then at the latest).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Enrollments stepped per round (one commit).
const ROUND: u32 = 128;

/// Start the runner on its own connection; it stops when every [`Waker`] is dropped or
/// the node stops (between rounds: a step is never cut short).
pub fn spawn(
    store: Store,
    engine: Arc<PluginEngine>,
    vault: Arc<Vault>,
    threads: usize,
    node: &Threads,
) -> std::io::Result<Waker> {
    let (tx, rx) = sync_channel(1);
    let stopping = node.clone();
    node.spawn("wasmhook-act", move || run(&store, &engine, &vault, threads, &rx, &stopping))?;
    Ok(Waker::new(tx))
}

fn run(store: &Store, engine: &PluginEngine, vault: &Vault, threads: usize, wake: &Receiver<()>, node: &Threads) {
    let cache = PluginCache::default();
    while !node.stopping() {
        let stepped = run_due(store, engine, vault, &cache, threads).unwrap_or_else(|e| {
            tracing::error!(error = %e, "running workflow steps hit a storage error; retrying");
            0
        });
        if stepped > 0 {
            continue;
        }
        let wait = match store.next_due_at() {
            Ok(Some(at)) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(IDLE_POLL),
            _ => IDLE_POLL,
        };
        match wake.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One enrollment's step with everything it reads.
struct Work {
    enrollment: Enrollment,
    workflow: Option<Arc<Workflow>>,
    record: Option<Map<String, Json>>,
    defs: Arc<Vec<PropertyDef>>,
}

/// Run one step of every due enrollment (at most a round's worth) and commit them;
/// returns how many were stepped.
pub fn run_due(
    store: &Store,
    engine: &PluginEngine,
    vault: &Vault,
    cache: &PluginCache,
    threads: usize,
) -> Result<usize, StoreError> {
    let due = store.due_enrollments(now_ms(), ROUND)?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut workflows: HashMap<WorkflowId, Option<Arc<Workflow>>> = HashMap::new();
    let mut defs: HashMap<String, Arc<Vec<PropertyDef>>> = HashMap::new();
    let mut work = Vec::with_capacity(due.len());
    for enrollment in due {
        if !workflows.contains_key(&enrollment.workflow_id) {
            workflows.insert(enrollment.workflow_id.clone(), store.workflow(&enrollment.workflow_id)?.map(Arc::new));
        }
        let workflow = workflows[&enrollment.workflow_id].clone();
        let (record, object_defs) = match &workflow {
            Some(w) => {
                if !defs.contains_key(&w.object) {
                    defs.insert(w.object.clone(), Arc::new(store.properties(&w.object)?.unwrap_or_default()));
                }
                (store.record(&w.object, &enrollment.record_id)?.map(|r| r.properties), defs[&w.object].clone())
            }
            None => (None, Arc::default()),
        };
        work.push(Work { enrollment, workflow, record, defs: object_defs });
    }
    let plugin = |name: &str, sha: Option<&str>| cache.get_pinned(store, engine, name, sha, World::Action);
    let secrets = |names: &[String]| vault.get(store, names).map_err(|e| e.to_string());
    let services = Services { engine, plugin: &plugin, secrets: &secrets };
    let now = now_ms();
    let saved = pool::map_parallel(threads, &work, || {}, |w| contain_panic(w, || step_one(w, &services, now)));
    store.save_steps(&saved, now_ms())?;
    // Counted once committed (steps are counted as they run, like plugin calls).
    for ended in saved.iter().filter(|s| s.status != EnrollmentStatus::Running) {
        crate::telemetry::metrics::enrollment_ended(ended.status.as_str());
    }
    Ok(saved.len())
}

/// A panic while stepping (a wasmhook bug; plugin traps are values) fails that enrollment
/// with the message instead of stopping the act stage for every enrollment.
fn contain_panic(work: &Work, step: impl FnOnce() -> StepSaved) -> StepSaved {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or_else(|panic| {
        let message = crate::work::panic::panic_message(panic.as_ref());
        tracing::error!(enrollment = %work.enrollment.id, %message, "running a step panicked");
        StepSaved {
            enrollment_id: work.enrollment.id.clone(),
            step: None,
            status: EnrollmentStatus::Failed,
            reason: Some(format!("wasmhook hit an internal error running the next step ({message})")),
            next_attempt_at_ms: now_ms(),
            write: None,
        }
    })
}

fn step_one(work: &Work, services: &Services<'_>, now: i64) -> StepSaved {
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
    let ran = step::run(&next, &scope, services, &call, enrollment.id.as_str(), now);
    let write =
        ran.write.map(|(property, value)| (workflow.object.clone(), enrollment.record_id.clone(), property, value));
    let (status, reason, at) = match ran.ended {
        Ended::Failed(reason) => {
            (EnrollmentStatus::Failed, Some(format!("step {} failed: {reason}", next.address)), now)
        }
        Ended::RetryAt(at) => (EnrollmentStatus::Running, None, at),
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
