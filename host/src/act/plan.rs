//! Which step of an enrollment runs next, read from the steps it has already run: the
//! log is the only state, so a restart resumes exactly where the last commit left off.

use serde_json::{Map, Value as Json};

use crate::model::step::{BranchSide, StepEntry};
use crate::model::workflow::Action;

/// The next step to run.
pub struct Next<'a> {
    /// Its address (`0`, `2.then.1`).
    pub address: String,
    /// The action.
    pub action: &'a Action,
    /// 1 for a first try; more after `timeout` retries.
    pub attempt: u32,
}

fn entries<'s>(steps: &'s [StepEntry], address: &'s str) -> impl Iterator<Item = &'s StepEntry> + 's {
    steps.iter().filter(move |s| s.address == address)
}

fn succeeded<'s>(steps: &'s [StepEntry], address: &'s str) -> Option<&'s StepEntry> {
    entries(steps, address).find(|s| s.succeeded())
}

/// The first action in run order that has not succeeded, or `None` when all that apply
/// have (a branch counts with the side it took).
pub fn next<'a>(actions: &'a [Action], steps: &[StepEntry]) -> Option<Next<'a>> {
    next_in(actions, "", steps)
}

fn next_in<'a>(actions: &'a [Action], prefix: &str, steps: &[StepEntry]) -> Option<Next<'a>> {
    for (i, action) in actions.iter().enumerate() {
        let address = if prefix.is_empty() { i.to_string() } else { format!("{prefix}.{i}") };
        match succeeded(steps, &address) {
            None => {
                let attempt = 1 + u32::try_from(entries(steps, &address).count()).unwrap_or(u32::MAX - 1);
                return Some(Next { address, action, attempt });
            }
            Some(done) => {
                if let Action::Branch { then, otherwise, .. } = action {
                    let (side, list) = match done.branch() {
                        Some(BranchSide::Then) => (BranchSide::Then, then),
                        _ => (BranchSide::Else, otherwise),
                    };
                    if let Some(inner) = next_in(list, &format!("{address}.{side}"), steps) {
                        return Some(inner);
                    }
                }
            }
        }
    }
    None
}

/// The outputs a succeeded step at `address` recorded.
pub fn outputs_of<'s>(steps: &'s [StepEntry], address: &'s str) -> Option<&'s Map<String, Json>> {
    succeeded(steps, address)?.outputs()
}
