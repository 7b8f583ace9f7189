//! The per-minute counts of `crate::tally`, stored: added to by every node's flush (so on a
//! shared database they are the cluster's), read by the dashboard's series and the alerts,
//! and deleted by the pruner once older than the longest window anyone reads.

use super::gate::Priority;
use super::sql::{args, execute_rows};
use super::{Store, StoreError};
use crate::tally::{Counted, TallyKey};

/// One stored count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCount {
    /// Whose: a webhook id, a workflow id, or a destination.
    pub subject: String,
    /// Unix minute.
    pub minute: i64,
    /// Of what.
    pub what: Counted,
    /// How many.
    pub count: u64,
}

/// A flushed row: its key's text and its count, as bound.
struct Flushed {
    subject: String,
    minute: i64,
    what: String,
    count: i64,
}

/// The names counts are shown with: their subjects' (webhooks, workflows; deleted
/// webhooks included, so their past counts keep a name).
#[derive(Debug, Default)]
pub struct Names {
    /// Webhook id → name.
    pub webhooks: std::collections::HashMap<String, String>,
    /// Workflow id → name.
    pub workflows: std::collections::HashMap<String, String>,
}

/// A row of `subject, minute, what, count`; `None` for a kind this version does not know.
fn read_count(mut r: super::sql::Row) -> Result<Option<StoredCount>, StoreError> {
    let (subject, minute, what, count): (String, i64, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    Ok(Counted::parse(&what).map(|what| StoredCount {
        subject,
        minute,
        what,
        count: u64::try_from(count).unwrap_or(0),
    }))
}

impl Store {
    /// Add `counts` to what is stored, in one transaction.
    pub fn add_tallies(&self, counts: &[(TallyKey, u64)]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let rows: Vec<Flushed> = counts
            .iter()
            .map(|(key, n)| Flushed {
                subject: key.subject.clone(),
                minute: key.minute,
                what: key.what.to_text(),
                count: i64::try_from(*n).unwrap_or(i64::MAX),
            })
            .collect();
        self.transaction(Priority::Background, |tx| {
            execute_rows(
                tx,
                &rows,
                |values| {
                    format!(
                        "INSERT INTO tallies (subject, minute, what, count) VALUES {values}
                         ON CONFLICT (subject, minute, what) DO UPDATE SET count = tallies.count + excluded.count"
                    )
                },
                |row| [&row.subject, &row.minute, &row.what, &row.count],
            )
        })?;
        Ok(())
    }

    /// The counts from minute `from_minute` on, per minute and kind: `subject`'s, or with
    /// `None` every subject's summed (their `subject` is then empty). Kinds this version
    /// does not know are left out. Rows read: minutes × kinds (× subjects, summed in SQL),
    /// whatever the traffic.
    pub fn tally_series(&self, subject: Option<&str>, from_minute: i64) -> Result<Vec<StoredCount>, StoreError> {
        let rows = self.with(|db| match subject {
            Some(subject) => db.query_map(
                "SELECT subject, minute, what, count FROM tallies WHERE subject = ?1 AND minute >= ?2",
                args![subject, from_minute],
                read_count,
            ),
            None => db.query_map(
                "SELECT '', minute, what, CAST(sum(count) AS BIGINT) FROM tallies WHERE minute >= ?1 GROUP BY minute, what",
                args![from_minute],
                read_count,
            ),
        })?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// The counts of the kinds `whats` from minute `from_minute` on, per subject and minute.
    pub fn tally_counts(&self, from_minute: i64, whats: &[Counted]) -> Result<Vec<StoredCount>, StoreError> {
        if whats.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = whats.iter().map(|w| w.to_text()).collect();
        let list = (2..texts.len() + 2).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let mut bound: Vec<&dyn super::sql::ToArg> = vec![&from_minute];
        bound.extend(texts.iter().map(|t| t as &dyn super::sql::ToArg));
        let rows = self.with(|db| {
            db.query_map(
                &format!("SELECT subject, minute, what, count FROM tallies WHERE minute >= ?1 AND what IN ({list})"),
                &bound,
                read_count,
            )
        })?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// The names of every webhook (deleted ones too) and workflow.
    pub fn names(&self) -> Result<Names, StoreError> {
        self.with(|db| {
            let pairs = |sql: &str| -> Result<std::collections::HashMap<String, String>, StoreError> {
                Ok(db.query_map(sql, &[], |mut r| Ok((r.get(0)?, r.get(1)?)))?.into_iter().collect())
            };
            Ok(Names {
                webhooks: pairs("SELECT id, name FROM webhooks")?,
                workflows: pairs("SELECT id, name FROM workflows")?,
            })
        })
    }

    /// Delete the counts of minutes before `before_minute`; how many rows went.
    pub fn prune_tallies(&self, before_minute: i64) -> Result<u64, StoreError> {
        self.transaction(Priority::Background, |tx| {
            tx.execute("DELETE FROM tallies WHERE minute < ?1", args![before_minute])
        })
    }
}
