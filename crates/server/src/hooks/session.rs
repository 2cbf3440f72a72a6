//! `SessionStore`: the user's sign-in at the server, across authorization requests (the
//! reference's session maintenance class). The default keeps an opaque HttpOnly cookie bound to a
//! stored session record.

use async_trait::async_trait;
use axum::http::HeaderMap;
use axum::http::header::COOKIE;

use super::HookResult;
use crate::config::ServerConfig;
use crate::issue::{random_token, token_hash};
use crate::state::Server;
use crate::store::SessionRecord;

pub const SESSION_COOKIE: &str = "ostiary_session";

/// A signed-in user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSession {
    /// A public identifier of the session (`sid` in ID tokens, front-channel logout).
    pub sid: String,
    pub username: String,
    pub auth_time: i64,
}

/// `Set-Cookie` header values for the response.
pub type SetCookies = Vec<String>;

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The user this browser is signed in as, if any and not expired.
    async fn get_user(
        &self,
        server: &Server,
        config: &ServerConfig,
        request: &HeaderMap,
        now: i64,
    ) -> HookResult<Option<UserSession>>;

    /// Starts a session for a sign-in that just happened, replacing the browser's old one.
    async fn login(
        &self,
        server: &Server,
        config: &ServerConfig,
        request: &HeaderMap,
        username: &str,
        now: i64,
    ) -> HookResult<(UserSession, SetCookies)>;

    /// Ends the browser's session, if any.
    async fn logout(
        &self,
        server: &Server,
        config: &ServerConfig,
        request: &HeaderMap,
    ) -> HookResult<SetCookies>;
}

/// The value of cookie `name` in a request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure unless the issuer is plain HTTP
/// (loopback development), scoped to the issuer's path.
pub fn set_cookie(config: &ServerConfig, name: &str, value: &str, max_age: Option<i64>) -> String {
    let secure = if config.issuer.tls { "; Secure" } else { "" };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    format!(
        "{name}={value}; Path={}; HttpOnly; SameSite=Lax{secure}{age}",
        config.issuer.path()
    )
}

/// The default: a random cookie value, stored by its hash with the session.
#[derive(Debug, Default)]
pub struct CookieSessions;

#[async_trait]
impl SessionStore for CookieSessions {
    async fn get_user(
        &self,
        server: &Server,
        config: &ServerConfig,
        request: &HeaderMap,
        now: i64,
    ) -> HookResult<Option<UserSession>> {
        if !config.support_user_session {
            return Ok(None);
        }
        let Some(value) = cookie(request, SESSION_COOKIE) else {
            return Ok(None);
        };
        let session = server.store().session(&token_hash(value)).await?;
        Ok(session.filter(|s| s.expires_at > now).map(|s| UserSession {
            sid: s.sid,
            username: s.username,
            auth_time: s.auth_time,
        }))
    }

    async fn login(
        &self,
        server: &Server,
        config: &ServerConfig,
        request: &HeaderMap,
        username: &str,
        now: i64,
    ) -> HookResult<(UserSession, SetCookies)> {
        let session = UserSession {
            sid: random_token(),
            username: username.to_owned(),
            auth_time: now,
        };
        if !config.support_user_session {
            return Ok((session, Vec::new()));
        }
        // A new sign-in replaces the old session: its cookie value must not stay usable.
        if let Some(old) = cookie(request, SESSION_COOKIE) {
            server.store().delete_session(&token_hash(old)).await?;
        }
        let value = random_token();
        let lifetime = config.session_lifetime();
        server
            .store()
            .create_session(&SessionRecord {
                hash: token_hash(&value),
                sid: session.sid.clone(),
                username: username.to_owned(),
                auth_time: now,
                expires_at: now + lifetime,
            })
            .await?;
        let max_age = (config.intervals.session != 0).then_some(lifetime);
        Ok((
            session,
            vec![set_cookie(config, SESSION_COOKIE, &value, max_age)],
        ))
    }

    async fn logout(
        &self,
        server: &Server,
        config: &ServerConfig,
        request: &HeaderMap,
    ) -> HookResult<SetCookies> {
        if let Some(value) = cookie(request, SESSION_COOKIE) {
            server.store().delete_session(&token_hash(value)).await?;
        }
        Ok(vec![set_cookie(config, SESSION_COOKIE, "", Some(0))])
    }
}
