//! A webhook's rate limit held in the database, so the nodes of a cluster share one
//! bucket: each takes tokens in small grants and spends them from memory (ingest/limits.rs).
//! The bucket is refilled by the time since its last grant, in one statement, so two nodes
//! taking at once each see the other's grant (the row is locked by the upsert).

use super::sql::args;
use super::{Store, StoreError};
use crate::model::ids::WebhookId;

/// Tokens are kept in millionths: fractional rates (0.1/s) refill exactly in integers.
pub const MICRO: f64 = 1_000_000.0;

/// Longest refill one grant counts (a day), so a bucket idle for years cannot overflow;
/// at the slowest rate a bucket refills its largest burst over several grants.
const MAX_REFILL_MS: i64 = 86_400_000;

/// A webhook's shared bucket, in millionths of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketShape {
    /// Most tokens it holds.
    pub micro_burst: i64,
    /// Tokens it gains per millisecond.
    pub micro_per_ms: i64,
}

/// What one grant gave, in millionths of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Taken by the asking node (at most what it asked for; 0 when the bucket is empty).
    pub micro_granted: i64,
    /// Left in the shared bucket after it.
    pub micro_left: i64,
}

impl Store {
    /// Take up to `micro_wanted` tokens from `webhook`'s shared bucket at `now_ms` (a full
    /// bucket on its first grant).
    pub fn grant_tokens(
        &self,
        webhook: &WebhookId,
        shape: BucketShape,
        micro_wanted: i64,
        now_ms: i64,
    ) -> Result<Grant, StoreError> {
        let dialect = self.dialect();
        let (least, greatest) = (dialect.least(), dialect.greatest());
        let available = format!(
            "{least}(?2, rate_buckets.micro_tokens
                    + {least}({greatest}(0, ?4 - rate_buckets.updated_at_ms), {MAX_REFILL_MS}) * ?3)"
        );
        let granted = format!("{least}(?6, {available})");
        let first = micro_wanted.min(shape.micro_burst).max(0);
        // One statement, committed alone: one round trip.
        self.with(|db| {
            let mut row = db.query_one(
                &format!(
                    "INSERT INTO rate_buckets (webhook_id, micro_tokens, micro_granted, updated_at_ms)
                     VALUES (?1, ?2 - ?5, ?5, ?4)
                     ON CONFLICT (webhook_id) DO UPDATE SET
                         micro_granted = {granted},
                         micro_tokens = {available} - {granted},
                         updated_at_ms = {greatest}(rate_buckets.updated_at_ms, ?4)
                     RETURNING micro_granted, micro_tokens"
                ),
                args![webhook, shape.micro_burst, shape.micro_per_ms, now_ms, first, micro_wanted],
            )?;
            Ok(Grant { micro_granted: row.get(0)?, micro_left: row.get(1)? })
        })
    }
}
