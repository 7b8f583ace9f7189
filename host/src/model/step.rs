//! One step an enrollment ran, as logged with it. The log is the only state a restart
//! has, so it is typed: resume planning reads [`StepEntry::outcome`] and
//! [`StepDetail::Branch`]'s side, never loose JSON keys.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::vocabulary;

vocabulary! {
    /// How one try of a step ended.
    StepOutcome, "step outcome" {
        /// Done; the enrollment goes on.
        Succeeded = "succeeded",
        /// Timed out with tries left; it runs again later.
        Retrying = "retrying",
        /// Failed for good; so did the enrollment.
        Failed = "failed",
        /// A delay step waits; the step runs again (and ends) at its due time.
        Waiting = "waiting",
    }
}

vocabulary! {
    /// The side a branch took.
    BranchSide, "branch side" {
        /// The test held.
        Then = "then",
        /// It did not.
        Else = "else",
    }
}

/// One try of one step, as appended to the enrollment's log and answered by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEntry {
    /// The action's address (`0`, `2.then.1`).
    pub address: String,
    /// 1 for a first try; more after retries.
    pub attempt: u32,
    /// When it started, unix ms.
    pub started_at_ms: i64,
    /// What the step was and what it read and produced.
    #[serde(flatten)]
    pub detail: StepDetail,
    /// How long it ran.
    pub duration_ms: f64,
    /// How it ended.
    pub outcome: StepOutcome,
    /// Why it failed, or why it is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What one step did, by action type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepDetail {
    /// A plugin call, or a run of source written in the step.
    CustomCode {
        /// The plugin's name (a step that names a plugin).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plugin: Option<String>,
        /// The source's language (a step with source written in it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<super::workflow::Language>,
        /// Input name → the value it was given.
        inputs: Map<String, Json>,
        /// The secrets it was given, by name (never their values).
        secrets: Vec<String>,
        /// The version that ran (hex SHA-256): the component's once found, or the source's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// What it printed (secret values redacted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<String>,
        /// The HTTP requests it made, in the order they ended.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        requests: Vec<RequestMade>,
        /// The declared outputs it returned, once it succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outputs: Option<Map<String, Json>>,
    },
    /// A webhook sent.
    SendWebhook {
        /// `METHOD scheme://host[:port]/path` (the query left out: it may carry a key).
        request: String,
        /// The `webhook-id` sent, the same on every try of the step.
        webhook_id: String,
        /// The JSON body sent.
        body: Json,
        /// The step's own headers, by name (never their values).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        headers: Vec<String>,
        /// The secrets it read, by name.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secrets: Vec<String>,
        /// The body's size.
        request_bytes: u64,
        /// The answer's status, if one came.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// The answer body's size, if one came.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_bytes: Option<u64>,
        /// How the request went (secret values redacted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<String>,
        /// `status` and the declared outputs, once it succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outputs: Option<Map<String, Json>>,
    },
    /// A property write.
    SetProperty {
        /// The record property.
        property: String,
        /// The value read from the source (null clears).
        #[serde(default)]
        value: Json,
    },
    /// A delay.
    Delay {
        /// When it ends, RFC 3339 (none when the step failed to read it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<String>,
        /// When it ends, unix ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until_ms: Option<i64>,
        /// The value `until` read, for a delay until a point in time.
        #[serde(default, skip_serializing_if = "Json::is_null")]
        value: Json,
    },
    /// A branch test.
    Branch {
        /// The value tested.
        #[serde(default)]
        value: Json,
        /// The side taken.
        branch: BranchSide,
    },
}

/// One HTTP request a custom code step made, as its entry shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestMade {
    /// `METHOD scheme://host[:port]/path` (no query, no header values; secret values
    /// redacted).
    pub request: String,
    /// The answer's status code, or `unreachable`, `refused` (not sent: allowed hosts or
    /// the private-network rule), `broken`.
    pub answer: String,
    /// From the request to its answer's head, or to its failure.
    pub duration_ms: f64,
}

impl StepDetail {
    /// The action type's name (as in `type`, and as a metric label).
    pub fn type_name(&self) -> &'static str {
        match self {
            StepDetail::CustomCode { .. } => "custom_code",
            StepDetail::SendWebhook { .. } => "send_webhook",
            StepDetail::SetProperty { .. } => "set_property",
            StepDetail::Branch { .. } => "branch",
            StepDetail::Delay { .. } => "delay",
        }
    }
}

impl StepEntry {
    /// Whether this try succeeded.
    pub fn succeeded(&self) -> bool {
        self.outcome == StepOutcome::Succeeded
    }

    /// The side a succeeded branch took.
    pub fn branch(&self) -> Option<BranchSide> {
        match &self.detail {
            StepDetail::Branch { branch, .. } => Some(*branch),
            _ => None,
        }
    }

    /// The outputs a custom code step returned, or a sent webhook read from its answer.
    pub fn outputs(&self) -> Option<&Map<String, Json>> {
        match &self.detail {
            StepDetail::CustomCode { outputs, .. } | StepDetail::SendWebhook { outputs, .. } => outputs.as_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_logged_entry_reads_back_as_it_was_written() {
        let stored = json!({"address": "1", "attempt": 2, "started_at_ms": 5, "type": "custom_code",
            "plugin": "score", "inputs": {"email": "a@b.c"}, "secrets": ["KEY"], "sha256": "ab",
            "log": "hi\n", "outputs": {"score": 3}, "duration_ms": 1.5, "outcome": "succeeded"});
        let entry: StepEntry = serde_json::from_value(stored.clone()).unwrap();
        assert!(entry.succeeded());
        assert_eq!(entry.outputs().unwrap()["score"], 3);
        assert_eq!(serde_json::to_value(&entry).unwrap(), stored);

        let branch = json!({"address": "0", "attempt": 1, "started_at_ms": 5, "type": "branch",
            "value": null, "branch": "else", "duration_ms": 0.1, "outcome": "succeeded"});
        let entry: StepEntry = serde_json::from_value(branch.clone()).unwrap();
        assert_eq!(entry.branch(), Some(BranchSide::Else));
        assert_eq!(serde_json::to_value(&entry).unwrap(), branch);

        let cleared = json!({"address": "0", "attempt": 1, "started_at_ms": 5, "type": "set_property",
            "property": "plan", "value": null, "duration_ms": 0.1, "outcome": "failed", "reason": "no"});
        assert_eq!(
            serde_json::to_value(serde_json::from_value::<StepEntry>(cleared.clone()).unwrap()).unwrap(),
            cleared
        );

        let unknown = json!({"address": "0", "attempt": 1, "started_at_ms": 5, "type": "branch",
            "branch": "then", "duration_ms": 0.1, "outcome": "skipped"});
        assert!(serde_json::from_value::<StepEntry>(unknown).is_err(), "an unknown outcome is an error");
    }
}
