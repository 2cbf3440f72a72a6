//! `GET|POST /logout`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), telling the
//! session's other clients through front-channel logout (OpenID Connect Front-Channel Logout 1.0)
//! and back-channel logout (OpenID Connect Back-Channel Logout 1.0).
//!
//! A client that shows the user's own ID token (`id_token_hint`) for the current session logs them
//! out at once; anything else gets a confirmation page, so that a link cannot sign a user out
//! behind their back. `post_logout_redirect_uri` must be registered by the client the request
//! names, or no redirect happens at all.

use axum::extract::{RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use ostiary_jose::SigAlg;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::interaction::{add_cookies, error_page, interaction_of_this_browser, new_interaction};
use crate::config::{ClientDescription, ServerConfig};
use crate::error::ServerResult;
use crate::hooks::UserSession;
use crate::issue::{OwnJwt, own_jwt, random_token, sign_and_encrypt};
use crate::pages;
use crate::params::Params;
use crate::properties::JwtHeader;
use crate::state::Server;

/// What a logout request asked for, once checked; kept while the confirmation page is shown.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Logout {
    client_name: Option<String>,
    /// The registered URI to return to, with `state` already added.
    redirect: Option<String>,
}

pub async fn get(
    State(server): State<Server>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ServerResult<Response> {
    match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => start(&server, &headers, &params).await,
        Err(_) => Ok(error_page(&server, "invalid_request", "a parameter is repeated").await),
    }
}

pub async fn post(
    State(server): State<Server>,
    headers: HeaderMap,
    params: Params,
) -> ServerResult<Response> {
    if params.get("handle").is_some() {
        confirm(&server, &headers, &params).await
    } else {
        start(&server, &headers, &params).await
    }
}

async fn start(server: &Server, headers: &HeaderMap, params: &Params) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let refuse = |why: &'static str| error_page(server, "invalid_request", why);
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(token) => match verify_hint(server, &config, token).await? {
            Some(claims) => Some(claims),
            None => return Ok(refuse("id_token_hint is not an ID token of this server").await),
        },
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(|aud| match aud {
            Value::String(s) => Some(s.clone()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        });
    let client_id = match (params.get("client_id"), hinted_client.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Ok(refuse("client_id does not match the id_token_hint").await);
        }
        (given, hinted) => given.or(hinted),
    };
    let client = match client_id {
        Some(id) => match server.store().client(id).await? {
            Some(c) => Some(c),
            None => return Ok(refuse("unknown client").await),
        },
        None => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        // SECURITY: only a URI the named client registered, compared exactly: never an open redirect.
        Some(uri) => match &client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => {
                Some(with_state(uri, params.get("state")))
            }
            Some(_) => {
                return Ok(
                    refuse("post_logout_redirect_uri is not registered for this client").await,
                );
            }
            None => {
                return Ok(
                    refuse("post_logout_redirect_uri needs client_id or id_token_hint").await,
                );
            }
        },
    };
    let logout = Logout {
        client_name: client.as_ref().map(|c| c.display_name().to_owned()),
        redirect,
    };
    let sessions = &server.hooks().sessions;
    let Some(session) = sessions.get_user(server, &config, headers, now).await? else {
        // Nobody is signed in here: nothing to end.
        return Ok(finished(&config, false, Vec::new(), logout.redirect));
    };
    let hint_is_this_session = hint.as_ref().is_some_and(|claims| {
        let sid = claims.get("sid").and_then(Value::as_str);
        let sub = claims.get("sub").and_then(Value::as_str);
        sid.map_or(sub == Some(session.username.as_str()), |sid| {
            sid == session.sid
        })
    });
    if hint_is_this_session {
        return end_session(server, &config, headers, &session, logout).await;
    }
    let request = serde_json::json!({ "logout": logout });
    let (handle, cookie) = new_interaction(server, &config, request, None, now).await?;
    #[derive(Serialize)]
    struct Ctx<'a> {
        action: String,
        handle: &'a str,
        username: &'a str,
        client_name: Option<&'a str>,
    }
    let ctx = Ctx {
        action: format!("{}/logout", config.issuer.path()),
        handle: &handle,
        username: &session.username,
        client_name: logout.client_name.as_deref(),
    };
    let templates = config.customization.templates_dir.as_deref();
    let html = pages::render(templates, "logout.html", ctx);
    let mut response = pages::page(StatusCode::OK, html, pages::PAGE_CSP);
    add_cookies(&mut response, vec![cookie]);
    Ok(response)
}

/// The confirmation page's answer.
async fn confirm(server: &Server, headers: &HeaderMap, params: &Params) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let record = match interaction_of_this_browser(server, headers, params, now).await? {
        Ok(record) => record,
        Err(page) => return Ok(page),
    };
    server.store().delete_interaction(&record.hash).await?;
    let Some(logout) = record
        .request
        .get("logout")
        .and_then(|l| serde_json::from_value::<Logout>(l.clone()).ok())
    else {
        return Ok(error_page(server, "invalid_request", "this page is not a sign-out").await);
    };
    let session = server
        .hooks()
        .sessions
        .get_user(server, &config, headers, now)
        .await?;
    match session {
        Some(session) if params.get("action") == Some("logout") => {
            end_session(server, &config, headers, &session, logout).await
        }
        Some(_) => Ok(finished(&config, false, Vec::new(), logout.redirect)),
        None => Ok(finished(&config, true, Vec::new(), logout.redirect)),
    }
}

/// Ends the session, with the tokens issued through it (as Keycloak does; those granted
/// `offline_access` stay), and tells each client it signed in to (front-channel logout).
async fn end_session(
    server: &Server,
    config: &ServerConfig,
    headers: &HeaderMap,
    session: &UserSession,
    logout: Logout,
) -> ServerResult<Response> {
    let cookies = server
        .hooks()
        .sessions
        .logout(server, config, headers)
        .await?;
    server
        .store()
        .revoke_session_tokens(&session.username, &session.sid)
        .await?;
    let mut frames = Vec::new();
    for client_id in server.store().take_session_clients(&session.sid).await? {
        let Some(client) = server.store().client(&client_id).await? else {
            continue;
        };
        // Delivered in the background: the user's page does not wait for the clients.
        let _delivery = backchannel_logout(server, config, &client, &session.sid).await;
        let Some(uri) = client.frontchannel_logout_uri.as_deref() else {
            continue;
        };
        if !config.frontchannel_logout {
            continue;
        }
        // OpenID Connect Front-Channel Logout §2: iss and sid when the client wants them.
        let frame = if client.frontchannel_logout_session_required || config.frontchannel_logout_sid
        {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("iss", &config.issuer_url())
                .append_pair("sid", &session.sid)
                .finish();
            let separator = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{separator}{query}")
        } else {
            uri.to_owned()
        };
        frames.push(frame);
    }
    tracing::info!(sid = %session.sid, clients = frames.len(), "user session ended");
    let mut response = finished(config, true, frames, logout.redirect);
    add_cookies(&mut response, cookies);
    Ok(response)
}

/// Tells the clients the session `sid` signed in to that it ended, by back-channel logout: for
/// a session an administrator ends, with no browser there to load front-channel frames. The
/// deliveries run in the background; each handle answers whether its client took the token.
pub async fn back_channel_logout_of_session(
    server: &Server,
    sid: &str,
) -> ServerResult<Vec<tokio::task::JoinHandle<bool>>> {
    let config = server.config().await?;
    let mut deliveries = Vec::new();
    for client_id in server.store().take_session_clients(sid).await? {
        if let Some(client) = server.store().client(&client_id).await? {
            deliveries.extend(backchannel_logout(server, &config, &client, sid).await);
        }
    }
    Ok(deliveries)
}

/// The `events` member that makes a JWT a logout token (Back-Channel Logout §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Posts a logout token for the session `sid` to the client's `backchannel_logout_uri`
/// (Back-Channel Logout §2.5), in the background: the user's page does not wait for the client.
/// Signed (and encrypted) as the client's ID tokens are. A client that cannot be told is logged.
/// The delivery, when the client registered a URI; it answers whether the client took the token.
async fn backchannel_logout(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    sid: &str,
) -> Option<tokio::task::JoinHandle<bool>> {
    let uri = client.backchannel_logout_uri.clone()?;
    let now = super::now();
    let mut claims = Map::new();
    claims.insert("iss".into(), config.issuer_url().into());
    claims.insert("aud".into(), client.client_id.clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + LOGOUT_TOKEN_LIFETIME).into());
    claims.insert("jti".into(), random_token().into());
    claims.insert("sid".into(), sid.into());
    claims.insert(
        "events".into(),
        serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
    );
    let sig_alg = client
        .id_token_signed_response_alg
        .or(config.jwt.signing_alg)
        .unwrap_or(SigAlg::RS256);
    let encrypt = client
        .id_token_encrypted_response_alg
        .zip(client.id_token_encrypted_response_enc);
    let header = JwtHeader::default();
    let token = sign_and_encrypt(
        server,
        config,
        &claims,
        header,
        Some(sig_alg),
        "logout+jwt",
        encrypt,
        client,
    )
    .await;
    let client_id = client.client_id.clone();
    let token = match token {
        Ok(token) => token,
        Err(e) => {
            tracing::warn!(client_id, error = %e, "no logout token for the client");
            return None;
        }
    };
    let allow_private = config.fetch_private_addresses;
    Some(tokio::spawn(async move {
        let form = [("logout_token", token.as_str())];
        let delivered = crate::fetch::post_form(&uri, &form, allow_private).await;
        match &delivered {
            Ok(()) => tracing::info!(client_id, "back-channel logout delivered"),
            Err(e) => tracing::warn!(client_id, error = %e, "back-channel logout failed"),
        }
        delivered.is_ok()
    }))
}

/// Seconds a logout token is good for: it is delivered at once.
const LOGOUT_TOKEN_LIFETIME: i64 = 120;

/// The end of a logout: straight back to the client when no other client needs telling, else a
/// page that loads the clients' logout URIs in frames and then returns (a meta refresh: the
/// pages run no script).
fn finished(
    config: &ServerConfig,
    signed_out: bool,
    frames: Vec<String>,
    redirect: Option<String>,
) -> Response {
    if frames.is_empty()
        && let Some(to) = &redirect
        && let Ok(location) = HeaderValue::from_str(to)
    {
        let mut response = StatusCode::SEE_OTHER.into_response();
        response.headers_mut().insert(LOCATION, location);
        return response;
    }
    #[derive(Serialize)]
    struct Ctx {
        signed_out: bool,
        frames: Vec<String>,
        redirect: Option<String>,
        delay: u32,
    }
    let origins: Vec<String> = frames.iter().filter_map(|f| origin(f)).collect();
    let csp = if origins.is_empty() {
        pages::PAGE_CSP.to_owned()
    } else {
        format!("{}; frame-src {}", pages::PAGE_CSP, origins.join(" "))
    };
    let templates = config.customization.templates_dir.as_deref();
    let ctx = Ctx {
        signed_out,
        frames,
        redirect,
        delay: 2,
    };
    let html = pages::render(templates, "logged_out.html", ctx);
    pages::page(StatusCode::OK, html, &csp)
}

fn with_state(uri: &str, state: Option<&str>) -> String {
    match state {
        None => uri.to_owned(),
        Some(state) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("state", state)
                .finish();
            let separator = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{separator}{query}")
        }
    }
}

/// `scheme://authority` of a URI, cleaned for use in a CSP source list.
fn origin(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let source = format!("{scheme}://{authority}");
    (!source.contains([';', ',', ' ', '\''])).then_some(source)
}

/// The claims of an ID token this server signed, however old (a logout hint is usually
/// expired); `None` when it is not one.
pub(super) async fn verify_hint(
    server: &Server,
    config: &ServerConfig,
    token: &str,
) -> ServerResult<Option<Map<String, Value>>> {
    // Ours, and not a JWT access token (RFC 9068's typ); its expiry does not matter here.
    let Some(OwnJwt {
        claims,
        access_token,
    }) = own_jwt(server, config, token).await?
    else {
        return Ok(None);
    };
    let complete = claims.contains_key("sub") && claims.contains_key("aud");
    Ok((complete && !access_token).then_some(claims))
}
