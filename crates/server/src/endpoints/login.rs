//! `POST /login` and `POST /consent`: the answers of the login and consent pages of a pending
//! authorization (see [`super::authorize`]).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ostiary_core::ErrorCode;

use super::authorize::{
    Pending, consent_page, finish, granted_scopes, load_interaction, login_page, or_redirect,
    validate,
};
use super::interaction::{add_cookies, error_page};
use crate::error::{ServerError, ServerResult};
use crate::hooks::{Context, Credential, UserSession};
use crate::metrics::LoginRealm;
use crate::params::Params;
use crate::properties::{Properties, ScopeMap, scope_string};
use crate::ratelimit::Caller;
use crate::state::Server;
use crate::store::InteractionRecord;

/// Form fields `p_*` become custom properties, without the prefix (the reference's rule).
fn take_custom_fields(params: &Params, properties: &mut Properties) {
    for (name, value) in params.iter() {
        if let Some(name) = name.strip_prefix("p_").filter(|n| !n.is_empty()) {
            properties.custom.insert(name.to_owned(), value.to_owned());
        }
    }
}

pub async fn login(
    State(server): State<Server>,
    caller: Caller,
    headers: HeaderMap,
    params: Params,
) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let (record, pending) = match load_interaction(&server, &headers, &params, now).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let Some(client) = server.store().client(&pending.request.client_id).await? else {
        return Ok(error_page(&server, "invalid_client", "the client is gone").await);
    };
    let ctx = Context {
        server: &server,
        config: &config,
        client: &client,
    };
    let request = pending.request.clone();
    let address = caller.key();
    let result = submit_login(&ctx, &headers, &params, record, pending, &address, now).await;
    or_redirect(&config, &request, result)
}

async fn submit_login(
    ctx: &Context<'_>,
    headers: &HeaderMap,
    params: &Params,
    mut record: InteractionRecord,
    mut pending: Pending,
    address: &str,
    now: i64,
) -> ServerResult<Response> {
    let store = ctx.server.store();
    if params.get("action") == Some("cancel") {
        store.delete_interaction(&record.hash).await?;
        return Err(ServerError::oauth(
            ErrorCode::AccessDenied,
            "the user cancelled the sign-in",
        ));
    }
    let handle = params.get("handle").unwrap_or_default();
    let (username, password) = (
        params.get("username").unwrap_or_default(),
        params.get("password").unwrap_or_default(),
    );
    take_custom_fields(params, &mut pending.properties);
    if params.get("action") == Some("continue") {
        return continue_session(ctx, headers, record, pending, handle, now).await;
    }
    // SECURITY: brute force is slowed per user and address, per user and per client address
    // (RFC 9700 §4.16); one user's password checks take turns, so that parallel guesses cannot
    // all pass the limit.
    let limiter = ctx.server.login_limiter();
    let sign_in = limiter.sign_in(username, address);
    let _turn = sign_in.turn().await;
    let wait = sign_in
        .blocked()
        .or_else(|| limiter.blocked(address, crate::ratelimit::PER_ADDRESS));
    if let Some(wait) = wait {
        let message = format!(
            "Too many failed sign-ins. Try again in {} seconds.",
            wait.as_secs() + 1
        );
        ctx.server.metrics().login_failed(LoginRealm::User);
        let status = StatusCode::TOO_MANY_REQUESTS;
        let mut page = login_page(ctx, &pending, handle, Some(&message), status).await?;
        page.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs() + 1));
        return Ok(page);
    }
    let mut attempt = pending.clone();
    let valid = !username.is_empty()
        && !password.is_empty()
        && validate(
            ctx,
            &mut attempt,
            username,
            Credential::Password(password),
            now,
        )
        .await?;
    if !valid {
        sign_in.failed();
        limiter.fail_escalating(address, crate::ratelimit::PER_ADDRESS);
        ctx.server.metrics().login_failed(LoginRealm::User);
        pending.login_count += 1;
        record.request = serde_json::to_value(&pending).unwrap_or_default();
        store.save_interaction(&record).await?;
        let message = Some("Wrong username or password.");
        return login_page(ctx, &pending, handle, message, StatusCode::UNAUTHORIZED).await;
    }
    sign_in.succeeded();
    let (session, cookies) = ctx
        .server
        .hooks()
        .sessions
        .login(ctx.server, ctx.config, headers, username, now)
        .await?;
    // A login page that also showed the permissions answers for them with `accept`.
    let consented = params.get("action") == Some("accept");
    if consented {
        save_consent(ctx, username, &attempt.scope, now).await?;
    }
    let mut response = identified(ctx, record, attempt, &session, handle, consented, now).await?;
    add_cookies(&mut response, cookies);
    Ok(response)
}

/// `prompt=select_account`'s "continue as": the session's user, if it is still the one offered.
async fn continue_session(
    ctx: &Context<'_>,
    headers: &HeaderMap,
    record: InteractionRecord,
    mut pending: Pending,
    handle: &str,
    now: i64,
) -> ServerResult<Response> {
    let session = ctx
        .server
        .hooks()
        .sessions
        .get_user(ctx.server, ctx.config, headers, now)
        .await?
        .filter(|s| pending.signed_in_as.as_deref() == Some(s.username.as_str()));
    let Some(session) = session else {
        pending.signed_in_as = None;
        let message = Some("That session has ended; sign in again.");
        return login_page(ctx, &pending, handle, message, StatusCode::UNAUTHORIZED).await;
    };
    let username = session.username.clone();
    if !validate(ctx, &mut pending, &username, Credential::Established, now).await? {
        return Err(ServerError::oauth(
            ErrorCode::AccessDenied,
            "the user may not sign in",
        ));
    }
    identified(ctx, record, pending, &session, handle, false, now).await
}

/// The user is known: ask for consent unless given (`consented`) or not needed, then answer
/// the client.
async fn identified(
    ctx: &Context<'_>,
    mut record: InteractionRecord,
    pending: Pending,
    session: &UserSession,
    handle: &str,
    consented: bool,
    now: i64,
) -> ServerResult<Response> {
    let store = ctx.server.store();
    let username = session.username.as_str();
    let granted = granted_scopes(ctx, username).await?;
    let needed = !consented
        && (pending.scope.keys().any(|s| !granted.contains_key(s))
            || pending.request.prompt.iter().any(|p| p == "consent"));
    if needed {
        record.username = Some(username.to_owned());
        record.auth_time = Some(session.auth_time);
        record.request = serde_json::to_value(&pending).unwrap_or_default();
        store.save_interaction(&record).await?;
        return consent_page(ctx, &pending, handle, username).await;
    }
    store.delete_interaction(&record.hash).await?;
    finish(
        ctx,
        pending,
        username,
        session.auth_time,
        Some(&session.sid),
        now,
    )
    .await
}

/// Adds `scope` to what `username` granted this client.
async fn save_consent(
    ctx: &Context<'_>,
    username: &str,
    scope: &ScopeMap,
    now: i64,
) -> ServerResult<()> {
    let mut granted = granted_scopes(ctx, username).await?;
    granted.extend(scope.clone());
    ctx.server
        .store()
        .save_consent(
            username,
            &ctx.client.client_id,
            &scope_string(&granted),
            now,
        )
        .await?;
    Ok(())
}

pub async fn consent(
    State(server): State<Server>,
    headers: HeaderMap,
    params: Params,
) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let (record, mut pending) = match load_interaction(&server, &headers, &params, now).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let (Some(username), Some(auth_time)) = (record.username.clone(), record.auth_time) else {
        return Ok(error_page(&server, "invalid_request", "sign in first").await);
    };
    let Some(client) = server.store().client(&pending.request.client_id).await? else {
        return Ok(error_page(&server, "invalid_client", "the client is gone").await);
    };
    let ctx = Context {
        server: &server,
        config: &config,
        client: &client,
    };
    server.store().delete_interaction(&record.hash).await?;
    let request = pending.request.clone();
    let result = async {
        if params.get("action") != Some("accept") {
            return Err(ServerError::oauth(
                ErrorCode::AccessDenied,
                "the user refused",
            ));
        }
        take_custom_fields(&params, &mut pending.properties);
        save_consent(&ctx, &username, &pending.scope, now).await?;
        let session = server
            .hooks()
            .sessions
            .get_user(&server, &config, &headers, now)
            .await?;
        let sid = session.filter(|s| s.username == username).map(|s| s.sid);
        finish(&ctx, pending, &username, auth_time, sid.as_deref(), now).await
    }
    .await;
    or_redirect(&config, &request, result)
}
