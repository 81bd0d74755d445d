//! Multi-row inserts, written once for both stores.
//!
//! A caller names the table's columns and their types, then binds every row's values in
//! column order, as it would bind a multi-row `VALUES`:
//!
//! ```text
//! let mut b = Bulk::new(backend, "INSERT INTO t (a, n)", &[Col::Text, Col::BigInt], rows.len(), "");
//! for r in rows { b = b.bind(r.a.clone()).bind(r.n); }
//! b.query().execute(&mut *tx).await?;
//! ```
//!
//! On SQLite that is what it becomes: `VALUES (?, ?), (?, ?), …`, prepared for this one
//! execution ([`super::built`]). On PostgreSQL the values go by column instead, one array
//! parameter each, `SELECT * FROM unnest($1::text[], $2::bigint[])`: a thousand grants of 24
//! columns are 24 parameters, not 24,000, and the statement's text is the same for every chunk,
//! so the server parses and plans it once per connection — where it parsed and planned each
//! 24,000-parameter `VALUES` anew (5 and 10 ms a chunk: 4.5 s of 300,000 grants' import).
//! sqlx's `Any` driver has no array parameters, so an array goes as the text PostgreSQL reads
//! arrays from (`{"a","b",NULL}`), cast by the statement.

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::{Backend, built, or_fail, values_placeholders};

/// A column's type, as the PostgreSQL array of it is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    Text,
    BigInt,
}

impl Col {
    fn pg_array(self) -> &'static str {
        match self {
            Col::Text => "text[]",
            Col::BigInt => "bigint[]",
        }
    }
}

/// One multi-row insert being bound (see the module's doc).
pub(crate) struct Bulk<'q> {
    inner: Inner<'q>,
}

enum Inner<'q> {
    Sqlite(Query<'q, Any, AnyArguments>),
    /// The statement, one array's text per column (each begun with `{`), how many values are
    /// bound so far (the next one is for column `bound % arrays.len()`), and how many the rows
    /// make.
    Postgres { sql: String, arrays: Vec<String>, bound: usize, expected: usize },
}

impl<'q> Bulk<'q> {
    /// `head` is `INSERT INTO t (a, b, …)` naming `cols.len()` columns; `tail` follows the rows
    /// (`""`, or ` ON CONFLICT …`); `rows` is how many rows will be bound.
    pub(crate) fn new(backend: Backend, head: &str, cols: &[Col], rows: usize, tail: &str) -> Bulk<'q> {
        let inner = match backend {
            // `INSERT OR FAIL`: no statement journal ([`or_fail`]).
            Backend::Sqlite => {
                Inner::Sqlite(built(format!("{} VALUES {}{tail}", or_fail(backend, head), values_placeholders(backend, rows, cols.len()))))
            }
            Backend::Postgres => {
                let params: Vec<String> = cols.iter().enumerate().map(|(i, c)| format!("${}::{}", i + 1, c.pg_array())).collect();
                Inner::Postgres {
                    sql: format!("{head} SELECT * FROM unnest({}){tail}", params.join(", ")),
                    arrays: cols.iter().map(|_| String::from("{")).collect(),
                    bound: 0,
                    expected: rows * cols.len(),
                }
            }
        };
        Bulk { inner }
    }

    /// The next value, row by row and within a row in the order of the columns. Every row
    /// binds every column: SQLite refuses a statement short of values, and `unnest` would pad
    /// a short column with NULLs, so on PostgreSQL the count is checked too (in debug builds,
    /// which the tests run).
    pub(crate) fn bind<V: BulkValue>(self, value: V) -> Bulk<'q> {
        let inner = match self.inner {
            Inner::Sqlite(q) => Inner::Sqlite(value.bind_to(q)),
            Inner::Postgres { sql, mut arrays, bound, expected } => {
                let columns = arrays.len();
                let array = &mut arrays[bound % columns];
                if array.len() > 1 {
                    array.push(',');
                }
                value.push_element(array);
                Inner::Postgres { sql, arrays, bound: bound + 1, expected }
            }
        };
        Bulk { inner }
    }

    /// The statement with everything bound, to execute.
    pub(crate) fn query(self) -> Query<'q, Any, AnyArguments> {
        match self.inner {
            Inner::Sqlite(q) => q,
            Inner::Postgres { sql, arrays, bound, expected } => {
                debug_assert_eq!(bound, expected, "{sql}: {bound} values bound for {expected}");
                // The text is the same for every chunk: kept prepared on the connection.
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for mut a in arrays {
                    a.push('}');
                    q = q.bind(a);
                }
                q
            }
        }
    }
}

/// A value a [`Bulk`] insert takes: bound as itself on SQLite, written as an array element on
/// PostgreSQL.
pub(crate) trait BulkValue {
    fn bind_to<'q>(self, q: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments>;
    fn push_element(&self, array: &mut String);
}

/// A PostgreSQL `text[]` of these values, as the text PostgreSQL reads arrays from (`{"a","b"}`),
/// for a statement that casts its parameter (`$2::text[]`).
pub(crate) fn text_array<K: AsRef<str>>(values: &[K]) -> String {
    let mut array = String::from("{");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            array.push(',');
        }
        push_text(&mut array, v.as_ref());
    }
    array.push('}');
    array
}

/// A text element of a PostgreSQL array: always quoted (so that `NULL`, commas, braces and
/// spaces are the text itself), with `"` and `\` escaped by a backslash.
fn push_text(array: &mut String, s: &str) {
    array.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            array.push('\\');
        }
        array.push(c);
    }
    array.push('"');
}

impl BulkValue for String {
    fn bind_to<'q>(self, q: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments> {
        q.bind(self)
    }
    fn push_element(&self, array: &mut String) {
        push_text(array, self);
    }
}

impl BulkValue for &str {
    fn bind_to<'q>(self, q: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments> {
        q.bind(self.to_string())
    }
    fn push_element(&self, array: &mut String) {
        push_text(array, self);
    }
}

impl BulkValue for i64 {
    fn bind_to<'q>(self, q: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments> {
        q.bind(self)
    }
    fn push_element(&self, array: &mut String) {
        use std::fmt::Write;
        let _ = write!(array, "{self}");
    }
}

/// A nullable text or number: `NULL` on either store.
macro_rules! nullable {
    ($t:ty) => {
        impl BulkValue for Option<$t> {
            fn bind_to<'q>(self, q: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments> {
                q.bind(self)
            }
            fn push_element(&self, array: &mut String) {
                match self {
                    Some(v) => v.push_element(array),
                    None => array.push_str("NULL"),
                }
            }
        }
    };
}
nullable!(String);
nullable!(i64);

#[cfg(test)]
mod tests {
    use super::*;

    fn arrays(b: Bulk<'_>) -> (String, Vec<String>) {
        match b.inner {
            Inner::Postgres { sql, arrays, .. } => (sql, arrays.into_iter().map(|a| a + "}").collect()),
            Inner::Sqlite(_) => unreachable!(),
        }
    }

    #[test]
    fn on_postgres_each_column_is_one_array_of_its_rows() {
        let b = Bulk::new(Backend::Postgres, "INSERT INTO t (a, n, o)", &[Col::Text, Col::BigInt, Col::Text], 2, " ON CONFLICT (a) DO NOTHING")
            .bind("x")
            .bind(1i64)
            .bind(None::<String>)
            .bind(String::from("y"))
            .bind(-2i64)
            .bind(Some(String::from("z")));
        let (sql, arrays) = arrays(b);
        assert_eq!(sql, "INSERT INTO t (a, n, o) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) ON CONFLICT (a) DO NOTHING");
        assert_eq!(arrays, ["{\"x\",\"y\"}", "{1,-2}", "{NULL,\"z\"}"]);
    }

    #[test]
    fn on_sqlite_the_rows_are_values_of_an_insert_or_fail() {
        let b = Bulk::new(Backend::Sqlite, "INSERT INTO t (a, n)", &[Col::Text, Col::BigInt], 2, " ON CONFLICT (a) DO NOTHING");
        let Inner::Sqlite(q) = b.inner else { unreachable!() };
        use sqlx::Execute;
        assert_eq!(q.sql().as_str(), "INSERT OR FAIL INTO t (a, n) VALUES (?,?),(?,?) ON CONFLICT (a) DO NOTHING");
    }

    #[test]
    #[should_panic(expected = "5 values bound for 6")]
    #[cfg(debug_assertions)]
    fn a_row_short_of_a_value_is_caught_before_postgresql_pads_it() {
        let _ = Bulk::new(Backend::Postgres, "INSERT INTO t (a, b)", &[Col::Text; 2], 3, "").bind("1").bind("2").bind("3").bind("4").bind("5").query();
    }

    #[test]
    fn text_that_looks_like_array_syntax_stays_text() {
        let b = Bulk::new(Backend::Postgres, "INSERT INTO t (a)", &[Col::Text], 5, "")
            .bind("NULL")
            .bind("a,\"b\"}")
            .bind("back\\slash")
            .bind("")
            .bind("张三 {x}");
        assert_eq!(arrays(b).1, [r#"{"NULL","a,\"b\"}","back\\slash","","张三 {x}"}"#]);
        // A look-up's keys go as the same text (`ByKeys`).
        assert_eq!(text_array(&["NULL", "a,\"b\"}", "back\\slash", "", "张三 {x}"]), r#"{"NULL","a,\"b\"}","back\\slash","","张三 {x}"}"#);
    }
}
