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
    /// Forgets every session of `app` whose ID token carried `sid` (front-channel logout).
    async fn delete_tokens_of_sid(&self, app: &str, sid: &str) -> ClientResult<u64>;
}

/// An authorization request on its way: what the redirect back must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingAuthorization {
    pub app: String,
    pub session: String,
    pub state: String,
    pub nonce: Option<String>,
    pub code_verifier: Option<String>,
    pub redirect_uri: String,
    pub response_type: String,
    pub max_age: Option<u64>,
    /// Where the application wants the browser after the sign-in.
    pub return_to: Option<String>,
    /// The request object published for `request_uri`, if the request went by reference.
    pub request_object: Option<String>,
}

#[async_trait]
pub trait PendingStore: Send + Sync {
    async fn save_pending(
        &self,
        pending: &PendingAuthorization,
        expires_at: i64,
    ) -> ClientResult<()>;
    /// The pending request of `state`, removed as it is returned (a state is good once).
    async fn take_pending(
        &self,
        state: &str,
        now: i64,
    ) -> ClientResult<Option<PendingAuthorization>>;
    /// The pending request of `state`, left in place (to serve its request object).
    async fn pending(&self, state: &str, now: i64) -> ClientResult<Option<PendingAuthorization>>;
}

/// Everything the client runtime stores.
pub trait RpStore:
    ServerDescriptionStore + ClientConfigStore + ClientTokenStore + PendingStore
{
}
impl<T: ServerDescriptionStore + ClientConfigStore + ClientTokenStore + PendingStore> RpStore
    for T
{
}
