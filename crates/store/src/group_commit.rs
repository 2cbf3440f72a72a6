//! Group commit of token inserts. Each issued token is one row; written one by one, every row
//! costs a statement and a commit (a WAL append on SQLite, a round trip on PostgreSQL). Requests
//! that arrive together are written together: one writer takes whatever is queued (up to
//! [`MAX_BATCH`] rows) and inserts it in one statement, then answers each caller. Nothing is
//! acknowledged before its commit, so a token a client received is a token the store keeps.

use ostiary_server::store::{StoreError, StoreResult, TokenRecord};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool};
use tokio::sync::{mpsc, oneshot};

use crate::{Engine, corrupt, flag, unavailable};

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

struct Pending {
    row: Row,
    done: oneshot::Sender<StoreResult<()>>,
}

/// The queue in front of the one writer task.
#[derive(Clone, Debug)]
pub(crate) struct TokenWriter {
    queue: mpsc::UnboundedSender<Pending>,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the token writer has stopped".into())
}

impl TokenWriter {
    /// Starts the writer on the current Tokio runtime; it ends when the last store clone goes.
    pub fn start(pool: AnyPool, engine: Engine) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(pool, engine, pending));
        TokenWriter { queue }
    }

    /// Inserts `token`; returns once the row is committed.
    pub async fn insert(&self, token: &TokenRecord) -> StoreResult<()> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Pending {
                row: Row::new(token)?,
                done,
            })
            .map_err(|_| stopped())?;
        outcome.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn write_batches(pool: AnyPool, engine: Engine, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The writer keeps one connection: SQLite then keeps its page cache (another connection's
    // commit would empty it), and PostgreSQL its prepared statements. Dropped after an error,
    // so that a broken connection is replaced.
    let mut connection: Option<PoolConnection<Any>> = None;
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Let the requests that are ready to run reach their insert first: woken by the first
        // row, this task would otherwise run next and commit batches of one or two.
        while batch.len() < MAX_BATCH {
            tokio::task::yield_now().await;
            let before = batch.len();
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(pending) => batch.push(pending),
                    Err(_) => break,
                }
            }
            if batch.len() == before {
                break;
            }
        }
        let rows: Vec<&Row> = batch.iter().map(|p| &p.row).collect();
        match insert(&pool, &mut connection, engine, &rows).await {
            Ok(()) => {
                for pending in batch.drain(..) {
                    let _ = pending.done.send(Ok(()));
                }
            }
            // One duplicate fails the whole statement: write the rows alone, so that only the
            // duplicate's caller hears of it.
            Err(StoreError::Conflict) if batch.len() > 1 => {
                for pending in batch.drain(..) {
                    let outcome = insert(&pool, &mut connection, engine, &[&pending.row]).await;
                    let _ = pending.done.send(outcome);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for pending in batch.drain(..) {
                    let _ = pending.done.send(Err(match &e {
                        StoreError::Conflict => StoreError::Conflict,
                        _ => StoreError::Unavailable(message.clone()),
                    }));
                }
            }
        }
    }
}

/// `INSERT INTO tokens … VALUES (…), (…), …` for `count` rows. SQLite gets anonymous `?`
/// parameters: binding to numbered ones looks each number up in a list, quadratic in a batch.
fn statement(engine: Engine, count: usize) -> String {
    let mut sql = String::from(concat!(
        "INSERT INTO tokens (",
        token_columns!(),
        ") VALUES "
    ));
    for row in 0..count {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            match engine {
                Engine::Sqlite => sql.push('?'),
                Engine::Postgres => sql.push_str(&format!("${}", row * COLUMNS + column + 1)),
            }
        }
        sql.push(')');
    }
    sql
}

async fn insert(
    pool: &AnyPool,
    connection: &mut Option<PoolConnection<Any>>,
    engine: Engine,
    rows: &[&Row],
) -> StoreResult<()> {
    let conn = match connection {
        Some(conn) => conn,
        None => connection.insert(pool.acquire().await.map_err(unavailable)?),
    };
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
    match query.execute(&mut **conn).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = unavailable(e);
            if !matches!(e, StoreError::Conflict) {
                *connection = None;
            }
            Err(e)
        }
    }
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
