//! Fair shares of the pipeline between webhooks. Each batch takes, from every webhook with
//! waiting events, as many as fit that webhook's equal share of a time budget at the cost
//! per event measured on its recent batches. A webhook whose plugin runs to its time limit
//! on every event then gets one or two events per batch, while a cheap webhook beside it
//! still gets a full batch: the slow one cannot hold the others' events behind its own.
//! The same measure sorts webhooks into the worker's two lanes (see [`Lane`]).

use std::collections::HashMap;
use std::time::Duration;

use crate::model::ids::WebhookId;

/// Plugin time per thread one batch aims to take: how long a cheap webhook's events can
/// wait behind an expensive neighbour's, per batch.
const BATCH_BUDGET: Duration = Duration::from_millis(100);

/// Most events of one webhook in a batch.
pub const MAX_PER_WEBHOOK: u32 = 256;

/// Most events in a batch, across webhooks (bounds the memory of one batch).
const MAX_PER_BATCH: u32 = 1_024;

/// Events taken from a webhook not measured yet: one, in case its plugins are slow (a
/// cheap one gets its full share from the next batch on).
const UNMEASURED: u32 = 1;

/// Weight of the newest batch in a webhook's cost estimate when it grows.
const NEWEST_WEIGHT: f64 = 0.5;

/// Cost per event from which a webhook is processed in the slow lane.
const SLOW_EVENT: Duration = Duration::from_millis(5);

/// Which of the worker's lanes processes a webhook's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Webhooks measured cheaper than [`SLOW_EVENT`] per event, and those not measured
    /// yet (one event per batch until they are): a new slow webhook holds the fast lane up
    /// once, for one call. Sending new webhooks to the slow lane instead was measured
    /// worse: their first events wait there behind slow ones, more than once when a cold
    /// first call looks slow.
    Fast,
    /// Webhooks measured slower.
    Slow,
}

/// Measured cost per event of each webhook (coerce and transforms, in µs).
#[derive(Default)]
pub struct FairShare {
    cost_us: HashMap<WebhookId, f64>,
}

impl FairShare {
    /// How many events to take from each of `waiting` in the next batch, run on `threads`.
    pub fn quotas(&self, waiting: &[WebhookId], threads: usize) -> Vec<(WebhookId, u32)> {
        let webhooks = u32::try_from(waiting.len()).unwrap_or(u32::MAX).max(1);
        let cap = (MAX_PER_BATCH / webhooks).clamp(1, MAX_PER_WEBHOOK);
        let share_us = Self::budget(waiting.len(), threads).as_micros() as f64;
        waiting
            .iter()
            .map(|webhook| {
                let quota = match self.cost_us.get(webhook) {
                    Some(&cost) => (share_us / cost.max(1.0)).floor().clamp(1.0, f64::from(cap)) as u32,
                    None => UNMEASURED.min(cap),
                };
                (webhook.clone(), quota)
            })
            .collect()
    }

    /// Each webhook's share of a batch's plugin time, `webhooks` sharing `threads`.
    pub fn budget(webhooks: usize, threads: usize) -> Duration {
        BATCH_BUDGET * u32::try_from(threads.max(1)).unwrap_or(u32::MAX)
            / u32::try_from(webhooks.max(1)).unwrap_or(u32::MAX)
    }

    /// The lane `webhook`'s events go to.
    pub fn lane(&self, webhook: &WebhookId) -> Lane {
        match self.cost_us.get(webhook) {
            Some(&cost) if cost >= SLOW_EVENT.as_micros() as f64 => Lane::Slow,
            _ => Lane::Fast,
        }
    }

    /// Whether `webhook` was measured cheap: its events may be processed where a slow one
    /// would hold up more than the pipeline (the ingest log's applier).
    pub fn measured_cheap(&self, webhook: &WebhookId) -> bool {
        self.cost_us.get(webhook).is_some_and(|&cost| cost < SLOW_EVENT.as_micros() as f64)
    }

    /// What each event of a batch cost (its webhook, its CPU phase).
    pub fn observe_batch<'a>(&mut self, costs: impl IntoIterator<Item = (&'a WebhookId, Duration)>) {
        let mut per_webhook: HashMap<&WebhookId, (usize, Duration)> = HashMap::new();
        for (webhook, spent) in costs {
            let entry = per_webhook.entry(webhook).or_default();
            entry.0 += 1;
            entry.1 += spent;
        }
        for (webhook, (events, spent)) in per_webhook {
            self.observe(webhook, events, spent);
        }
    }

    /// `events` of `webhook` took `spent` in all (their CPU phase).
    pub fn observe(&mut self, webhook: &WebhookId, events: usize, spent: Duration) {
        if events == 0 {
            return;
        }
        let per_event = spent.as_micros() as f64 / events as f64;
        let cost = self.cost_us.entry(webhook.clone()).or_insert(per_event);
        // Down at once, up gradually: a cheap webhook whose first call paid for a cold
        // start (or whose events were slowed by a busy machine) is back in the fast lane
        // after its next batch, while a slow one stays slow batch after batch. A webhook
        // turning slow meanwhile is held in check by the batch's time budget.
        *cost = if per_event < *cost { per_event } else { NEWEST_WEIGHT * per_event + (1.0 - NEWEST_WEIGHT) * *cost };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<WebhookId> {
        (0..n).map(|i| WebhookId::from_text(format!("wh_{i}"))).collect()
    }

    fn id(name: &str) -> WebhookId {
        WebhookId::from_text(name)
    }

    #[test]
    fn a_slow_webhook_gets_few_events_and_a_cheap_one_a_full_batch() {
        let mut share = FairShare::default();
        let waiting = vec![id("cheap"), id("slow"), id("new")];
        share.observe(&id("cheap"), 256, Duration::from_micros(256 * 40));
        share.observe(&id("slow"), 2, Duration::from_millis(200));
        let quotas: HashMap<_, _> = share.quotas(&waiting, 2).into_iter().collect();
        assert_eq!(quotas["cheap"], MAX_PER_WEBHOOK);
        assert_eq!(quotas["slow"], 1, "100 ms a call, a third of 200 ms of budget");
        assert_eq!(quotas["new"], UNMEASURED);
    }

    #[test]
    fn many_webhooks_share_the_batch_bound_and_each_gets_one_at_least() {
        let share = FairShare::default();
        let quotas = share.quotas(&names(100), 2);
        assert!(quotas.iter().all(|(_, q)| *q >= 1));
        assert!(quotas.iter().map(|(_, q)| q).sum::<u32>() <= MAX_PER_BATCH);
        let mut share = FairShare::default();
        for name in names(3) {
            share.observe(&name, 10, Duration::from_micros(10));
        }
        let quotas = share.quotas(&names(3), 2);
        assert_eq!(quotas.iter().map(|(_, q)| q).sum::<u32>(), 3 * MAX_PER_WEBHOOK);
    }

    #[test]
    fn slow_webhooks_go_to_the_slow_lane_cheap_and_unmeasured_ones_to_the_fast() {
        let mut share = FairShare::default();
        assert_eq!(share.lane(&id("new")), Lane::Fast);
        share.observe(&id("cheap"), 100, Duration::from_millis(10));
        share.observe(&id("slow"), 2, Duration::from_millis(80));
        assert_eq!(share.lane(&id("cheap")), Lane::Fast);
        assert_eq!(share.lane(&id("slow")), Lane::Slow);
        // Only a measured cheap one is processed by the ingest log's applier.
        assert!(share.measured_cheap(&id("cheap")));
        assert!(!share.measured_cheap(&id("slow")) && !share.measured_cheap(&id("new")));
    }

    #[test]
    fn the_estimate_drops_at_once_and_grows_over_batches() {
        let mut share = FairShare::default();
        let waiting = vec![id("wh")];
        share.observe(&id("wh"), 1, Duration::from_millis(100));
        assert_eq!(share.quotas(&waiting, 2)[0].1, 2);
        assert_eq!(share.lane(&id("wh")), Lane::Slow);
        share.observe(&id("wh"), 100, Duration::from_millis(5));
        assert_eq!(share.quotas(&waiting, 2)[0].1, MAX_PER_WEBHOOK);
        assert_eq!(share.lane(&id("wh")), Lane::Fast, "one cheap batch brings it back");
        share.observe(&id("wh"), 1, Duration::from_millis(8));
        assert_eq!(share.lane(&id("wh")), Lane::Fast, "one slow event is not enough to move it");
        share.observe(&id("wh"), 1, Duration::from_millis(8));
        share.observe(&id("wh"), 1, Duration::from_millis(8));
        assert_eq!(share.lane(&id("wh")), Lane::Slow);
    }
}
