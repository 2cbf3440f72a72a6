//! The client runtime in an axum application: a login layer that sends unauthenticated browsers
//! to the server (the reference's OnPreHTTP redirect), the redirect endpoint that finishes the
//! sign-in, and the front- and back-channel logout receiver.
//!
//! ```ignore
//! let login = Login::new(client, "portal", "/");
//! let app = Router::new()
//!     .route("/", get(home))                      // handlers read Extension<LoggedIn>
//!     .route_layer(axum::middleware::from_fn_with_state(login.clone(), require_login))
//!     .merge(login.routes("/cb", "/frontchannel-logout"));
//! ```

use axum::Router;
use axum::extract::{Query, RawForm, Request, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::Client;
use crate::auth::random;
use crate::authorization::AuthorizationRequest;
use crate::error::ClientError;
use crate::store::StoredTokens;

/// The cookie naming the browser's session at the application.
pub const SESSION_COOKIE: &str = "ostiary_rp_session";

/// What a protected handler gets: the session and its tokens (with the ID token's claims).
#[derive(Clone, Debug)]
pub struct LoggedIn {
    pub session: String,
    pub tokens: StoredTokens,
}

/// The login layer's settings: which client configuration signs users in, with which scope.
#[derive(Clone, Debug)]
pub struct Login {
    pub client: Client,
    pub app: String,
    pub scope: Option<String>,
    /// Where the browser goes after the sign-in when the request named no page.
    pub home: String,
    /// Send the session cookie over HTTPS only (on unless the application runs on plain HTTP).
    pub secure_cookie: bool,
    /// `query` (the default), `fragment` or `form_post`; the redirect endpoint takes all three.
    pub response_mode: Option<String>,
}

impl Login {
    pub fn new(client: Client, app: &str, home: &str) -> Self {
        Login {
            client,
            app: app.to_owned(),
            scope: None,
            home: home.to_owned(),
            secure_cookie: true,
            response_mode: None,
        }
    }

    /// The redirect endpoint at `redirect_path`, the request objects of pending requests at
    /// `<redirect_path>/request/{state}` (for `request_uri`), and the logout receiver at
    /// `logout_path` (front-channel by GET, back-channel by POST: register it as both), to merge
    /// into the application's router.
    pub fn routes<S>(&self, redirect_path: &str, logout_path: &str) -> Router<S> {
        let objects = format!("{}/request/{{state}}", redirect_path.trim_end_matches('/'));
        Router::new()
            .route(redirect_path, get(redirected).post(redirected))
            .route(&objects, get(request_object))
            .route(
                logout_path,
                get(frontchannel_logout).post(backchannel_logout),
            )
            .with_state(self.clone())
    }
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

fn failure(status: StatusCode, e: &ClientError) -> Response {
    // The cause goes to the log; the browser sees a plain message.
    tracing::warn!(error = %e, "sign-in failed");
    (status, format!("The sign-in did not complete: {e}")).into_response()
}

/// Middleware for routes that need a signed-in user: with tokens for the session's cookie the
/// request goes on with [`LoggedIn`]; otherwise the browser goes to the server.
pub async fn require_login(
    State(login): State<Login>,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = session_of(request.headers());
    if let Some(session) = &existing {
        match login
            .client
            .is_authorized(&login.app, session, login.scope.as_deref())
            .await
        {
            Ok(Some(tokens)) => {
                request.extensions_mut().insert(LoggedIn {
                    session: session.clone(),
                    tokens,
                });
                return next.run(request).await;
            }
            Ok(None) => {}
            Err(e) => return failure(StatusCode::BAD_GATEWAY, &e),
        }
    }
    if request.method() != Method::GET {
        return (StatusCode::UNAUTHORIZED, "Sign in first.").into_response();
    }
    let session = existing.unwrap_or_else(random);
    let return_to = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned());
    let ask = AuthorizationRequest {
        scope: login.scope.clone(),
        response_mode: login.response_mode.clone(),
        return_to,
        ..Default::default()
    };
    match login
        .client
        .authorization_code_url(&login.app, &session, ask)
        .await
    {
        Ok(url) => {
            let mut response = see_other(&url);
            let secure = if login.secure_cookie { "; Secure" } else { "" };
            let cookie =
                format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax{secure}");
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(SET_COOKIE, value);
            }
            response
        }
        Err(e) => failure(StatusCode::BAD_GATEWAY, &e),
    }
}

/// Log out (OpenID Connect RP-Initiated Logout 1.0): the session's tokens are revoked and
/// forgotten, and the browser goes to the server's `end_session_endpoint` — with the ID token as
/// the hint and the configuration's `post_logout_redirect_uri` — to end the user's session there
/// too (which tells the other clients by front-channel logout). Mount it as a POST route: a link
/// would let any page log the user out.
pub async fn log_out(State(login): State<Login>, headers: HeaderMap) -> Response {
    let Some(session) = session_of(&headers) else {
        return see_other(&login.home);
    };
    let stored = login
        .client
        .store()
        .tokens(&login.app, &session, crate::auth::now())
        .await
        .ok()
        .flatten();
    if let Err(e) = login.client.end_session(&login.app, &session).await {
        tracing::warn!(error = %e, "the tokens could not all be revoked");
    }
    let to = match login.client.app(&login.app).await {
        Ok((config, server)) => match server.metadata.end_session_endpoint {
            Some(endpoint) => {
                let mut url = format!("{endpoint}?client_id={}", encode(&config.client_id));
                if let Some(hint) = stored.and_then(|s| s.id_token) {
                    url += &format!("&id_token_hint={}", encode(&hint));
                }
                if let Some(back) = &config.post_logout_redirect_uri {
                    url += &format!("&post_logout_redirect_uri={}", encode(back));
                }
                url
            }
            None => login.home.clone(),
        },
        Err(_) => login.home.clone(),
    };
    let mut response = see_other(&to);
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The redirect endpoint: query (GET) or form_post (POST) parameters.
async fn redirected(
    State(login): State<Login>,
    headers: HeaderMap,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    RawForm(form): RawForm,
) -> Response {
    let params: Vec<(String, String)> = if method == Method::POST {
        form_urlencoded::parse(&form).into_owned().collect()
    } else {
        query
    };
    if params.is_empty() {
        // A fragment response never reaches the server: this page hands it over as a form.
        return fragment_page();
    }
    match login.client.handle_redirect(&login.app, &params).await {
        // SECURITY: the answer must come back to the browser that asked (login CSRF).
        Ok(signed_in) if session_of(&headers).as_deref() == Some(signed_in.session.as_str()) => {
            see_other(signed_in.return_to.as_deref().unwrap_or(&login.home))
        }
        Ok(signed_in) => {
            let _ = login
                .client
                .remove_tokens(&login.app, &signed_in.session)
                .await;
            failure(StatusCode::BAD_REQUEST, &ClientError::StateMismatch)
        }
        Err(e @ (ClientError::Http(_) | ClientError::Store(_))) => {
            failure(StatusCode::BAD_GATEWAY, &e)
        }
        Err(e) => failure(StatusCode::BAD_REQUEST, &e),
    }
}

/// The page a fragment response lands on: it posts the fragment's parameters back to the
/// redirect endpoint (the only script the login layer serves).
fn fragment_page() -> Response {
    const PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signing in</title></head>\
<body><form method=\"post\"><noscript>Scripts are off: this sign-in cannot finish.</noscript></form>\
<script>const form = document.forms[0];\
for (const [name, value] of new URLSearchParams(location.hash.slice(1))) {\
const input = document.createElement('input'); input.type = 'hidden'; input.name = name; input.value = value;\
form.appendChild(input); }\
history.replaceState(null, '', location.pathname); form.submit();</script></body></html>";
    let mut response = axum::response::Html(PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// A pending request's request object, for the server to fetch (RFC 9101 §5.2).
async fn request_object(
    State(login): State<Login>,
    axum::extract::Path(state): axum::extract::Path<String>,
) -> Response {
    let pending = login
        .client
        .store()
        .pending(&state, crate::auth::now())
        .await;
    match pending {
        Ok(Some(p)) if p.app == login.app => match p.request_object {
            Some(object) => {
                let mut response = object.into_response();
                let headers = response.headers_mut();
                headers.insert(
                    "content-type",
                    HeaderValue::from_static("application/oauth-authz-req+jwt"),
                );
                headers.insert("cache-control", HeaderValue::from_static("no-store"));
                response
            }
            None => StatusCode::NOT_FOUND.into_response(),
        },
        Ok(_) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => failure(StatusCode::BAD_GATEWAY, &e),
    }
}

/// Back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.8): the server posts a
/// `logout_token`; 200 once the sessions of its `sid` ended, 400 for a token that does not pass.
async fn backchannel_logout(State(login): State<Login>, RawForm(form): RawForm) -> Response {
    let token = form_urlencoded::parse(&form)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned());
    let answer = match token {
        None => Err(ClientError::InvalidResponse("no logout_token".into())),
        Some(token) => login.client.backchannel_logout(&login.app, &token).await,
    };
    let mut response = match answer {
        Ok(ended) => {
            tracing::info!(ended, "back-channel logout");
            StatusCode::OK.into_response()
        }
        Err(e @ (ClientError::Http(_) | ClientError::Store(_))) => {
            tracing::warn!(error = %e, "back-channel logout failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout refused");
            let body =
                serde_json::json!({"error": "invalid_request", "error_description": e.to_string()});
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
    };
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// Front-channel logout (OpenID Connect Front-Channel Logout 1.0 §2): `iss` must be the client's
/// server when given, and the sessions of `sid` end.
async fn frontchannel_logout(
    State(login): State<Login>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Ok((_, server)) = login.client.app(&login.app).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (Some(iss), Some(sid)) = (param("iss"), param("sid")) else {
        return (StatusCode::BAD_REQUEST, "iss and sid are required").into_response();
    };
    if iss != server.issuer {
        return (StatusCode::BAD_REQUEST, "not our server").into_response();
    }
    match login
        .client
        .store()
        .delete_tokens_of_sid(&login.app, sid)
        .await
    {
        Ok(ended) => {
            tracing::info!(ended, "front-channel logout");
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => failure(StatusCode::BAD_GATEWAY, &e),
    }
}
