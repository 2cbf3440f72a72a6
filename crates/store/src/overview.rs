//! Listings, searches and counts for administrators (sessions, consents, tokens, issuance).

use super::*;

fn session_from_row(r: &AnyRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        hash: r.try_get("hash").map_err(corrupt)?,
        sid: r.try_get("sid").map_err(corrupt)?,
        username: r.try_get("username").map_err(corrupt)?,
        auth_time: r.try_get("auth_time").map_err(corrupt)?,
        expires_at: r.try_get("expires_at").map_err(corrupt)?,
    })
}

#[async_trait]
impl OverviewStore for Store {
    async fn active_sessions(
        &self,
        username: Option<&str>,
        now: i64,
    ) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query(
            "SELECT hash, sid, username, auth_time, expires_at FROM sessions
             WHERE expires_at > $1 AND ($2 = '' OR username = $2)
             ORDER BY auth_time DESC LIMIT 1000",
        )
        .bind(now)
        .bind(username.unwrap_or_default())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn delete_session_by_sid(&self, sid: &str) -> StoreResult<Option<String>> {
        let ended: Vec<String> =
            sqlx::query_scalar("DELETE FROM sessions WHERE sid = $1 RETURNING username")
                .bind(sid)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(ended.into_iter().next())
    }

    async fn consents(&self, username: Option<&str>) -> StoreResult<Vec<Consent>> {
        let rows = sqlx::query(
            "SELECT username, client_id, scope, updated_at FROM consents
             WHERE $1 = '' OR username = $1 ORDER BY username, client_id LIMIT 1000",
        )
        .bind(username.unwrap_or_default())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(Consent {
                    username: r.try_get("username").map_err(corrupt)?,
                    client_id: r.try_get("client_id").map_err(corrupt)?,
                    scope: r.try_get("scope").map_err(corrupt)?,
                    updated_at: r.try_get("updated_at").map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn delete_consent(&self, username: &str, client_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM consents WHERE username = $1 AND client_id = $2")
            .bind(username)
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_tokens(
        &self,
        username: Option<&str>,
        client_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT hash, kind, client_id, username, scope, family, grant_id, jti, audience,
                    issued_at, expires_at, revoked, extra
             FROM tokens WHERE kind IN ('access', 'refresh')
             AND ($1 = '' OR username = $1) AND ($2 = '' OR client_id = $2)
             ORDER BY issued_at DESC LIMIT $3",
        )
        .bind(username.unwrap_or_default())
        .bind(client_id.unwrap_or_default())
        .bind(limit.min(10_000) as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(Self::token_from_row).collect()
    }

    async fn revoke_admin_tokens(&self, holder: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE tokens SET revoked = 1 WHERE username = $1 AND revoked = 0 AND kind IN ('admin_api', 'admin_session')",
        )
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn issued_per_minute(&self, since: i64) -> StoreResult<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT (issued_at / 60) * 60 AS minute, COUNT(*) AS issued FROM tokens
             WHERE kind = 'access' AND issued_at >= $1 GROUP BY (issued_at / 60) * 60 ORDER BY minute",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("minute").map_err(corrupt)?,
                    r.try_get("issued").map_err(corrupt)?,
                ))
            })
            .collect()
    }
}
