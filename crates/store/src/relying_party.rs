//! The client runtime's storage: server descriptions (public metadata, kept readable), client
//! configurations and tokens (sealed whole: they hold secrets, private keys and bearer tokens).

use ostiary_client::store::{
    ClientConfigStore, ClientTokenStore, PendingAuthorization, PendingStore,
    ServerDescriptionStore, StoredTokens,
};
use ostiary_client::{ClientConfiguration, ClientError, ClientResult, ServerDescription};

use super::*;

fn store_error(e: StoreError) -> ClientError {
    ClientError::Store(e.to_string())
}

pub(crate) fn client_context(app: &str) -> String {
    format!("rp_client:{app}")
}

pub(crate) fn tokens_context(app: &str, session: &str) -> String {
    format!("rp_tokens:{app}:{session}")
}

impl Store {
    fn seal_json(&self, context: &str, value: &impl serde::Serialize) -> ClientResult<String> {
        let json = serde_json::to_vec(value).map_err(|e| ClientError::Store(e.to_string()))?;
        Ok(self.master.seal(context, &json))
    }

    fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        context: &str,
        sealed: &str,
    ) -> ClientResult<T> {
        let json = self
            .master
            .open(context, sealed)
            .map_err(|e| store_error(corrupt(e)))?;
        serde_json::from_slice(&json).map_err(|e| store_error(corrupt(e)))
    }
}

#[async_trait]
impl ServerDescriptionStore for Store {
    async fn save_server(&self, server: &ServerDescription) -> ClientResult<()> {
        let body = serde_json::to_string(server).map_err(|e| ClientError::Store(e.to_string()))?;
        sqlx::query(
            "INSERT INTO rp_servers (issuer, body, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (issuer) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&server.issuer)
        .bind(body)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| store_error(unavailable(e)))?;
        Ok(())
    }

    async fn server(&self, issuer: &str) -> ClientResult<Option<ServerDescription>> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM rp_servers WHERE issuer = $1")
                .bind(issuer)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| store_error(unavailable(e)))?;
        body.map(|b| serde_json::from_str(&b).map_err(|e| store_error(corrupt(e))))
            .transpose()
    }

    async fn servers(&self) -> ClientResult<Vec<ServerDescription>> {
        let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM rp_servers ORDER BY issuer")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_error(unavailable(e)))?;
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(|e| store_error(corrupt(e))))
            .collect()
    }

    async fn delete_server(&self, issuer: &str) -> ClientResult<bool> {
        let done = sqlx::query("DELETE FROM rp_servers WHERE issuer = $1")
            .bind(issuer)
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(unavailable(e)))?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl ClientConfigStore for Store {
    async fn save_configuration(&self, config: &ClientConfiguration) -> ClientResult<()> {
        let sealed = self.seal_json(&client_context(&config.app), config)?;
        sqlx::query(
            "INSERT INTO rp_clients (app, issuer, sealed, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (app) DO UPDATE SET issuer = excluded.issuer, sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(&config.app)
        .bind(&config.issuer)
        .bind(sealed)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| store_error(unavailable(e)))?;
        Ok(())
    }

    async fn configuration(&self, app: &str) -> ClientResult<Option<ClientConfiguration>> {
        let sealed: Option<String> =
            sqlx::query_scalar("SELECT sealed FROM rp_clients WHERE app = $1")
                .bind(app)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| store_error(unavailable(e)))?;
        sealed
            .map(|s| self.open_json(&client_context(app), &s))
            .transpose()
    }

    async fn configurations(&self) -> ClientResult<Vec<ClientConfiguration>> {
        let rows = sqlx::query("SELECT app, sealed FROM rp_clients ORDER BY app")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_error(unavailable(e)))?;
        rows.iter()
            .map(|r| {
                let app: String = r.try_get("app").map_err(|e| store_error(corrupt(e)))?;
                let sealed: String = r.try_get("sealed").map_err(|e| store_error(corrupt(e)))?;
                self.open_json(&client_context(&app), &sealed)
            })
            .collect()
    }

    async fn delete_configuration(&self, app: &str) -> ClientResult<bool> {
        let done = sqlx::query("DELETE FROM rp_clients WHERE app = $1")
            .bind(app)
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(unavailable(e)))?;
        sqlx::query("DELETE FROM rp_tokens WHERE app = $1")
            .bind(app)
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(unavailable(e)))?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl ClientTokenStore for Store {
    async fn save_tokens(
        &self,
        app: &str,
        session: &str,
        tokens: &StoredTokens,
        expires_at: i64,
    ) -> ClientResult<()> {
        let sealed = self.seal_json(&tokens_context(app, session), tokens)?;
        let sid = tokens
            .id_token_claims
            .as_ref()
            .and_then(|c| c.get("sid"))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        sqlx::query(
            "INSERT INTO rp_tokens (app, session, sealed, expires_at, sid) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (app, session) DO UPDATE SET sealed = excluded.sealed, expires_at = excluded.expires_at, sid = excluded.sid",
        )
        .bind(app)
        .bind(session)
        .bind(sealed)
        .bind(expires_at)
        .bind(sid)
        .execute(&self.pool)
        .await
        .map_err(|e| store_error(unavailable(e)))?;
        Ok(())
    }

    async fn tokens(
        &self,
        app: &str,
        session: &str,
        now: i64,
    ) -> ClientResult<Option<StoredTokens>> {
        let sealed: Option<String> = sqlx::query_scalar(
            "SELECT sealed FROM rp_tokens WHERE app = $1 AND session = $2 AND expires_at > $3",
        )
        .bind(app)
        .bind(session)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| store_error(unavailable(e)))?;
        sealed
            .map(|s| self.open_json(&tokens_context(app, session), &s))
            .transpose()
    }

    async fn delete_tokens_of_sid(&self, app: &str, sid: &str) -> ClientResult<u64> {
        let done = sqlx::query("DELETE FROM rp_tokens WHERE app = $1 AND sid = $2")
            .bind(app)
            .bind(sid)
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(unavailable(e)))?;
        Ok(done.rows_affected())
    }

    async fn delete_tokens(&self, app: &str, session: &str) -> ClientResult<bool> {
        let done = sqlx::query("DELETE FROM rp_tokens WHERE app = $1 AND session = $2")
            .bind(app)
            .bind(session)
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(unavailable(e)))?;
        Ok(done.rows_affected() == 1)
    }
}

pub(crate) fn pending_context(state: &str) -> String {
    format!("rp_pending:{state}")
}

#[async_trait]
impl PendingStore for Store {
    async fn save_pending(
        &self,
        pending: &PendingAuthorization,
        expires_at: i64,
    ) -> ClientResult<()> {
        let sealed = self.seal_json(&pending_context(&pending.state), pending)?;
        sqlx::query("INSERT INTO rp_pending (state, sealed, expires_at) VALUES ($1, $2, $3)")
            .bind(&pending.state)
            .bind(sealed)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(|e| store_error(unavailable(e)))?;
        Ok(())
    }

    async fn pending(&self, state: &str, now: i64) -> ClientResult<Option<PendingAuthorization>> {
        let sealed: Option<String> = sqlx::query_scalar(
            "SELECT sealed FROM rp_pending WHERE state = $1 AND expires_at > $2",
        )
        .bind(state)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| store_error(unavailable(e)))?;
        sealed
            .map(|s| self.open_json(&pending_context(state), &s))
            .transpose()
    }

    async fn take_pending(
        &self,
        state: &str,
        now: i64,
    ) -> ClientResult<Option<PendingAuthorization>> {
        // One statement: of two redirects with one state, one wins.
        let row: Option<(String, i64)> =
            sqlx::query_as("DELETE FROM rp_pending WHERE state = $1 RETURNING sealed, expires_at")
                .bind(state)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| store_error(unavailable(e)))?;
        match row {
            Some((sealed, expires_at)) if expires_at > now => {
                self.open_json(&pending_context(state), &sealed).map(Some)
            }
            _ => Ok(None),
        }
    }
}
