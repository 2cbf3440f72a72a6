//! Tokens, codes and JWT ids: stored by hash, redeemed once in a single statement.

use super::*;

// Column lists as macros, so that the statements stay `&'static str` (sqlx refuses built strings).
// (`token_columns!` is in lib.rs: the batched writer and reader use it too.)
macro_rules! code_columns {
    () => {
        "hash, client_id, redirect_uri, username, scope, nonce, code_challenge, code_challenge_method, auth_time, grant_id, expires_at, extra"
    };
}

#[async_trait]
impl TokenStore for Store {
    async fn insert_token(&self, t: &TokenRecord) -> StoreResult<()> {
        self.token_writer.insert(std::slice::from_ref(t)).await
    }

    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()> {
        self.token_writer.insert(tokens).await
    }

    async fn token(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        self.token_reader.token(hash).await
    }

    async fn redeem(
        &self,
        item: Redeem<'_>,
        now: i64,
        tokens: &[TokenRecord],
    ) -> StoreResult<bool> {
        self.token_writer.redeem(item, now, tokens).await
    }

    async fn revoke_token(&self, hash: &str) -> StoreResult<bool> {
        Ok(self
            .revoke_where(
                "UPDATE tokens SET revoked = 1 WHERE hash = $1 AND revoked = 0",
                &[hash],
            )
            .await?
            == 1)
    }

    async fn revoke_family(&self, family: &str) -> StoreResult<u64> {
        self.revoke_where(
            "UPDATE tokens SET revoked = 1 WHERE family = $1 AND revoked = 0",
            &[family],
        )
        .await
    }

    async fn revoke_grant(&self, grant_id: &str) -> StoreResult<u64> {
        self.revoke_where(
            "UPDATE tokens SET revoked = 1 WHERE grant_id = $1 AND revoked = 0",
            &[grant_id],
        )
        .await
    }

    async fn revoke_user_tokens(&self, username: &str) -> StoreResult<u64> {
        self.revoke_where(
            // Administrators' own tokens are theirs to end (`revoke_admin_tokens`), not a user's.
            "UPDATE tokens SET revoked = 1 WHERE username = $1 AND revoked = 0 AND kind NOT IN ('admin_api', 'admin_session')",
            &[username],
        )
        .await
    }

    async fn revoke_client_tokens(&self, client_id: &str) -> StoreResult<u64> {
        self.revoke_where(
            "UPDATE tokens SET revoked = 1 WHERE client_id = $1 AND revoked = 0 AND kind NOT IN ('admin_api', 'admin_session')",
            &[client_id],
        )
        .await
    }

    async fn revoke_session_tokens(&self, username: &str, sid: &str) -> StoreResult<u64> {
        // The session id is in the tokens' `extra` JSON; the user's index finds their rows. A
        // session id is base64url, whose `_` LIKE would take for any character: escaped.
        let sid_member = format!("%\"sid\":{}%", serde_json::Value::from(sid)).replace('_', "\\_");
        self.revoke_where(
            "UPDATE tokens SET revoked = 1 WHERE username = $1 AND revoked = 0 AND kind IN ('access', 'refresh') \
             AND scope NOT LIKE '%offline\\_access%' ESCAPE '\\' AND extra LIKE $2 ESCAPE '\\'",
            &[username, &sid_member],
        )
        .await
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

    async fn code(&self, hash: &str) -> StoreResult<Redeemable<CodeRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            code_columns!(),
            ", used_at FROM codes WHERE hash = $1"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(Redeemable::Missing);
        };
        let code = Self::code_from_row(&row)?;
        match row.try_get::<Option<i64>, _>("used_at").map_err(corrupt)? {
            None => Ok(Redeemable::Fresh(code)),
            Some(_) => Ok(Redeemable::Spent(code)),
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
            "DELETE FROM session_clients WHERE expires_at < $1",
            "DELETE FROM rp_tokens WHERE expires_at < $1",
            "DELETE FROM rp_pending WHERE expires_at < $1",
        ] {
            // Keep a day of history: a replayed refresh token or code must still be recognised.
            let mut retry = Retry::default();
            total += loop {
                match sqlx::query(sql)
                    .bind(now - 86_400)
                    .execute(&self.pool)
                    .await
                {
                    Ok(done) => break done.rows_affected(),
                    Err(e) if retry.again(&e).await => continue,
                    Err(e) => return Err(unavailable(e)),
                }
            };
        }
        Ok(total)
    }
}

impl Store {
    /// Runs one of the revocation statements (`&'static str`: sqlx refuses built SQL) for `values`;
    /// how many tokens it revoked (each statement skips those revoked before).
    async fn revoke_where(&self, sql: &'static str, values: &[&str]) -> StoreResult<u64> {
        let mut retry = Retry::default();
        loop {
            match self.revoke_once(sql, values).await {
                Ok(revoked) => return Ok(revoked),
                Err(e) if retry.again(&e).await => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
    }

    /// On PostgreSQL twice. A revocation that meets a refresh token being rotated waits for
    /// the rotation's row lock, but then updates only the rows of the snapshot it started with:
    /// the tokens the rotation inserted would stay active. The second statement's snapshot is
    /// taken after the first ended, so after any rotation the first waited for; a rotation that
    /// comes later finds its token revoked and issues nothing. (A snapshot of repeatable read
    /// would fail instead, and concurrent revocations of one family — every loser of a refresh
    /// race revokes it — would then fail each other.) SQLite runs one writer at a time.
    async fn revoke_once(&self, sql: &'static str, values: &[&str]) -> Result<u64, sqlx::Error> {
        let mut revoked = 0;
        let passes = if self.engine == Engine::Postgres {
            2
        } else {
            1
        };
        for _ in 0..passes {
            let mut query = sqlx::query(sql);
            for value in values {
                query = query.bind(*value);
            }
            revoked += query.execute(&self.pool).await?.rows_affected();
        }
        Ok(revoked)
    }
}
