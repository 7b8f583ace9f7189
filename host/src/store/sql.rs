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
    /// A column of many rows' integers, bound as one array (PostgreSQL only: `BIGINT[]`).
    Ints(&'a [Option<i64>]),
    /// A column of many rows' texts, bound as one array (PostgreSQL only: `TEXT[]`).
    Texts(&'a [Option<&'a str>]),
    /// A column of many rows' bytes, bound as one array (PostgreSQL only: `BYTEA[]`).
    Blobs(&'a [Option<&'a [u8]>]),
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

/// Rows per multi-row statement on SQLite (`INSERT … VALUES (…), (…)`, `UPDATE … FROM
/// (VALUES …)`): many rows go in a few statements, of at most seven sizes, so SQLite's
/// statement cache keeps them all prepared.
const ROWS_PER_STATEMENT: [usize; 7] = [128, 32, 16, 8, 4, 2, 1];

/// Rows per multi-row statement on PostgreSQL, where a chunk binds one array per column:
/// one statement text whatever the count, so the chunks can be large.
pub const ROWS_PER_ARRAY: usize = 1024;

/// `(?1, …, ?c), (?c+1, …)`: `rows` rows of `columns` placeholders, numbered in order.
fn value_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=columns).map(|c| format!("?{}", r * columns + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of a multi-row statement, as a query its text can take wherever a list of
/// rows goes (`INSERT INTO t (…) {rows}`, `FROM ({rows}) AS v` with columns `v.column1`…,
/// `x IN ({rows})`), and their arguments.
///
/// SQLite: `VALUES (?1, …), (…)`, an argument per field. PostgreSQL: `SELECT * FROM
/// unnest(?1, …, ?N)`, an array per column. A 128-row `VALUES` list was 768 parameters
/// to bind and a plan made at each execution with them as constants (~18% of
/// PostgreSQL's CPU per drained event, perf); an array per column is N parameters and a
/// plan that costs next to nothing.
pub struct RowSource<'r> {
    /// The query giving the rows.
    pub rows: String,
    /// Its placeholders' arguments, `?1` first.
    pub args: Vec<Bound<'r>>,
}

/// One argument of a [`RowSource`]: a row's field, or a column of all the rows.
pub enum Bound<'r> {
    /// One field of one row.
    Field(&'r dyn ToArg),
    /// One column of every row.
    Column(Column<'r>),
}

impl ToArg for Bound<'_> {
    fn to_arg(&self) -> Arg<'_> {
        match self {
            Bound::Field(field) => field.to_arg(),
            Bound::Column(column) => column.to_arg(),
        }
    }
}

/// One column of a chunk's rows, gathered to bind as one array.
pub enum Column<'r> {
    /// Integers.
    Ints(Vec<Option<i64>>),
    /// Texts.
    Texts(Vec<Option<&'r str>>),
    /// Bytes.
    Blobs(Vec<Option<&'r [u8]>>),
}

impl ToArg for Column<'_> {
    fn to_arg(&self) -> Arg<'_> {
        match self {
            Column::Ints(v) => Arg::Ints(v),
            Column::Texts(v) => Arg::Texts(v),
            Column::Blobs(v) => Arg::Blobs(v),
        }
    }
}

impl<'r> Column<'r> {
    /// An empty column of `first`'s type.
    fn like(first: Arg<'_>, rows: usize) -> Result<Column<'r>, StoreError> {
        Ok(match first {
            Arg::Int(_) => Column::Ints(Vec::with_capacity(rows)),
            Arg::Text(_) => Column::Texts(Vec::with_capacity(rows)),
            Arg::Blob(_) => Column::Blobs(Vec::with_capacity(rows)),
            Arg::Ints(_) | Arg::Texts(_) | Arg::Blobs(_) => return Err(StoreError::RowArgument("an array")),
        })
    }

    /// Add one row's field.
    fn push(&mut self, field: Arg<'r>) -> Result<(), StoreError> {
        match (self, field) {
            (Column::Ints(v), Arg::Int(x)) => v.push(x),
            (Column::Texts(v), Arg::Text(x)) => v.push(x),
            (Column::Blobs(v), Arg::Blob(x)) => v.push(x),
            _ => return Err(StoreError::RowArgument("fields of different types in one column")),
        }
        Ok(())
    }
}

impl<'r> RowSource<'r> {
    /// `chunk`'s rows for `dialect`, `fields` giving a row's arguments in column order.
    pub fn of<R, const N: usize>(
        dialect: Dialect,
        chunk: &'r [R],
        fields: &impl Fn(&'r R) -> [&'r dyn ToArg; N],
    ) -> Result<RowSource<'r>, StoreError> {
        match dialect {
            Dialect::Sqlite => Ok(RowSource {
                rows: format!("VALUES {}", value_rows(chunk.len(), N)),
                args: chunk.iter().flat_map(fields).map(Bound::Field).collect(),
            }),
            Dialect::Postgres => {
                let Some(first) = chunk.first() else {
                    return Err(StoreError::RowArgument("no rows"));
                };
                let mut columns = fields(first)
                    .map(|f| Column::like(f.to_arg(), chunk.len()))
                    .into_iter()
                    .collect::<Result<Vec<_>, _>>()?;
                for row in chunk {
                    for (column, field) in columns.iter_mut().zip(fields(row)) {
                        column.push(field.to_arg())?;
                    }
                }
                let marks: Vec<String> = (1..=N).map(|c| format!("?{c}")).collect();
                let names: Vec<String> = (1..=N).map(|c| format!("column{c}")).collect();
                Ok(RowSource {
                    rows: format!("SELECT * FROM unnest({}) AS u({})", marks.join(", "), names.join(", ")),
                    args: columns.into_iter().map(Bound::Column).collect(),
                })
            }
        }
    }
}

/// How `rows` split into the chunks of multi-row statements on `dialect`.
fn chunks<'r, R>(dialect: Dialect, rows: &'r [R], sqlite_sizes: &[usize]) -> Vec<&'r [R]> {
    let mut out = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let size = match dialect {
            Dialect::Sqlite => sqlite_sizes.iter().copied().find(|size| *size <= rest.len()).unwrap_or(1),
            Dialect::Postgres => rest.len().min(ROWS_PER_ARRAY),
        };
        let (chunk, tail) = rest.split_at(size);
        out.push(chunk);
        rest = tail;
    }
    out
}

/// Run `statement` over `rows` in a few multi-row statements: `statement` gets a chunk's
/// rows as a [`RowSource`] query, `fields` gives a row's arguments in column order. How
/// many rows the statements changed.
pub fn execute_rows<R, const N: usize>(
    db: &dyn Sql,
    rows: &[R],
    statement: impl Fn(&str) -> String,
    fields: impl for<'r> Fn(&'r R) -> [&'r dyn ToArg; N],
) -> Result<u64, StoreError> {
    let mut changed = 0;
    for chunk in chunks(db.dialect(), rows, &ROWS_PER_STATEMENT) {
        let source = RowSource::of(db.dialect(), chunk, &fields)?;
        let args: Vec<&dyn ToArg> = source.args.iter().map(|a| a as &dyn ToArg).collect();
        changed += db.execute(&statement(&source.rows), &args)?;
    }
    Ok(changed)
}

/// Rows per multi-row query on SQLite ([`query_rows`]): reads return what they find in
/// one answer each, so larger chunks than writes take, still of few sizes for the
/// statement cache.
const ROWS_PER_QUERY: [usize; 5] = [128, 32, 8, 2, 1];

/// Run the query `statement` over `rows` in a few multi-row statements and collect what
/// they return. `statement` gets a chunk's rows as a [`RowSource`] query and the number
/// of the first placeholder after it, where `fixed` is bound (the same for every chunk).
pub fn query_rows<R, const N: usize>(
    db: &dyn Sql,
    rows: &[R],
    fixed: &[&dyn ToArg],
    statement: impl Fn(&str, usize) -> String,
    fields: impl for<'r> Fn(&'r R) -> [&'r dyn ToArg; N],
) -> Result<Vec<Row>, StoreError> {
    let mut found = Vec::new();
    for chunk in chunks(db.dialect(), rows, &ROWS_PER_QUERY) {
        let source = RowSource::of(db.dialect(), chunk, &fields)?;
        let mut args: Vec<&dyn ToArg> = source.args.iter().map(|a| a as &dyn ToArg).collect();
        let next = args.len() + 1;
        args.extend_from_slice(fixed);
        found.extend(db.query(&statement(&source.rows, next), &args)?);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(row: &(String, Option<i64>)) -> [&dyn ToArg; 2] {
        [&row.0, &row.1]
    }

    #[test]
    fn sqlite_rows_are_a_values_list_with_an_argument_per_field() {
        let rows = vec![("a".to_string(), Some(1)), ("b".to_string(), None)];
        let source = RowSource::of(Dialect::Sqlite, &rows, &fields).unwrap();
        assert_eq!(source.rows, "VALUES (?1, ?2), (?3, ?4)");
        let args: Vec<Arg<'_>> = source.args.iter().map(|a| a.to_arg()).collect();
        assert!(matches!(args[..], [Arg::Text(Some("a")), Arg::Int(Some(1)), Arg::Text(Some("b")), Arg::Int(None)]));
    }

    #[test]
    fn postgres_rows_are_one_array_per_column_whatever_their_count() {
        let rows = vec![("a".to_string(), Some(1)), ("b".to_string(), None), ("c".to_string(), Some(3))];
        let source = RowSource::of(Dialect::Postgres, &rows, &fields).unwrap();
        assert_eq!(source.rows, "SELECT * FROM unnest(?1, ?2) AS u(column1, column2)");
        let args: Vec<Arg<'_>> = source.args.iter().map(|a| a.to_arg()).collect();
        match &args[..] {
            [Arg::Texts(texts), Arg::Ints(ints)] => {
                assert_eq!(*texts, &[Some("a"), Some("b"), Some("c")][..]);
                assert_eq!(*ints, &[Some(1), None, Some(3)][..]);
            }
            other => panic!("two arrays expected, got {other:?}"),
        }
        // Two rows bind the same statement text as three.
        let fewer = RowSource::of(Dialect::Postgres, &rows[..2], &fields).unwrap();
        assert_eq!(fewer.rows, source.rows);
    }

    #[test]
    fn a_column_of_mixed_types_or_no_rows_is_refused() {
        struct Mixed(bool);
        impl ToArg for Mixed {
            fn to_arg(&self) -> Arg<'_> {
                if self.0 { Arg::Int(Some(1)) } else { Arg::Text(Some("x")) }
            }
        }
        let rows = vec![Mixed(true), Mixed(false)];
        fn one(row: &Mixed) -> [&dyn ToArg; 1] {
            [row]
        }
        assert!(matches!(RowSource::of(Dialect::Postgres, &rows, &one), Err(StoreError::RowArgument(_))));
        let none: Vec<Mixed> = Vec::new();
        assert!(matches!(RowSource::of(Dialect::Postgres, &none, &one), Err(StoreError::RowArgument(_))));
    }

    #[test]
    fn postgres_chunks_are_large_and_sqlite_chunks_take_few_sizes() {
        let rows: Vec<u32> = (0..1100).collect();
        let sizes = |d| chunks(d, &rows, &ROWS_PER_STATEMENT).iter().map(|c| c.len()).collect::<Vec<_>>();
        assert_eq!(sizes(Dialect::Postgres), [ROWS_PER_ARRAY, 1100 - ROWS_PER_ARRAY]);
        let sqlite = sizes(Dialect::Sqlite);
        assert_eq!(sqlite.iter().sum::<usize>(), 1100);
        assert!(sqlite.iter().all(|s| ROWS_PER_STATEMENT.contains(s)), "{sqlite:?}");
    }
}
