//! The one implementation behind the portal's pages, the admin JSON API and `ostiary admin`: every
//! operation on the authorization server's configuration items, checked, applied, and written to
//! the audit log under the name of whoever did it.

use ostiary_jose::JwkSet;
use ostiary_server::config::{ClientDescription, ServerConfig, User};
use ostiary_server::registration::{self, Registrant};
use ostiary_server::store::{AuditEntry, Consent, ServerStore, StoreError, TokenKind, TokenRecord};
use serde_json::{Map, Value, json};

/// Why an operation was refused; each maps to one HTTP status and one CLI message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Bad input: nothing was saved.
    #[error("{0}")]
    Invalid(String),
    /// The store or the server failed.
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => AdminError::Conflict("it exists already".into()),
            e => AdminError::Failed(e.to_string()),
        }
    }
}

pub type AdminResult<T> = Result<T, AdminError>;

pub use ostiary_jose::clock::now;

fn to_value(item: &impl serde::Serialize) -> AdminResult<Value> {
    serde_json::to_value(item).map_err(|e| AdminError::Failed(e.to_string()))
}

/// Administration of one store by one actor (an administrator's name, `cli`, an API token's name).
pub struct Admin<'a> {
    pub store: &'a dyn ServerStore,
    pub actor: &'a str,
}

impl std::fmt::Debug for Admin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").field("actor", &self.actor).finish()
    }
}

impl Admin<'_> {
    pub(crate) async fn audit(&self, action: &str, target: &str, detail: Value) -> AdminResult<()> {
        let entry = AuditEntry {
            at: now(),
            actor: self.actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail,
        };
        Ok(self.store.record_audit(&entry).await?)
    }

    pub async fn audit_log(&self, limit: usize) -> AdminResult<Vec<AuditEntry>> {
        Ok(self.store.audit_log(limit).await?)
    }

    // ---- the server configuration ----

    /// The configuration, made with defaults on first use. Read as stored, so that one whose
    /// keys cannot be had (a missing certificate file) can still be seen and put right.
    pub async fn server_config(&self) -> AdminResult<ServerConfig> {
        match self.store.server_config().await? {
            Some(config) => Ok(config),
            None => ostiary_server::initialize(self.store, None, now())
                .await
                .map_err(|e| AdminError::Failed(e.to_string())),
        }
    }

    /// Changes the configuration as `change` edits its JSON form; saved only when the result is
    /// a valid configuration. Keys for newly chosen algorithms are made at once.
    pub async fn update_server_config(
        &self,
        change: impl FnOnce(&mut Value) -> AdminResult<()>,
    ) -> AdminResult<ServerConfig> {
        let before = to_value(&self.server_config().await?)?;
        let mut value = before.clone();
        change(&mut value)?;
        let config: ServerConfig = ostiary_server::config::from_json(value.clone())
            .map_err(|e| AdminError::Invalid(format!("invalid configuration: {e}")))?;
        config.validate().map_err(AdminError::Invalid)?;
        // Keys first: a configuration whose keys cannot be made or read (X.509 files that are not
        // there) is refused before it is saved, or the server would be left without keys.
        ostiary_server::state::ensure_keys(self.store, &config, now())
            .await
            .map_err(|e| AdminError::Invalid(format!("jwt: {e}")))?;
        self.store.save_server_config(&config).await?;
        let changed = changed_paths(&before, &to_value(&config)?, "");
        self.audit("server_config.update", "", json!({ "changed": changed }))
            .await?;
        Ok(config)
    }

    /// Rotate Keys: a new current key per algorithm; the old ones still verify and decrypt.
    pub async fn rotate_keys(&self) -> AdminResult<Value> {
        self.server_config().await?;
        let fresh = ostiary_server::state::rotate_keys(self.store, now())
            .await
            .map_err(|e| AdminError::Failed(e.to_string()))?;
        let fresh = to_value(&fresh)?;
        self.audit("keys.rotate", "", json!({ "new_keys": fresh }))
            .await?;
        Ok(fresh)
    }

    /// Removes keys retired at least `older_than` seconds ago.
    pub async fn retire_keys(&self, older_than: u64) -> AdminResult<Value> {
        let before = now() - older_than as i64 + 1;
        let retired = ostiary_server::state::retire_keys(self.store, before, now())
            .await
            .map_err(|e| AdminError::Failed(e.to_string()))?;
        let retired = to_value(&retired)?;
        self.audit("keys.retire", "", json!({ "retired": retired }))
            .await?;
        Ok(retired)
    }

    /// An RFC 7591 initial access token, for registration in `token` mode.
    pub async fn create_registration_token(&self, lifetime: i64) -> AdminResult<String> {
        self.server_config().await?;
        let token =
            ostiary_server::endpoints::register::new_initial_token(self.store, lifetime, now())
                .await
                .map_err(|e| AdminError::Failed(e.to_string()))?;
        self.audit(
            "registration_token.create",
            "",
            json!({ "expires_in": lifetime }),
        )
        .await?;
        Ok(token)
    }

    // ---- client descriptions ----

    pub async fn clients(&self) -> AdminResult<Vec<ClientDescription>> {
        Ok(self.store.clients().await?)
    }

    pub async fn client(&self, client_id: &str) -> AdminResult<ClientDescription> {
        self.store
            .client(client_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no client \"{client_id}\"")))
    }

    /// Creates a client description from registration metadata (plus Ostiary's own fields);
    /// returns the registration response, with the secret — shown this once.
    pub async fn create_client(&self, metadata: Map<String, Value>) -> AdminResult<Value> {
        let config = self.server_config().await?;
        let client =
            registration::client_from_metadata(&config, metadata, Registrant::Admin, now())
                .map_err(|e| AdminError::Invalid(format!("invalid client metadata: {e}")))?;
        let secret = client
            .is_confidential()
            .then(ostiary_server::issue::random_token);
        self.store
            .create_client(&client, secret.as_deref())
            .await
            .map_err(|e| match e {
                StoreError::Conflict => {
                    AdminError::Conflict(format!("client \"{}\" exists already", client.client_id))
                }
                e => e.into(),
            })?;
        self.audit(
            "client.create",
            &client.client_id,
            json!({ "name": client.name }),
        )
        .await?;
        Ok(registration::response(&client, secret.as_deref(), None))
    }

    /// Changes the members of `changes` (the client description's own vocabulary); the id stays.
    pub async fn update_client(
        &self,
        client_id: &str,
        changes: Map<String, Value>,
    ) -> AdminResult<ClientDescription> {
        let client = self.client(client_id).await?;
        if changes
            .get("client_id")
            .is_some_and(|v| v.as_str() != Some(client_id))
        {
            return Err(AdminError::Invalid("client_id cannot change".into()));
        }
        let mut value = to_value(&client)?;
        let changed: Vec<String> = changes.keys().cloned().collect();
        if let Some(object) = value.as_object_mut() {
            object.extend(changes);
        }
        let updated: ClientDescription = ostiary_server::config::from_json(value)
            .map_err(|e| AdminError::Invalid(format!("invalid client metadata: {e}")))?;
        updated.validate().map_err(AdminError::Invalid)?;
        self.store.update_client(&updated).await?;
        self.audit("client.update", client_id, json!({ "changed": changed }))
            .await?;
        Ok(updated)
    }

    /// Deletes a client description and revokes every token it holds.
    pub async fn delete_client(&self, client_id: &str) -> AdminResult<()> {
        if !self.store.delete_client(client_id).await? {
            return Err(AdminError::NotFound(format!("no client \"{client_id}\"")));
        }
        let revoked = self.store.revoke_client_tokens(client_id).await?;
        self.audit(
            "client.delete",
            client_id,
            json!({ "tokens_revoked": revoked }),
        )
        .await
    }

    /// A new secret for a confidential client (shown this once), expiring per the intervals.
    pub async fn regenerate_secret(&self, client_id: &str) -> AdminResult<Value> {
        let config = self.server_config().await?;
        let client = self.client(client_id).await?;
        if !client.is_confidential() {
            return Err(AdminError::Invalid("public clients have no secret".into()));
        }
        let secret = ostiary_server::issue::random_token();
        let expires = match config.intervals.client_secret {
            0 => 0,
            n => now() + n as i64,
        };
        self.store
            .set_client_secret(client_id, &secret, expires)
            .await?;
        self.audit(
            "client.regenerate_secret",
            client_id,
            json!({ "client_secret_expires_at": expires }),
        )
        .await?;
        Ok(json!({
            "client_id": client_id,
            "client_secret": secret,
            "client_secret_expires_at": expires,
        }))
    }

    /// Update JWKS: fetches the client's `jwks_uri` now and returns it with the keys found. The
    /// node whose portal or API asked uses them at once; other nodes fetch again within
    /// [`JWKS_TTL`](ostiary_server::client_keys::JWKS_TTL), or at the first signature their keys
    /// do not verify.
    pub async fn update_client_jwks(&self, client_id: &str) -> AdminResult<(String, JwkSet)> {
        let config = self.server_config().await?;
        let client = self.client(client_id).await?;
        let Some(uri) = client.jwks_uri else {
            return Err(AdminError::Invalid(
                "this client has no jwks_uri: its keys are part of its description".into(),
            ));
        };
        let keys = ostiary_server::client_keys::fetch_set(&config, &uri)
            .await
            .map_err(|why| AdminError::Invalid(format!("cannot fetch {uri}: {why}")))?;
        let kids: Vec<&str> = keys.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        self.audit(
            "client.update_jwks",
            client_id,
            json!({ "jwks_uri": uri, "kids": kids }),
        )
        .await?;
        Ok((uri, keys))
    }

    // ---- users ----

    pub async fn users(&self) -> AdminResult<Vec<User>> {
        Ok(self.store.users().await?)
    }

    pub async fn user(&self, username: &str) -> AdminResult<User> {
        self.store
            .user(username)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no user \"{username}\"")))
    }

    pub async fn create_user(
        &self,
        username: &str,
        password: String,
        claims: Map<String, Value>,
    ) -> AdminResult<User> {
        if username.is_empty() || username.chars().any(char::is_whitespace) {
            return Err(AdminError::Invalid(
                "a username is not empty and has no spaces".into(),
            ));
        }
        if password.is_empty() {
            return Err(AdminError::Invalid("the password is empty".into()));
        }
        let hash = ostiary_server::password::hash_async(password)
            .await
            .map_err(AdminError::Failed)?;
        let user = User {
            username: username.to_owned(),
            claims,
            enabled: true,
        };
        self.store
            .create_user(&user, &hash)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => {
                    AdminError::Conflict(format!("user \"{username}\" exists already"))
                }
                e => e.into(),
            })?;
        self.audit("user.create", username, json!({})).await?;
        Ok(user)
    }

    /// Replaces the claims and/or the enabled flag; a disabled user's tokens are revoked.
    pub async fn update_user(
        &self,
        username: &str,
        claims: Option<Map<String, Value>>,
        enabled: Option<bool>,
    ) -> AdminResult<User> {
        let mut user = self.user(username).await?;
        let mut changed = Vec::new();
        if let Some(claims) = claims {
            user.claims = claims;
            changed.push("claims");
        }
        if let Some(enabled) = enabled {
            user.enabled = enabled;
            changed.push("enabled");
        }
        self.store.update_user(&user).await?;
        if !user.enabled {
            self.store.revoke_user_tokens(username).await?;
        }
        self.audit(
            "user.update",
            username,
            json!({ "changed": changed, "enabled": user.enabled }),
        )
        .await?;
        Ok(user)
    }

    /// Deletes a user and revokes every token issued for them.
    pub async fn delete_user(&self, username: &str) -> AdminResult<()> {
        if !self.store.delete_user(username).await? {
            return Err(AdminError::NotFound(format!("no user \"{username}\"")));
        }
        let revoked = self.store.revoke_user_tokens(username).await?;
        self.audit(
            "user.delete",
            username,
            json!({ "tokens_revoked": revoked }),
        )
        .await
    }

    /// Sets a user's password, revoking their tokens and ending their login sessions.
    pub async fn set_password(&self, username: &str, password: String) -> AdminResult<()> {
        if password.is_empty() {
            return Err(AdminError::Invalid("the password is empty".into()));
        }
        let hash = ostiary_server::password::hash_async(password)
            .await
            .map_err(AdminError::Failed)?;
        if !self.store.set_password_hash(username, &hash).await? {
            return Err(AdminError::NotFound(format!("no user \"{username}\"")));
        }
        // A password is changed when someone else may know it: what was signed in with the old
        // one ends with it.
        let revoked = self.store.revoke_user_tokens(username).await?;
        let mut ended = 0;
        for session in self.store.active_sessions(Some(username), now()).await? {
            ended += u64::from(
                self.store
                    .delete_session_by_sid(&session.sid)
                    .await?
                    .is_some(),
            );
        }
        self.audit(
            "user.set_password",
            username,
            json!({ "tokens_revoked": revoked, "sessions_ended": ended }),
        )
        .await
    }

    // ---- admin API tokens ----

    /// A new admin API token named `name` with `role`, good for `lifetime` seconds; its value
    /// is shown this once (only its hash is kept).
    pub async fn create_api_token(
        &self,
        name: &str,
        role: Role,
        lifetime: i64,
    ) -> AdminResult<String> {
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AdminError::Invalid(
                "a token name is not empty and has no spaces".into(),
            ));
        }
        if lifetime <= 0 {
            return Err(AdminError::Invalid("the lifetime must be positive".into()));
        }
        let token = ostiary_server::issue::random_token();
        let now = now();
        self.store
            .insert_token(&TokenRecord {
                hash: ostiary_server::issue::token_hash(&token),
                kind: TokenKind::AdminApi,
                client_id: String::new(),
                username: Some(api_actor(name)),
                scope: role.as_str().to_owned(),
                family: ostiary_server::issue::random_token(),
                grant_id: None,
                jti: ostiary_server::issue::random_token(),
                audience: Vec::new(),
                issued_at: now,
                expires_at: now.saturating_add(lifetime),
                revoked: false,
                extra: Map::new(),
            })
            .await?;
        self.audit(
            "api_token.create",
            name,
            json!({ "role": role.as_str(), "expires_in": lifetime }),
        )
        .await?;
        Ok(token)
    }

    /// Revokes every admin API token named `name`; returns how many.
    pub async fn revoke_api_tokens(&self, name: &str) -> AdminResult<u64> {
        let revoked = self.store.revoke_admin_tokens(&api_actor(name)).await?;
        self.audit("api_token.revoke", name, json!({ "revoked": revoked }))
            .await?;
        Ok(revoked)
    }

    // ---- sessions, grants and tokens ----

    /// Active login sessions (their public ids, never the cookie), of `username` when given.
    pub async fn sessions(&self, username: Option<&str>) -> AdminResult<Vec<Value>> {
        let sessions = self.store.active_sessions(username, now()).await?;
        Ok(sessions
            .into_iter()
            .map(|s| {
                json!({
                    "sid": s.sid, "username": s.username,
                    "auth_time": s.auth_time, "expires_at": s.expires_at,
                })
            })
            .collect())
    }

    /// Ends a login session, with the tokens issued through it, as a logout does: its user
    /// must sign in again. The caller then tells the session's clients ([`tell_clients`]).
    pub async fn end_session(&self, sid: &str) -> AdminResult<()> {
        let Some(username) = self.store.delete_session_by_sid(sid).await? else {
            return Err(AdminError::NotFound(format!("no session \"{sid}\"")));
        };
        let revoked = self.store.revoke_session_tokens(&username, sid).await?;
        self.audit("session.revoke", sid, json!({ "tokens_revoked": revoked }))
            .await
    }

    /// Consents users gave clients (the reference's grants), of `username` when given.
    pub async fn grants(&self, username: Option<&str>) -> AdminResult<Vec<Consent>> {
        Ok(self.store.consents(username).await?)
    }

    /// Forgets a consent: the client must ask the user again.
    pub async fn revoke_grant(&self, username: &str, client_id: &str) -> AdminResult<()> {
        if !self.store.delete_consent(username, client_id).await? {
            return Err(AdminError::NotFound(format!(
                "no grant of \"{username}\" to \"{client_id}\""
            )));
        }
        self.audit("grant.revoke", username, json!({ "client_id": client_id }))
            .await
    }

    /// Access and refresh tokens of a user and/or a client, newest first. Each is named by its
    /// `id` (the hash the server keeps: never the token).
    pub async fn find_tokens(
        &self,
        username: Option<&str>,
        client_id: Option<&str>,
        limit: usize,
    ) -> AdminResult<Vec<Value>> {
        let found = self.store.find_tokens(username, client_id, limit).await?;
        Ok(found
            .into_iter()
            .map(|t| {
                json!({
                    "id": t.hash, "kind": t.kind.as_str(), "client_id": t.client_id,
                    "username": t.username, "scope": t.scope, "issued_at": t.issued_at,
                    "expires_at": t.expires_at, "revoked": t.revoked,
                })
            })
            .collect())
    }

    /// Revokes one token by its `id`; a refresh token takes its family with it.
    pub async fn revoke_token(&self, id: &str) -> AdminResult<()> {
        let record = self
            .store
            .token(id)
            .await?
            .filter(|t| t.kind.is_oauth_token())
            .ok_or_else(|| AdminError::NotFound(format!("no token \"{id}\"")))?;
        match record.kind {
            TokenKind::Refresh => {
                self.store.revoke_family(&record.family).await?;
            }
            _ => {
                self.store.revoke_token(id).await?;
            }
        }
        self.audit(
            "token.revoke",
            id,
            json!({ "kind": record.kind.as_str(), "client_id": record.client_id }),
        )
        .await
    }

    /// Access tokens issued per minute over the last `minutes`, oldest first, zeros included.
    pub async fn issued_per_minute(&self, minutes: i64) -> AdminResult<Vec<(i64, i64)>> {
        let end = now() / 60 * 60;
        let start = end - (minutes - 1) * 60;
        let counted = self.store.issued_per_minute(start).await?;
        Ok((0..minutes)
            .map(|i| {
                let minute = start + i * 60;
                let n = counted
                    .iter()
                    .find(|(m, _)| *m == minute)
                    .map_or(0, |(_, n)| *n);
                (minute, n)
            })
            .collect())
    }

    // ---- tokens ----

    /// Revokes every token of a user or of a client; returns how many.
    pub async fn revoke_tokens(&self, of: TokensOf<'_>) -> AdminResult<u64> {
        if matches!(of, TokensOf::User("") | TokensOf::Client("")) {
            return Err(AdminError::Invalid("whose tokens: a name is needed".into()));
        }
        let (action, target, revoked) = match of {
            TokensOf::User(u) => ("tokens.revoke_user", u, self.store.revoke_user_tokens(u)),
            TokensOf::Client(c) => (
                "tokens.revoke_client",
                c,
                self.store.revoke_client_tokens(c),
            ),
        };
        let revoked = revoked.await?;
        self.audit(action, target, json!({ "revoked": revoked }))
            .await?;
        Ok(revoked)
    }
}

/// What an administrator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Read only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// The actor an admin API token acts as: its name, marked as a token's.
fn api_actor(name: &str) -> String {
    format!("api-token:{name}")
}

/// Who holds an admin API `token`, and with which role; `None` when it is unknown, revoked or
/// expired.
pub async fn api_token_holder(
    store: &dyn ServerStore,
    token: &str,
) -> AdminResult<Option<(String, Role)>> {
    let record = store
        .token(&ostiary_server::issue::token_hash(token))
        .await?;
    Ok(record
        .filter(|t| t.kind == TokenKind::AdminApi && !t.revoked && t.expires_at > now())
        .and_then(|t| Some((t.username?, Role::parse(&t.scope)?))))
}

/// Whose tokens.
#[derive(Clone, Copy, Debug)]
pub enum TokensOf<'a> {
    User(&'a str),
    Client(&'a str),
}

/// The dotted paths whose values differ between `before` and `after` (for the audit log: names,
/// never values, so that no secret lands there).
fn changed_paths(before: &Value, after: &Value, prefix: &str) -> Vec<String> {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    changed_paths(
                        a.get(k).unwrap_or(&Value::Null),
                        b.get(k).unwrap_or(&Value::Null),
                        &path,
                    )
                })
                .collect()
        }
        (a, b) if a == b => Vec::new(),
        _ => vec![prefix.to_owned()],
    }
}

/// Sets `a.b.c` in a JSON object; every step but the last must exist (typos are errors).
pub fn set_path(root: &mut Value, path: &str, new: Value) -> AdminResult<()> {
    let mut node = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let object = node.as_object_mut().ok_or_else(|| {
            AdminError::Invalid(format!(
                "\"{path}\": {} is not an object",
                parts[..i].join(".")
            ))
        })?;
        if i + 1 == parts.len() {
            object.insert((*part).to_owned(), new);
            return Ok(());
        }
        node = object.get_mut(*part).ok_or_else(|| {
            AdminError::Invalid(format!(
                "\"{path}\": no option \"{}\"",
                parts[..=i].join(".")
            ))
        })?;
    }
    Ok(())
}

/// The first member `patch` names that `target` does not have (a dotted path), so that a patch
/// with a typo is refused even where RFC 7396 would make it a no-op (`{"typo": null}`).
pub fn unknown_member(target: &Value, patch: &Value, prefix: &str) -> Option<String> {
    let (Value::Object(target), Value::Object(patch)) = (target, patch) else {
        return None;
    };
    patch.iter().find_map(|(key, value)| {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match target.get(key) {
            None => Some(path),
            Some(current) => unknown_member(current, value, &path),
        }
    })
}

/// RFC 7396 JSON merge patch: members of `patch` replace those of `target`, objects merge, and
/// `null` removes. Unknown top-level keys are refused (by the configuration's own parsing).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(object) = target {
        for (key, value) in changes {
            if value.is_null() {
                object.remove(key);
            } else {
                merge_patch(object.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Tells the clients of the session `sid`, which an administrator just ended, by back-channel
/// logout. The session has ended whatever happens here: a failure is logged.
/// The deliveries run on in the background; each answers whether its client took the token.
pub async fn tell_clients(
    server: &ostiary_server::Server,
    sid: &str,
) -> Vec<tokio::task::JoinHandle<bool>> {
    use ostiary_server::endpoints::logout::back_channel_logout_of_session;
    back_channel_logout_of_session(server, sid)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the ended session's clients were not told");
            Vec::new()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_paths_name_what_differs_and_nothing_else() {
        let before = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1]});
        let after = json!({"a": 1, "b": {"c": 2, "d": 4}, "e": [1, 2], "f": true});
        assert_eq!(changed_paths(&before, &after, ""), ["b.d", "e", "f"]);
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn unknown_members_of_a_patch_are_named() {
        let target = json!({"jwt": {"signing_alg": "RS256", "x509": null}, "description": ""});
        assert_eq!(
            unknown_member(&target, &json!({"description": "x"}), ""),
            None
        );
        assert_eq!(
            unknown_member(
                &target,
                &json!({"jwt": {"x509": {"certificate_file": "c"}}}),
                ""
            ),
            None
        );
        assert_eq!(
            unknown_member(&target, &json!({"": null}), ""),
            Some(String::new())
        );
        assert_eq!(
            unknown_member(&target, &json!({"jwt": {"sigining_alg": null}}), ""),
            Some("jwt.sigining_alg".into())
        );
    }

    #[test]
    fn set_path_refuses_typos() {
        let mut value = json!({"jwt": {"signing_alg": "RS256"}});
        set_path(&mut value, "jwt.signing_alg", json!("ES256")).unwrap();
        assert_eq!(value["jwt"]["signing_alg"], "ES256");
        assert!(set_path(&mut value, "jtw.signing_alg", json!("x")).is_err());
    }
}
