//! User sessions, remembered consents and authorization requests waiting for the user.

use super::*;

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

    async fn add_session_client(
        &self,
        sid: &str,
        client_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO session_clients (sid, client_id, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (sid, client_id) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(sid)
        .bind(client_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn take_session_clients(&self, sid: &str) -> StoreResult<Vec<String>> {
        // One statement, so two logouts of one session never both tell the same client.
        sqlx::query_scalar("DELETE FROM session_clients WHERE sid = $1 RETURNING client_id")
            .bind(sid)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)
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
