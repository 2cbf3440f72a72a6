//! `GET|POST /authorize` and the interaction steps it leads to, `POST /login` and `POST /consent`.
//! A request with a live session and every scope already granted gets its code at once; otherwise
//! it waits, as an interaction record, for the login and consent pages. The customization hooks
//! run at the steps the reference gives them (see [`crate::hooks`]).

use axum::extract::{RawQuery, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::{ErrorCode, Scopes};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::authorize::{self, AuthorizeError, AuthorizeRequest, request_object, respond};
use crate::config::ServerConfig;
use crate::error::{ServerError, ServerResult};
use crate::hooks::session::{cookie, set_cookie};
use crate::hooks::{
    ConsentForm, Context, Credential, DirectLogin, LoginForm, SetCookies, UserSession,
};
use crate::issue::{IdTokenFacts, Issue, random_token, token_hash};
use crate::pages;
use crate::params::Params;
use crate::properties::{ACR_PASSWORD, ACR_SESSION, Properties, ScopeMap, scope_map, scope_string};
use crate::state::Server;
use crate::store::{CodeRecord, InteractionRecord};

const BROWSER_COOKIE: &str = "ostiary_browser";
/// How long a login or consent page stays usable.
const INTERACTION_TTL: i64 = 600;

pub async fn get(
    State(server): State<Server>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ServerResult<Response> {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(_) => {
            return Ok(error_page(&server, "invalid_request", "a parameter is repeated").await);
        }
    };
    start(&server, &headers, params).await
}

pub async fn post(
    State(server): State<Server>,
    headers: HeaderMap,
    params: Params,
) -> ServerResult<Response> {
    start(&server, &headers, params).await
}

pub(super) async fn error_page(server: &Server, error: &str, description: &str) -> Response {
    let dir = server
        .config()
        .await
        .ok()
        .and_then(|c| c.customization.templates_dir.clone());
    pages::error_page(dir.as_deref(), StatusCode::BAD_REQUEST, error, description)
}

fn code_str(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What waits between the pages: the validated request, and the authorization as the hooks have
/// shaped it so far.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    request: AuthorizeRequest,
    scope: ScopeMap,
    properties: Properties,
    #[serde(default)]
    login_count: u32,
    /// The session's user, offered on the login page (`prompt=select_account`).
    #[serde(default)]
    signed_in_as: Option<String>,
}

/// Once the client and redirect URI are known good, a protocol error or a failed hook goes back
/// to the client rather than onto an error page.
fn or_redirect(
    config: &ServerConfig,
    request: &AuthorizeRequest,
    result: ServerResult<Response>,
) -> ServerResult<Response> {
    match result {
        Err(ServerError::OAuth { error, .. }) => Ok(redirect_error(
            config,
            request,
            error.error,
            error.error_description.as_deref().unwrap_or_default(),
        )),
        Err(ServerError::Hook(reason)) => {
            tracing::error!(%reason, "customization hook failed");
            Ok(redirect_error(
                config,
                request,
                ErrorCode::ServerError,
                "the sign-in could not be completed",
            ))
        }
        other => other,
    }
}

async fn start(server: &Server, headers: &HeaderMap, mut params: Params) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let dir = config.customization.templates_dir.clone();
    let client = match params.get("client_id") {
        Some(id) => server.store().client(id).await?,
        None => None,
    };
    let object = request_object::resolve(server, &config, client.as_ref(), &mut params).await?;
    let validated = match object {
        Ok(()) => authorize::validate(&config, client.as_ref(), &params),
        // The query alone decides whether the refusal may go back to the client.
        Err(refused) => match authorize::validate(&config, client.as_ref(), &params) {
            Ok(request) => Err(AuthorizeError::Redirect {
                to: Box::new(request),
                error: refused.error,
                description: refused.description,
            }),
            Err(AuthorizeError::Redirect { to, .. }) => Err(AuthorizeError::Redirect {
                to,
                error: refused.error,
                description: refused.description,
            }),
            Err(AuthorizeError::Render { .. }) => Err(AuthorizeError::Render {
                error: refused.error,
                description: refused.description,
            }),
        },
    };
    let request = match validated {
        Ok(r) => r,
        Err(AuthorizeError::Render { error, description }) => {
            return Ok(pages::error_page(
                dir.as_deref(),
                StatusCode::BAD_REQUEST,
                &code_str(error),
                &description,
            ));
        }
        Err(AuthorizeError::Redirect {
            to,
            error,
            description,
        }) => {
            return Ok(respond::send(
                &to,
                respond::error_params(&to, &config.issuer_url(), error, &description),
                dir.as_deref(),
            ));
        }
    };
    let client = client.expect("validate succeeded, so the client exists");
    let ctx = Context {
        server,
        config: &config,
        client: &client,
    };
    let mut properties = Properties::new(&client, &params);
    let mut scope = scope_map(&config, &Scopes::parse(&request.scope).unwrap_or_default());
    properties.require_claims(&scope, request.claims.as_ref());
    let result = async {
        server
            .hooks()
            .authenticate
            .before_authenticate(&ctx, &mut scope, &mut properties)
            .await?;
        let pending = Pending {
            request: request.clone(),
            scope,
            properties,
            login_count: 1,
            signed_in_as: None,
        };
        sign_in(&ctx, headers, pending, now).await
    }
    .await;
    or_redirect(&config, &request, result)
}

/// Identifies the user: a direct login, else the session, else the login page.
async fn sign_in(
    ctx: &Context<'_>,
    headers: &HeaderMap,
    mut pending: Pending,
    now: i64,
) -> ServerResult<Response> {
    let hooks = ctx.server.hooks();
    let direct = hooks
        .authenticate
        .direct_login(ctx, &pending.scope, &mut pending.properties)
        .await?;
    match direct {
        Some(DirectLogin::Deny) => {
            return Err(ServerError::oauth(
                ErrorCode::AccessDenied,
                "the sign-in was refused",
            ));
        }
        Some(DirectLogin::User { username, password }) => {
            let credential = match &password {
                Some(p) => Credential::Password(p),
                None => Credential::Established,
            };
            if !validate(ctx, &mut pending, &username, credential, now).await? {
                return Err(ServerError::oauth(
                    ErrorCode::AccessDenied,
                    "the user could not be signed in",
                ));
            }
            // A direct login answers for the permissions too: no consent page.
            return finish(ctx, pending, &username, now, None, now).await;
        }
        None => {}
    }
    let request = &pending.request;
    let prompt = |p: &str| request.prompt.iter().any(|x| x == p);
    let session = hooks
        .sessions
        .get_user(ctx.server, ctx.config, headers, now)
        .await?
        .filter(|s| {
            !prompt("login")
                && request.max_age.is_none_or(|max| now - s.auth_time <= max)
                && pending.properties.accepts_acr(ACR_SESSION)
        });
    if let Some(session) = session {
        let mut signed_in = pending.clone();
        let valid = validate(
            ctx,
            &mut signed_in,
            &session.username,
            Credential::Established,
            now,
        )
        .await?;
        if valid && prompt("select_account") {
            // Let the user choose: continue as the session's user, or sign in as another.
            pending.signed_in_as = Some(session.username);
            return interaction(ctx, pending, None, now).await;
        }
        if valid {
            let granted = granted_scopes(ctx, &session.username).await?;
            let needed = signed_in.scope.keys().any(|s| !granted.contains_key(s));
            if !needed && !prompt("consent") {
                return finish(
                    ctx,
                    signed_in,
                    &session.username,
                    session.auth_time,
                    Some(&session.sid),
                    now,
                )
                .await;
            }
            if prompt("none") {
                return Err(ServerError::oauth(
                    ErrorCode::ConsentRequired,
                    "consent is needed",
                ));
            }
            return interaction(
                ctx,
                signed_in,
                Some((session.username, session.auth_time)),
                now,
            )
            .await;
        }
    }
    if prompt("none") {
        return Err(ServerError::oauth(
            ErrorCode::LoginRequired,
            "the user is not signed in",
        ));
    }
    interaction(ctx, pending, None, now).await
}

/// Runs `validate_user` and, when it accepts, the server's fill-ins and the sign-in's `acr`.
async fn validate(
    ctx: &Context<'_>,
    pending: &mut Pending,
    username: &str,
    credential: Credential<'_>,
    now: i64,
) -> ServerResult<bool> {
    let valid = ctx
        .server
        .hooks()
        .validate_user
        .validate_user(
            ctx,
            username,
            credential,
            &mut pending.scope,
            &mut pending.properties,
        )
        .await?;
    if valid {
        let exp = now + ctx.config.intervals.access_token as i64;
        pending
            .properties
            .fill_missing(ctx.config, username, &ctx.client.client_id, exp);
        let level = match credential {
            Credential::Password(_) => ACR_PASSWORD,
            Credential::Established => ACR_SESSION,
        };
        pending
            .properties
            .set_acr(level)
            .map_err(|why| ServerError::oauth(ErrorCode::AccessDenied, why))?;
    }
    Ok(valid)
}

fn redirect_error(
    config: &ServerConfig,
    request: &AuthorizeRequest,
    error: ErrorCode,
    description: &str,
) -> Response {
    respond::send(
        request,
        respond::error_params(request, &config.issuer_url(), error, description),
        config.customization.templates_dir.as_deref(),
    )
}

/// The scopes the user granted this client before, with their display forms.
async fn granted_scopes(ctx: &Context<'_>, username: &str) -> ServerResult<ScopeMap> {
    let granted = ctx
        .server
        .store()
        .consent(username, &ctx.client.client_id)
        .await?
        .and_then(|s| Scopes::parse(&s))
        .unwrap_or_default();
    Ok(scope_map(ctx.config, &granted))
}

/// Saves the request for the pages and shows the first one due.
async fn interaction(
    ctx: &Context<'_>,
    pending: Pending,
    user: Option<(String, i64)>,
    now: i64,
) -> ServerResult<Response> {
    let request = serde_json::to_value(&pending).unwrap_or_default();
    let (handle, cookie) =
        new_interaction(ctx.server, ctx.config, request, user.clone(), now).await?;
    let mut response = match &user {
        None => login_page(ctx, &pending, &handle, None, StatusCode::OK).await?,
        Some((username, _)) => consent_page(ctx, &pending, &handle, username).await?,
    };
    add_cookies(&mut response, vec![cookie]);
    Ok(response)
}

pub(super) fn add_cookies(response: &mut Response, cookies: SetCookies) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
}

fn ui_locales(properties: &Properties) -> Vec<String> {
    properties
        .request
        .get("ui_locales")
        .map(|l| l.split(' ').map(str::to_owned).collect())
        .unwrap_or_default()
}

async fn login_page(
    ctx: &Context<'_>,
    pending: &Pending,
    handle: &str,
    error: Option<&str>,
    status: StatusCode,
) -> ServerResult<Response> {
    let form = LoginForm {
        action: format!("{}/login", ctx.config.issuer.path()),
        handle: handle.to_owned(),
        client_name: ctx.client.display_name().to_owned(),
        login_hint: pending.request.login_hint.clone().unwrap_or_default(),
        error: error.map(str::to_owned),
        login_count: pending.login_count,
        signed_in_as: pending.signed_in_as.clone(),
        ui_locales: ui_locales(&pending.properties),
    };
    let html = ctx
        .server
        .hooks()
        .authenticate
        .display_login(ctx, &form, &pending.scope, &pending.properties)
        .await?;
    Ok(pages::page(
        status,
        html,
        &pages::interaction_csp(&pending.request.redirect_uri),
    ))
}

async fn consent_page(
    ctx: &Context<'_>,
    pending: &Pending,
    handle: &str,
    username: &str,
) -> ServerResult<Response> {
    let client = ctx.client;
    let granted = granted_scopes(ctx, username).await?;
    let requested: ScopeMap = pending
        .scope
        .iter()
        .filter(|(name, _)| !granted.contains_key(*name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let form = ConsentForm {
        action: format!("{}/consent", ctx.config.issuer.path()),
        handle: handle.to_owned(),
        client_name: client.display_name().to_owned(),
        username: username.to_owned(),
        logo_uri: client.logo_uri.clone(),
        client_uri: client.client_uri.clone(),
        policy_uri: client.policy_uri.clone(),
        tos_uri: client.tos_uri.clone(),
        ui_locales: ui_locales(&pending.properties),
    };
    let html = ctx
        .server
        .hooks()
        .authenticate
        .display_permissions(ctx, &form, &requested, &granted, &pending.properties)
        .await?;
    Ok(pages::page(
        StatusCode::OK,
        html,
        &pages::interaction_csp(&pending.request.redirect_uri),
    ))
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

/// The pending authorization a login or consent form refers to.
async fn load_interaction(
    server: &Server,
    headers: &HeaderMap,
    params: &Params,
    now: i64,
) -> ServerResult<Result<(InteractionRecord, Pending), Response>> {
    let record = match interaction_of_this_browser(server, headers, params, now).await? {
        Ok(record) => record,
        Err(page) => return Ok(Err(page)),
    };
    match serde_json::from_value::<Pending>(record.request.clone()) {
        Ok(pending) => Ok(Ok((record, pending))),
        Err(_) => Ok(Err(error_page(
            server,
            "invalid_request",
            "this page does not belong to a sign-in; start again from the application",
        )
        .await)),
    }
}

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
    headers: HeaderMap,
    extensions: axum::http::Extensions,
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
    let address = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| format!("ip:{}", c.0.ip()))
        .unwrap_or_else(|| "ip:unknown".into());
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
    // SECURITY: brute force is slowed per user and per client address before any password check.
    let limiter = ctx.server.login_limiter();
    let user_key = format!("user:{username}");
    let wait = limiter
        .blocked(&user_key, crate::ratelimit::PER_USER)
        .or_else(|| limiter.blocked(address, crate::ratelimit::PER_ADDRESS));
    if let Some(wait) = wait {
        let message = format!(
            "Too many failed sign-ins. Try again in {} seconds.",
            wait.as_secs() + 1
        );
        let status = StatusCode::TOO_MANY_REQUESTS;
        return login_page(ctx, &pending, handle, Some(&message), status).await;
    }
    take_custom_fields(params, &mut pending.properties);
    if params.get("action") == Some("continue") {
        return continue_session(ctx, headers, record, pending, handle, now).await;
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
        limiter.fail(&user_key);
        limiter.fail(address);
        pending.login_count += 1;
        record.request = serde_json::to_value(&pending).unwrap_or_default();
        store.save_interaction(&record).await?;
        let message = Some("Wrong username or password.");
        return login_page(ctx, &pending, handle, message, StatusCode::UNAUTHORIZED).await;
    }
    limiter.reset(&user_key);
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

/// `after_authenticate`, then the code and tokens, sent to the client.
async fn finish(
    ctx: &Context<'_>,
    pending: Pending,
    username: &str,
    auth_time: i64,
    sid: Option<&str>,
    now: i64,
) -> ServerResult<Response> {
    let (server, config) = (ctx.server, ctx.config);
    let Pending {
        request,
        mut scope,
        mut properties,
        ..
    } = pending;
    server
        .hooks()
        .authenticate
        .after_authenticate(ctx, &mut scope, &mut properties)
        .await?;
    let granted = scope_string(&scope);
    if let Some(sid) = sid {
        let until = now + config.session_lifetime();
        let client_id = &ctx.client.client_id;
        server
            .store()
            .add_session_client(sid, client_id, until)
            .await?;
    }
    let wants = |part: &str| request.response_type.split(' ').any(|p| p == part);
    let grant_id = random_token();
    let mut params = Vec::new();
    let mut code_value = None;
    if wants("code") {
        let code = random_token();
        let mut extra = serde_json::Map::new();
        if let Some(sid) = sid {
            extra.insert("sid".into(), sid.into());
        }
        extra.insert("properties".into(), serde_json::json!(properties));
        let record = CodeRecord {
            hash: token_hash(&code),
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            username: username.to_owned(),
            scope: granted.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            code_challenge_method: request.code_challenge_method.clone(),
            auth_time,
            grant_id: grant_id.clone(),
            expires_at: now + config.intervals.authorization_code as i64,
            extra,
        };
        server.store().insert_code(&record).await?;
        params.push(("code".to_owned(), code.clone()));
        code_value = Some(code);
    }
    let facts = IdTokenFacts {
        nonce: request.nonce.clone(),
        auth_time: Some(auth_time),
        sid: sid.map(str::to_owned),
    };
    let mut access_token = None;
    if wants("token") {
        // Implicit tokens: no refresh token, and tied to the grant like the code's.
        let grant = Issue {
            username: Some(username.to_owned()),
            scope: Scopes::parse(&granted).unwrap_or_default(),
            grant_id: Some(grant_id.clone()),
            properties: properties.clone(),
            ..Default::default()
        };
        let body = crate::issue::issue(server, config, ctx.client, grant, now).await?;
        access_token = body
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        params.extend(as_parameters(body));
    }
    if wants("id_token") {
        let token = crate::issue::id_token(
            ctx,
            username,
            &facts,
            &properties,
            access_token.as_deref(),
            code_value.as_deref(),
            now,
        )
        .await?;
        params.push(("id_token".to_owned(), token));
    }
    if let Some(state) = &request.state {
        params.push(("state".into(), state.clone()));
    }
    params.push(("iss".into(), config.issuer_url()));
    // The hooks' response members, where the protocol's own are not.
    for (name, value) in as_parameters(Value::Object(properties.response)) {
        if !params.iter().any(|(n, _)| *n == name) {
            params.push((name, value));
        }
    }
    Ok(respond::send(
        &request,
        params,
        config.customization.templates_dir.as_deref(),
    )
    .into_response())
}

/// A JSON object's members as response parameters: strings as they are, the rest as JSON.
fn as_parameters(body: Value) -> Vec<(String, String)> {
    let Value::Object(members) = body else {
        return Vec::new();
    };
    members
        .into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (name, text)
        })
        .collect()
}
