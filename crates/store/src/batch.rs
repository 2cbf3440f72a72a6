//! Batched token writes and reads. Each issued token is one row; written one by one, every row
//! costs a statement and a commit (a WAL append on SQLite, a round trip on PostgreSQL), and every
//! lookup a statement (a hand-over to SQLite's worker thread, or a round trip). Requests that
//! arrive together are served together: one writer takes whatever is queued (up to [`MAX_BATCH`]
//! rows) and inserts it in one statement — group commit — then answers each caller; one reader
//! looks up the queued hashes with one `SELECT … WHERE hash IN (…)`. Nothing is acknowledged
//! before its commit, so a token a client received is a token the store keeps.

use std::collections::HashMap;

use ostiary_server::store::{StoreError, StoreResult, TokenRecord};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection as _, Row as _};
use tokio::sync::{mpsc, oneshot};

use crate::{Engine, Store, corrupt, flag, unavailable};

/// Rows per statement: 13 parameters each, far below SQLite's and PostgreSQL's limits.
const MAX_BATCH: usize = 64;
const COLUMNS: usize = 13;

/// A token row, its values ready to bind.
struct Row {
    hash: String,
    kind: &'static str,
    client_id: String,
    username: Option<String>,
    scope: String,
    family: String,
    grant_id: Option<String>,
    jti: String,
    audience: String,
    issued_at: i64,
    expires_at: i64,
    revoked: i64,
    extra: String,
}

impl Row {
    fn new(t: &TokenRecord) -> StoreResult<Self> {
        Ok(Row {
            hash: t.hash.clone(),
            kind: t.kind.as_str(),
            client_id: t.client_id.clone(),
            username: t.username.clone(),
            scope: t.scope.clone(),
            family: t.family.clone(),
            grant_id: t.grant_id.clone(),
            jti: t.jti.clone(),
            audience: serde_json::to_string(&t.audience).map_err(corrupt)?,
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            revoked: flag(t.revoked),
            extra: serde_json::to_string(&t.extra).map_err(corrupt)?,
        })
    }
}

/// A write the writer task does.
enum Write {
    /// A token row, inserted with the rest of its batch in one statement.
    Insert {
        row: Box<Row>,
        done: oneshot::Sender<StoreResult<()>>,
    },
    /// Marks a refresh token used (its row if this call did). On the writer's own connection:
    /// from another, SQLite's lock would make it wait in sleeps of milliseconds.
    UseRefresh {
        hash: String,
        now: i64,
        done: oneshot::Sender<StoreResult<Option<TokenRecord>>>,
    },
}

/// The queue in front of the one writer task.
#[derive(Clone, Debug)]
pub(crate) struct TokenWriter {
    queue: mpsc::UnboundedSender<Write>,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the token writer has stopped".into())
}

impl TokenWriter {
    /// Starts the writer on the current Tokio runtime; it ends when the last store clone goes.
    pub fn start(pool: AnyPool, engine: Engine) -> Self {
        let (queue, writes) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(pool, engine, writes));
        TokenWriter { queue }
    }

    /// Inserts `token`; returns once the row is committed.
    pub async fn insert(&self, token: &TokenRecord) -> StoreResult<()> {
        let (done, outcome) = oneshot::channel();
        let row = Box::new(Row::new(token)?);
        self.queue
            .send(Write::Insert { row, done })
            .map_err(|_| stopped())?;
        outcome.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Marks the refresh token stored under `hash` used, if it was not; its row when this call
    /// did (one of concurrent callers wins).
    pub async fn use_refresh_token(
        &self,
        hash: &str,
        now: i64,
    ) -> StoreResult<Option<TokenRecord>> {
        let (done, outcome) = oneshot::channel();
        let hash = hash.to_owned();
        self.queue
            .send(Write::UseRefresh { hash, now, done })
            .map_err(|_| stopped())?;
        outcome.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn write_batches(pool: AnyPool, engine: Engine, mut queue: mpsc::UnboundedReceiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The writer keeps one connection: SQLite then keeps its page cache (another connection's
    // commit would empty it), and PostgreSQL its prepared statements. Dropped after an error,
    // so that a broken connection is replaced.
    let mut connection: Option<PoolConnection<Any>> = None;
    while next_batch(&mut queue, &mut batch).await {
        let mut refreshes = Vec::new();
        let mut inserts = Vec::with_capacity(batch.len());
        for write in batch.drain(..) {
            match write {
                Write::Insert { row, done } => inserts.push((row, done)),
                Write::UseRefresh { hash, now, done } => refreshes.push((hash, now, done)),
            }
        }
        let uses: Vec<(&str, i64)> = refreshes
            .iter()
            .map(|(h, now, _)| (h.as_str(), *now))
            .collect();
        let rows: Vec<&Row> = inserts.iter().map(|(row, _)| row.as_ref()).collect();
        let outcome = match writer_connection(&pool, &mut connection).await {
            Ok(conn) => write(conn, engine, &uses, &rows).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok((used, inserted)) => {
                for ((_, _, done), outcome) in refreshes.into_iter().zip(used) {
                    let _ = done.send(outcome);
                }
                for ((_, done), outcome) in inserts.into_iter().zip(inserted) {
                    let _ = done.send(outcome);
                }
            }
            Err(e) => {
                // Nothing of the batch was committed; a broken connection is replaced.
                connection = None;
                let message = e.to_string();
                for (_, _, done) in refreshes {
                    let _ = done.send(Err(StoreError::Unavailable(message.clone())));
                }
                for (_, done) in inserts {
                    let _ = done.send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
}

/// The writer's connection, opened again after an error dropped it.
async fn writer_connection<'c>(
    pool: &AnyPool,
    connection: &'c mut Option<PoolConnection<Any>>,
) -> StoreResult<&'c mut PoolConnection<Any>> {
    Ok(match connection {
        Some(conn) => conn,
        None => connection.insert(pool.acquire().await.map_err(unavailable)?),
    })
}

/// One batch, committed once (one WAL sync on SQLite, one round trip's wait on PostgreSQL): the
/// refresh tokens marked used, then the rows inserted, in one transaction when there are both;
/// rows alone need none, one statement commits by itself. A row whose key is taken is left out,
/// and only its caller hears of it; an error of the batch itself (a lost connection, a failed
/// commit) is every caller's, and then nothing of the batch was committed.
async fn write(
    conn: &mut AnyConnection,
    engine: Engine,
    refreshes: &[(&str, i64)],
    rows: &[&Row],
) -> StoreResult<(Vec<StoreResult<Option<TokenRecord>>>, Vec<StoreResult<()>>)> {
    if refreshes.is_empty() {
        return Ok((Vec::new(), insert_each(conn, engine, rows, false).await?));
    }
    let mut tx = conn.begin().await.map_err(unavailable)?;
    let mut used = Vec::with_capacity(refreshes.len());
    for (hash, now) in refreshes {
        let row = sqlx::query(concat!(
            "UPDATE tokens SET used_at = $1 WHERE hash = $2 AND kind = 'refresh' AND used_at IS NULL RETURNING ",
            token_columns!()
        ))
        .bind(now)
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?;
        used.push(row.as_ref().map(Store::token_from_row).transpose());
    }
    let inserted = insert_each(&mut tx, engine, rows, true).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok((used, inserted))
}

/// Inserts `rows` in one statement, or, when a key is taken (which fails the whole statement),
/// each row alone. Inside a transaction each attempt has a savepoint, because on PostgreSQL a
/// failed statement fails the transaction.
async fn insert_each(
    conn: &mut AnyConnection,
    engine: Engine,
    rows: &[&Row],
    in_transaction: bool,
) -> StoreResult<Vec<StoreResult<()>>> {
    let attempt = async |conn: &mut AnyConnection, rows: &[&Row]| {
        if !in_transaction {
            return insert(conn, engine, rows).await;
        }
        let mut savepoint = conn.begin().await.map_err(unavailable)?;
        match insert(&mut savepoint, engine, rows).await {
            Ok(()) => savepoint.commit().await.map_err(unavailable),
            Err(e) => {
                savepoint.rollback().await.map_err(unavailable)?;
                Err(e)
            }
        }
    };
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    match attempt(conn, rows).await {
        Ok(()) => Ok(rows.iter().map(|_| Ok(())).collect()),
        Err(StoreError::Conflict) if rows.len() > 1 => {
            let mut inserted = Vec::with_capacity(rows.len());
            for row in rows {
                match attempt(conn, &[row]).await {
                    Err(e @ StoreError::Unavailable(_)) => return Err(e),
                    outcome => inserted.push(outcome),
                }
            }
            Ok(inserted)
        }
        Err(StoreError::Conflict) => Ok(vec![Err(StoreError::Conflict)]),
        Err(e) => Err(e),
    }
}

/// `INSERT INTO tokens … VALUES (…), (…), …` of `rows`.
async fn insert(conn: &mut AnyConnection, engine: Engine, rows: &[&Row]) -> StoreResult<()> {
    let sql = statement(engine, rows.len());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rows {
        query = query
            .bind(r.hash.as_str())
            .bind(r.kind)
            .bind(r.client_id.as_str())
            .bind(r.username.as_deref())
            .bind(r.scope.as_str())
            .bind(r.family.as_str())
            .bind(r.grant_id.as_deref())
            .bind(r.jti.as_str())
            .bind(r.audience.as_str())
            .bind(r.issued_at)
            .bind(r.expires_at)
            .bind(r.revoked)
            .bind(r.extra.as_str());
    }
    query.execute(conn).await.map(drop).map_err(unavailable)
}

/// The queue in front of the one reader task.
#[derive(Clone, Debug)]
pub(crate) struct TokenReader {
    queue: mpsc::UnboundedSender<Lookup>,
}

struct Lookup {
    hash: String,
    done: oneshot::Sender<StoreResult<Option<TokenRecord>>>,
}

impl TokenReader {
    /// Starts the reader on the current Tokio runtime; it ends when the last store clone goes.
    pub fn start(pool: AnyPool, engine: Engine) -> Self {
        let (queue, lookups) = mpsc::unbounded_channel();
        tokio::spawn(read_batches(pool, engine, lookups));
        TokenReader { queue }
    }

    /// The token stored under `hash`.
    pub async fn token(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Lookup {
                hash: hash.to_owned(),
                done,
            })
            .map_err(|_| stopped())?;
        outcome.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn read_batches(pool: AnyPool, engine: Engine, mut queue: mpsc::UnboundedReceiver<Lookup>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while next_batch(&mut queue, &mut batch).await {
        let sql = format!(
            concat!(
                "SELECT ",
                token_columns!(),
                " FROM tokens WHERE hash IN ({})"
            ),
            parameters(engine, 1, batch.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for lookup in &batch {
            query = query.bind(lookup.hash.as_str());
        }
        match query.fetch_all(&pool).await {
            Ok(rows) => {
                let mut found: HashMap<String, StoreResult<TokenRecord>> = HashMap::new();
                for row in &rows {
                    let hash: String = row.try_get("hash").unwrap_or_default();
                    found.insert(hash, Store::token_from_row(row));
                }
                for lookup in batch.drain(..) {
                    let outcome = match found.get(&lookup.hash) {
                        None => Ok(None),
                        Some(Ok(record)) => Ok(Some(record.clone())),
                        Some(Err(e)) => Err(StoreError::Corrupt(e.to_string())),
                    };
                    let _ = lookup.done.send(outcome);
                }
            }
            Err(e) => {
                let message = unavailable(e).to_string();
                for lookup in batch.drain(..) {
                    let _ = lookup
                        .done
                        .send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
}

/// Waits for the next item, then takes what else is queued, up to [`MAX_BATCH`]; false when every
/// sender is gone.
async fn next_batch<T>(queue: &mut mpsc::UnboundedReceiver<T>, batch: &mut Vec<T>) -> bool {
    if queue.recv_many(batch, MAX_BATCH).await == 0 {
        return false;
    }
    // Let the requests that are ready to run reach the queue first: woken by the first item, this
    // task would otherwise run next and serve batches of one or two.
    while batch.len() < MAX_BATCH {
        tokio::task::yield_now().await;
        let before = batch.len();
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        if batch.len() == before {
            break;
        }
    }
    true
}

/// `count` parameters, numbered from `first` on PostgreSQL.
fn parameters(engine: Engine, first: usize, count: usize) -> String {
    let mut list = Vec::with_capacity(count);
    for n in first..first + count {
        list.push(match engine {
            Engine::Sqlite => "?".to_owned(),
            Engine::Postgres => format!("${n}"),
        });
    }
    list.join(", ")
}

/// `INSERT INTO tokens … VALUES (…), (…), …` for `count` rows. SQLite gets anonymous `?`
/// parameters: binding to numbered ones looks each number up in a list, quadratic in a batch.
fn statement(engine: Engine, count: usize) -> String {
    let mut sql = String::from(concat!(
        "INSERT INTO tokens (",
        token_columns!(),
        ") VALUES "
    ));
    let rows: Vec<String> = (0..count)
        .map(|row| format!("({})", parameters(engine, row * COLUMNS + 1, COLUMNS)))
        .collect();
    sql.push_str(&rows.join(", "));
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_statement_has_a_parameter_per_value() {
        let sql = super::statement(super::Engine::Postgres, 2);
        assert!(sql.ends_with("($14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"));
        assert_eq!(sql.matches('$').count(), 26);
        let sql = super::statement(super::Engine::Sqlite, 3);
        assert!(sql.ends_with("), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
        assert_eq!(sql.matches('?').count(), 39);
    }
}
