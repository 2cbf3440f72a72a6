//! `GET|POST /authorize` and the interaction steps it leads to, `POST /login` and `POST /consent`.
//! A request with a live session and every scope already granted gets its code at once; otherwise
//! it waits, as an interaction record, for the login and consent pages.

use axum::extract::{RawQuery, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::{ErrorCode, Scopes};
use serde::Serialize;

use crate::authorize::{self, AuthorizeError, AuthorizeRequest, respond};
use crate::config::{ClientDescription, ServerConfig, User};
use crate::error::ServerResult;
use crate::issue::{IdTokenFacts, Issue, random_token, token_hash};
use crate::pages;
use crate::params::Params;
use crate::state::Server;
use crate::store::{CodeRecord, InteractionRecord, SessionRecord};

const SESSION_COOKIE: &str = "ostiary_session";
const BROWSER_COOKIE: &str = "ostiary_browser";
/// How long a login or consent page stays usable.
const INTERACTION_TTL: i64 = 600;

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(
    response: &mut Response,
    config: &ServerConfig,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) {
    let secure = if config.issuer.tls { "; Secure" } else { "" };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    let text = format!(
        "{name}={value}; Path={}; HttpOnly; SameSite=Lax{secure}{age}",
        config.issuer.path()
    );
    if let Ok(v) = HeaderValue::from_str(&text) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

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

async fn error_page(server: &Server, error: &str, description: &str) -> Response {
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

async fn start(server: &Server, headers: &HeaderMap, params: Params) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let dir = config.customization.templates_dir.clone();
    let client = match params.get("client_id") {
        Some(id) => server.store().client(id).await?,
        None => None,
    };
    let request = match authorize::validate(&config, client.as_ref(), &params) {
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
    let session = current_session(server, &config, headers, now).await?;
    let prompt = |p: &str| request.prompt.iter().any(|x| x == p);
    let fresh_enough =
        |s: &SessionRecord| request.max_age.is_none_or(|max| now - s.auth_time <= max);
    match session {
        Some(s) if !prompt("login") && fresh_enough(&s) => {
            let granted = granted_scopes(server, &s.username, &client.client_id).await?;
            let needed = !Scopes::parse(&request.scope)
                .unwrap_or_default()
                .is_subset_of(&granted);
            if !needed && !prompt("consent") {
                return finish(
                    server,
                    &config,
                    &request,
                    &s.username,
                    s.auth_time,
                    Some(&s.sid),
                    now,
                )
                .await;
            }
            if prompt("none") {
                return Ok(redirect_error(
                    &config,
                    &request,
                    ErrorCode::ConsentRequired,
                    "consent is needed",
                ));
            }
            interaction(
                server,
                &config,
                &client,
                request,
                Some((s.username, s.auth_time)),
                now,
            )
            .await
        }
        _ if prompt("none") => Ok(redirect_error(
            &config,
            &request,
            ErrorCode::LoginRequired,
            "the user is not signed in",
        )),
        _ => interaction(server, &config, &client, request, None, now).await,
    }
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

async fn current_session(
    server: &Server,
    config: &ServerConfig,
    headers: &HeaderMap,
    now: i64,
) -> ServerResult<Option<SessionRecord>> {
    if !config.support_user_session {
        return Ok(None);
    }
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let session = server.store().session(&token_hash(value)).await?;
    let user_active = match &session {
        Some(s) => server
            .store()
            .user(&s.username)
            .await?
            .is_some_and(|u| u.enabled),
        None => false,
    };
    Ok(session.filter(|s| s.expires_at > now && user_active))
}

async fn granted_scopes(server: &Server, username: &str, client_id: &str) -> ServerResult<Scopes> {
    Ok(server
        .store()
        .consent(username, client_id)
        .await?
        .and_then(|s| Scopes::parse(&s))
        .unwrap_or_default())
}

/// Saves the request for the pages and shows the first one due.
async fn interaction(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    request: AuthorizeRequest,
    user: Option<(String, i64)>,
    now: i64,
) -> ServerResult<Response> {
    let handle = random_token();
    let browser = random_token();
    let record = InteractionRecord {
        hash: token_hash(&handle),
        request: serde_json::to_value(&request).unwrap_or_default(),
        browser: token_hash(&browser),
        username: user.as_ref().map(|u| u.0.clone()),
        auth_time: user.as_ref().map(|u| u.1),
        expires_at: now + INTERACTION_TTL,
    };
    server.store().save_interaction(&record).await?;
    let mut response = match &user {
        None => login_page(config, client, &request, &handle, None),
        Some((username, _)) => {
            consent_page(server, config, client, &request, &handle, username).await?
        }
    };
    set_cookie(
        &mut response,
        config,
        BROWSER_COOKIE,
        &browser,
        Some(INTERACTION_TTL),
    );
    Ok(response)
}

fn login_page(
    config: &ServerConfig,
    client: &ClientDescription,
    request: &AuthorizeRequest,
    handle: &str,
    error: Option<&str>,
) -> Response {
    #[derive(Serialize)]
    struct Ctx<'a> {
        action: String,
        handle: &'a str,
        client_name: &'a str,
        login_hint: &'a str,
        error: Option<&'a str>,
    }
    let ctx = Ctx {
        action: format!("{}/login", config.issuer.path()),
        handle,
        client_name: client.display_name(),
        login_hint: request.login_hint.as_deref().unwrap_or_default(),
        error,
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    pages::page(
        status,
        pages::render(
            config.customization.templates_dir.as_deref(),
            "login.html",
            ctx,
        ),
        &pages::interaction_csp(&request.redirect_uri),
    )
}

async fn consent_page(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    request: &AuthorizeRequest,
    handle: &str,
    username: &str,
) -> ServerResult<Response> {
    #[derive(Serialize)]
    struct Scope<'a> {
        name: &'a str,
        description: &'a str,
    }
    #[derive(Serialize)]
    struct Ctx<'a> {
        action: String,
        handle: &'a str,
        client_name: &'a str,
        username: &'a str,
        requested: Vec<Scope<'a>>,
        granted: Vec<&'a str>,
        logo_uri: Option<&'a str>,
        client_uri: Option<&'a str>,
        policy_uri: Option<&'a str>,
        tos_uri: Option<&'a str>,
    }
    let granted = granted_scopes(server, username, &client.client_id).await?;
    let asked = Scopes::parse(&request.scope).unwrap_or_default();
    let requested = asked
        .iter()
        .filter(|s| !granted.contains(s))
        .map(|name| Scope {
            name,
            description: config
                .scopes
                .iter()
                .find(|d| d.name == name)
                .map(|d| d.description.as_str())
                .unwrap_or_default(),
        })
        .collect();
    let ctx = Ctx {
        action: format!("{}/consent", config.issuer.path()),
        handle,
        client_name: client.display_name(),
        username,
        requested,
        granted: granted.iter().collect(),
        logo_uri: client.logo_uri.as_deref(),
        client_uri: client.client_uri.as_deref(),
        policy_uri: client.policy_uri.as_deref(),
        tos_uri: client.tos_uri.as_deref(),
    };
    Ok(pages::page(
        StatusCode::OK,
        pages::render(
            config.customization.templates_dir.as_deref(),
            "consent.html",
            ctx,
        ),
        &pages::interaction_csp(&request.redirect_uri),
    ))
}

/// Loads the interaction a page form refers to, checking it belongs to this browser.
async fn load_interaction(
    server: &Server,
    headers: &HeaderMap,
    params: &Params,
    now: i64,
) -> ServerResult<Result<(InteractionRecord, AuthorizeRequest), Response>> {
    let stale = || {
        error_page(
            server,
            "invalid_request",
            "this sign-in page has expired or was already used; start again from the application",
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
    let Ok(request) = serde_json::from_value::<AuthorizeRequest>(record.request.clone()) else {
        return Ok(Err(stale().await));
    };
    Ok(Ok((record, request)))
}

pub async fn login(
    State(server): State<Server>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    params: Params,
) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let (mut record, request) = match load_interaction(&server, &headers, &params, now).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let Some(client) = server.store().client(&request.client_id).await? else {
        return Ok(error_page(&server, "invalid_client", "the client is gone").await);
    };
    if params.get("action") == Some("cancel") {
        server.store().delete_interaction(&record.hash).await?;
        return Ok(redirect_error(
            &config,
            &request,
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
    let limiter = server.login_limiter();
    let address = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| format!("ip:{}", c.0.ip()))
        .unwrap_or_else(|| "ip:unknown".into());
    let user_key = format!("user:{username}");
    let wait = limiter
        .blocked(&user_key, crate::ratelimit::PER_USER)
        .or_else(|| limiter.blocked(&address, crate::ratelimit::PER_ADDRESS));
    if let Some(wait) = wait {
        let message = format!(
            "Too many failed sign-ins. Try again in {} seconds.",
            wait.as_secs() + 1
        );
        let mut page = login_page(&config, &client, &request, handle, Some(&message));
        *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(page);
    }
    let user: Option<User> = if username.is_empty() || password.is_empty() {
        None
    } else {
        server
            .hooks()
            .validate_user
            .validate_user(server.store(), username, password)
            .await?
    };
    let Some(user) = user else {
        limiter.fail(&user_key);
        limiter.fail(&address);
        return Ok(login_page(
            &config,
            &client,
            &request,
            handle,
            Some("Wrong username or password."),
        ));
    };
    limiter.reset(&user_key);
    // A new session for this sign-in; the old one, if any, is replaced.
    let session_value = random_token();
    let lifetime = match config.intervals.session {
        0 => 10 * 365 * 86_400,
        n => n as i64,
    };
    let session = SessionRecord {
        hash: token_hash(&session_value),
        sid: random_token(),
        username: user.username.clone(),
        auth_time: now,
        expires_at: now + lifetime,
    };
    if config.support_user_session {
        server.store().create_session(&session).await?;
    }
    record.username = Some(user.username.clone());
    record.auth_time = Some(now);
    let granted = granted_scopes(&server, &user.username, &client.client_id).await?;
    let needed = !Scopes::parse(&request.scope)
        .unwrap_or_default()
        .is_subset_of(&granted)
        || request.prompt.iter().any(|p| p == "consent");
    let mut response = if needed {
        server.store().save_interaction(&record).await?;
        consent_page(&server, &config, &client, &request, handle, &user.username).await?
    } else {
        server.store().delete_interaction(&record.hash).await?;
        finish(
            &server,
            &config,
            &request,
            &user.username,
            now,
            Some(&session.sid),
            now,
        )
        .await?
    };
    if config.support_user_session {
        let max_age = (config.intervals.session != 0).then_some(lifetime);
        set_cookie(
            &mut response,
            &config,
            SESSION_COOKIE,
            &session_value,
            max_age,
        );
    }
    Ok(response)
}

pub async fn consent(
    State(server): State<Server>,
    headers: HeaderMap,
    params: Params,
) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let (record, request) = match load_interaction(&server, &headers, &params, now).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let (Some(username), Some(auth_time)) = (record.username.clone(), record.auth_time) else {
        return Ok(error_page(&server, "invalid_request", "sign in first").await);
    };
    server.store().delete_interaction(&record.hash).await?;
    if params.get("action") != Some("accept") {
        return Ok(redirect_error(
            &config,
            &request,
            ErrorCode::AccessDenied,
            "the user refused",
        ));
    }
    let mut granted = granted_scopes(&server, &username, &request.client_id)
        .await?
        .iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    for scope in Scopes::parse(&request.scope).unwrap_or_default().iter() {
        if !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    server
        .store()
        .save_consent(&username, &request.client_id, &granted.join(" "), now)
        .await?;
    let session = current_session(&server, &config, &headers, now).await?;
    let sid = session
        .as_ref()
        .filter(|s| s.username == username)
        .map(|s| s.sid.clone());
    finish(
        &server,
        &config,
        &request,
        &username,
        auth_time,
        sid.as_deref(),
        now,
    )
    .await
}

/// Issues the code and sends it to the client.
async fn finish(
    server: &Server,
    config: &ServerConfig,
    request: &AuthorizeRequest,
    username: &str,
    auth_time: i64,
    sid: Option<&str>,
    now: i64,
) -> ServerResult<Response> {
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
        if let Some(claims) = &request.claims {
            extra.insert("claims".into(), claims.clone());
        }
        let record = CodeRecord {
            hash: token_hash(&code),
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            username: username.to_owned(),
            scope: request.scope.clone(),
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
    if wants("token") || wants("id_token") {
        let Some(client) = server.store().client(&request.client_id).await? else {
            return Ok(error_page(server, "invalid_client", "the client is gone").await);
        };
        let scope = Scopes::parse(&request.scope).unwrap_or_default();
        let facts = IdTokenFacts {
            nonce: request.nonce.clone(),
            auth_time: Some(auth_time),
            sid: sid.map(str::to_owned),
            claims: request.claims.clone(),
        };
        let mut access_token = None;
        if wants("token") {
            // Implicit tokens: no refresh token, and tied to the grant like the code's.
            let grant = Issue {
                username: Some(username.to_owned()),
                scope: scope.clone(),
                grant_id: Some(grant_id.clone()),
                ..Default::default()
            };
            let body = crate::issue::issue(server, config, &client, grant, now).await?;
            for name in ["access_token", "token_type", "expires_in", "scope"] {
                if let Some(value) = body.get(name) {
                    let text = value
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| value.to_string());
                    params.push((name.to_owned(), text));
                }
            }
            access_token = body
                .get("access_token")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
        }
        if wants("id_token") {
            let Some(user) = server.store().user(username).await? else {
                return Ok(redirect_error(
                    config,
                    request,
                    ErrorCode::AccessDenied,
                    "the user is gone",
                ));
            };
            let token = crate::issue::id_token(
                server,
                config,
                &client,
                &user,
                &scope,
                &facts,
                access_token.as_deref(),
                code_value.as_deref(),
                now,
            )
            .await?;
            params.push(("id_token".to_owned(), token));
        }
    }
    if let Some(state) = &request.state {
        params.push(("state".into(), state.clone()));
    }
    params.push(("iss".into(), config.issuer_url()));
    Ok(respond::send(
        request,
        params,
        config.customization.templates_dir.as_deref(),
    )
    .into_response())
}
