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
    /// 1 for a first try; more after retries.
    pub attempt: u32,
    /// When its first try started (unix ms), if it has had one: retries stop a schedule's
    /// `for_s` after it.
    pub first_started_at_ms: Option<i64>,
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
                let first_started_at_ms = entries(steps, &address).map(|s| s.started_at_ms).min();
                return Some(Next { address, action, attempt, first_started_at_ms });
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

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value as Json, json};

    use super::{next, outputs_of};
    use crate::model::step::{BranchSide, StepDetail, StepEntry, StepOutcome};
    use crate::model::workflow::{Action, Condition, Op, Source};

    fn set(property: &str) -> Action {
        Action::SetProperty { property: property.into(), value: Source::Literal(json!(1)) }
    }

    fn branch(then: Vec<Action>, otherwise: Vec<Action>) -> Action {
        let condition = Condition { source: Source::Trigger("plan".into()), op: Op::Equals, value: json!("pro") };
        Action::Branch { condition, then, otherwise }
    }

    fn entry(address: &str, outcome: StepOutcome, detail: StepDetail) -> StepEntry {
        StepEntry {
            address: address.into(),
            attempt: 1,
            started_at_ms: 0,
            detail,
            duration_ms: 0.1,
            outcome,
            reason: None,
        }
    }

    fn wrote(address: &str, outcome: StepOutcome) -> StepEntry {
        entry(address, outcome, StepDetail::SetProperty { property: "p".into(), value: json!(1) })
    }

    fn took(address: &str, side: BranchSide) -> StepEntry {
        entry(address, StepOutcome::Succeeded, StepDetail::Branch { value: json!("pro"), branch: side })
    }

    fn next_address(actions: &[Action], steps: &[StepEntry]) -> Option<(String, u32)> {
        next(actions, steps).map(|n| (n.address, n.attempt))
    }

    #[test]
    fn resumes_at_the_first_action_that_has_not_succeeded() {
        let actions = [set("a"), set("b")];
        assert_eq!(next_address(&actions, &[]), Some(("0".into(), 1)));
        let done_first = [wrote("0", StepOutcome::Succeeded)];
        assert_eq!(next_address(&actions, &done_first), Some(("1".into(), 1)));
        // Two tries of step 1 timed out: the third try is next, never step 0 again.
        let retried =
            [wrote("0", StepOutcome::Succeeded), wrote("1", StepOutcome::Retrying), wrote("1", StepOutcome::Retrying)];
        assert_eq!(next_address(&actions, &retried), Some(("1".into(), 3)));
        let all = [wrote("0", StepOutcome::Succeeded), wrote("1", StepOutcome::Succeeded)];
        assert_eq!(next_address(&actions, &all), None);
    }

    #[test]
    fn a_branch_continues_on_the_side_it_took_then_after_it() {
        let actions = [branch(vec![set("t0"), set("t1")], vec![set("e0")]), set("after")];
        assert_eq!(next_address(&actions, &[]), Some(("0".into(), 1)));
        let then = [took("0", BranchSide::Then)];
        assert_eq!(next_address(&actions, &then), Some(("0.then.0".into(), 1)));
        let then_done = [
            took("0", BranchSide::Then),
            wrote("0.then.0", StepOutcome::Succeeded),
            wrote("0.then.1", StepOutcome::Succeeded),
        ];
        assert_eq!(next_address(&actions, &then_done), Some(("1".into(), 1)));
        let otherwise = [took("0", BranchSide::Else)];
        assert_eq!(next_address(&actions, &otherwise), Some(("0.else.0".into(), 1)));
        let empty_side = [branch(vec![set("t0")], vec![]), set("after")];
        assert_eq!(next_address(&empty_side, &[took("0", BranchSide::Else)]), Some(("1".into(), 1)));
    }

    #[test]
    fn outputs_come_from_the_try_that_succeeded() {
        let outputs: Map<String, Json> = json!({"score": 7}).as_object().unwrap().clone();
        let code = |outcome, outputs| {
            entry(
                "0",
                outcome,
                StepDetail::CustomCode {
                    plugin: Some("score".into()),
                    language: None,
                    inputs: Map::new(),
                    secrets: vec![],
                    sha256: None,
                    log: None,
                    requests: vec![],
                    outputs,
                },
            )
        };
        let steps = [code(StepOutcome::Retrying, None), code(StepOutcome::Succeeded, Some(outputs.clone()))];
        assert_eq!(outputs_of(&steps, "0"), Some(&outputs));
        assert_eq!(outputs_of(&steps[..1], "0"), None, "a retried try has no outputs");
        assert_eq!(outputs_of(&steps, "1"), None);
    }
}
