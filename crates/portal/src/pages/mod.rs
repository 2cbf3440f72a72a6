//! The management portal's pages under `/admin`: server-rendered HTML that works without
//! JavaScript. Administrators are users with the claim `ostiary_role` = `admin` (everything) or
//! `viewer` (read only); they sign in with their password (argon2id, rate-limited), and get a
//! session cookie (HttpOnly, SameSite=Strict, Secure when the issuer is HTTPS) whose hash is kept
//! as a token of its own kind. Every form carries a CSRF token derived from the session, every
//! change goes through [`Admin`] (so it is validated and audited), and deletions ask first.

use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, RETRY_AFTER, SET_COOKIE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use ostiary_client::Client;
use ostiary_server::Server;
use ostiary_server::hooks::session::cookie;
use ostiary_server::issue::{random_token, token_hash};
use ostiary_server::metrics::LoginRealm;
use ostiary_server::ratelimit::{Caller, Limiter};
use ostiary_server::store::{ServerStore, TokenKind, TokenRecord};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::admin::{Admin, AdminError, AdminResult, Role, TokensOf, now, set_path};
use crate::form::{self, Field};

mod clients;
mod overview;
mod relying;
mod server;
mod users;

use clients::*;
use overview::*;
use relying::*;
use server::*;
use users::*;

const COOKIE: &str = "ostiary_admin";
/// The pre-login cookie that binds the login form to the browser (against login CSRF).
const LOGIN_COOKIE: &str = "ostiary_admin_login";
/// How long a portal session lasts.
const SESSION_LIFETIME: i64 = 8 * 3600;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    ("fields.html", include_str!("../../templates/fields.html")),
    ("login.html", include_str!("../../templates/login.html")),
    (
        "dashboard.html",
        include_str!("../../templates/dashboard.html"),
    ),
    (
        "audit_table.html",
        include_str!("../../templates/audit_table.html"),
    ),
    ("audit.html", include_str!("../../templates/audit.html")),
    ("clients.html", include_str!("../../templates/clients.html")),
    ("client.html", include_str!("../../templates/client.html")),
    ("secret.html", include_str!("../../templates/secret.html")),
    ("confirm.html", include_str!("../../templates/confirm.html")),
    ("users.html", include_str!("../../templates/users.html")),
    ("user.html", include_str!("../../templates/user.html")),
    ("server.html", include_str!("../../templates/server.html")),
    ("servers.html", include_str!("../../templates/servers.html")),
    (
        "activity.html",
        include_str!("../../templates/activity.html"),
    ),
    (
        "server_view.html",
        include_str!("../../templates/server_view.html"),
    ),
    (
        "configuration.html",
        include_str!("../../templates/configuration.html"),
    ),
];

#[derive(Clone)]
struct Portal {
    store: Arc<dyn ServerStore>,
    client: Client,
    limiter: Arc<Limiter>,
    server: Server,
    templates: Arc<Environment<'static>>,
}

impl Portal {
    fn admin<'a>(&'a self, session: &'a Session) -> Admin<'a> {
        Admin {
            store: self.store.as_ref(),
            actor: &session.username,
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, text) in TEMPLATES {
        if let Err(e) = env.add_template(name, text) {
            tracing::error!(template = name, error = %e, "portal template");
        }
    }
    // Path segments: client ids and usernames may hold any character but whitespace.
    env.add_filter("urlencode", |s: String| path_segment(&s));
    env
}

/// The portal's routes, for `/admin`.
pub fn router(server: Server, client: Client) -> Router {
    let portal = Portal {
        store: server.shared_store(),
        client,
        limiter: Arc::new(Limiter::default()),
        server,
        templates: Arc::new(environment()),
    };
    Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/audit", get(audit))
        .route("/server", get(server_page).post(save_server))
        .route("/server/rotate-keys", post(rotate_keys))
        .route("/clients", get(clients))
        .route("/clients/new", get(new_client).post(create_client))
        .route("/clients/{client_id}", get(show_client).post(save_client))
        .route("/clients/{client_id}/secret", post(regenerate_secret))
        .route("/clients/{client_id}/revoke", post(revoke_client_tokens))
        .route("/clients/{client_id}/jwks", post(update_client_jwks))
        .route(
            "/clients/{client_id}/delete",
            get(confirm_delete_client).post(delete_client),
        )
        .route("/users", get(users))
        .route("/users/new", post(create_user))
        .route("/users/{username}", get(user).post(save_user))
        .route("/users/{username}/password", post(set_password))
        .route("/users/{username}/revoke", post(revoke_user_tokens))
        .route(
            "/users/{username}/delete",
            get(confirm_delete_user).post(delete_user),
        )
        .route("/activity", get(activity))
        .route("/activity/sessions/{sid}/revoke", post(end_session))
        .route(
            "/activity/grants/{username}/{client_id}/revoke",
            post(revoke_grant),
        )
        .route("/activity/tokens/{id}/revoke", post(revoke_token))
        .route("/servers", get(servers))
        .route("/servers/discover", post(discover_server))
        .route("/servers/manual", post(save_server_manually))
        .route("/servers/view", get(server_view))
        .route("/servers/jwks", post(refresh_server_keys))
        .route("/configurations/register", post(register_configuration))
        .route("/configurations/create", post(create_configuration))
        .route(
            "/configurations/{app}",
            get(configuration).post(save_configuration),
        )
        .route(
            "/configurations/{app}/keys",
            post(rotate_configuration_keys),
        )
        .with_state(portal)
        .layer(axum::middleware::map_response(page_headers))
}

/// Pages are never cached, never framed, and run no script but their own.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// A signed-in administrator.
#[derive(Clone, Debug, Serialize)]
struct Session {
    username: String,
    role: Role,
    /// The token each form of this session carries.
    csrf: String,
}

impl Session {
    fn can_write(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The CSRF token of a cookie value: only who holds the cookie can know it.
fn csrf_of(cookie_value: &str) -> String {
    token_hash(&format!("csrf:{cookie_value}"))
}

/// A refusal that sends the browser somewhere (the login page) or shows an error.
enum Refusal {
    Login,
    Page(StatusCode, String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Login => redirect("/admin/login"),
            Refusal::Page(status, message) => {
                let body = format!(
                    "<!doctype html><title>Ostiary</title><p>{}</p><p><a href=\"/admin\">Back</a></p>",
                    message.replace('&', "&amp;").replace('<', "&lt;")
                );
                (status, Html(body)).into_response()
            }
        }
    }
}

/// The client's address, as the authorization server's endpoints see it.
impl FromRequestParts<Portal> for Caller {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Refusal> {
        Caller::of(parts, &portal.server)
            .await
            .map_err(|e| Refusal::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
    }
}

impl FromRequestParts<Portal> for Session {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, Refusal> {
        let Some(value) = cookie(&parts.headers, COOKIE) else {
            return Err(Refusal::Login);
        };
        let record = portal
            .store
            .token(&token_hash(value))
            .await
            .map_err(|e| Refusal::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        let record = record
            .filter(|t| t.kind == TokenKind::AdminSession && !t.revoked && t.expires_at > now())
            .ok_or(Refusal::Login)?;
        // The user as now: disabled, deleted or no longer an administrator ends the session at
        // once, and a changed role applies at once.
        let username = record.username.unwrap_or_default();
        let user = portal
            .store
            .user(&username)
            .await
            .map_err(|e| Refusal::Page(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
            .filter(|u| u.enabled)
            .ok_or(Refusal::Login)?;
        let role = user
            .claims
            .get("ostiary_role")
            .and_then(Value::as_str)
            .and_then(Role::parse)
            .ok_or(Refusal::Login)?;
        Ok(Session {
            username,
            role,
            csrf: csrf_of(value),
        })
    }
}

fn redirect(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            LOCATION,
            HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/admin")),
        )],
    )
        .into_response()
}

/// A submitted form: the fields in order, repeated names kept.
struct Submitted(Vec<(String, String)>);

impl Submitted {
    fn parse(body: &Bytes) -> Self {
        Submitted(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the form carries `expected` as its CSRF token (compared in constant time).
    fn carries_csrf(&self, expected: &str) -> bool {
        let given = self.get("csrf").unwrap_or_default();
        !expected.is_empty()
            && verify_slices_are_equal(given.as_bytes(), expected.as_bytes()).is_ok()
    }

    /// The form's CSRF token must be the session's, and the session may change things.
    fn authorize(&self, session: &Session) -> Result<(), Refusal> {
        if !self.carries_csrf(&session.csrf) {
            return Err(Refusal::Page(
                StatusCode::FORBIDDEN,
                "The form has expired. Go back, reload the page and try again.".into(),
            ));
        }
        if !session.can_write() {
            return Err(Refusal::Page(
                StatusCode::FORBIDDEN,
                "Viewers may look, not change.".into(),
            ));
        }
        Ok(())
    }
}

/// A form that changes something: the session that sent it and its fields, the CSRF token and
/// the session's right to write already checked. Every changing handler takes one (last, as it
/// reads the body), so that none can forget the check.
struct Change {
    session: Session,
    form: Submitted,
}

impl FromRequest<Portal> for Change {
    type Rejection = Refusal;

    async fn from_request(request: Request, portal: &Portal) -> Result<Self, Refusal> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, portal).await?;
        let body = Bytes::from_request(Request::from_parts(parts, body), portal)
            .await
            .map_err(|e| Refusal::Page(StatusCode::BAD_REQUEST, e.body_text()))?;
        let form = Submitted::parse(&body);
        form.authorize(&session)?;
        Ok(Change { session, form })
    }
}

impl Portal {
    fn render(&self, template: &str, context: Value) -> Response {
        let rendered = self
            .templates
            .get_template(template)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&context))));
        match rendered {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(template, error = %e, "portal page");
                Refusal::Page(StatusCode::INTERNAL_SERVER_ERROR, "The page failed.".into())
                    .into_response()
            }
        }
    }

    /// A page of the signed-in part: `context` plus the session and the section.
    fn page(
        &self,
        template: &str,
        session: &Session,
        section: &str,
        mut context: Value,
    ) -> Response {
        context["session"] = json!(session);
        context["section"] = section.into();
        context["readonly"] = (!session.can_write()).into();
        self.render(template, context)
    }

    /// An operation's failure: bad input shows again on the page, anything else is an error.
    fn failed(&self, e: AdminError) -> Response {
        let status = match e {
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) | AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
            AdminError::Failed(ref why) => {
                tracing::error!(error = %why, "portal");
                return Refusal::Page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The operation failed; see the server log.".into(),
                )
                .into_response();
            }
        };
        Refusal::Page(status, e.to_string()).into_response()
    }
}

/// A page answering a refused form: the same page, as 400.
fn bad_request(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}

/// `extra`'s members added to the page's context.
fn merge(context: &mut Value, extra: Value) {
    if let (Some(context), Value::Object(extra)) = (context.as_object_mut(), extra) {
        context.extend(extra);
    }
}

/// After a form's action: the browser goes on to `to`, or sees why it failed.
fn outcome<T>(portal: &Portal, result: AdminResult<T>, to: &str) -> Response {
    match result {
        Ok(_) => redirect(to),
        Err(e) => portal.failed(e),
    }
}

/// The page that asks before a deletion.
fn confirm_deletion(
    portal: &Portal,
    session: &Session,
    section: &str,
    question: String,
    consequence: &str,
    back: String,
) -> Response {
    portal.page(
        "confirm.html",
        session,
        section,
        json!({
            "title": question,
            "question": question,
            "consequence": consequence,
            "action": format!("{back}/delete"),
            "confirm": "Delete",
            "back": back,
        }),
    )
}

// ---- signing in and out ----

#[derive(serde::Deserialize)]
struct LoginQuery {
    error: Option<String>,
}

async fn login_page(State(portal): State<Portal>, Query(query): Query<LoginQuery>) -> Response {
    let binding = random_token();
    let response = portal.render(
        "login.html",
        json!({
            "title": "Log in",
            "csrf": csrf_of(&binding),
            "username": "",
            "error": query.error.map(|_| "Wrong username or password, or not an administrator."),
        }),
    );
    let mut response = portal.cookie_response(response).await;
    set_cookie(&mut response, LOGIN_COOKIE, &binding, Some(600));
    response
}

async fn login(
    State(portal): State<Portal>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Submitted::parse(&body);
    let bound = cookie(&headers, LOGIN_COOKIE).map(csrf_of);
    if !bound.is_some_and(|bound| form.carries_csrf(&bound)) {
        return redirect("/admin/login");
    }
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    // Counted per administrator and address, as users are at the login form: a stranger's
    // guesses do not lock the administrator out elsewhere. One administrator's password checks
    // take turns: parallel guesses cannot all pass the limit.
    let sign_in = portal.limiter.sign_in(&username, &caller.key());
    let _turn = sign_in.turn().await;
    if let Some(wait) = sign_in.blocked() {
        portal.server.metrics().login_failed(LoginRealm::Portal);
        return too_many(
            "Too many failed attempts: try again in a few minutes.",
            wait.as_secs() + 1,
        );
    }
    let Ok(checked) = check_administrator(&portal, &username, password).await else {
        // Turned away before the password was looked at: neither a failure nor a success.
        return too_many("The server is busy: try again in a moment.", 1);
    };
    let Some(role) = checked else {
        sign_in.failed();
        portal.server.metrics().login_failed(LoginRealm::Portal);
        return redirect("/admin/login?error=1");
    };
    sign_in.succeeded();
    let value = random_token();
    let now = now();
    let stored = portal
        .store
        .insert_token(&TokenRecord {
            hash: token_hash(&value),
            kind: TokenKind::AdminSession,
            client_id: String::new(),
            username: Some(username.clone()),
            scope: role.as_str().to_owned(),
            family: random_token(),
            grant_id: None,
            jti: random_token(),
            audience: Vec::new(),
            issued_at: now,
            expires_at: now + SESSION_LIFETIME,
            revoked: false,
            extra: Map::new(),
        })
        .await;
    if let Err(e) = stored {
        return portal.failed(e.into());
    }
    let mut response = portal.cookie_response(redirect("/admin")).await;
    set_cookie(&mut response, COOKIE, &value, Some(SESSION_LIFETIME));
    set_cookie(&mut response, LOGIN_COOKIE, "", Some(0));
    response
}

/// A 429 page saying `why`, with `Retry-After: retry_after`.
fn too_many(why: &str, retry_after: u64) -> Response {
    let mut refusal = Refusal::Page(StatusCode::TOO_MANY_REQUESTS, why.into()).into_response();
    refusal
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after));
    refusal
}

/// The role of `username` when the password is theirs and they administer; `Busy` when too many
/// password checks wait already.
async fn check_administrator(
    portal: &Portal,
    username: &str,
    password: String,
) -> Result<Option<Role>, ostiary_server::password::Busy> {
    let user = portal.store.user(username).await.ok().flatten();
    let hash = portal.store.password_hash(username).await.ok().flatten();
    // The hash is checked even for unknown users, so timing does not tell who exists.
    let phc = hash
        .clone()
        .unwrap_or_else(|| ostiary_server::password::dummy_hash().to_owned());
    let verified = ostiary_server::password::verify_async(password, phc).await?;
    let role = user
        .filter(|u| u.enabled && verified && hash.is_some())
        .and_then(|u| {
            let role = u.claims.get("ostiary_role").and_then(Value::as_str);
            role.and_then(Role::parse)
        });
    Ok(role)
}

async fn logout(
    State(portal): State<Portal>,
    headers: HeaderMap,
    session: Session,
    body: Bytes,
) -> Response {
    let form = Submitted::parse(&body);
    if form.carries_csrf(&session.csrf)
        && let Some(value) = cookie(&headers, COOKIE)
    {
        let _ = portal.store.revoke_token(&token_hash(value)).await;
    }
    let mut response = portal.cookie_response(redirect("/admin/login")).await;
    set_cookie(&mut response, COOKIE, "", Some(0));
    response
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: Option<i64>) {
    // Secure whenever the server is reached over HTTPS (its issuer says so); over plain HTTP —
    // loopback development — a Secure cookie would never come back.
    let secure = if response.extensions().get::<Https>().is_some() {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    let cookie = format!("{name}={value}; Path=/admin; HttpOnly; SameSite=Strict{secure}{age}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

/// Marks a response of a server whose issuer is HTTPS, for [`set_cookie`].
#[derive(Clone, Copy)]
struct Https;

impl Portal {
    /// A response that will carry cookies: marked when the issuer is HTTPS.
    async fn cookie_response(&self, mut response: Response) -> Response {
        let tls = ostiary_server::initialize(self.store.as_ref(), None, now())
            .await
            .map(|c| c.issuer.tls)
            .unwrap_or(true);
        if tls {
            response.extensions_mut().insert(Https);
        }
        response
    }
}

/// `YYYY-MM-DD hh:mm:ss` (UTC) of seconds since the epoch (the civil calendar from days, as in
/// Howard Hinnant's `civil_from_days`).
fn utc_time(at: i64) -> String {
    let (days, seconds) = (at.div_euclid(86_400), at.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc_time(1_795_345_199), "2026-11-22 10:59:59");
    }

    #[test]
    fn every_template_parses() {
        // `environment` only logs a template that fails (the portal still serves the others).
        for (name, text) in TEMPLATES {
            let parsed = Environment::new().template_from_str(text).map(|_| ());
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        }
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(path_segment("x/y?z#"), "x%2Fy%3Fz%23");
    }
}
