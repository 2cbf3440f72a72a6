//! Pages bound to the browser that opened them (login, consent, logout confirmation): a stored
//! interaction whose handle travels in the page's form and whose browser cookie must come back
//! with it (login CSRF), and the plain error page for what cannot go back to a client.

use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::config::ServerConfig;
use crate::error::ServerResult;
use crate::hooks::SetCookies;
use crate::hooks::session::{cookie, set_cookie};
use crate::issue::{random_token, token_hash};
use crate::pages;
use crate::params::Params;
use crate::state::Server;
use crate::store::InteractionRecord;

const BROWSER_COOKIE: &str = "ostiary_browser";
/// How long a login, consent or logout page stays usable.
const INTERACTION_TTL: i64 = 600;

pub(super) async fn error_page(server: &Server, error: &str, description: &str) -> Response {
    let dir = server
        .config()
        .await
        .ok()
        .and_then(|c| c.customization.templates_dir.clone());
    pages::error_page(dir.as_deref(), StatusCode::BAD_REQUEST, error, description)
}

pub(super) fn add_cookies(response: &mut Response, cookies: SetCookies) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
}

/// The interaction a page's form refers to (its `handle`), checked to belong to this browser and
/// to be current; otherwise the error page to show.
pub(super) async fn interaction_of_this_browser(
    server: &Server,
    headers: &HeaderMap,
    params: &Params,
    now: i64,
) -> ServerResult<Result<InteractionRecord, Response>> {
    let stale = || {
        error_page(
            server,
            "invalid_request",
            "this page has expired or was already used; start again from the application",
        )
    };
    let Some(handle) = params.get("handle") else {
        return Ok(Err(stale().await));
    };
    let Some(record) = server.store().interaction(&token_hash(handle)).await? else {
        return Ok(Err(stale().await));
    };
    // SECURITY: the form must come from the browser that started the request (login CSRF).
    let same_browser = cookie(headers, BROWSER_COOKIE).is_some_and(|b| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            token_hash(b).as_bytes(),
            record.browser.as_bytes(),
        )
        .is_ok()
    });
    if !same_browser {
        return Ok(Err(error_page(
            server,
            "invalid_request",
            "the form was not sent by the browser that opened it",
        )
        .await));
    }
    if record.expires_at <= now {
        server.store().delete_interaction(&record.hash).await?;
        return Ok(Err(stale().await));
    }
    Ok(Ok(record))
}

/// Saves `request` as an interaction bound to this browser; returns the handle for the page's
/// form and the cookie that binds it.
pub(super) async fn new_interaction(
    server: &Server,
    config: &ServerConfig,
    request: Value,
    user: Option<(String, i64)>,
    now: i64,
) -> ServerResult<(String, String)> {
    let handle = random_token();
    let browser = random_token();
    let record = InteractionRecord {
        hash: token_hash(&handle),
        request,
        browser: token_hash(&browser),
        username: user.as_ref().map(|u| u.0.clone()),
        auth_time: user.as_ref().map(|u| u.1),
        expires_at: now + INTERACTION_TTL,
    };
    server.store().save_interaction(&record).await?;
    let cookie = set_cookie(config, BROWSER_COOKIE, &browser, Some(INTERACTION_TTL));
    Ok((handle, cookie))
}
