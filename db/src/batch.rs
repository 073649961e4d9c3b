//! Plans for the scheduler's batch statements, which look rows up by primary key from an
//! array of up to a few thousand keys.
//!
//! Left to itself the planner prices such a batch as a hash join over a sequential scan
//! whenever it believes the table small (its statistics lag a table that grows by the
//! second: `execution_logs` during a burst) or the batch a fair share of the table (1,000
//! of 100,000 jobs). Then every batch reads the whole table, and the cost of a batch grows
//! with the table: in a burst of 100,000 runs, closing runs and storing next fire times
//! took about 60 µs per row. Probing the primary key instead takes a few µs per row
//! whatever the table's size, so these statements run with sequential scans priced out,
//! for their own transaction only.

use diesel::QueryResult;
use diesel_async::methods::LoadQuery;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// Prices sequential scans out for the rest of the current transaction, so tables are
/// probed by key (`set_config(…, true)` is `SET LOCAL`: nothing outlives the transaction,
/// and the pooled connection goes back to the API unchanged). Called inside a caller's
/// transaction (a savepoint), the setting lasts until that outer transaction ends.
///
/// Hash joins stay allowed: the statements also join their key arrays with each other,
/// and a nested loop there is quadratic (143 ms for 1,000 next fire times with hash joins
/// off, 10 ms with them on).
pub(crate) async fn probe_by_key(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT set_config('enable_seqscan', 'off', true)")
        .execute(conn)
        .await
        .map(drop)
}

/// Like [`probe_by_key`], and nested loops only, for statements that join one key array
/// with the runs: the runs are partitioned by week, and the planner prices a probe as one
/// in every partition (it cannot know that each key names its week), so left to itself it
/// reads whole indexes instead. In a nested loop each run is probed in its own week only.
/// Such statements must not give the planner an index to drive them by (their status
/// checks are written as `NOT IN`).
pub(crate) async fn probe_partitions_by_key(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT set_config('enable_seqscan', 'off', true), \
                set_config('enable_hashjoin', 'off', true), \
                set_config('enable_mergejoin', 'off', true)",
    )
    .execute(conn)
    .await
    .map(drop)
}

/// Loads `query` (runs picked by id and slot) in its own transaction, probed by key in
/// their weeks' partitions (see [`probe_partitions_by_key`]).
pub(crate) async fn load_from_partitions<Q, U>(
    conn: &mut AsyncPgConnection,
    query: Q,
) -> QueryResult<Vec<U>>
where
    Q: LoadQuery<'static, AsyncPgConnection, U> + Send + 'static,
    U: Send + 'static,
{
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        probe_partitions_by_key(conn).await?;
        query.load(conn).await
    })
    .await
}

/// Runs `query` (a write to runs picked by id and slot) like [`load_from_partitions`].
pub(crate) async fn execute_in_partitions<Q>(
    conn: &mut AsyncPgConnection,
    query: Q,
) -> QueryResult<usize>
where
    Q: diesel_async::methods::ExecuteDsl<AsyncPgConnection> + Send + 'static,
{
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        probe_partitions_by_key(conn).await?;
        query.execute(conn).await
    })
    .await
}

/// Loads `query` (a batch of rows picked by key) in its own transaction, probed by key.
/// The query must own its keys (`eq_any` over a `Vec`): it outlives the caller's borrow.
pub(crate) async fn load_by_key<Q, U>(conn: &mut AsyncPgConnection, query: Q) -> QueryResult<Vec<U>>
where
    Q: LoadQuery<'static, AsyncPgConnection, U> + Send + 'static,
    U: Send + 'static,
{
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        probe_by_key(conn).await?;
        query.load(conn).await
    })
    .await
}
