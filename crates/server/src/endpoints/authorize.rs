//! `GET|POST /authorize`, and the steps it leads to up to the answer to the client; the login
//! and consent forms are answered in [`super::login`].
//! A request with a live session and every scope already granted gets its code at once; otherwise
//! it waits, as an interaction record, for the login and consent pages. The customization hooks
//! run at the steps the reference gives them (see [`crate::hooks`]).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_core::{ErrorCode, GrantType, Scopes};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::authorize::{self, AuthorizeError, AuthorizeRequest, request_object, respond};
use crate::config::ServerConfig;
use crate::error::{ServerError, ServerResult};
use crate::hooks::{ConsentForm, Context, Credential, DirectLogin, LoginForm};
use crate::issue::{IdTokenFacts, Issue, random_token, token_hash};
use crate::metrics::Reused;
use crate::pages;
use crate::params::Params;
use crate::properties::{ACR_PASSWORD, ACR_SESSION, Properties, ScopeMap, scope_map, scope_string};
use crate::state::Server;
use crate::store::{CodeRecord, InteractionRecord};

use super::interaction::{add_cookies, error_page, interaction_of_this_browser, new_interaction};

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

fn code_str(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What waits between the pages: the validated request, and the authorization as the hooks have
/// shaped it so far.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Pending {
    pub(super) request: AuthorizeRequest,
    pub(super) scope: ScopeMap,
    pub(super) properties: Properties,
    #[serde(default)]
    pub(super) login_count: u32,
    /// The session's user, offered on the login page (`prompt=select_account`).
    #[serde(default)]
    pub(super) signed_in_as: Option<String>,
}

/// Once the client and redirect URI are known good, a protocol error or a failed hook goes back
/// to the client rather than onto an error page.
pub(super) fn or_redirect(
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
            return Ok(respond::send_error(
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
    // OpenID Connect Core §3.1.2.1: `id_token_hint` names the user the client expects. A session
    // answers for them when it is the hint's session or its user's; anyone else's does not.
    let hinted = match &pending.request.id_token_hint {
        None => None,
        Some(hint) => Some(
            super::logout::verify_hint(ctx.server, ctx.config, hint)
                .await?
                .ok_or_else(|| {
                    ServerError::oauth(
                        ErrorCode::InvalidRequest,
                        "id_token_hint is not an ID token of this server",
                    )
                })?,
        ),
    };
    let claim = |name: &str| {
        hinted
            .as_ref()
            .and_then(|claims| claims.get(name))
            .and_then(|v| v.as_str())
    };
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
                && (hinted.is_none()
                    || claim("sid") == Some(s.sid.as_str())
                    || claim("sub") == Some(s.username.as_str()))
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
    if pending.request.login_hint.is_none() {
        pending.request.login_hint = claim("sub").map(str::to_owned);
    }
    interaction(ctx, pending, None, now).await
}

/// Runs `validate_user` and, when it accepts, the server's fill-ins and the sign-in's `acr`.
pub(super) async fn validate(
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
    respond::send_error(
        request,
        respond::error_params(request, &config.issuer_url(), error, description),
        config.customization.templates_dir.as_deref(),
    )
}

/// The scopes the user granted this client before, with their display forms.
pub(super) async fn granted_scopes(ctx: &Context<'_>, username: &str) -> ServerResult<ScopeMap> {
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

fn ui_locales(properties: &Properties) -> Vec<String> {
    properties
        .request
        .get("ui_locales")
        .map(|l| l.split(' ').map(str::to_owned).collect())
        .unwrap_or_default()
}

pub(super) async fn login_page(
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

pub(super) async fn consent_page(
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

/// The pending authorization a login or consent form refers to.
pub(super) async fn load_interaction(
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

/// `after_authenticate`, then the code and tokens, sent to the client.
pub(super) async fn finish(
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
        if let Some(challenge) = &request.code_challenge {
            flag_reuse(
                server,
                Reused::CodeChallenge,
                challenge,
                &request.client_id,
                now,
            )
            .await?;
        }
        params.push(("code".to_owned(), code.clone()));
        code_value = Some(code);
    }
    if let Some(nonce) = &request.nonce {
        flag_reuse(server, Reused::Nonce, nonce, &request.client_id, now).await?;
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
            session: sid.map(str::to_owned),
            properties: properties.clone(),
            ..Default::default()
        };
        let body = crate::issue::issue(server, config, ctx.client, grant, now).await?;
        server.metrics().token_issued(GrantType::Implicit);
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

/// How long a PKCE challenge or nonce is remembered, to notice it coming again.
const REUSE_WINDOW: i64 = 600;

/// Flags a PKCE challenge or nonce seen before within [`REUSE_WINDOW`] (RFC 9700 §2.1.1: made
/// afresh for each request): a warning and `ostiary_reused_request_values_total`. Not refused: the
/// code stays bound to its challenge, and a client that reuses one is broken rather than attacked.
async fn flag_reuse(
    server: &Server,
    what: Reused,
    value: &str,
    client_id: &str,
    now: i64,
) -> ServerResult<()> {
    // Hashed: the key has a bounded length, and the table holds no nonce.
    let hash = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{client_id} {value}").as_bytes(),
    );
    let key = format!("{}:{}", what.label(), URL_SAFE_NO_PAD.encode(hash));
    if !server
        .store()
        .consume_jti(&key, now + REUSE_WINDOW, now)
        .await?
    {
        server.metrics().reused(what);
        tracing::warn!(%client_id, value = what.label(), "an authorization request reuses a value made for one request: a broken client or a replay");
    }
    Ok(())
}
