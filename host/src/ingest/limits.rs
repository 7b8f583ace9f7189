//! Per-webhook request rate limits: a token bucket per live webhook, so a flood on one URL
//! is answered 429 with `Retry-After` before it costs a parse or a commit.
//!
//! On the embedded store the node is the whole service and the bucket is in its memory.
//! On a shared database the limit holds across the cluster: the bucket is a row
//! (store/rate_buckets.rs) and each node takes tokens from it in small grants, spent from
//! memory; the cluster admits at most the bucket's burst plus its rate, and at least that
//! less the grants left unspent on nodes (a twentieth of a second's rate each).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::tokens::TokenTable;
use crate::model::ids::WebhookId;
use crate::store::rate_buckets::{BucketShape, MICRO};
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

/// Seconds of the rate one grant from a shared bucket carries: a node asks the database at
/// most ~20 times a second per webhook at full rate, and leaves at most that much unspent.
const GRANT_S: f64 = 0.05;

/// One webhook's bucket.
pub struct Bucket {
    limit: RateLimit,
    state: Mutex<Tokens>,
    /// Requests answered 429 since start.
    pub limited: AtomicU64,
    /// On a shared database: where the tokens come from.
    shared: Option<Shared>,
}

/// The tokens a node holds for one webhook.
struct Tokens {
    /// Tokens to spend (refilled in memory, or granted by the shared bucket).
    tokens: f64,
    /// When they were last refilled (in memory).
    at: Instant,
    /// A shared bucket found dry: not asked again before this (refused from memory meanwhile).
    dry_until: Option<Instant>,
}

/// A bucket shared by the nodes of a cluster.
struct Shared {
    store: Arc<Store>,
    webhook: WebhookId,
    /// One grant asked at a time per webhook and node; the others wait for its tokens.
    asking: tokio::sync::Mutex<()>,
}

/// What the tokens in memory say about one request.
enum Local {
    Admitted,
    Refused(u64),
    /// Out of tokens: ask the shared bucket.
    Ask,
}

impl Local {
    /// The answer, if the tokens in memory decide it.
    fn decided(self) -> Option<Result<(), u64>> {
        match self {
            Local::Admitted => Some(Ok(())),
            Local::Refused(wait_s) => Some(Err(wait_s)),
            Local::Ask => None,
        }
    }
}

/// A request admitted because the shared bucket could not be asked (logged).
fn admitted_unchecked(webhook: &WebhookId, error: &dyn std::fmt::Display) -> Result<(), u64> {
    tracing::warn!(%webhook, %error, "could not take rate limit tokens from the database; admitting");
    Ok(())
}

/// A wait as `Retry-After` says it: whole seconds, at least one.
fn whole_seconds(seconds: f64) -> u64 {
    seconds.ceil().max(1.0) as u64
}

impl Bucket {
    fn new(limit: RateLimit, shared: Option<Shared>) -> Bucket {
        // A shared bucket's node starts with nothing: its tokens are granted.
        let tokens = if shared.is_some() { 0.0 } else { limit.burst };
        Bucket {
            limit,
            state: Mutex::new(Tokens { tokens, at: Instant::now(), dry_until: None }),
            limited: AtomicU64::new(0),
            shared,
        }
    }

    /// Take one request's token, or say in how many whole seconds one will be there.
    pub async fn take(&self) -> Result<(), u64> {
        if let Some(decided) = self.take_local().decided() {
            return decided;
        }
        match &self.shared {
            Some(shared) => self.ask(shared).await,
            // A bucket in memory refills itself and never asks.
            None => Ok(()),
        }
    }

    /// Out of tokens on a shared database: ask the shared bucket for a grant (one request
    /// per node and webhook asks; the others wait and spend what it brought).
    async fn ask(&self, shared: &Shared) -> Result<(), u64> {
        let _asking = shared.asking.lock().await;
        if let Some(decided) = self.take_local().decided() {
            return decided;
        }
        let shape = self.shape();
        let wanted = (self.limit.per_second * GRANT_S).clamp(1.0, self.limit.burst.max(1.0));
        let micro_wanted = (wanted * MICRO).round() as i64;
        let (store, webhook) = (shared.store.clone(), shared.webhook.clone());
        let granted = tokio::task::spawn_blocking(move || {
            store.grant_tokens(&webhook, shape, micro_wanted, crate::model::ids::now_ms())
        })
        .await;
        let grant = match granted {
            Ok(Ok(grant)) => grant,
            // The database is what ingest commits to: if it cannot grant, the request
            // fails there with a clear 503; refusing it here as over its rate would lie.
            Ok(Err(e)) => return admitted_unchecked(&shared.webhook, &e),
            Err(e) => return admitted_unchecked(&shared.webhook, &e),
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.tokens += grant.micro_granted as f64 / MICRO;
        state.dry_until = (grant.micro_granted < micro_wanted).then(|| {
            // Dry: ask again once the shared bucket holds a whole grant (whichever node
            // asks first then takes it).
            let missing_ms = (micro_wanted - grant.micro_left).max(0) as f64 / shape.micro_per_ms.max(1) as f64;
            Instant::now() + Duration::from_secs_f64(missing_ms / 1000.0)
        });
        drop(state);
        self.take_local().decided().unwrap_or_else(|| {
            // Granted a fraction of a token: refused, and the next request asks again.
            self.limited.fetch_add(1, Ordering::Relaxed);
            Err(whole_seconds(1.0 / self.limit.per_second))
        })
    }

    /// Spend a token held in memory (refilling it first on the embedded store).
    fn take_local(&self) -> Local {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if self.shared.is_none() {
            let refill = now.duration_since(state.at).as_secs_f64() * self.limit.per_second;
            state.tokens = (state.tokens + refill).min(self.limit.burst);
            state.at = now;
        }
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            return Local::Admitted;
        }
        let wait_s = match (&self.shared, state.dry_until) {
            (None, _) => (1.0 - state.tokens) / self.limit.per_second,
            (Some(_), Some(until)) if until > now => until.duration_since(now).as_secs_f64(),
            (Some(_), _) => return Local::Ask,
        };
        self.limited.fetch_add(1, Ordering::Relaxed);
        Local::Refused(whole_seconds(wait_s))
    }

    /// The shared bucket's size and refill, in millionths of a token.
    fn shape(&self) -> BucketShape {
        BucketShape {
            micro_burst: (self.limit.burst * MICRO).round() as i64,
            micro_per_ms: (self.limit.per_second * MICRO / 1000.0).round().max(1.0) as i64,
        }
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
    /// On a shared database, the store whose buckets the nodes share.
    shared: Option<Arc<Store>>,
}

impl RateLimits {
    /// Limits whose buckets are `store`'s rows, shared with the other nodes on it.
    pub fn shared(store: Arc<Store>) -> RateLimits {
        RateLimits { shared: Some(store), ..RateLimits::default() }
    }

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
                _ => {
                    let shared = self.shared.as_ref().map(|store| Shared {
                        store: store.clone(),
                        webhook: WebhookId::from_text(id.clone()),
                        asking: tokio::sync::Mutex::new(()),
                    });
                    Arc::new(Bucket::new(limit, shared))
                }
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

    fn run<T>(work: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(work)
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let bucket = Bucket::new(RateLimit { per_second: 2.0, burst: 3.0 }, None);
        run(async {
            for _ in 0..3 {
                assert!(bucket.take().await.is_ok());
            }
            assert_eq!(bucket.take().await, Err(1));
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert!(bucket.take().await.is_ok(), "one token back after 0.5 s at 2/s");
        });
        assert_eq!(bucket.limited.load(Ordering::Relaxed), 1);
    }

    /// Three nodes' buckets of one webhook on one store (SQLite here: the statement is the
    /// same on PostgreSQL, where `tests/scale_out.rs` runs it with real nodes).
    #[test]
    fn nodes_sharing_a_bucket_admit_together_what_one_bucket_admits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let limit = RateLimit { per_second: 200.0, burst: 20.0 };
        let shared = || Shared {
            store: store.clone(),
            webhook: WebhookId::from_text("wh_shared"),
            asking: tokio::sync::Mutex::new(()),
        };
        let nodes: Vec<Arc<Bucket>> = (0..3).map(|_| Arc::new(Bucket::new(limit, Some(shared())))).collect();
        let started = Instant::now();
        let flood = Duration::from_millis(1500);
        let admitted: u64 = run(async {
            let senders: Vec<_> = nodes
                .iter()
                .map(|bucket| {
                    let bucket = bucket.clone();
                    tokio::spawn(async move {
                        let mut admitted = 0;
                        while started.elapsed() < flood {
                            if bucket.take().await.is_ok() {
                                admitted += 1;
                            }
                            // ~1,000 requests/s per node, five times the limit each:
                            // a flood, without spinning the test machine's cores.
                            tokio::time::sleep(Duration::from_micros(500)).await;
                        }
                        admitted
                    })
                })
                .collect();
            let mut total = 0;
            for sender in senders {
                total += sender.await.unwrap();
            }
            total
        });
        let took = started.elapsed().as_secs_f64();
        // At most what one bucket admits over the flood; at least that less what the
        // grants left unspent on the three nodes (a twentieth of a second's rate each).
        let most = limit.burst + limit.per_second * took;
        let least = limit.burst + limit.per_second * 1.5 - 3.0 * limit.per_second * GRANT_S;
        assert!((admitted as f64) <= most + 1.0, "{admitted} admitted in {took:.2} s; at most {most:.0}");
        assert!((admitted as f64) >= least * 0.9, "{admitted} admitted in {took:.2} s; at least {least:.0}");
        let refused: u64 = nodes.iter().map(|b| b.limited.load(Ordering::Relaxed)).sum();
        assert!(refused > admitted, "the flood was refused beyond the limit ({refused} refused)");
        // Each node took part: the bucket is shared, not won by one node.
        for bucket in &nodes {
            assert!(bucket.limited.load(Ordering::Relaxed) > 0);
        }
    }
}
