//! One SQL vocabulary for both backends: the store's modules write each statement once,
//! with `?N` placeholders, bind [`Arg`]s and read [`Row`]s of plain values; SQLite and
//! PostgreSQL each implement [`Sql`]. The few places where the dialects differ ask
//! [`Dialect`] for their fragment.

use super::StoreError;

/// Which SQL engine runs the statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded default.
    Sqlite,
    /// A shared server, for several nodes.
    Postgres,
}

impl Dialect {
    /// `INDEXED BY <index>` on SQLite, whose planner needs the hint for these partial
    /// indexes; nothing on PostgreSQL, which picks them itself.
    pub fn indexed_by(self, index: &str) -> String {
        match self {
            Dialect::Sqlite => format!("INDEXED BY {index}"),
            Dialect::Postgres => String::new(),
        }
    }

    /// The smaller-of-several function: SQLite's `min`, PostgreSQL's `LEAST`.
    pub fn least(self) -> &'static str {
        match self {
            Dialect::Sqlite => "min",
            Dialect::Postgres => "LEAST",
        }
    }

    /// The larger-of-several function: SQLite's `max`, PostgreSQL's `GREATEST`.
    pub fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "max",
            Dialect::Postgres => "GREATEST",
        }
    }
}

/// One bound parameter. A NULL keeps its type: PostgreSQL checks every parameter's type.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// An integer (SQLite INTEGER, PostgreSQL BIGINT).
    Int(Option<i64>),
    /// Text.
    Text(Option<&'a str>),
    /// Bytes (SQLite BLOB, PostgreSQL BYTEA).
    Blob(Option<&'a [u8]>),
}

/// Something that binds as one [`Arg`].
pub trait ToArg {
    /// The parameter.
    fn to_arg(&self) -> Arg<'_>;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Arg<'_> {
        (**self).to_arg()
    }
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg<'_> {
                // Counts and sizes far below i64::MAX; saturate rather than wrap.
                Arg::Int(Some(i64::try_from(*self).unwrap_or(i64::MAX)))
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u64, usize);

impl ToArg for bool {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(Some(i64::from(*self)))
    }
}

impl ToArg for Option<i64> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Int(*self)
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(Some(self))
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(Some(self))
    }
}

impl ToArg for Option<&str> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(*self)
    }
}

impl ToArg for Option<String> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Text(self.as_deref())
    }
}

/// A domain vocabulary is stored as its name (the one conversion on the way in; reads go
/// through the type's strict `parse`).
macro_rules! name_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg<'_> {
                Arg::Text(Some(self.as_str()))
            }
        }
    )*};
}

/// A typed id binds and reads as its text.
macro_rules! id_value {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Arg<'_> {
                Arg::Text(Some(self.as_str()))
            }
        }

        impl ToArg for Option<$t> {
            fn to_arg(&self) -> Arg<'_> {
                Arg::Text(self.as_ref().map(<$t>::as_str))
            }
        }

        impl ToArg for Option<&$t> {
            fn to_arg(&self) -> Arg<'_> {
                Arg::Text(self.map(<$t>::as_str))
            }
        }

        impl FromValue for $t {
            fn from_value(value: Value) -> Result<Self, &'static str> {
                String::from_value(value).map(<$t>::from_text)
            }
        }
    )*};
}

id_value!(
    crate::model::ids::EventId,
    crate::model::ids::WebhookId,
    crate::model::ids::WorkflowId,
    crate::model::ids::EnrollmentId,
    crate::model::ids::RecordId,
    crate::model::ids::ImportId,
    crate::model::ids::AlertId,
    crate::model::ids::AlertMessageId
);

name_arg!(
    crate::model::event::EventStatus,
    crate::model::webhook::WebhookState,
    crate::model::property::PropertyType,
    crate::model::workflow::EnrollmentStatus,
    crate::model::alert::AlertKind,
    crate::model::alert::MessageStatus
);

impl ToArg for [u8] {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(Some(self))
    }
}

impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(Some(self))
    }
}

impl ToArg for Option<Vec<u8>> {
    fn to_arg(&self) -> Arg<'_> {
        Arg::Blob(self.as_deref())
    }
}

/// The parameters of one statement, `?1` first: `args![a, b]`.
macro_rules! args {
    ($($x:expr),* $(,)?) => {
        &[$(&$x as &dyn $crate::store::sql::ToArg),*][..]
    };
}
pub(crate) use args;

/// Rows per multi-row statement (`INSERT … VALUES (…), (…)`, `UPDATE … FROM (VALUES …)`):
/// many rows go in a few statements (each a round trip on PostgreSQL), of at most seven
/// sizes, so SQLite's statement cache keeps them all prepared.
const ROWS_PER_STATEMENT: [usize; 7] = [128, 32, 16, 8, 4, 2, 1];

/// `(?1, …, ?c), (?c+1, …)`: `rows` rows of `columns` placeholders, numbered in order.
pub fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=columns).map(|c| format!("?{}", r * columns + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Run `statement` over `rows` in a few multi-row statements: `statement` gets a chunk's
/// `(?1, …), (…)` list, `fields` gives a row's arguments in column order. How many rows
/// the statements changed.
pub fn execute_rows<R, const N: usize>(
    db: &dyn Sql,
    rows: &[R],
    statement: impl Fn(&str) -> String,
    fields: impl for<'r> Fn(&'r R) -> [&'r dyn ToArg; N],
) -> Result<u64, StoreError> {
    let (mut rest, mut changed) = (rows, 0);
    while !rest.is_empty() {
        let size = ROWS_PER_STATEMENT.into_iter().find(|size| *size <= rest.len()).unwrap_or(1);
        let (chunk, tail) = rest.split_at(size);
        let args: Vec<&dyn ToArg> = chunk.iter().flat_map(&fields).collect();
        changed += db.execute(&statement(&value_rows(size, N)), &args)?;
        rest = tail;
    }
    Ok(changed)
}

/// Rows per multi-row query ([`query_rows`]): reads return what they find in one answer
/// each, so larger chunks than writes take, still of few sizes for the statement cache.
const ROWS_PER_QUERY: [usize; 5] = [128, 32, 8, 2, 1];

/// Run the query `statement` over `rows` in a few multi-row statements and collect what
/// they return. `statement` gets a chunk's `(?1, …), (…)` list (for one column, `(?1),
/// (?2), …`: an `IN` list too) and the number of the first placeholder after it, where
/// `fixed` is bound (the same for every chunk).
pub fn query_rows<R, const N: usize>(
    db: &dyn Sql,
    rows: &[R],
    fixed: &[&dyn ToArg],
    statement: impl Fn(&str, usize) -> String,
    fields: impl for<'r> Fn(&'r R) -> [&'r dyn ToArg; N],
) -> Result<Vec<Row>, StoreError> {
    let mut found = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let size = ROWS_PER_QUERY.into_iter().find(|size| *size <= rest.len()).unwrap_or(1);
        let (chunk, tail) = rest.split_at(size);
        let mut args: Vec<&dyn ToArg> = chunk.iter().flat_map(&fields).collect();
        args.extend_from_slice(fixed);
        found.extend(db.query(&statement(&value_rows(size, N), size * N + 1), &args)?);
        rest = tail;
    }
    Ok(found)
}

/// One column value as read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float (only from aggregates; the schema stores none).
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// One result row; [`Row::get`] moves a column out as a Rust value.
#[derive(Debug)]
pub struct Row(pub(super) Vec<Value>);

impl Row {
    /// Column `index` (from 0) as a `T`.
    pub fn get<T: FromValue>(&mut self, index: usize) -> Result<T, StoreError> {
        let slot = self.0.get_mut(index).ok_or(StoreError::Column { index })?;
        let value = std::mem::replace(slot, Value::Null);
        T::from_value(value).map_err(|found| StoreError::ColumnType { index, found })
    }
}

/// A Rust value read from one column; `Err` names what was found instead.
pub trait FromValue: Sized {
    /// Convert, or say what the column held.
    fn from_value(value: Value) -> Result<Self, &'static str>;
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Real(_) => "a float",
        Value::Text(_) => "text",
        Value::Blob(_) => "bytes",
    }
}

impl FromValue for i64 {
    fn from_value(value: Value) -> Result<Self, &'static str> {
        match value {
            Value::Int(n) => Ok(n),
            other => Err(kind(&other)),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: Value) -> Result<Self, &'static str> {
        i64::from_value(value).map(|n| n != 0)
    }
}

impl FromValue for String {
    fn from_value(value: Value) -> Result<Self, &'static str> {
        match value {
            Value::Text(s) => Ok(s),
            other => Err(kind(&other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value) -> Result<Self, &'static str> {
        match value {
            Value::Blob(b) => Ok(b),
            other => Err(kind(&other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Result<Self, &'static str> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// A connection or open transaction of either backend.
pub trait Sql {
    /// Which engine this is.
    fn dialect(&self) -> Dialect;
    /// Run a statement and collect its rows.
    fn query(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Vec<Row>, StoreError>;
    /// Run a statement; how many rows it changed.
    fn execute(&self, sql: &str, args: &[&dyn ToArg]) -> Result<u64, StoreError>;
}

impl dyn Sql + '_ {
    /// The first row, if any.
    pub fn query_opt(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row; a statement that returned none is an error.
    pub fn query_one(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Row, StoreError> {
        self.query_opt(sql, args)?.ok_or(StoreError::NoRow)
    }

    /// Every row, each turned into a `T`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        args: &[&dyn ToArg],
        each: impl FnMut(Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, args)?.into_iter().map(each).collect()
    }

    /// The first column of the first row, if there is a row.
    pub fn value_opt<T: FromValue>(&self, sql: &str, args: &[&dyn ToArg]) -> Result<Option<T>, StoreError> {
        self.query_opt(sql, args)?.map(|mut row| row.get(0)).transpose()
    }

    /// The first column of the one row the statement returns.
    pub fn value<T: FromValue>(&self, sql: &str, args: &[&dyn ToArg]) -> Result<T, StoreError> {
        self.query_one(sql, args)?.get(0)
    }
}
