//! The act stage: each enrollment runs its workflow's actions (custom code as `action`
//! components, sent webhooks, property updates, branches, delays) off the request path, one
//! persisted step at a time.
//!
//! - [`validate`]: checks a workflow's actions against plugins and properties when saved.
//! - [`plan`]: the next step, read from the steps already run.
//! - [`sources`]: reading values and the property type rules.
//! - [`step`]: running one step; [`delay`] a delay step's end.
//! - [`send_webhook`]: a `send_webhook` step, and [`signing`] its body.
//! - [`retry`]: which failed tries run again, and when.
//! - [`runner`]: the thread that steps due enrollments and commits each step.

pub mod delay;
pub mod plan;
pub mod retry;
pub mod runner;
pub(crate) mod send_webhook;
pub mod signing;
pub mod sources;
pub mod step;
pub mod validate;
