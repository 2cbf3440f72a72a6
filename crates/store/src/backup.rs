//! Backup and restore of the SQLite default (PostgreSQL has `pg_dump`: see docs/). A backup is a
//! consistent snapshot taken while the server runs (`VACUUM INTO`); a restore checks the file —
//! SQLite's integrity check, a schema this build knows, and a key ring the master key opens —
//! before it replaces anything, and keeps the database it replaces.

use std::path::{Path, PathBuf};

use super::*;

/// What a checked backup holds.
#[derive(Debug)]
pub struct BackupSummary {
    pub schema_version: i64,
    pub clients: i64,
    pub users: i64,
    pub tokens: i64,
}

impl Store {
    /// Writes a consistent copy of the database to `path` (which must not exist yet).
    pub async fn backup_to(&self, path: &Path) -> Result<(), String> {
        if self.engine != Engine::Sqlite {
            return Err("backups of PostgreSQL are pg_dump's job (see docs/postgresql.md)".into());
        }
        if path.exists() {
            return Err(format!("{} exists already", path.display()));
        }
        let target = path
            .to_str()
            .ok_or_else(|| format!("{}: not a UTF-8 path", path.display()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(|e| format!("backup to {}: {e}", path.display()))?;
        Ok(())
    }
}

/// What [`Store::invalidate_grants`] ended.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Invalidated {
    /// Access and refresh tokens, and portal sessions, revoked.
    pub tokens: u64,
    /// Authorization codes deleted.
    pub codes: u64,
    /// Users' login sessions ended.
    pub sessions: u64,
}

impl Store {
    /// Ends every grant the database holds: revokes its access and refresh tokens and portal
    /// sessions, deletes its authorization codes, login sessions and pending interactions. For a
    /// database restored from a backup, which cannot know which of them were spent, rotated,
    /// revoked or ended after it was made: a code redeemed since, a refresh token rotated away,
    /// a session logged out would all work again. Users sign in again and clients start their
    /// flows again. Clients, users, consents, keys and the tokens that manage registrations and
    /// the admin API are kept.
    pub async fn invalidate_grants(&self) -> Result<Invalidated, String> {
        let mut tx = self.pool.begin().await.map_err(|e| e.to_string())?;
        let mut run = async |sql: &'static str| {
            sqlx::query(sql)
                .execute(&mut *tx)
                .await
                .map(|done| done.rows_affected())
                .map_err(|e| e.to_string())
        };
        let invalidated = Invalidated {
            tokens: run("UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND kind IN ('access', 'refresh', 'admin_session')").await?,
            codes: run("DELETE FROM codes").await?,
            sessions: run("DELETE FROM sessions").await?,
        };
        run("DELETE FROM session_clients").await?;
        run("DELETE FROM interactions").await?;
        tx.commit().await.map_err(|e| e.to_string())?;
        Ok(invalidated)
    }
}

/// Checks that `path` is an Ostiary SQLite database this build can run and `master` can open;
/// reads it without changing it.
pub async fn check_backup(path: &Path, master: &MasterKey) -> Result<BackupSummary, String> {
    sqlx::any::install_default_drivers();
    if !path.is_file() {
        return Err(format!("{}: no such file", path.display()));
    }
    let url = format!("sqlite://{}?mode=ro", path.display());
    let pool = AnyPool::connect(&url)
        .await
        .map_err(|e| format!("{}: not a database: {e}", path.display()))?;
    let summary = async {
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .map_err(|e| format!("not a database: {e}"))?;
        if integrity != "ok" {
            return Err(format!("damaged: {integrity}"));
        }
        let schema_version: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM ostiary_migrations")
                .fetch_one(&pool)
                .await
                .map_err(|_| "not an Ostiary database (no migrations table)".to_string())?;
        let known = SCHEMA_VERSION;
        if schema_version > known {
            return Err(format!(
                "made by a newer Ostiary (schema {schema_version}; this one knows {known})"
            ));
        }
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT sealed FROM key_rings WHERE id = 'server'")
                .fetch_optional(&pool)
                .await
                .map_err(|e| e.to_string())?;
        if let Some(sealed) = sealed {
            master.open(config::KEY_RING_CONTEXT, &sealed).map_err(|_| {
                "the master key does not open its keys: restore it with the master.key it was made with"
                    .to_string()
            })?;
        }
        let count = |table: &'static str| {
            let pool = pool.clone();
            async move {
                let sql = match table {
                    "clients" => "SELECT COUNT(*) FROM clients",
                    "users" => "SELECT COUNT(*) FROM users",
                    _ => "SELECT COUNT(*) FROM tokens",
                };
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        Ok(BackupSummary {
            schema_version,
            clients: count("clients").await?,
            users: count("users").await?,
            tokens: count("tokens").await?,
        })
    }
    .await
    .map_err(|e| format!("{}: {e}", path.display()));
    pool.close().await;
    summary
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub summary: BackupSummary,
    /// The grants it ended: `None` when they were kept.
    pub invalidated: Option<Invalidated>,
    /// Where the replaced database is kept.
    pub kept: Option<PathBuf>,
}

/// Replaces the database file `database` with the checked backup `backup`, whose grants are
/// ended first ([`Store::invalidate_grants`]) unless `keep_grants`. The server must be stopped.
/// The replaced database is kept beside it, never deleted.
pub async fn restore(
    backup: &Path,
    database: &Path,
    master: MasterKey,
    keep_grants: bool,
) -> Result<Restored, String> {
    let summary = check_backup(backup, &master).await?;
    let with_suffix = |suffix: &str| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let staged = with_suffix(".restoring");
    std::fs::copy(backup, &staged).map_err(|e| format!("{}: {e}", staged.display()))?;
    let invalidated = match keep_grants {
        true => None,
        false => Some(invalidate_staged(&staged, master).await?),
    };
    std::fs::File::open(&staged)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("{}: {e}", staged.display()))?;
    let kept = if database.exists() {
        // A name no earlier restore took: rename would replace that file.
        let kept = (0..)
            .map(|n| with_suffix(&format!(".before-restore-{}-{n}", now())))
            .find(|p| !p.exists())
            .ok_or("no free name for the replaced database")?;
        // Fold the old database's WAL into it first, so that the kept copy is whole.
        let url = format!("sqlite://{}", database.display());
        if let Ok(pool) = AnyPool::connect(&url).await {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&pool)
                .await;
            pool.close().await;
        }
        std::fs::rename(database, &kept).map_err(|e| format!("{}: {e}", kept.display()))?;
        // Whatever the checkpoint left in the WAL stays with the kept copy.
        let mut kept_wal = kept.as_os_str().to_owned();
        kept_wal.push("-wal");
        if with_suffix("-wal").exists() {
            std::fs::rename(with_suffix("-wal"), &kept_wal)
                .map_err(|e| format!("{}: {e}", kept.display()))?;
        }
        Some(kept)
    } else {
        None
    };
    for stale in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(stale));
    }
    std::fs::rename(&staged, database).map_err(|e| format!("{}: {e}", database.display()))?;
    Ok(Restored {
        summary,
        invalidated,
        kept,
    })
}

/// Ends the grants of the staged copy (migrated first, so that every table is there), and
/// closes it whole: its write-ahead log folded in, as only the main file moves into place.
async fn invalidate_staged(staged: &Path, master: MasterKey) -> Result<Invalidated, String> {
    let store = Store::open(&format!("sqlite://{}", staged.display()), master).await?;
    let invalidated = store.invalidate_grants().await;
    store.close().await;
    let mut wal = staged.as_os_str().to_owned();
    wal.push("-wal");
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(format!(
            "{}: the staged copy kept a write-ahead log",
            staged.display()
        ));
    }
    invalidated
}
