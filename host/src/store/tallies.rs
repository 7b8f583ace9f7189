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
                |rows| {
                    format!(
                        "INSERT INTO tallies (subject, minute, what, count) {rows}
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

    /// The counts of the kinds `whats` from minute `from_minute` on, summed per subject and
    /// kind in SQL (`minute` is then the first minute counted): what the alerts and the
    /// attention list compare, one row per troubled subject whatever the window.
    pub fn tally_totals(&self, from_minute: i64, whats: &[Counted]) -> Result<Vec<StoredCount>, StoreError> {
        if whats.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = whats.iter().map(|w| w.to_text()).collect();
        let list = (2..texts.len() + 2).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let mut bound: Vec<&dyn super::sql::ToArg> = vec![&from_minute];
        bound.extend(texts.iter().map(|t| t as &dyn super::sql::ToArg));
        let rows = self.with(|db| {
            db.query_map(
                &format!(
                    "SELECT subject, CAST(min(minute) AS BIGINT), what, CAST(sum(count) AS BIGINT) FROM tallies
                     WHERE minute >= ?1 AND what IN ({list}) GROUP BY subject, what"
                ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::EventStatus;

    fn key(subject: &str, minute: i64, what: Counted) -> TallyKey {
        TallyKey { subject: subject.into(), minute, what }
    }

    #[test]
    fn flushes_add_up_and_reads_sum_per_minute_or_per_subject() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let unmatched = Counted::Event(EventStatus::Unmatched);
        store.add_tallies(&[(key("wh_a", 10, unmatched), 2), (key("wh_b", 10, unmatched), 1)]).unwrap();
        // A second flush (or another node's) adds to the same rows.
        store.add_tallies(&[(key("wh_a", 10, unmatched), 3), (key("wh_a", 11, Counted::Latency(9)), 4)]).unwrap();
        store.add_tallies(&[(key("wh_a", 8, unmatched), 100)]).unwrap();

        let mut mine = store.tally_series(Some("wh_a"), 10).unwrap();
        mine.sort_by_key(|c| c.minute);
        let read: Vec<(i64, Counted, u64)> = mine.iter().map(|c| (c.minute, c.what, c.count)).collect();
        assert_eq!(read, vec![(10, unmatched, 5), (11, Counted::Latency(9), 4)]);
        let all = store.tally_series(None, 10).unwrap();
        assert!(all.iter().any(|c| c.subject.is_empty() && c.minute == 10 && c.what == unmatched && c.count == 6));

        let mut totals = store.tally_totals(9, &[unmatched]).unwrap();
        totals.sort_by(|a, b| a.subject.cmp(&b.subject));
        let read: Vec<(&str, u64)> = totals.iter().map(|c| (c.subject.as_str(), c.count)).collect();
        assert_eq!(read, vec![("wh_a", 5), ("wh_b", 1)], "minute 8 is before the window");
        assert_eq!(store.prune_tallies(11).unwrap(), 3);
        assert_eq!(store.tally_series(None, 0).unwrap().len(), 1);
    }
}
