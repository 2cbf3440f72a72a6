//! The storage the authorization server needs, as narrow traits (research/aesthetics.md §3.8).
//! `ostiary-store` implements them on SQLite and PostgreSQL. Tokens and codes are looked up by
//! the SHA-256 of their value: the store never holds a usable token.

use async_trait::async_trait;
use ostiary_jose::KeyRing;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{ClientDescription, ServerConfig, User};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    Conflict,
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A single-use item (an authorization code) as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Redeemable<T> {
    /// Not redeemed yet.
    Fresh(T),
    /// Redeemed before: presenting it again is a replay.
    Spent(T),
    Missing,
}

/// What a grant spends for the tokens it issues, by hash: spent in the same commit as they are
/// written, so that neither happens without the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redeem<'a> {
    Code(&'a str),
    /// A refresh token, unless it was revoked.
    RefreshToken(&'a str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
    /// RFC 7592's registration access token: manages one client's registration.
    Registration,
    /// RFC 7591's initial access token: lets its holder register a client.
    InitialAccess,
    /// A token of the admin JSON API; its scope is the role (`admin` or `viewer`).
    AdminApi,
    /// A portal session's cookie; its scope is the role.
    AdminSession,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
            TokenKind::Registration => "registration",
            TokenKind::InitialAccess => "initial_access",
            TokenKind::AdminApi => "admin_api",
            TokenKind::AdminSession => "admin_session",
        }
    }

    /// Whether introspection and revocation deal with it (the OAuth tokens a client holds).
    pub fn is_oauth_token(self) -> bool {
        matches!(self, TokenKind::Access | TokenKind::Refresh)
    }
}

/// What the server remembers of a token it issued.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRecord {
    /// The key the token is stored under ([`crate::issue::token_hash`]): its SHA-256, base64url,
    /// after its issue time for tokens that carry one.
    pub hash: String,
    pub kind: TokenKind,
    pub client_id: String,
    /// The user the token acts for; `None` for client_credentials tokens.
    pub username: Option<String>,
    pub scope: String,
    /// Refresh tokens of one lineage share a family; a reused one revokes the whole family.
    pub family: String,
    /// The authorization code the token came from, if any (a replayed code revokes these).
    pub grant_id: Option<String>,
    pub jti: String,
    pub audience: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
    /// Extra facts for introspection and userinfo (e.g. `auth_time`).
    pub extra: Map<String, Value>,
}

/// An authorization code, as issued by /authorize.
#[derive(Clone, Debug, PartialEq)]
pub struct CodeRecord {
    pub hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub username: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: i64,
    pub grant_id: String,
    pub expires_at: i64,
    pub extra: Map<String, Value>,
}

#[async_trait]
pub trait ConfigStore: Send + Sync {
    async fn server_config(&self) -> StoreResult<Option<ServerConfig>>;
    async fn save_server_config(&self, config: &ServerConfig) -> StoreResult<()>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// The server's key ring (private keys included; the store seals it at rest).
    async fn key_ring(&self) -> StoreResult<Option<KeyRing>>;
    async fn save_key_ring(&self, ring: &KeyRing) -> StoreResult<()>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Saves a new client; `secret` is kept hashed for checking and sealed for client_secret_jwt.
    async fn create_client(
        &self,
        client: &ClientDescription,
        secret: Option<&str>,
    ) -> StoreResult<()>;
    async fn client(&self, client_id: &str) -> StoreResult<Option<ClientDescription>>;
    async fn clients(&self) -> StoreResult<Vec<ClientDescription>>;
    /// Replaces a client's description (not its secret); false when there is no such client.
    async fn update_client(&self, client: &ClientDescription) -> StoreResult<bool>;
    async fn set_client_secret(
        &self,
        client_id: &str,
        secret: &str,
        expires_at: i64,
    ) -> StoreResult<bool>;
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
    /// Compares `secret` with the stored one in constant time.
    async fn check_client_secret(&self, client_id: &str, secret: &str) -> StoreResult<bool>;
    /// The raw secret, unsealed: only for verifying client_secret_jwt assertions.
    async fn client_secret(&self, client_id: &str) -> StoreResult<Option<String>>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()>;
    async fn user(&self, username: &str) -> StoreResult<Option<User>>;
    async fn users(&self) -> StoreResult<Vec<User>>;
    async fn update_user(&self, user: &User) -> StoreResult<bool>;
    async fn delete_user(&self, username: &str) -> StoreResult<bool>;
    /// The argon2id PHC string.
    async fn password_hash(&self, username: &str) -> StoreResult<Option<String>>;
    async fn set_password_hash(&self, username: &str, hash: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()>;
    /// Inserts `tokens` together: all of them or none.
    async fn insert_tokens(&self, tokens: &[TokenRecord]) -> StoreResult<()>;
    async fn token(&self, hash: &str) -> StoreResult<Option<TokenRecord>>;
    /// Spends `item` at `now` and inserts `tokens`, in one commit; false, and nothing written,
    /// when `item` was spent before (of concurrent callers one wins), revoked or is gone.
    async fn redeem(&self, item: Redeem<'_>, now: i64, tokens: &[TokenRecord])
    -> StoreResult<bool>;
    /// Revokes one token; false when it was missing or revoked before. The revocations count
    /// what they revoked, not what was revoked before.
    async fn revoke_token(&self, hash: &str) -> StoreResult<bool>;
    /// Revokes every token of a refresh token family, also those a rotation of it commits at
    /// the same time.
    async fn revoke_family(&self, family: &str) -> StoreResult<u64>;
    /// Revokes every token issued from one authorization code.
    async fn revoke_grant(&self, grant_id: &str) -> StoreResult<u64>;
    async fn revoke_user_tokens(&self, username: &str) -> StoreResult<u64>;
    async fn revoke_client_tokens(&self, client_id: &str) -> StoreResult<u64>;
    /// Revokes the access and refresh tokens `username` got through the login session `sid`,
    /// except those granted `offline_access` (meant to outlive the session).
    async fn revoke_session_tokens(&self, username: &str, sid: &str) -> StoreResult<u64>;
    async fn insert_code(&self, code: &CodeRecord) -> StoreResult<()>;
    /// The code stored under `hash`, and whether it was redeemed ([`TokenStore::redeem`]).
    async fn code(&self, hash: &str) -> StoreResult<Redeemable<CodeRecord>>;
    /// Records a JWT `jti` until `expires_at`; false when it was seen before (a replay).
    async fn consume_jti(&self, key: &str, expires_at: i64, now: i64) -> StoreResult<bool>;
    /// Deletes what expired before `now`; returns how many rows went.
    async fn purge_expired(&self, now: i64) -> StoreResult<u64>;
}

/// A user's login session at the server (the reference's "user session").
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie value.
    pub hash: String,
    /// A public identifier (`sid` in ID tokens and front-channel logout).
    pub sid: String,
    pub username: String,
    pub auth_time: i64,
    pub expires_at: i64,
}

/// An authorization request waiting for the user (login or consent page).
#[derive(Clone, Debug, PartialEq)]
pub struct InteractionRecord {
    /// SHA-256 of the handle carried by the page's form.
    pub hash: String,
    /// The validated request, as JSON.
    pub request: Value,
    /// Bound to the browser that started it (a cookie), against login CSRF.
    pub browser: String,
    /// The user, once logged in.
    pub username: Option<String>,
    pub auth_time: Option<i64>,
    pub expires_at: i64,
}

#[async_trait]
pub trait InteractionStore: Send + Sync {
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;
    async fn session(&self, hash: &str) -> StoreResult<Option<SessionRecord>>;
    async fn delete_session(&self, hash: &str) -> StoreResult<bool>;
    /// The scopes `username` granted `client_id` so far (space-separated), if any.
    async fn consent(&self, username: &str, client_id: &str) -> StoreResult<Option<String>>;
    async fn save_consent(
        &self,
        username: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// Notes that `client_id` was signed in to through session `sid` (front-channel logout
    /// tells these clients when the session ends).
    async fn add_session_client(
        &self,
        sid: &str,
        client_id: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// The clients session `sid` signed in to, forgotten as they are returned.
    async fn take_session_clients(&self, sid: &str) -> StoreResult<Vec<String>>;
    async fn save_interaction(&self, interaction: &InteractionRecord) -> StoreResult<()>;
    async fn interaction(&self, hash: &str) -> StoreResult<Option<InteractionRecord>>;
    async fn delete_interaction(&self, hash: &str) -> StoreResult<bool>;
}

/// Everything the authorization server stores.
/// One change an administrator made: who, when, what, to which item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    /// What was done, as `item.verb` (`client.create`, `server_config.update`, …).
    pub action: String,
    /// The item's id (a client id, a username), empty for the server configuration.
    pub target: String,
    /// What changed, never a secret.
    pub detail: Value,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// The newest `limit` entries, newest first.
    async fn audit_log(&self, limit: usize) -> StoreResult<Vec<AuditEntry>>;
}

/// A consent (the reference's grant): the scopes a user let a client have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub username: String,
    pub client_id: String,
    pub scope: String,
    pub updated_at: i64,
}

/// What administrators look at across items: listings, searches and counts.
#[async_trait]
pub trait OverviewStore: Send + Sync {
    /// Sessions not expired at `now`, newest first; of `username` when given.
    async fn active_sessions(
        &self,
        username: Option<&str>,
        now: i64,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Ends the session whose public id is `sid`; whose it was, if there was one.
    async fn delete_session_by_sid(&self, sid: &str) -> StoreResult<Option<String>>;
    /// Consents, of `username` when given.
    async fn consents(&self, username: Option<&str>) -> StoreResult<Vec<Consent>>;
    async fn delete_consent(&self, username: &str, client_id: &str) -> StoreResult<bool>;
    /// Access and refresh tokens of a user and/or a client, newest first, at most `limit`.
    async fn find_tokens(
        &self,
        username: Option<&str>,
        client_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<TokenRecord>>;
    /// Access tokens issued per minute since `since`: (start of the minute, how many).
    async fn issued_per_minute(&self, since: i64) -> StoreResult<Vec<(i64, i64)>>;
    /// Revokes the admin API tokens and portal sessions held by `holder`; returns how many.
    async fn revoke_admin_tokens(&self, holder: &str) -> StoreResult<u64>;
}

pub trait ServerStore:
    ConfigStore
    + KeyStore
    + ClientStore
    + UserStore
    + TokenStore
    + InteractionStore
    + AuditStore
    + OverviewStore
{
}
impl<
    T: ConfigStore
        + KeyStore
        + ClientStore
        + UserStore
        + TokenStore
        + InteractionStore
        + AuditStore
        + OverviewStore,
> ServerStore for T
{
}
