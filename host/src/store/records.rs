//! Objects (built-in `contacts`, `companies`, `deals`, `tickets`, and custom ones), their
//! properties, and records. Unique property values live in their own indexed table, so
//! the store enforces uniqueness and a match is one lookup.

use serde_json::{Map, Value as Json};

use super::gate::Priority;
use super::sql::{Sql, args};
use super::{Store, StoreError};
use crate::model::ids::RecordId;
use crate::model::property::{PropertyDef, PropertyType};
use crate::model::record_query::{RecordCursor, RecordFilter, RecordSort};

/// Most unique properties per object (as in the product we replace).
pub const MAX_UNIQUE_PER_OBJECT: i64 = 10;

/// A stored record.
#[derive(Debug, Clone)]
pub struct Record {
    /// `rec_...`
    pub id: RecordId,
    /// Its object.
    pub object: String,
    /// Its property values.
    pub properties: Map<String, Json>,
    /// Created, unix ms.
    pub created_at_ms: i64,
    /// Last updated, unix ms.
    pub updated_at_ms: i64,
}

/// Most records one listing request reads to fill a filtered page. A filter few records
/// meet answers with what it found and a cursor to go on from, so a request costs a
/// bounded time however many records the object has.
pub const SCAN_PER_PAGE: usize = 5_000;

/// Records read per statement while filling a filtered page.
const READ_CHUNK: usize = 250;

/// One page of a records listing.
#[derive(Debug, Default)]
pub struct RecordPage {
    /// The records, in the listing's order.
    pub records: Vec<Record>,
    /// Where the next page starts, while there may be more.
    pub next: Option<RecordCursor>,
}

/// Why a write to records or properties was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The object does not exist.
    #[error("no object `{0}`")]
    NoObject(String),
    /// A property name is taken.
    #[error("property `{0}` already exists")]
    PropertyExists(String),
    /// Too many unique properties.
    #[error("an object has at most {MAX_UNIQUE_PER_OBJECT} unique properties")]
    TooManyUnique,
    /// Another record holds this unique value.
    #[error("another record ({record_id}) already has {property} = {value}")]
    Duplicate {
        /// The unique property.
        property: String,
        /// The value, as text.
        value: String,
        /// The record holding it.
        record_id: RecordId,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The text under which a unique value is indexed: strings as they are, numbers in
/// canonical JSON form (so `42` and `42.0` are the same key).
pub fn unique_key(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(format!("{}", f as i64)),
            Some(f) => Some(format!("{f}")),
            None => Some(n.to_string()),
        },
        _ => None,
    }
}

/// The id of the record whose unique `property` equals `value` (`None` for a value that
/// cannot be unique, such as a boolean).
pub(super) fn record_id_by_unique(
    db: &dyn Sql,
    object: &str,
    property: &str,
    value: &Json,
) -> Result<Option<RecordId>, StoreError> {
    match unique_key(value) {
        Some(key) => unique_holder(db, object, property, &key),
        None => Ok(None),
    }
}

/// The record holding `key` as its unique `property`: one lookup in the unique index.
pub(super) fn unique_holder(
    db: &dyn Sql,
    object: &str,
    property: &str,
    key: &str,
) -> Result<Option<RecordId>, StoreError> {
    db.value_opt(
        "SELECT record_id FROM record_unique_values WHERE object = ?1 AND property = ?2 AND value = ?3",
        args![object, property, key],
    )
}

/// The holder of each of `keys` (unique values of `object`'s `property`; repeats read once),
/// or none: one indexed seek per key, inside a few multi-row queries. A correlated lookup
/// per `VALUES` row, because an `IN` list was planned as a scan on PostgreSQL before
/// `ANALYZE` (2–3 ms a query) and read the whole index on SQLite (drain 16.5k -> 1.9k/s).
pub(super) fn unique_holders<'k>(
    db: &dyn Sql,
    object: &str,
    property: &str,
    keys: impl IntoIterator<Item = &'k String>,
) -> Result<Vec<(String, Option<RecordId>)>, StoreError> {
    let mut keys: Vec<&String> = keys.into_iter().collect();
    keys.sort();
    keys.dedup();
    let rows = super::sql::query_rows(
        db,
        &keys,
        &[&object, &property],
        |rows, next| {
            format!(
                "SELECT v.column1,
                     (SELECT record_id FROM record_unique_values
                      WHERE object = ?{next} AND property = ?{} AND value = v.column1)
                 FROM ({rows}) AS v",
                next + 1
            )
        },
        |key| [*key as &dyn super::sql::ToArg],
    )?;
    rows.into_iter().map(|mut row| Ok((row.get(0)?, row.get(1)?))).collect()
}

fn object_exists(db: &dyn Sql, object: &str) -> Result<bool, StoreError> {
    Ok(db.query_opt("SELECT 1 FROM objects WHERE name = ?1", args![object])?.is_some())
}

impl Store {
    /// Names and labels of every object.
    pub fn list_objects(&self) -> Result<Vec<(String, String, bool)>, StoreError> {
        self.with(|db| {
            db.query_map("SELECT name, label, builtin FROM objects ORDER BY builtin DESC, name", &[], |mut r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<i64>(2)? == 1))
            })
        })
    }

    /// Add a custom object; false if the name is taken.
    pub fn create_object(&self, name: &str, label: &str) -> Result<bool, StoreError> {
        let changed = self.with(|db| {
            db.execute("INSERT INTO objects (name, label) VALUES (?1, ?2) ON CONFLICT DO NOTHING", args![name, label])
        })?;
        Ok(changed == 1)
    }

    /// Define a property on an object.
    pub fn create_property(&self, object: &str, def: &PropertyDef) -> Result<(), RecordError> {
        self.transaction(Priority::Background, |tx| {
            if !object_exists(tx, object)? {
                return Err(RecordError::NoObject(object.to_string()));
            }
            if def.unique {
                let unique: i64 =
                    tx.value("SELECT COUNT(*) FROM properties WHERE object = ?1 AND is_unique = 1", args![object])?;
                if unique >= MAX_UNIQUE_PER_OBJECT {
                    return Err(RecordError::TooManyUnique);
                }
            }
            let options = serde_json::to_string(&def.options).map_err(StoreError::from)?;
            let inserted = tx.execute(
                "INSERT INTO properties (object, name, label, type, options_json, is_unique) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT DO NOTHING",
                args![object, def.name, def.label, def.kind, options, def.unique],
            )?;
            if inserted == 0 {
                return Err(RecordError::PropertyExists(def.name.clone()));
            }
            Ok(())
        })
    }

    /// An object's properties; `None` if the object does not exist.
    pub fn properties(&self, object: &str) -> Result<Option<Vec<PropertyDef>>, StoreError> {
        self.with(|db| {
            if !object_exists(db, object)? {
                return Ok(None);
            }
            let defs = db.query_map(
                "SELECT name, label, type, options_json, is_unique FROM properties WHERE object = ?1 ORDER BY rowid",
                args![object],
                |mut r| {
                    Ok(PropertyDef {
                        name: r.get(0)?,
                        label: r.get(1)?,
                        kind: PropertyType::parse(&r.get::<String>(2)?)?,
                        options: serde_json::from_str(&r.get::<String>(3)?)?,
                        unique: r.get::<i64>(4)? == 1,
                    })
                },
            )?;
            Ok(Some(defs))
        })
    }

    /// Insert or replace a record's properties, keeping the unique index in step.
    /// `unique` names the object's unique properties.
    pub fn put_record(&self, record: &Record, unique: &[String], insert: bool) -> Result<(), RecordError> {
        let json = serde_json::to_string(&record.properties).map_err(StoreError::from)?;
        self.transaction(Priority::Background, |tx| {
            if insert {
                tx.execute(
                    "INSERT INTO records (id, object, properties_json, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    args![record.id, record.object, json, record.created_at_ms, record.updated_at_ms],
                )?;
            } else {
                tx.execute(
                    "UPDATE records SET properties_json = ?2, updated_at_ms = ?3 WHERE id = ?1",
                    args![record.id, json, record.updated_at_ms],
                )?;
                tx.execute("DELETE FROM record_unique_values WHERE record_id = ?1", args![record.id])?;
            }
            for property in unique {
                let Some(key) = record.properties.get(property).and_then(unique_key) else {
                    continue;
                };
                let holder = unique_holder(tx, &record.object, property, &key)?;
                if let Some(record_id) = holder {
                    return Err(RecordError::Duplicate { property: property.clone(), value: key, record_id });
                }
                tx.execute(
                    "INSERT INTO record_unique_values (object, property, value, record_id) VALUES (?1, ?2, ?3, ?4)",
                    args![record.object, property, key, record.id],
                )?;
            }
            Ok(())
        })
    }

    /// One record of an object.
    pub fn record(&self, object: &str, id: &RecordId) -> Result<Option<Record>, StoreError> {
        self.with(|db| record(db, object, id))
    }

    /// Delete a record (its unique values go with it).
    pub fn delete_record(&self, object: &str, id: &RecordId) -> Result<bool, StoreError> {
        let changed =
            self.with(|db| db.execute("DELETE FROM records WHERE object = ?1 AND id = ?2", args![object, id]))?;
        Ok(changed == 1)
    }

    /// Up to `limit` records of `object` meeting `filter`, in `sort` order, after `after`;
    /// `None` if there is no such object. A unique property's value in the filter is one
    /// indexed lookup; otherwise records are read in order (keyset paging on the id, or on
    /// the update time and id) and at most [`SCAN_PER_PAGE`] of them are looked at.
    pub fn list_records(
        &self,
        object: &str,
        sort: RecordSort,
        after: Option<&RecordCursor>,
        filter: &RecordFilter,
        limit: usize,
    ) -> Result<Option<RecordPage>, StoreError> {
        self.with(|db| {
            if !object_exists(db, object)? {
                return Ok(None);
            }
            if let Some((property, value)) = filter.unique_value() {
                // One record at most, shown on the first page.
                let found = match (after, record_id_by_unique(db, object, property, value)?) {
                    (None, Some(id)) => record(db, object, &id)?.filter(|r| filter.holds(&r.id, &r.properties)),
                    _ => None,
                };
                return Ok(Some(RecordPage { records: found.into_iter().collect(), next: None }));
            }
            let mut page = RecordPage::default();
            let mut position = after.cloned();
            let mut examined = 0;
            loop {
                // One more than the page needs, so a full last page is known to be the last.
                let wanted = if filter.conditions.is_empty() { limit + 1 - page.records.len() } else { READ_CHUNK };
                let rows = records_in_order(db, object, sort, position.as_ref(), wanted)?;
                let exhausted = rows.len() < wanted;
                let mut rows = rows.into_iter();
                for record in rows.by_ref() {
                    examined += 1;
                    if !filter.holds(&record.id, &record.properties) {
                        position = Some(RecordCursor::after(sort, &record.id, record.updated_at_ms));
                        continue;
                    }
                    if page.records.len() == limit {
                        // A record beyond the page: there is a next one, from the last shown.
                        page.next = position;
                        return Ok(Some(page));
                    }
                    position = Some(RecordCursor::after(sort, &record.id, record.updated_at_ms));
                    page.records.push(record);
                }
                if exhausted {
                    return Ok(Some(page));
                }
                if examined >= SCAN_PER_PAGE {
                    page.next = position;
                    return Ok(Some(page));
                }
            }
        })
    }

    /// The record whose unique `property` equals `value`: one indexed lookup.
    pub fn find_by_unique(&self, object: &str, property: &str, value: &Json) -> Result<Option<Record>, StoreError> {
        self.with(|db| match record_id_by_unique(db, object, property, value)? {
            Some(id) => record(db, object, &id),
            None => Ok(None),
        })
    }
}

/// Up to `limit` records of `object` in `sort` order after `after`: one range of an index
/// (`records_by_object` on the id, `records_by_updated` on the update time and id).
fn records_in_order(
    db: &dyn Sql,
    object: &str,
    sort: RecordSort,
    after: Option<&RecordCursor>,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let (direction, past) = if sort.descending() { ("DESC", "<") } else { ("ASC", ">") };
    // Before the first page, a position past every record: ids are `rec_` and ASCII.
    let (at_ms, id) = match after {
        Some(cursor) => (cursor.at_ms, cursor.id.as_str()),
        None if sort.descending() => (i64::MAX, "~"),
        None => (i64::MIN, ""),
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    if sort.by_update() {
        let sql = format!(
            "SELECT id, object, properties_json, created_at_ms, updated_at_ms FROM records
             WHERE object = ?1 AND (updated_at_ms, id) {past} (?2, ?3)
             ORDER BY updated_at_ms {direction}, id {direction} LIMIT ?4"
        );
        db.query_map(&sql, args![object, at_ms, id, limit], record_from_row)
    } else {
        let sql = format!(
            "SELECT id, object, properties_json, created_at_ms, updated_at_ms FROM records
             WHERE object = ?1 AND id {past} ?2
             ORDER BY id {direction} LIMIT ?3"
        );
        db.query_map(&sql, args![object, id, limit], record_from_row)
    }
}

fn record_from_row(mut r: super::sql::Row) -> Result<Record, StoreError> {
    Ok(Record {
        id: r.get(0)?,
        object: r.get(1)?,
        properties: serde_json::from_str(&r.get::<String>(2)?)?,
        created_at_ms: r.get(3)?,
        updated_at_ms: r.get(4)?,
    })
}

fn record(db: &dyn Sql, object: &str, id: &RecordId) -> Result<Option<Record>, StoreError> {
    let row = db.query_opt(
        "SELECT id, object, properties_json, created_at_ms, updated_at_ms FROM records WHERE object = ?1 AND id = ?2",
        args![object, id],
    )?;
    row.map(record_from_row).transpose()
}
