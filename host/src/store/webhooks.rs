//! Webhook events: at most [`MAX_WEBHOOKS`], each with a secret token, a wizard state, the
//! captured test event and the mapping.

use sha2::{Digest, Sha256};

use super::gate::Priority;
use super::sql::{Row, args};
use super::{Store, StoreError};
use crate::model::ids::WebhookId;
use crate::model::retention::Retention;
use crate::model::webhook::{
    DEFAULT_DEDUP_HEADER, Dedup, MAX_WEBHOOKS, MappedProperty, MatchRule, TransformStep, Webhook, WebhookState,
};

/// One token that reaches a webhook: its hash, and when it stops working (the previous
/// token during a rotation's grace period), if ever.
#[derive(Debug, Clone)]
pub struct TokenKey {
    /// The webhook it reaches.
    pub webhook_id: String,
    /// SHA-256 of the token.
    pub hash: Vec<u8>,
    /// Unix ms after which it no longer works.
    pub expires_ms: Option<i64>,
}

/// Token lookups go through its hash, so the index compares hashes, not the secret.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

const SELECT_WEBHOOK: &str = "SELECT id, name, token, state, created_at_ms, test_event_id, mapping_json,
     transforms_json, match_json, dedup_json, previous_token_expires_ms, retention_ms FROM webhooks
     WHERE deleted_at_ms IS NULL";

fn webhook(mut row: Row) -> Result<Webhook, StoreError> {
    let state: String = row.get(3)?;
    let matching: Option<String> = row.get(8)?;
    Ok(Webhook {
        id: row.get(0)?,
        name: row.get(1)?,
        token: row.get(2)?,
        state: WebhookState::parse(&state)?,
        created_at_ms: row.get(4)?,
        test_event_id: row.get(5)?,
        mapping: serde_json::from_str(&row.get::<String>(6)?)?,
        transforms: serde_json::from_str(&row.get::<String>(7)?)?,
        matching: matching.as_deref().map(serde_json::from_str).transpose()?,
        dedup: serde_json::from_str(&row.get::<String>(9)?)?,
        previous_token_expires_ms: row.get(10)?,
        retention: row.get::<Option<i64>>(11)?.map(Retention::from_ms),
    })
}

/// Why a webhook could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateWebhookError {
    /// Already [`MAX_WEBHOOKS`] live webhooks.
    #[error("an installation has at most {MAX_WEBHOOKS} webhooks; delete one first")]
    LimitReached,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Create a webhook awaiting its test event.
    pub fn create_webhook(
        &self,
        id: &WebhookId,
        name: &str,
        token: &str,
        now_ms: i64,
    ) -> Result<Webhook, CreateWebhookError> {
        self.transaction(Priority::Background, |tx| {
            let live: i64 = tx.value("SELECT COUNT(*) FROM webhooks WHERE deleted_at_ms IS NULL", &[])?;
            if live >= MAX_WEBHOOKS {
                return Err(CreateWebhookError::LimitReached);
            }
            tx.execute(
                "INSERT INTO webhooks (id, name, token, token_sha256, state, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![id, name, token, token_hash(token), WebhookState::AwaitingTestEvent.as_str(), now_ms],
            )?;
            Ok(())
        })?;
        Ok(Webhook {
            id: id.clone(),
            name: name.to_string(),
            token: token.to_string(),
            state: WebhookState::AwaitingTestEvent,
            created_at_ms: now_ms,
            test_event_id: None,
            mapping: Vec::new(),
            transforms: Vec::new(),
            matching: None,
            dedup: Dedup { header: Some(DEFAULT_DEDUP_HEADER.into()), body_path: None },
            previous_token_expires_ms: None,
            retention: None,
        })
    }

    /// Give a webhook a new token; the current one keeps working until `now_ms + grace_ms`
    /// (with no grace it stops at once). A token still in an earlier grace period stops now.
    pub fn rotate_token(&self, id: &WebhookId, token: &str, grace_ms: i64, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self.transaction(Priority::Background, |tx| {
            tx.execute(
                "UPDATE webhooks SET
                     previous_token_sha256 = CASE WHEN ?4 > 0 THEN token_sha256 END,
                     previous_token_expires_ms = CASE WHEN ?4 > 0 THEN ?5 + ?4 END,
                     token = ?2, token_sha256 = ?3
                 WHERE id = ?1 AND deleted_at_ms IS NULL",
                args![id, token, token_hash(token), grace_ms, now_ms],
            )
        })?;
        self.forget_ingest_targets();
        Ok(changed == 1)
    }

    /// Every token that reaches a live webhook at `now_ms`: current ones, and previous ones
    /// still in their grace period.
    pub fn token_keys(&self, now_ms: i64) -> Result<Vec<TokenKey>, StoreError> {
        self.with(|db| {
            db.query_map(
                "SELECT id, token_sha256, NULL FROM webhooks WHERE deleted_at_ms IS NULL
                 UNION ALL
                 SELECT id, previous_token_sha256, previous_token_expires_ms FROM webhooks
                 WHERE deleted_at_ms IS NULL AND previous_token_sha256 IS NOT NULL AND previous_token_expires_ms > ?1",
                args![now_ms],
                |mut r| Ok(TokenKey { webhook_id: r.get(0)?, hash: r.get(1)?, expires_ms: r.get(2)? }),
            )
        })
    }

    /// Live webhooks, oldest first.
    pub fn list_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        self.with(|db| db.query_map(&format!("{SELECT_WEBHOOK} ORDER BY id"), &[], webhook))
    }

    /// One live webhook by id.
    pub fn webhook(&self, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
        self.with(|db| db.query_opt(&format!("{SELECT_WEBHOOK} AND id = ?1"), args![id])?.map(webhook).transpose())
    }

    /// Delete a webhook: its token stops working at once; its events stay visible.
    pub fn delete_webhook(&self, id: &WebhookId, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self.with(|db| {
            db.execute(
                "UPDATE webhooks SET deleted_at_ms = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL",
                args![id, now_ms],
            )
        })?;
        self.forget_ingest_targets();
        Ok(changed == 1)
    }

    /// Forget the test event so the next payload becomes the new one.
    pub fn reset_test_event(&self, id: &WebhookId) -> Result<bool, StoreError> {
        let changed = self.with(|db| {
            db.execute(
                "UPDATE webhooks SET test_event_id = NULL, state = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL",
                args![id, WebhookState::AwaitingTestEvent.as_str()],
            )
        })?;
        self.forget_ingest_targets();
        Ok(changed == 1)
    }

    /// Replace the mapping; a webhook waiting for it moves on to `awaiting_match`.
    pub fn set_mapping(&self, id: &WebhookId, mapping: &[MappedProperty]) -> Result<Option<Webhook>, StoreError> {
        self.update_json_column(
            id,
            "UPDATE webhooks SET mapping_json = ?2,
                 state = CASE state WHEN 'awaiting_mapping' THEN 'awaiting_match' ELSE state END
             WHERE id = ?1 AND deleted_at_ms IS NULL",
            &serde_json::to_string(mapping)?,
        )
    }

    /// Run one named `UPDATE` that sets a JSON column (`?2`) of a live webhook (`?1`), then
    /// read the webhook back; `None` if there is no such webhook.
    fn update_json_column(&self, id: &WebhookId, sql: &str, json: &str) -> Result<Option<Webhook>, StoreError> {
        let changed = self.with(|db| db.execute(sql, args![id, json]))?;
        // The state (mapping, match) or the dedup rule ingest decides with may have changed.
        self.forget_ingest_targets();
        if changed == 0 {
            return Ok(None);
        }
        self.webhook(id)
    }

    /// Set (or with `None` remove) a webhook's signature settings; false if no such webhook.
    pub fn set_signature(&self, id: &WebhookId, json: Option<&str>) -> Result<bool, StoreError> {
        self.set_optional_json(
            id,
            "UPDATE webhooks SET signature_json = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL",
            json,
        )
    }

    /// Set (or with `None` reset to the default) a webhook's rate limit; false if no such webhook.
    pub fn set_rate_limit(&self, id: &WebhookId, json: Option<&str>) -> Result<bool, StoreError> {
        self.set_optional_json(
            id,
            "UPDATE webhooks SET rate_limit_json = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL",
            json,
        )
    }

    /// Run one of the fixed `UPDATE`s above (`?1` the id, `?2` the JSON or NULL).
    fn set_optional_json(&self, id: &WebhookId, sql: &str, json: Option<&str>) -> Result<bool, StoreError> {
        Ok(self.transaction(Priority::Background, |tx| tx.execute(sql, args![id, json]))? == 1)
    }

    /// Every live webhook's rate limit: (id, limit JSON if not the default).
    pub fn rate_limits(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        self.with(|db| {
            db.query_map("SELECT id, rate_limit_json FROM webhooks WHERE deleted_at_ms IS NULL", &[], |mut r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
    }

    /// Every live webhook with signature settings: (id, settings JSON).
    pub fn signatures(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|db| {
            db.query_map(
                "SELECT id, signature_json FROM webhooks WHERE deleted_at_ms IS NULL AND signature_json IS NOT NULL",
                &[],
                |mut r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
    }

    /// Replace the transform chain; applies to events processed from now on.
    pub fn set_transforms(&self, id: &WebhookId, steps: &[TransformStep]) -> Result<Option<Webhook>, StoreError> {
        self.update_json_column(
            id,
            "UPDATE webhooks SET transforms_json = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL",
            &serde_json::to_string(steps)?,
        )
    }

    /// Set the match rule; a mapped webhook becomes `ready`.
    pub fn set_match(&self, id: &WebhookId, rule: &MatchRule) -> Result<Option<Webhook>, StoreError> {
        self.update_json_column(
            id,
            "UPDATE webhooks SET match_json = ?2,
                 state = CASE state WHEN 'awaiting_test_event' THEN state ELSE 'ready' END
             WHERE id = ?1 AND deleted_at_ms IS NULL",
            &serde_json::to_string(rule)?,
        )
    }

    /// Set where delivery ids come from.
    pub fn set_dedup(&self, id: &WebhookId, dedup: &Dedup) -> Result<Option<Webhook>, StoreError> {
        self.update_json_column(
            id,
            "UPDATE webhooks SET dedup_json = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL",
            &serde_json::to_string(dedup)?,
        )
    }

    /// Names of the plugins any live webhook's chain uses.
    pub fn plugins_in_use(&self) -> Result<Vec<String>, StoreError> {
        let webhooks = self.list_webhooks()?;
        Ok(webhooks.iter().flat_map(|w| w.transforms.iter().map(|t| t.plugin.clone())).collect())
    }

    /// A webhook by id even if deleted (events keep pointing at it).
    pub fn webhook_any(&self, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
        let sql = SELECT_WEBHOOK.replace("WHERE deleted_at_ms IS NULL", "WHERE 1 = 1");
        self.with(|db| db.query_opt(&format!("{sql} AND id = ?1"), args![id])?.map(webhook).transpose())
    }
}
