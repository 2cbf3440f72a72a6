//! Storage adapters for the authorization server: SQLite (a file in the data directory, the
//! embedded default) and PostgreSQL (for several nodes), through one SQL code path on sqlx's
//! `Any` driver. Secrets are sealed at rest (see [`seal`]); tokens and codes are stored by hash.

// The token table's columns, shared by the statements of `tokens` and `batch`.
macro_rules! token_columns {
    () => {
        "hash, kind, client_id, username, scope, family, grant_id, jti, audience, issued_at, expires_at, revoked, extra"
    };
}

mod audit;
mod backup;
mod batch;
mod cache;
mod clients;
mod config;
mod interactions;
mod migrations;
mod overview;
mod relying_party;
mod reseal;
pub mod seal;
mod tokens;
mod users;

use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_jose::KeyRing;
use ostiary_jose::clock::now;
use ostiary_server::config::{ClientDescription, ServerConfig, User};
use ostiary_server::store::{
    AuditEntry, AuditStore, ClientStore, CodeRecord, ConfigStore, Consent, InteractionRecord,
    InteractionStore, KeyStore, OverviewStore, Redeem, Redeemable, SessionRecord, StoreError,
    StoreResult, TokenKind, TokenRecord, TokenStore, UserStore,
};
use serde_json::{Map, Value};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor as _, Row as _};

pub use backup::{BackupSummary, Invalidated, Restored, check_backup, restore};
pub use reseal::Resealed;
pub use seal::MasterKey;

/// The schema version this build migrates databases to.
pub const SCHEMA_VERSION: i64 = migrations::MIGRATIONS.len() as i64;

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
    /// Client descriptions and users remembered for a short while: see [`Store::with_caches`].
    clients: Option<std::sync::Arc<cache::ClientCache>>,
    users: Option<std::sync::Arc<cache::UserCache>>,
    token_writer: batch::TokenWriter,
    token_reader: batch::TokenReader,
    /// This node's system clock less PostgreSQL's, in milliseconds, as last measured
    /// ([`Store::measure_clock`]); `i64::MIN` until then.
    clock_ahead_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// How many times a statement or transaction PostgreSQL undid for a conflict is run in all.
const ATTEMPTS: u32 = 4;

/// Whether to run a statement or transaction again: when PostgreSQL undid it to resolve a
/// conflict with another transaction — a serialization failure (40001) or a deadlock (40P01) —
/// nothing of it was committed, and running it again is the remedy PostgreSQL documents. Up to
/// [`ATTEMPTS`] in all, each after a short random pause, so that the two do not meet again in
/// step.
#[derive(Default)]
struct Retry {
    tries: u32,
}

impl Retry {
    async fn again(&mut self, e: &sqlx::Error) -> bool {
        let conflict = matches!(e, sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("40001" | "40P01")));
        self.tries += 1;
        if !conflict || self.tries >= ATTEMPTS {
            return false;
        }
        tracing::debug!(error = %e, tries = self.tries, "running a conflicting statement again");
        let mut jitter = [0u8; 1];
        let _ = aws_lc_rs::rand::fill(&mut jitter);
        let pause = u64::from(self.tries) * 5 + u64::from(jitter[0] % 10);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        true
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// SHA-256, base64url: how secrets that are only ever compared are kept.
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, secret.as_bytes()))
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
        if let Some(warning) = database_warning(url) {
            tracing::warn!("{warning}");
        }
        let (url, synchronous) = match engine {
            Engine::Sqlite => sqlite_url(url)?,
            Engine::Postgres => (url.to_owned(), ""),
        };
        // A request waits at most this long for a connection: then 503 (`temporarily_unavailable`),
        // so that clients, and load balancers probing `/readyz`, learn of an outage quickly.
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(3));
        options = match engine {
            // SQLite: WAL lets readers run beside the writer; busy_timeout makes writers queue.
            Engine::Sqlite => options.max_connections(8).after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute(synchronous).await?;
                    // Reads straight from the mapped file: every commit of another connection
                    // empties a connection's page cache, and re-reading it through read(2)
                    // cost more than the queries themselves under load.
                    conn.execute("PRAGMA mmap_size = 268435456").await?;
                    // Statement journals in memory, not temporary files opened per UPDATE.
                    conn.execute("PRAGMA temp_store = MEMORY").await?;
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
            token_writer: batch::TokenWriter::start(pool.clone(), engine),
            token_reader: batch::TokenReader::start(pool.clone(), engine),
            clock_ahead_ms: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
            pool,
            engine,
            master: std::sync::Arc::new(master),
            clients: None,
            users: None,
        };
        store
            .migrate()
            .await
            .map_err(|e| format!("migrations failed: {e}"))?;
        Ok(store)
    }

    /// This store remembers client descriptions with their secret hashes, and users, for up to
    /// [`CACHE_TTL`](ostiary_server::state::CACHE_TTL), so that client authentication and the
    /// check that a user may still sign in read no row. Its own writes take effect at once;
    /// other processes' (another node, `ostiary admin`) within that time. For servers:
    /// `ostiary serve` turns it on.
    pub fn with_caches(mut self) -> Self {
        self.clients = Some(Default::default());
        self.users = Some(Default::default());
        self
    }

    /// Closes the store's connections, waiting for them to end (SQLite folds its write-ahead
    /// log into the database as the last one closes).
    pub async fn close(self) {
        let pool = self.pool.clone();
        // The writer and reader tasks end, returning their connections, once their queues go.
        drop(self);
        pool.close().await;
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The store's gauges for `/metrics`: the connection pool, and the client cache's hits and
    /// misses when it is on.
    pub fn write_metrics(&self, out: &mut String) {
        use ostiary_server::metrics::family;
        use std::fmt::Write as _;
        use std::sync::atomic::Ordering::Relaxed;
        family(
            out,
            "ostiary_db_connections",
            "gauge",
            "Database connections of this node, by state.",
        );
        let (open, idle) = (self.pool.size() as usize, self.pool.num_idle());
        let _ = writeln!(
            out,
            "ostiary_db_connections{{state=\"idle\"}} {idle}\n\
             ostiary_db_connections{{state=\"busy\"}} {}",
            open.saturating_sub(idle)
        );
        family(
            out,
            "ostiary_db_connections_max",
            "gauge",
            "The connection pool's size limit.",
        );
        let _ = writeln!(
            out,
            "ostiary_db_connections_max {}",
            self.pool.options().get_max_connections()
        );
        if let Some(ahead) = self.clock_ahead() {
            family(
                out,
                "ostiary_clock_ahead_of_database_seconds",
                "gauge",
                "This node's system clock less PostgreSQL's, as last measured (each minute).",
            );
            let _ = writeln!(out, "ostiary_clock_ahead_of_database_seconds {ahead:.3}");
            family(
                out,
                "ostiary_clock_correction_seconds",
                "gauge",
                "What this node adds to its system clock to read the database's time (0: it reads its own).",
            );
            let _ = writeln!(
                out,
                "ostiary_clock_correction_seconds {:.3}",
                ostiary_jose::clock::correction() as f64 / 1000.0
            );
        }
        let caches = [
            (
                self.clients.as_ref().map(|c| (&c.hits, &c.misses)),
                "client",
                "Client lookups of client authentication",
            ),
            (
                self.users.as_ref().map(|c| (&c.hits, &c.misses)),
                "user",
                "User lookups of grants, sign-ins and userinfo",
            ),
        ];
        for (counters, name, what) in caches {
            let Some((hits, misses)) = counters else {
                continue;
            };
            family(
                out,
                &format!("ostiary_{name}_cache_lookups_total"),
                "counter",
                &format!("{what}, answered from memory (hit) or not."),
            );
            let _ = writeln!(
                out,
                "ostiary_{name}_cache_lookups_total{{result=\"hit\"}} {}\n\
                 ostiary_{name}_cache_lookups_total{{result=\"miss\"}} {}",
                hits.load(Relaxed),
                misses.load(Relaxed)
            );
        }
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
            "SELECT hash || ' ' || jti || ' ' || family || ' ' || extra FROM tokens",
            "SELECT hash || ' ' || redirect_uri || ' ' || COALESCE(code_challenge, '') || ' ' || extra FROM codes",
            "SELECT key FROM jtis",
            "SELECT hash || ' ' || sid FROM sessions",
            "SELECT hash || ' ' || request || ' ' || browser FROM interactions",
            "SELECT detail FROM audit_log",
            "SELECT body FROM rp_servers",
            "SELECT sealed FROM rp_clients",
            "SELECT sealed FROM rp_tokens",
            "SELECT sealed FROM rp_pending",
        ] {
            let rows: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
            out.push_str(&rows.join("\n"));
            out.push('\n');
        }
        out
    }

    /// How far this node's system clock is ahead of PostgreSQL's (behind: negative), in seconds,
    /// remembered for `/metrics`. With `follow`, the node's clock ([`ostiary_jose::clock`]) is
    /// set to the database's, so that every node reads one time for expiry whatever its own clock
    /// says. `None` on SQLite (one machine, one clock) and when the database does not answer.
    pub async fn measure_clock(&self, follow: bool) -> Option<f64> {
        if self.engine != Engine::Postgres {
            return None;
        }
        let millis = || ostiary_jose::clock::system_millis() as f64;
        let before = millis();
        let database: f64 = sqlx::query_scalar(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS DOUBLE PRECISION)",
        )
        .fetch_one(&self.pool)
        .await
        .ok()?;
        // The database read its clock somewhere between the two readings of ours.
        let ahead_ms = ((before + millis()) / 2.0 - database).round() as i64;
        self.clock_ahead_ms
            .store(ahead_ms, std::sync::atomic::Ordering::Relaxed);
        if follow {
            ostiary_jose::clock::correct_by(-ahead_ms);
        }
        self.clock_ahead()
    }

    /// What the last [`Store::measure_clock`] found, in seconds; `None` before one succeeded.
    pub fn clock_ahead(&self) -> Option<f64> {
        let ahead_ms = self
            .clock_ahead_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        (ahead_ms != i64::MIN).then(|| ahead_ms as f64 / 1000.0)
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
            "registration" => TokenKind::Registration,
            "initial_access" => TokenKind::InitialAccess,
            "admin_api" => TokenKind::AdminApi,
            "admin_session" => TokenKind::AdminSession,
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
/// Takes our own `synchronous=full|normal` off a SQLite URL, as the `PRAGMA` to run: FULL, the
/// default, syncs the write-ahead log at every commit, so that what was acknowledged survives a
/// power loss; NORMAL syncs only at checkpoints, which survives a crash of the process but may lose
/// the last commits to a crash of the machine, for about a fifth more tokens a second. Adds
/// `mode=rwc` (create the file when missing) unless the URL names a mode.
fn sqlite_url(url: &str) -> Result<(String, &'static str), String> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let mut synchronous = "PRAGMA synchronous = FULL";
    if let Some(i) = params.iter().position(|p| p.starts_with("synchronous=")) {
        let value = params.remove(i)["synchronous=".len()..].to_ascii_lowercase();
        synchronous = match value.as_str() {
            "full" => "PRAGMA synchronous = FULL",
            "normal" => "PRAGMA synchronous = NORMAL",
            _ => {
                return Err(format!(
                    "database URL: synchronous={value}: use full or normal"
                ));
            }
        };
    }
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc");
    }
    Ok((format!("{path}?{}", params.join("&")), synchronous))
}

/// A warning for a PostgreSQL URL whose server is reached over the network without checking its
/// certificate (`sslmode=verify-full`): whoever sits on the path could pose as the database, and
/// read and forge every token. Loopback and Unix sockets need no TLS.
pub fn database_warning(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = location.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let mut verified = false;
    for (key, value) in query.split('&').filter_map(|p| p.split_once('=')) {
        match key {
            "host" => host = value,
            "sslmode" => verified = value == "verify-full",
            _ => {}
        }
    }
    let local = host.is_empty()
        || host.starts_with('/')
        || host.starts_with("%2F")
        || host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!local && !verified).then_some(
        "the PostgreSQL server's certificate is not checked: add sslmode=verify-full (and sslrootcert) to the database URL",
    )
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_carry_the_synchronous_choice() {
        let full = (
            "sqlite://a.db?mode=rwc".to_owned(),
            "PRAGMA synchronous = FULL",
        );
        assert_eq!(sqlite_url("sqlite://a.db"), Ok(full.clone()));
        assert_eq!(sqlite_url("sqlite://a.db?synchronous=FULL"), Ok(full));
        assert_eq!(
            sqlite_url("sqlite://a.db?mode=ro&synchronous=normal"),
            Ok((
                "sqlite://a.db?mode=ro".into(),
                "PRAGMA synchronous = NORMAL"
            ))
        );
        let refused = sqlite_url("sqlite://a.db?synchronous=off").unwrap_err();
        assert!(refused.contains("synchronous=off"), "{refused}");
    }

    #[test]
    fn a_database_reached_over_the_network_must_be_verified() {
        for quiet in [
            "sqlite://data/ostiary.db",
            "postgres://u:p@localhost/ostiary",
            "postgres://u:p@127.0.0.1:5432/ostiary",
            "postgresql://[::1]/ostiary",
            "postgres:///ostiary?host=/var/run/postgresql",
            "postgres://db.example/ostiary?sslmode=verify-full&sslrootcert=ca.pem",
        ] {
            assert_eq!(database_warning(quiet), None, "{quiet}");
        }
        for warned in [
            "postgres://u:p@db.example/ostiary",
            "postgres://db.example/ostiary?sslmode=require",
            "postgresql://10.0.0.5:5432/ostiary?sslmode=verify-ca",
            "postgres://localhost/ostiary?host=db.example",
        ] {
            assert!(database_warning(warned).is_some(), "{warned}");
        }
    }

    #[tokio::test]
    async fn a_sqlite_store_syncs_every_commit_unless_told_otherwise() {
        let dir = std::env::temp_dir().join(format!("ostiary-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let master = || MasterKey::new(&[7u8; 32]).unwrap();
        for (query, expected) in [("", 2), ("?synchronous=normal", 1)] {
            let url = format!("sqlite://{}{query}", dir.join("sync.db").display());
            let store = Store::open(&url, master()).await.unwrap();
            // Every connection of the pool: 2 is FULL, 1 NORMAL.
            let mut held = Vec::new();
            for _ in 0..3 {
                let mut conn = store.pool.acquire().await.unwrap();
                let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!(level, expected, "{url}");
                held.push(conn);
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
