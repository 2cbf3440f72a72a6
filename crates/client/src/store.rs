//! What the client runtime stores, as narrow traits; `ostiary-store` implements them on SQLite and
//! PostgreSQL, sealing client configurations (secrets, keys) and tokens at rest.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{ClientConfiguration, ServerDescription};
use crate::error::ClientResult;

/// Tokens held for one application and one session (a web session, or `cli`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredTokens {
    pub access_token: String,
    pub token_type: String,
    /// When the access token expires (seconds since the epoch), if the server said.
    pub expires_at: Option<i64>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: Option<String>,
    /// The validated ID token's claims.
    pub id_token_claims: Option<Map<String, Value>>,
}

#[async_trait]
pub trait ServerDescriptionStore: Send + Sync {
    /// Creates or replaces the description of `server.issuer`.
    async fn save_server(&self, server: &ServerDescription) -> ClientResult<()>;
    async fn server(&self, issuer: &str) -> ClientResult<Option<ServerDescription>>;
    async fn servers(&self) -> ClientResult<Vec<ServerDescription>>;
    async fn delete_server(&self, issuer: &str) -> ClientResult<bool>;
}

#[async_trait]
pub trait ClientConfigStore: Send + Sync {
    /// Creates or replaces the configuration of `config.app`.
    async fn save_configuration(&self, config: &ClientConfiguration) -> ClientResult<()>;
    async fn configuration(&self, app: &str) -> ClientResult<Option<ClientConfiguration>>;
    async fn configurations(&self) -> ClientResult<Vec<ClientConfiguration>>;
    async fn delete_configuration(&self, app: &str) -> ClientResult<bool>;
}

#[async_trait]
pub trait ClientTokenStore: Send + Sync {
    /// Keeps `tokens` for `app` and `session` until `expires_at` (seconds since the epoch).
    async fn save_tokens(
        &self,
        app: &str,
        session: &str,
        tokens: &StoredTokens,
        expires_at: i64,
    ) -> ClientResult<()>;
    /// The tokens, unless they expired.
    async fn tokens(
        &self,
        app: &str,
        session: &str,
        now: i64,
    ) -> ClientResult<Option<StoredTokens>>;
    async fn delete_tokens(&self, app: &str, session: &str) -> ClientResult<bool>;
}

/// Everything the client runtime stores.
pub trait RpStore: ServerDescriptionStore + ClientConfigStore + ClientTokenStore {}
impl<T: ServerDescriptionStore + ClientConfigStore + ClientTokenStore> RpStore for T {}
