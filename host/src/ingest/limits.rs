//! Per-webhook request rate limits: a token bucket per live webhook, in memory, so a flood
//! on one URL is answered 429 with `Retry-After` before it costs a parse or a commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::tokens::TokenTable;
use crate::store::{Store, StoreError};

/// A webhook's limit: sustained requests per second and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests per second, sustained.
    pub per_second: f64,
    /// Requests allowed at once after a quiet period.
    pub burst: f64,
}

/// The default: generous for any one sender, yet a bound on a runaway or hostile one.
pub const DEFAULT: RateLimit = RateLimit { per_second: 10_000.0, burst: 20_000.0 };

/// One webhook's bucket.
pub struct Bucket {
    limit: RateLimit,
    state: Mutex<(f64, Instant)>,
    /// Requests answered 429 since start.
    pub limited: AtomicU64,
}

impl Bucket {
    fn new(limit: RateLimit) -> Bucket {
        Bucket { limit, state: Mutex::new((limit.burst, Instant::now())), limited: AtomicU64::new(0) }
    }

    /// Take one request's token, or say in how many whole seconds one will be there.
    pub fn take(&self) -> Result<(), u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(state.1).as_secs_f64() * self.limit.per_second;
        state.0 = (state.0 + refill).min(self.limit.burst);
        state.1 = now;
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            return Ok(());
        }
        self.limited.fetch_add(1, Ordering::Relaxed);
        Err(((1.0 - state.0) / self.limit.per_second).ceil().max(1.0) as u64)
    }

    /// The limit it enforces.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }
}

/// Buckets by token hash, for live webhooks only (unknown tokens get no entry).
#[derive(Default)]
pub struct RateLimits {
    by_token: TokenTable<Bucket>,
    by_webhook: Mutex<HashMap<String, Arc<Bucket>>>,
}

impl RateLimits {
    /// Rebuild from the store after a webhook is created, deleted or its limit changed; a
    /// webhook whose limit is unchanged keeps its bucket.
    pub fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let mut by_webhook = self.by_webhook.lock().unwrap_or_else(|p| p.into_inner());
        let mut kept = HashMap::new();
        for (id, json) in store.rate_limits()? {
            let limit = match json {
                Some(json) => serde_json::from_str(&json)?,
                None => DEFAULT,
            };
            let bucket = match by_webhook.get(&id) {
                Some(b) if b.limit == limit => b.clone(),
                _ => Arc::new(Bucket::new(limit)),
            };
            kept.insert(id, bucket);
        }
        self.by_token.replace(&store.token_keys(crate::model::ids::now_ms())?, &kept);
        *by_webhook = kept;
        Ok(())
    }

    /// The bucket of the webhook whose token hashes (SHA-256) to `hash` at `now_ms`.
    pub fn for_token_hash(&self, hash: &[u8], now_ms: i64) -> Option<Arc<Bucket>> {
        self.by_token.get(hash, now_ms)
    }

    /// Every live webhook's bucket, by webhook id.
    pub fn buckets(&self) -> Vec<(String, Arc<Bucket>)> {
        let by_webhook = self.by_webhook.lock().unwrap_or_else(|p| p.into_inner());
        by_webhook.iter().map(|(id, bucket)| (id.clone(), bucket.clone())).collect()
    }

    /// The bucket of a webhook.
    pub fn for_webhook(&self, id: &str) -> Option<Arc<Bucket>> {
        self.by_webhook.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let bucket = Bucket::new(RateLimit { per_second: 2.0, burst: 3.0 });
        assert!((0..3).all(|_| bucket.take().is_ok()));
        assert_eq!(bucket.take(), Err(1));
        std::thread::sleep(std::time::Duration::from_millis(600));
        assert!(bucket.take().is_ok(), "one token back after 0.5 s at 2/s");
        assert_eq!(bucket.limited.load(Ordering::Relaxed), 1);
    }
}
