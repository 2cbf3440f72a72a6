//! Batched token writes and reads. Each issued token is one row; written one by one, every row
//! costs a statement and a commit (a WAL append on SQLite, a round trip on PostgreSQL), and every
//! lookup a statement (a hand-over to SQLite's worker thread, or a round trip). Requests that
//! arrive together are served together: one writer takes whatever is queued (up to [`MAX_BATCH`]
//! rows) and inserts it in one statement — group commit — then answers each caller; one reader
//! looks up the queued hashes with one `SELECT … WHERE hash IN (…)`. Nothing is acknowledged
//! before its commit, so a token a client received is a token the store keeps.

use std::collections::HashMap;

use ostiary_server::store::{Redeem, StoreError, StoreResult, TokenRecord};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection as _, Row as _};
use tokio::sync::{mpsc, oneshot};

use crate::{Engine, Retry, Store, corrupt, flag, unavailable};

/// Writes (a token or a pair, 13 parameters a row) or lookups per batch: far below SQLite's and
/// PostgreSQL's limits of parameters per statement.
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

/// A write the writer task does: its rows all or none, after spending its item if it has one.
struct Write {
    spend: Option<Spend>,
    rows: Vec<Row>,
    /// False when the item was spent before (nothing written).
    done: oneshot::Sender<StoreResult<bool>>,
}

/// A single-use item to spend, with the time to record.
struct Spend {
    item: Item,
    hash: String,
    now: i64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Item {
    Code,
    RefreshToken,
}

impl Spend {
    /// Takes the spending back (in the same transaction), when what it paid for was refused.
    async fn undo(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let sql = match self.item {
            Item::Code => "UPDATE codes SET used_at = NULL WHERE hash = $1",
            Item::RefreshToken => "UPDATE tokens SET used_at = NULL WHERE hash = $1",
        };
        sqlx::query(sql)
            .bind(self.hash.as_str())
            .execute(conn)
            .await
            .map(drop)
    }
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

    /// Inserts `tokens`, all or none; returns once they are committed.
    pub async fn insert(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
        self.write(None, tokens).await.map(drop)
    }

    /// Spends `item` and inserts `tokens` in one commit; false (nothing written) when the item
    /// was spent before.
    pub async fn redeem(
        &self,
        item: Redeem<'_>,
        now: i64,
        tokens: &[TokenRecord],
    ) -> StoreResult<bool> {
        let (item, hash) = match item {
            Redeem::Code(hash) => (Item::Code, hash),
            Redeem::RefreshToken(hash) => (Item::RefreshToken, hash),
        };
        let hash = hash.to_owned();
        self.write(Some(Spend { item, hash, now }), tokens).await
    }

    async fn write(&self, spend: Option<Spend>, tokens: &[TokenRecord]) -> StoreResult<bool> {
        let rows = tokens.iter().map(Row::new).collect::<StoreResult<_>>()?;
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Write { spend, rows, done })
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
        let outcome = match writer_connection(&pool, &mut connection).await {
            Ok(conn) => write(conn, engine, &batch).await.map_err(unavailable),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(outcomes) => {
                for (write, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = write.done.send(outcome);
                }
            }
            Err(e) => {
                // Nothing of the batch was committed; a broken connection is replaced.
                connection = None;
                let message = e.to_string();
                for write in batch.drain(..) {
                    let _ = write
                        .done
                        .send(Err(StoreError::Unavailable(message.clone())));
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
/// items spent, then the rows of every write that may go inserted, in one transaction when
/// something is spent; rows alone need none, one statement commits by itself. A write whose key
/// is taken is left out (its item not spent), and only its caller hears of it; an error of the
/// batch itself (a lost connection, a failed commit) is every caller's, and then nothing of the
/// batch was committed. A transaction PostgreSQL undid to resolve a conflict with another is run
/// again ([`Retry`]).
async fn write(
    conn: &mut AnyConnection,
    engine: Engine,
    writes: &[Write],
) -> Result<Vec<StoreResult<bool>>, sqlx::Error> {
    if writes.iter().all(|w| w.spend.is_none()) {
        let units: Vec<&[Row]> = writes.iter().map(|w| w.rows.as_slice()).collect();
        let inserted = insert_each(conn, engine, &units, false).await?;
        return Ok(inserted.into_iter().map(|i| i.map(|()| true)).collect());
    }
    let mut retry = Retry::default();
    loop {
        match spend_and_insert(conn, engine, writes).await {
            Err(e) if retry.again(&e).await => continue,
            outcome => return outcome,
        }
    }
}

/// The items of `writes` spent and their rows inserted, in one transaction.
async fn spend_and_insert(
    conn: &mut AnyConnection,
    engine: Engine,
    writes: &[Write],
) -> Result<Vec<StoreResult<bool>>, sqlx::Error> {
    let mut outcomes: Vec<StoreResult<bool>> = writes.iter().map(|_| Ok(true)).collect();
    let mut tx = conn.begin().await?;
    for item in [Item::Code, Item::RefreshToken] {
        spend(&mut tx, engine, writes, item, &mut outcomes).await?;
    }
    // The rows of the writes that may go: everyone's but those whose item was spent before.
    let going: Vec<usize> = (0..writes.len())
        .filter(|&i| matches!(outcomes[i], Ok(true)))
        .collect();
    let units: Vec<&[Row]> = going.iter().map(|&i| writes[i].rows.as_slice()).collect();
    let inserted = insert_each(&mut tx, engine, &units, true).await?;
    for (&i, inserted) in going.iter().zip(inserted) {
        if let Err(e) = inserted {
            if let Some(spend) = &writes[i].spend {
                spend.undo(&mut tx).await?;
            }
            outcomes[i] = Err(e);
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Spends the items of kind `item` that `writes` carry, in one statement (on the writer's own
/// connection: from another, SQLite's lock would make it wait in sleeps of milliseconds). A write
/// whose item was spent before, or is spent by an earlier write of this batch, has lost.
async fn spend(
    conn: &mut AnyConnection,
    engine: Engine,
    writes: &[Write],
    item: Item,
    outcomes: &mut [StoreResult<bool>],
) -> Result<(), sqlx::Error> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut now = 0;
    for (i, spend) in writes
        .iter()
        .enumerate()
        .filter_map(|(i, w)| Some((i, w.spend.as_ref()?)))
    {
        if spend.item != item {
            continue;
        }
        now = now.max(spend.now);
        if first.contains_key(spend.hash.as_str()) {
            outcomes[i] = Ok(false);
        } else {
            first.insert(&spend.hash, i);
        }
    }
    if first.is_empty() {
        return Ok(());
    }
    let (table, unspent) = match item {
        Item::Code => ("codes", "used_at IS NULL"),
        Item::RefreshToken => (
            "tokens",
            "kind = 'refresh' AND used_at IS NULL AND revoked = 0",
        ),
    };
    let sql = format!(
        "UPDATE {table} SET used_at = {} WHERE {unspent} AND hash IN ({}) RETURNING hash",
        parameters(engine, 1, 1),
        parameters(engine, 2, first.len())
    );
    let hashes: Vec<&str> = first.keys().copied().collect();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
    for hash in &hashes {
        query = query.bind(*hash);
    }
    let rows = query.fetch_all(conn).await?;
    let mut spent = std::collections::HashSet::with_capacity(rows.len());
    for row in &rows {
        spent.insert(row.try_get::<String, _>("hash")?);
    }
    for hash in hashes {
        outcomes[first[hash]] = Ok(spent.contains(hash));
    }
    Ok(())
}

/// Inserts the rows of `units` in one statement, or, when a key is taken (which fails the whole
/// statement), each unit's rows alone. Inside a transaction each attempt has a savepoint,
/// because on PostgreSQL a failed statement fails the transaction. An attempt PostgreSQL undid
/// to resolve a conflict with another transaction is made again: it committed nothing, or its
/// savepoint took it back.
async fn insert_each(
    conn: &mut AnyConnection,
    engine: Engine,
    units: &[&[Row]],
    in_transaction: bool,
) -> Result<Vec<StoreResult<()>>, sqlx::Error> {
    let attempt = async |conn: &mut AnyConnection, rows: &[&Row]| {
        let mut retry = Retry::default();
        loop {
            match insert_once(conn, engine, rows, in_transaction).await {
                Err(e) if retry.again(&e).await => continue,
                outcome => return outcome,
            }
        }
    };
    let taken =
        |e: &sqlx::Error| matches!(e, sqlx::Error::Database(db) if db.is_unique_violation());
    let every_row: Vec<&Row> = units.iter().flat_map(|unit| unit.iter()).collect();
    if every_row.is_empty() {
        return Ok(units.iter().map(|_| Ok(())).collect());
    }
    match attempt(conn, &every_row).await {
        Ok(()) => Ok(units.iter().map(|_| Ok(())).collect()),
        Err(e) if taken(&e) && units.len() > 1 => {
            let mut inserted = Vec::with_capacity(units.len());
            for unit in units {
                match attempt(conn, &unit.iter().collect::<Vec<_>>()).await {
                    Ok(()) => inserted.push(Ok(())),
                    Err(e) if taken(&e) => inserted.push(Err(StoreError::Conflict)),
                    Err(e) => return Err(e),
                }
            }
            Ok(inserted)
        }
        Err(e) if taken(&e) => Ok(vec![Err(StoreError::Conflict)]),
        Err(e) => Err(e),
    }
}

/// Inserts `rows`, inside a savepoint when `in_transaction`.
async fn insert_once(
    conn: &mut AnyConnection,
    engine: Engine,
    rows: &[&Row],
    in_transaction: bool,
) -> Result<(), sqlx::Error> {
    if !in_transaction {
        return insert(conn, engine, rows).await;
    }
    let mut savepoint = conn.begin().await?;
    match insert(&mut savepoint, engine, rows).await {
        Ok(()) => savepoint.commit().await,
        Err(e) => {
            savepoint.rollback().await?;
            Err(e)
        }
    }
}

/// `INSERT INTO tokens … VALUES (…), (…), …` of `rows`.
async fn insert(
    conn: &mut AnyConnection,
    engine: Engine,
    rows: &[&Row],
) -> Result<(), sqlx::Error> {
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
    query.execute(conn).await.map(drop)
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
