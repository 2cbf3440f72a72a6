//! Storage adapters for the authorization server: SQLite (a file in the data directory, the
//! embedded default) and PostgreSQL (for several nodes), through one SQL code path on sqlx's
//! `Any` driver. Secrets are sealed at rest (see [`seal`]); tokens and codes are stored by hash.

mod migrations;
pub mod seal;

use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_jose::KeyRing;
use ostiary_server::config::{ClientDescription, ServerConfig, User};
use ostiary_server::store::{
    ClientStore, CodeRecord, ConfigStore, InteractionRecord, InteractionStore, KeyStore,
    SessionRecord, StoreError, StoreResult, Taken, TokenKind, TokenRecord, TokenStore, UserStore,
};
use serde_json::{Map, Value};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor as _, Row as _};

pub use seal::MasterKey;

/// Which database engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The store: a connection pool and the master key.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    master: std::sync::Arc<MasterKey>,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// SHA-256, base64url: how secrets that are only ever compared are kept.
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, secret.as_bytes()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`), applies pending migrations, and
    /// returns the store. A SQLite file is created when missing.
    pub async fn open(url: &str, master: MasterKey) -> Result<Self, String> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres
        } else {
            return Err(format!(
                "unsupported database URL (sqlite:// or postgres://): {}",
                redact_url(url)
            ));
        };
        let url = match engine {
            Engine::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        options = match engine {
            // SQLite: WAL lets readers run beside the writer; busy_timeout makes writers queue.
            Engine::Sqlite => options.max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            }),
            Engine::Postgres => options.max_connections(16),
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|e| format!("cannot open the database {}: {e}", redact_url(&url)))?;
        let store = Store {
            pool,
            engine,
            master: std::sync::Arc::new(master),
        };
        store
            .migrate()
            .await
            .map_err(|e| format!("migrations failed: {e}"))?;
        Ok(store)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Every text column of every table, for tests that check nothing sensitive is in the clear.
    #[doc(hidden)]
    pub async fn debug_dump(&self) -> String {
        let mut out = String::new();
        for sql in [
            "SELECT body FROM clients",
            "SELECT COALESCE(secret_hash, '') FROM clients",
            "SELECT COALESCE(secret_sealed, '') FROM clients",
            "SELECT sealed FROM key_rings",
            "SELECT password_hash FROM users",
            "SELECT hash FROM tokens",
        ] {
            let rows: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
            out.push_str(&rows.join("\n"));
        }
        out
    }

    /// True when the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        if self.engine == Engine::Postgres {
            // Several nodes may start at once: one migrates, the others wait.
            conn.execute("SELECT pg_advisory_lock(7001)").await?;
        }
        let result = async {
            conn.execute("CREATE TABLE IF NOT EXISTS ostiary_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
                .await?;
            for (version, name, statements) in migrations::MIGRATIONS {
                let applied: Option<i64> = sqlx::query_scalar("SELECT version FROM ostiary_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *conn)
                    .await?;
                if applied.is_some() {
                    continue;
                }
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                for statement in *statements {
                    tx.execute(*statement).await?;
                }
                sqlx::query("INSERT INTO ostiary_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                    .bind(version)
                    .bind(*name)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tracing::info!(version, name, "applied migration");
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        if self.engine == Engine::Postgres {
            conn.execute("SELECT pg_advisory_unlock(7001)").await?;
        }
        result
    }

    fn token_from_row(row: &AnyRow) -> StoreResult<TokenRecord> {
        let get_s = |c: &str| row.try_get::<String, _>(c).map_err(corrupt);
        let kind = match get_s("kind")?.as_str() {
            "access" => TokenKind::Access,
            "refresh" => TokenKind::Refresh,
            other => return Err(corrupt(format!("token kind {other}"))),
        };
        Ok(TokenRecord {
            hash: get_s("hash")?,
            kind,
            client_id: get_s("client_id")?,
            username: row
                .try_get::<Option<String>, _>("username")
                .map_err(corrupt)?,
            scope: get_s("scope")?,
            family: get_s("family")?,
            grant_id: row
                .try_get::<Option<String>, _>("grant_id")
                .map_err(corrupt)?,
            jti: get_s("jti")?,
            audience: serde_json::from_str(&get_s("audience")?).map_err(corrupt)?,
            issued_at: row.try_get("issued_at").map_err(corrupt)?,
            expires_at: row.try_get("expires_at").map_err(corrupt)?,
            revoked: row.try_get::<i64, _>("revoked").map_err(corrupt)? != 0,
            extra: serde_json::from_str(&get_s("extra")?).map_err(corrupt)?,
        })
    }

    fn code_from_row(row: &AnyRow) -> StoreResult<CodeRecord> {
        let get_s = |c: &str| row.try_get::<String, _>(c).map_err(corrupt);
        let opt = |c: &str| row.try_get::<Option<String>, _>(c).map_err(corrupt);
        Ok(CodeRecord {
            hash: get_s("hash")?,
            client_id: get_s("client_id")?,
            redirect_uri: get_s("redirect_uri")?,
            username: get_s("username")?,
            scope: get_s("scope")?,
            nonce: opt("nonce")?,
            code_challenge: opt("code_challenge")?,
            code_challenge_method: opt("code_challenge_method")?,
            auth_time: row.try_get("auth_time").map_err(corrupt)?,
            grant_id: get_s("grant_id")?,
            expires_at: row.try_get("expires_at").map_err(corrupt)?,
            extra: serde_json::from_str(&get_s("extra")?).map_err(corrupt)?,
        })
    }

    fn user_from_row(row: &AnyRow) -> StoreResult<User> {
        Ok(User {
            username: row.try_get("username").map_err(corrupt)?,
            claims: serde_json::from_str::<Map<String, Value>>(
                &row.try_get::<String, _>("claims").map_err(corrupt)?,
            )
            .map_err(corrupt)?,
            enabled: row.try_get::<i64, _>("enabled").map_err(corrupt)? != 0,
        })
    }
}

/// Runs one administrative statement (e.g. `CREATE DATABASE`) on `url`: for test set-up and tools.
pub async fn admin_execute(url: &str, statement: &str) -> Result<(), String> {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.map_err(|e| e.to_string())?;
    let result = sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&pool)
        .await;
    pool.close().await;
    result.map(|_| ()).map_err(|e| e.to_string())
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[async_trait]
impl ConfigStore for Store {
    async fn server_config(&self) -> StoreResult<Option<ServerConfig>> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM server_config WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        body.map(|b| serde_json::from_str(&b).map_err(corrupt))
            .transpose()
    }

    async fn save_server_config(&self, config: &ServerConfig) -> StoreResult<()> {
        let body = serde_json::to_string(config).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO server_config (id, body, updated_at) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(body)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

const KEY_RING_CONTEXT: &str = "key_ring:server";

#[async_trait]
impl KeyStore for Store {
    async fn key_ring(&self) -> StoreResult<Option<KeyRing>> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT sealed FROM key_rings WHERE id = 'server'")
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let json = self
            .master
            .open(KEY_RING_CONTEXT, &sealed)
            .map_err(corrupt)?;
        serde_json::from_slice(&json).map(Some).map_err(corrupt)
    }

    async fn save_key_ring(&self, ring: &KeyRing) -> StoreResult<()> {
        let json = serde_json::to_vec(ring).map_err(corrupt)?;
        let sealed = self.master.seal(KEY_RING_CONTEXT, &json);
        sqlx::query(
            "INSERT INTO key_rings (id, sealed, updated_at) VALUES ('server', $1, $2)
             ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(sealed)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

fn secret_context(client_id: &str) -> String {
    format!("client_secret:{client_id}")
}

#[async_trait]
impl ClientStore for Store {
    async fn create_client(
        &self,
        client: &ClientDescription,
        secret: Option<&str>,
    ) -> StoreResult<()> {
        let body = serde_json::to_string(client).map_err(corrupt)?;
        let (hash, sealed) = match secret {
            Some(s) => (
                Some(hash_secret(s)),
                Some(
                    self.master
                        .seal(&secret_context(&client.client_id), s.as_bytes()),
                ),
            ),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO clients (client_id, body, secret_hash, secret_sealed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&client.client_id)
        .bind(body)
        .bind(hash)
        .bind(sealed)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<ClientDescription>> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        body.map(|b| serde_json::from_str(&b).map_err(corrupt))
            .transpose()
    }

    async fn clients(&self) -> StoreResult<Vec<ClientDescription>> {
        let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM clients ORDER BY client_id")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(corrupt))
            .collect()
    }

    async fn update_client(&self, client: &ClientDescription) -> StoreResult<bool> {
        let body = serde_json::to_string(client).map_err(corrupt)?;
        let done =
            sqlx::query("UPDATE clients SET body = $1, updated_at = $2 WHERE client_id = $3")
                .bind(body)
                .bind(now())
                .bind(&client.client_id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_client_secret(
        &self,
        client_id: &str,
        secret: &str,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let Some(mut client) = self.client(client_id).await? else {
            return Ok(false);
        };
        client.client_secret_expires_at = expires_at;
        let body = serde_json::to_string(&client).map_err(corrupt)?;
        let done = sqlx::query("UPDATE clients SET body = $1, secret_hash = $2, secret_sealed = $3, updated_at = $4 WHERE client_id = $5")
            .bind(body)
            .bind(hash_secret(secret))
            .bind(self.master.seal(&secret_context(client_id), secret.as_bytes()))
            .bind(now())
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn check_client_secret(&self, client_id: &str, secret: &str) -> StoreResult<bool> {
        let stored: Option<Option<String>> =
            sqlx::query_scalar("SELECT secret_hash FROM clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        let presented = hash_secret(secret);
        Ok(match stored.flatten() {
            Some(hash) => verify_slices_are_equal(hash.as_bytes(), presented.as_bytes()).is_ok(),
            None => false,
        })
    }

    async fn client_secret(&self, client_id: &str) -> StoreResult<Option<String>> {
        let sealed: Option<Option<String>> =
            sqlx::query_scalar("SELECT secret_sealed FROM clients WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        let Some(sealed) = sealed.flatten() else {
            return Ok(None);
        };
        let raw = self
            .master
            .open(&secret_context(client_id), &sealed)
            .map_err(corrupt)?;
        String::from_utf8(raw).map(Some).map_err(corrupt)
    }
}

#[async_trait]
impl UserStore for Store {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (username, password_hash, claims, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(&user.username)
            .bind(password_hash)
            .bind(serde_json::to_string(&user.claims).map_err(corrupt)?)
            .bind(flag(user.enabled))
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn user(&self, username: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT username, claims, enabled FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query("SELECT username, claims, enabled FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(Self::user_from_row).collect()
    }

    async fn update_user(&self, user: &User) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET claims = $1, enabled = $2, updated_at = $3 WHERE username = $4",
        )
        .bind(serde_json::to_string(&user.claims).map_err(corrupt)?)
        .bind(flag(user.enabled))
        .bind(now())
        .bind(&user.username)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user(&self, username: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn password_hash(&self, username: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }

    async fn set_password_hash(&self, username: &str, hash: &str) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3")
                .bind(hash)
                .bind(now())
                .bind(username)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }
}

// Column lists as macros, so that the statements stay `&'static str` (sqlx refuses built strings).
macro_rules! token_columns {
    () => {
        "hash, kind, client_id, username, scope, family, grant_id, jti, audience, issued_at, expires_at, revoked, extra"
    };
}
macro_rules! code_columns {
    () => {
        "hash, client_id, redirect_uri, username, scope, nonce, code_challenge, code_challenge_method, auth_time, grant_id, expires_at, extra"
    };
}

#[async_trait]
impl TokenStore for Store {
    async fn insert_token(&self, t: &TokenRecord) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO tokens (",
            token_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&t.hash)
        .bind(t.kind.as_str())
        .bind(&t.client_id)
        .bind(t.username.as_deref())
        .bind(&t.scope)
        .bind(&t.family)
        .bind(t.grant_id.as_deref())
        .bind(&t.jti)
        .bind(serde_json::to_string(&t.audience).map_err(corrupt)?)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .bind(flag(t.revoked))
        .bind(serde_json::to_string(&t.extra).map_err(corrupt)?)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(Self::token_from_row).transpose()
    }

    async fn use_refresh_token(&self, hash: &str, now: i64) -> StoreResult<Taken<TokenRecord>> {
        let fresh = sqlx::query(concat!("UPDATE tokens SET used_at = $1 WHERE hash = $2 AND kind = 'refresh' AND used_at IS NULL RETURNING ", token_columns!()))
        .bind(now)
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        if let Some(row) = fresh {
            return Self::token_from_row(&row).map(Taken::Fresh);
        }
        match self.token(hash).await? {
            Some(t) if t.kind == TokenKind::Refresh => Ok(Taken::Already(t)),
            _ => Ok(Taken::Missing),
        }
    }

    async fn revoke_token(&self, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE tokens SET revoked = 1 WHERE hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_family(&self, family: &str) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE tokens SET revoked = 1 WHERE family = $1")
            .bind(family)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn revoke_grant(&self, grant_id: &str) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE tokens SET revoked = 1 WHERE grant_id = $1")
            .bind(grant_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn revoke_user_tokens(&self, username: &str) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE tokens SET revoked = 1 WHERE username = $1 AND revoked = 0")
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn revoke_client_tokens(&self, client_id: &str) -> StoreResult<u64> {
        let done =
            sqlx::query("UPDATE tokens SET revoked = 1 WHERE client_id = $1 AND revoked = 0")
                .bind(client_id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn insert_code(&self, c: &CodeRecord) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO codes (",
            code_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&c.hash)
        .bind(&c.client_id)
        .bind(&c.redirect_uri)
        .bind(&c.username)
        .bind(&c.scope)
        .bind(c.nonce.as_deref())
        .bind(c.code_challenge.as_deref())
        .bind(c.code_challenge_method.as_deref())
        .bind(c.auth_time)
        .bind(&c.grant_id)
        .bind(c.expires_at)
        .bind(serde_json::to_string(&c.extra).map_err(corrupt)?)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn take_code(&self, hash: &str, now: i64) -> StoreResult<Taken<CodeRecord>> {
        let fresh = sqlx::query(concat!(
            "UPDATE codes SET used_at = $1 WHERE hash = $2 AND used_at IS NULL RETURNING ",
            code_columns!()
        ))
        .bind(now)
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        if let Some(row) = fresh {
            return Self::code_from_row(&row).map(Taken::Fresh);
        }
        let used = sqlx::query(concat!(
            "SELECT ",
            code_columns!(),
            " FROM codes WHERE hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        match used {
            Some(row) => Self::code_from_row(&row).map(Taken::Already),
            None => Ok(Taken::Missing),
        }
    }

    async fn consume_jti(&self, key: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        // An expired entry may be reused; a live one means a replay.
        sqlx::query("DELETE FROM jtis WHERE key = $1 AND expires_at < $2")
            .bind(key)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        let done = sqlx::query(
            "INSERT INTO jtis (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        let mut total = 0;
        for sql in [
            "DELETE FROM tokens WHERE expires_at < $1",
            "DELETE FROM codes WHERE expires_at < $1",
            "DELETE FROM jtis WHERE expires_at < $1",
            "DELETE FROM sessions WHERE expires_at < $1",
            "DELETE FROM interactions WHERE expires_at < $1",
        ] {
            // Keep a day of history: a replayed refresh token or code must still be recognised.
            let done = sqlx::query(sql)
                .bind(now - 86_400)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
            total += done.rows_affected();
        }
        Ok(total)
    }
}

#[async_trait]
impl InteractionStore for Store {
    async fn create_session(&self, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (hash, sid, username, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.hash)
            .bind(&s.sid)
            .bind(&s.username)
            .bind(s.auth_time)
            .bind(s.expires_at)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn session(&self, hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT hash, sid, username, auth_time, expires_at FROM sessions WHERE hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.map(|r| {
            Ok(SessionRecord {
                hash: r.try_get("hash").map_err(corrupt)?,
                sid: r.try_get("sid").map_err(corrupt)?,
                username: r.try_get("username").map_err(corrupt)?,
                auth_time: r.try_get("auth_time").map_err(corrupt)?,
                expires_at: r.try_get("expires_at").map_err(corrupt)?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn consent(&self, username: &str, client_id: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT scope FROM consents WHERE username = $1 AND client_id = $2")
            .bind(username)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }

    async fn save_consent(
        &self,
        username: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consents (username, client_id, scope, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (username, client_id) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(username)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn save_interaction(&self, i: &InteractionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO interactions (hash, request, browser, username, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (hash) DO UPDATE SET request = excluded.request, username = excluded.username,
             auth_time = excluded.auth_time, expires_at = excluded.expires_at",
        )
        .bind(&i.hash)
        .bind(serde_json::to_string(&i.request).map_err(corrupt)?)
        .bind(&i.browser)
        .bind(i.username.as_deref())
        .bind(i.auth_time)
        .bind(i.expires_at)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn interaction(&self, hash: &str) -> StoreResult<Option<InteractionRecord>> {
        let row = sqlx::query("SELECT hash, request, browser, username, auth_time, expires_at FROM interactions WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|r| {
            Ok(InteractionRecord {
                hash: r.try_get("hash").map_err(corrupt)?,
                request: serde_json::from_str(&r.try_get::<String, _>("request").map_err(corrupt)?)
                    .map_err(corrupt)?,
                browser: r.try_get("browser").map_err(corrupt)?,
                username: r.try_get("username").map_err(corrupt)?,
                auth_time: r.try_get("auth_time").map_err(corrupt)?,
                expires_at: r.try_get("expires_at").map_err(corrupt)?,
            })
        })
        .transpose()
    }

    async fn delete_interaction(&self, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM interactions WHERE hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }
}
