//! Users of the built-in user validation.

use super::*;

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
        let cache = self.users.as_deref();
        if let Some(user) = cache.and_then(|c| c.get(username)) {
            return Ok(Some(user));
        }
        let generation = cache.map(|c| c.generation());
        let row = sqlx::query("SELECT username, claims, enabled FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        let user = row.as_ref().map(Self::user_from_row).transpose()?;
        if let (Some(cache), Some(generation), Some(user)) = (cache, generation, &user) {
            cache.put(username, user.clone(), generation);
        }
        Ok(user)
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
        self.forget_user(&user.username);
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user(&self, username: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        self.forget_user(username);
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

impl Store {
    fn forget_user(&self, username: &str) {
        if let Some(cache) = &self.users {
            cache.forget(username);
        }
    }
}
