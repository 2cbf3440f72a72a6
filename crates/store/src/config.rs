//! The server configuration and the sealed key ring.

use super::*;

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

pub(crate) const KEY_RING_CONTEXT: &str = "key_ring:server";

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
