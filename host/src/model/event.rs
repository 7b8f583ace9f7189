//! An event's status: where a stored delivery is on its way, always visible with a reason.

use super::vocabulary;

vocabulary! {
    /// The status of a stored event.
    EventStatus, "event status" {
        /// Stored and waiting for the pipeline.
        Accepted = "accepted",
        /// The webhook's first payload, captured for the wizard.
        TestEvent = "test_event",
        /// Received while its webhook was still being set up; replay it when ready.
        NotReady = "not_ready",
        /// A redelivery of an event already stored (same delivery id).
        Duplicate = "duplicate",
        /// Matched and enrolled into at least one workflow.
        Enrolled = "enrolled",
        /// Matched, but every workflow had the record already (or still running).
        AlreadyEnrolled = "already_enrolled",
        /// Matched, but no enabled workflow of the object is triggered by the webhook.
        NoWorkflow = "no_workflow",
        /// No record (or more than one) has the enrollment value.
        Unmatched = "unmatched",
        /// A stage failed; the event's stage and reason say which and why.
        Failed = "failed",
    }
}
