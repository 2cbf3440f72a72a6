//! Client descriptions, with secrets kept hashed (to check) and sealed (for client_secret_jwt).

use super::*;
use crate::cache::ClientRow;

pub(crate) fn secret_context(client_id: &str) -> String {
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
        self.forget_client(&client.client_id);
        Ok(())
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<ClientDescription>> {
        Ok(self.client_row(client_id).await?.map(|row| row.client))
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
        self.forget_client(&client.client_id);
        Ok(done.rows_affected() == 1)
    }

    async fn set_client_secret(
        &self,
        client_id: &str,
        secret: &str,
        expires_at: i64,
    ) -> StoreResult<bool> {
        // Read from the database, not the cache: a description remembered from before another
        // node's update would be written back over it.
        let Some(ClientRow { mut client, .. }) = self.read_client_row(client_id).await? else {
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
        self.forget_client(client_id);
        Ok(done.rows_affected() == 1)
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        self.forget_client(client_id);
        Ok(done.rows_affected() == 1)
    }

    async fn check_client_secret(&self, client_id: &str, secret: &str) -> StoreResult<bool> {
        let stored = self
            .client_row(client_id)
            .await?
            .and_then(|row| row.secret_hash);
        let presented = hash_secret(secret);
        Ok(match stored {
            Some(hash) => verify_slices_are_equal(hash.as_bytes(), presented.as_bytes()).is_ok(),
            None => false,
        })
    }

    async fn client_secret(&self, client_id: &str) -> StoreResult<Option<String>> {
        // From the cached row, still sealed: a token encrypted to a client's secret, or a
        // client_secret_jwt assertion checked, reads no row.
        let row = self.client_row(client_id).await?;
        let Some(sealed) = row.and_then(|row| row.secret_sealed) else {
            return Ok(None);
        };
        let raw = self
            .master
            .open(&secret_context(client_id), &sealed)
            .map_err(corrupt)?;
        String::from_utf8(raw).map(Some).map_err(corrupt)
    }
}

impl Store {
    fn forget_client(&self, client_id: &str) {
        if let Some(cache) = &self.clients {
            cache.forget(client_id);
        }
    }

    /// A client with its secret's hash and sealed copy, from the cache or else the database.
    async fn client_row(&self, client_id: &str) -> StoreResult<Option<ClientRow>> {
        let cache = self.clients.as_deref();
        if let Some(row) = cache.and_then(|c| c.get(client_id)) {
            return Ok(Some(row));
        }
        let generation = cache.map(|c| c.generation());
        let row = self.read_client_row(client_id).await?;
        if let (Some(row), Some(cache), Some(generation)) = (&row, cache, generation) {
            cache.put(client_id, row.clone(), generation);
        }
        Ok(row)
    }

    /// A client row as the database has it.
    async fn read_client_row(&self, client_id: &str) -> StoreResult<Option<ClientRow>> {
        let row = sqlx::query(
            "SELECT body, secret_hash, secret_sealed FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let body: String = row.try_get("body").map_err(corrupt)?;
        Ok(Some(ClientRow {
            client: serde_json::from_str(&body).map_err(corrupt)?,
            secret_hash: row.try_get("secret_hash").map_err(corrupt)?,
            secret_sealed: row.try_get("secret_sealed").map_err(corrupt)?,
        }))
    }
}
