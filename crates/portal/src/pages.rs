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
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use ostiary_client::Client;
use ostiary_server::hooks::session::cookie;
use ostiary_server::issue::{random_token, token_hash};
use ostiary_server::ratelimit::{LoginLimiter, PER_USER};
use ostiary_server::store::{ServerStore, TokenKind, TokenRecord};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::admin::{Admin, AdminError, AdminResult, Role, TokensOf, now, set_path};
use crate::form::{self, Field};

const COOKIE: &str = "ostiary_admin";
/// The pre-login cookie that binds the login form to the browser (against login CSRF).
const LOGIN_COOKIE: &str = "ostiary_admin_login";
/// How long a portal session lasts.
const SESSION_LIFETIME: i64 = 8 * 3600;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("fields.html", include_str!("../templates/fields.html")),
    ("login.html", include_str!("../templates/login.html")),
    (
        "dashboard.html",
        include_str!("../templates/dashboard.html"),
    ),
    (
        "audit_table.html",
        include_str!("../templates/audit_table.html"),
    ),
    ("audit.html", include_str!("../templates/audit.html")),
    ("clients.html", include_str!("../templates/clients.html")),
    ("client.html", include_str!("../templates/client.html")),
    ("secret.html", include_str!("../templates/secret.html")),
    ("confirm.html", include_str!("../templates/confirm.html")),
    ("users.html", include_str!("../templates/users.html")),
    ("user.html", include_str!("../templates/user.html")),
    ("server.html", include_str!("../templates/server.html")),
    ("servers.html", include_str!("../templates/servers.html")),
    ("activity.html", include_str!("../templates/activity.html")),
    (
        "server_view.html",
        include_str!("../templates/server_view.html"),
    ),
    (
        "configuration.html",
        include_str!("../templates/configuration.html"),
    ),
];

#[derive(Clone)]
struct Portal {
    store: Arc<dyn ServerStore>,
    client: Client,
    limiter: Arc<LoginLimiter>,
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
pub fn router(store: Arc<dyn ServerStore>, client: Client) -> Router {
    let portal = Portal {
        store,
        client,
        limiter: Arc::new(LoginLimiter::default()),
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

    /// The form's CSRF token must be the session's, and the session may change things.
    fn authorize(&self, session: &Session) -> Result<(), Refusal> {
        let given = self.get("csrf").unwrap_or_default();
        if verify_slices_are_equal(given.as_bytes(), session.csrf.as_bytes()).is_err() {
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

async fn login(State(portal): State<Portal>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Submitted::parse(&body);
    let bound = cookie(&headers, LOGIN_COOKIE).map(csrf_of);
    if bound.is_none() || bound.as_deref() != form.get("csrf") {
        return redirect("/admin/login");
    }
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let key = format!("admin:{username}");
    if portal.limiter.blocked(&key, PER_USER).is_some() {
        return Refusal::Page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts: try again in a few minutes.".into(),
        )
        .into_response();
    }
    let Some(role) = check_administrator(&portal, &username, password).await else {
        portal.limiter.fail(&key);
        return redirect("/admin/login?error=1");
    };
    portal.limiter.reset(&key);
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

/// The role of `username` when the password is theirs and they administer.
async fn check_administrator(portal: &Portal, username: &str, password: String) -> Option<Role> {
    let user = portal.store.user(username).await.ok().flatten();
    let hash = portal.store.password_hash(username).await.ok().flatten();
    // The hash is checked even for unknown users, so timing does not tell who exists.
    let phc = hash
        .clone()
        .unwrap_or_else(|| ostiary_server::password::dummy_hash().to_owned());
    let verified = ostiary_server::password::verify_async(password, phc).await;
    let user = user.filter(|u| u.enabled && verified && hash.is_some())?;
    user.claims
        .get("ostiary_role")
        .and_then(Value::as_str)
        .and_then(Role::parse)
}

async fn logout(
    State(portal): State<Portal>,
    headers: HeaderMap,
    session: Session,
    body: Bytes,
) -> Response {
    let form = Submitted::parse(&body);
    if form.get("csrf") == Some(session.csrf.as_str())
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

// ---- dashboard and audit ----

fn audit_rows(entries: Vec<ostiary_server::store::AuditEntry>) -> Value {
    entries
        .into_iter()
        .map(|e| {
            json!({
                "when": utc_time(e.at),
                "actor": e.actor, "action": e.action, "target": e.target,
                "detail": e.detail.to_string(),
            })
        })
        .collect()
}

async fn dashboard(State(portal): State<Portal>, session: Session) -> Response {
    let admin = portal.admin(&session);
    let gathered = async {
        let clients = admin.clients().await?.len();
        let users = admin.users().await?.len();
        let sessions = admin.sessions(None).await?.len();
        let issued = admin.issued_per_minute(60).await?;
        let ring = portal.store.key_ring().await?.unwrap_or_default();
        let audit = admin.audit_log(10).await?;
        Ok::<_, AdminError>((clients, users, sessions, issued, ring, audit))
    }
    .await;
    let (clients, users, sessions, issued, ring, audit) = match gathered {
        Ok(gathered) => gathered,
        Err(e) => return portal.failed(e),
    };
    let max = issued.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let bars: Vec<Value> = issued
        .iter()
        .enumerate()
        .map(|(i, (minute, n))| {
            let h = n * 100 / max;
            json!({"x": i * 10, "y": 110 - h, "h": h, "n": n, "label": utc_time(*minute)})
        })
        .collect();
    let keys: Vec<Value> = ring
        .keys()
        .iter()
        .map(|k| {
            json!({
                "kid": k.key.kid, "alg": k.key.alg, "state": format!("{:?}", k.state).to_lowercase(),
                "age_days": (now() - k.created_at) / 86_400,
            })
        })
        .collect();
    let minute_of = |at: Option<&(i64, i64)>| at.map(|(m, _)| utc_time(*m)[11..16].to_owned());
    portal.page(
        "dashboard.html",
        &session,
        "dashboard",
        json!({
            "title": "Dashboard",
            "counts": {
                "clients": clients, "users": users, "sessions": sessions,
                "issued_last_hour": issued.iter().map(|(_, n)| n).sum::<i64>(),
            },
            "bars": bars, "max": max,
            "first_minute": minute_of(issued.first()), "last_minute": minute_of(issued.last()),
            "keys": keys,
            "audit": audit_rows(audit),
        }),
    )
}

async fn audit(State(portal): State<Portal>, session: Session) -> Response {
    match portal.admin(&session).audit_log(500).await {
        Ok(entries) => portal.page(
            "audit.html",
            &session,
            "audit",
            json!({"title": "Audit log", "audit": audit_rows(entries)}),
        ),
        Err(e) => portal.failed(e),
    }
}

// ---- the server configuration, by the reference's tabs ----

const TABS: &[(&str, &str, &[&str])] = &[
    (
        "general",
        "General",
        &[
            "issuer.host",
            "issuer.port",
            "issuer.tls",
            "description",
            "grant_types",
            "return_refresh_token",
            "audience_required",
            "support_user_session",
            "allow_public_client_refresh",
            "enforce_pkce_public_clients",
            "enforce_pkce_confidential_clients",
            "frontchannel_logout",
            "frontchannel_logout_sid",
            "access_token_format",
            "registration",
            "fetch_private_addresses",
            "trusted_issuers",
            "service_documentation",
            "op_policy_uri",
            "op_tos_uri",
        ],
    ),
    (
        "scopes",
        "Scopes",
        &["scopes", "default_scope", "allow_unsupported_scope"],
    ),
    (
        "intervals",
        "Intervals",
        &[
            "intervals.access_token",
            "intervals.authorization_code",
            "intervals.refresh_token",
            "intervals.session",
            "intervals.client_secret",
        ],
    ),
    (
        "jwt",
        "JWT Settings",
        &["jwt.signing_alg", "jwt.key_alg", "jwt.enc_alg", "jwt.x509"],
    ),
    (
        "customization",
        "Customization",
        &["customization.templates_dir"],
    ),
];

#[derive(serde::Deserialize)]
struct TabQuery {
    tab: Option<String>,
}

fn tab_of(query: &TabQuery) -> &'static (&'static str, &'static str, &'static [&'static str]) {
    TABS.iter()
        .find(|(id, _, _)| Some(*id) == query.tab.as_deref())
        .unwrap_or(&TABS[0])
}

fn server_context(
    tab: &str,
    fields: Vec<Field>,
    error: Option<String>,
    notice: Option<&str>,
) -> Value {
    json!({
        "title": "Authorization server",
        "tabs": TABS.iter().map(|(id, label, _)| json!({"id": id, "label": label})).collect::<Vec<_>>(),
        "tab": tab,
        "fields": fields,
        "error": error,
        "notice": notice,
    })
}

async fn server_page(
    State(portal): State<Portal>,
    session: Session,
    Query(query): Query<TabQuery>,
) -> Response {
    let (id, _, paths) = tab_of(&query);
    let config = match portal.admin(&session).server_config().await {
        Ok(config) => serde_json::to_value(config).unwrap_or_default(),
        Err(e) => return portal.failed(e),
    };
    let fields = paths.iter().map(|p| form::field(&config, p)).collect();
    portal.page(
        "server.html",
        &session,
        "server",
        server_context(id, fields, None, None),
    )
}

async fn save_server(
    State(portal): State<Portal>,
    session: Session,
    Query(query): Query<TabQuery>,
    body: Bytes,
) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let (id, _, paths) = tab_of(&query);
    let admin = portal.admin(&session);
    let current = match admin.server_config().await {
        Ok(config) => serde_json::to_value(config).unwrap_or_default(),
        Err(e) => return portal.failed(e),
    };
    // What was typed is shown again on a refusal, next to the field it concerns.
    let mut fields: Vec<Field> = paths
        .iter()
        .map(|p| {
            let mut field = form::field(&current, p);
            if let Some(typed) = submitted.get(p) {
                field.value = typed.to_owned();
            }
            field
        })
        .collect();
    let saved = admin
        .update_server_config(|value| {
            for path in paths.iter() {
                let Some(typed) = submitted.get(path) else {
                    continue;
                };
                let new = form::read(&current, path, typed)
                    .map_err(|why| AdminError::Invalid(format!("{path}: {why}")))?;
                set_path(value, path, new)?;
            }
            Ok(())
        })
        .await;
    match saved {
        Ok(config) => {
            let config = serde_json::to_value(config).unwrap_or_default();
            let fields = paths.iter().map(|p| form::field(&config, p)).collect();
            portal.page(
                "server.html",
                &session,
                "server",
                server_context(id, fields, None, Some("Saved.")),
            )
        }
        Err(AdminError::Invalid(why)) => {
            let placed = form::attach_error(&mut fields, &why);
            bad_request(portal.page(
                "server.html",
                &session,
                "server",
                server_context(id, fields, (!placed).then(|| why.clone()), None),
            ))
        }
        Err(e) => portal.failed(e),
    }
}

async fn rotate_keys(State(portal): State<Portal>, session: Session, body: Bytes) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    let done = portal.admin(&session).rotate_keys().await;
    outcome(&portal, done, "/admin/server?tab=jwt")
}

// ---- client descriptions ----

/// The members of a client description the portal edits (the rest stay as they are), by the
/// reference's tabs.
const CLIENT_TABS: &[(&str, &[&str])] = &[
    (
        "General",
        &[
            "name",
            "client_type",
            "description",
            "redirect_uris",
            "grant_types",
            "response_types",
            "token_endpoint_auth_method",
            "token_endpoint_auth_signing_alg",
            "default_scope",
            "default_max_age",
            "launch_url",
        ],
    ),
    (
        "Client Information",
        &[
            "client_name",
            "logo_uri",
            "client_uri",
            "policy_uri",
            "tos_uri",
            "contacts",
        ],
    ),
    (
        "JWT Settings",
        &[
            "jwks_uri",
            "jwks",
            "x509_certificate",
            "id_token_signed_response_alg",
            "id_token_encrypted_response_alg",
            "id_token_encrypted_response_enc",
            "userinfo_signed_response_alg",
            "userinfo_encrypted_response_alg",
            "userinfo_encrypted_response_enc",
            "request_object_signing_alg",
        ],
    ),
    (
        "Logout",
        &[
            "post_logout_redirect_uris",
            "frontchannel_logout_uri",
            "frontchannel_logout_session_required",
        ],
    ),
];

fn client_paths() -> impl Iterator<Item = &'static str> {
    CLIENT_TABS
        .iter()
        .flat_map(|(_, paths)| paths.iter().copied())
}

/// The fields grouped by tab, for the page.
fn client_groups(fields: Vec<Field>) -> Value {
    let mut fields = fields.into_iter();
    CLIENT_TABS
        .iter()
        .map(|(label, paths)| {
            let group: Vec<Field> = fields.by_ref().take(paths.len()).collect();
            json!({"label": label, "fields": group})
        })
        .collect()
}

async fn clients(State(portal): State<Portal>, session: Session) -> Response {
    match portal.admin(&session).clients().await {
        Ok(clients) => portal.page(
            "clients.html",
            &session,
            "clients",
            json!({"title": "Client descriptions", "clients": clients}),
        ),
        Err(e) => portal.failed(e),
    }
}

fn client_page(
    portal: &Portal,
    session: &Session,
    client_id: Option<&str>,
    fields: Vec<Field>,
    error: Option<String>,
    notice: Option<&str>,
) -> Response {
    portal.page(
        "client.html",
        session,
        "clients",
        json!({
            "title": client_id.unwrap_or("New client description"),
            "client_id": client_id,
            "groups": client_groups(fields),
            "error": error,
            "notice": notice,
        }),
    )
}

/// The defaults a new client description starts from; response types left empty follow the
/// grant types (as in registration).
fn new_client_value() -> Value {
    let mut value = serde_json::to_value(ostiary_server::config::ClientDescription::default())
        .unwrap_or_default();
    value["response_types"] = json!([]);
    value
}

async fn new_client(State(portal): State<Portal>, session: Session) -> Response {
    if !session.can_write() {
        return redirect("/admin/clients");
    }
    let defaults = new_client_value();
    let fields = client_paths().map(|p| form::field(&defaults, p)).collect();
    client_page(&portal, &session, None, fields, None, None)
}

/// Reads the client form against `current`: the members, and the fields as typed.
fn read_client_form(
    current: &Value,
    submitted: &Submitted,
) -> (Result<Map<String, Value>, String>, Vec<Field>) {
    let mut fields = Vec::new();
    let mut members = Map::new();
    let mut problem = None;
    for path in client_paths() {
        let mut field = form::field(current, path);
        if let Some(typed) = submitted.get(path) {
            field.value = typed.to_owned();
            match form::read(current, path, typed) {
                Ok(value) => {
                    members.insert(path.to_owned(), value);
                }
                Err(why) => {
                    field.error = Some(why.clone());
                    problem.get_or_insert(why);
                }
            }
        }
        fields.push(field);
    }
    (problem.map_or(Ok(members), Err), fields)
}

fn refused_form(
    portal: &Portal,
    session: &Session,
    client_id: Option<&str>,
    mut fields: Vec<Field>,
    why: String,
) -> Response {
    let placed = form::attach_error(&mut fields, &why);
    bad_request(client_page(
        portal,
        session,
        client_id,
        fields,
        (!placed).then_some(why),
        None,
    ))
}

async fn create_client(State(portal): State<Portal>, session: Session, body: Bytes) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let (members, fields) = read_client_form(&new_client_value(), &submitted);
    let mut metadata = match members {
        Ok(members) => members,
        Err(_) => {
            return refused_form(
                &portal,
                &session,
                None,
                fields,
                "Check the marked fields.".into(),
            );
        }
    };
    // Left empty: the registration defaults apply.
    metadata.retain(|_, v| !v.is_null() && v != &json!([]) && v != &json!(""));
    match portal.admin(&session).create_client(metadata).await {
        Ok(created) => {
            let client_id = created["client_id"].as_str().unwrap_or_default();
            match created.get("client_secret").and_then(Value::as_str) {
                Some(secret) => portal.page(
                    "secret.html",
                    &session,
                    "clients",
                    json!({"title": "Client secret", "client_id": client_id, "client_secret": secret}),
                ),
                None => redirect(&format!("/admin/clients/{}", path_segment(client_id))),
            }
        }
        Err(AdminError::Invalid(why) | AdminError::Conflict(why)) => {
            refused_form(&portal, &session, None, fields, why)
        }
        Err(e) => portal.failed(e),
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

async fn show_client(
    State(portal): State<Portal>,
    session: Session,
    Path(client_id): Path<String>,
) -> Response {
    match portal.admin(&session).client(&client_id).await {
        Ok(client) => {
            let value = serde_json::to_value(client).unwrap_or_default();
            let fields = client_paths().map(|p| form::field(&value, p)).collect();
            client_page(&portal, &session, Some(&client_id), fields, None, None)
        }
        Err(e) => portal.failed(e),
    }
}

async fn save_client(
    State(portal): State<Portal>,
    session: Session,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let admin = portal.admin(&session);
    let current = match admin.client(&client_id).await {
        Ok(client) => serde_json::to_value(client).unwrap_or_default(),
        Err(e) => return portal.failed(e),
    };
    let (members, fields) = read_client_form(&current, &submitted);
    let changes = match members {
        Ok(members) => members,
        Err(_) => {
            return refused_form(
                &portal,
                &session,
                Some(&client_id),
                fields,
                "Check the marked fields.".into(),
            );
        }
    };
    match admin.update_client(&client_id, changes).await {
        Ok(client) => {
            let value = serde_json::to_value(client).unwrap_or_default();
            let fields = client_paths().map(|p| form::field(&value, p)).collect();
            client_page(
                &portal,
                &session,
                Some(&client_id),
                fields,
                None,
                Some("Saved."),
            )
        }
        Err(AdminError::Invalid(why)) => {
            refused_form(&portal, &session, Some(&client_id), fields, why)
        }
        Err(e) => portal.failed(e),
    }
}

async fn regenerate_secret(
    State(portal): State<Portal>,
    session: Session,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    match portal.admin(&session).regenerate_secret(&client_id).await {
        Ok(renewed) => portal.page(
            "secret.html",
            &session,
            "clients",
            json!({"title": "Client secret", "client_id": client_id, "client_secret": renewed["client_secret"]}),
        ),
        Err(e) => portal.failed(e),
    }
}

async fn revoke_client_tokens(
    State(portal): State<Portal>,
    session: Session,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    let admin = portal.admin(&session);
    if let Err(e) = admin.client(&client_id).await {
        return portal.failed(e);
    }
    match admin.revoke_tokens(TokensOf::Client(&client_id)).await {
        Ok(_) => redirect(&format!("/admin/clients/{}", path_segment(&client_id))),
        Err(e) => portal.failed(e),
    }
}

async fn confirm_delete_client(
    State(portal): State<Portal>,
    session: Session,
    Path(client_id): Path<String>,
) -> Response {
    confirm_deletion(
        &portal,
        &session,
        "clients",
        format!("Delete the client description {client_id}?"),
        "Its tokens are revoked and it can no longer sign in or get tokens. This cannot be undone.",
        format!("/admin/clients/{}", path_segment(&client_id)),
    )
}

async fn delete_client(
    State(portal): State<Portal>,
    session: Session,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    let done = portal.admin(&session).delete_client(&client_id).await;
    outcome(&portal, done, "/admin/clients")
}

// ---- users ----

fn users_page(
    portal: &Portal,
    session: &Session,
    users: Vec<ostiary_server::config::User>,
    form: Value,
) -> Response {
    let mut context = json!({"title": "Users", "users": users});
    merge(&mut context, form);
    portal.page("users.html", session, "users", context)
}

async fn users(State(portal): State<Portal>, session: Session) -> Response {
    match portal.admin(&session).users().await {
        Ok(users) => users_page(&portal, &session, users, json!({"new_claims": "{}"})),
        Err(e) => portal.failed(e),
    }
}

fn claims_of(text: &str) -> Result<Map<String, Value>, AdminError> {
    match serde_json::from_str::<Value>(if text.trim().is_empty() { "{}" } else { text }) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(AdminError::Invalid(
            "claims: a JSON object is needed".into(),
        )),
    }
}

async fn create_user(State(portal): State<Portal>, session: Session, body: Bytes) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let admin = portal.admin(&session);
    let username = submitted
        .get("username")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let claims_text = submitted.get("claims").unwrap_or_default().to_owned();
    let created = match claims_of(&claims_text) {
        Ok(claims) => {
            let password = submitted.get("password").unwrap_or_default().to_owned();
            admin.create_user(&username, password, claims).await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(_) => redirect(&format!("/admin/users/{}", path_segment(&username))),
        Err(AdminError::Invalid(why) | AdminError::Conflict(why)) => {
            let users = admin.users().await.unwrap_or_default();
            bad_request(users_page(
                &portal,
                &session,
                users,
                json!({"error": why, "new_username": username, "new_claims": claims_text}),
            ))
        }
        Err(e) => portal.failed(e),
    }
}

fn user_page(
    portal: &Portal,
    session: &Session,
    user: &ostiary_server::config::User,
    extra: Value,
) -> Response {
    let mut context = json!({
        "title": user.username,
        "user": user,
        "claims": serde_json::to_string_pretty(&user.claims).unwrap_or_default(),
    });
    merge(&mut context, extra);
    portal.page("user.html", session, "users", context)
}

async fn user(
    State(portal): State<Portal>,
    session: Session,
    Path(username): Path<String>,
) -> Response {
    match portal.admin(&session).user(&username).await {
        Ok(user) => user_page(&portal, &session, &user, json!({})),
        Err(e) => portal.failed(e),
    }
}

async fn save_user(
    State(portal): State<Portal>,
    session: Session,
    Path(username): Path<String>,
    body: Bytes,
) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let admin = portal.admin(&session);
    let enabled = submitted.get("enabled").map(|v| v == "true");
    let saved = match submitted.get("claims").map(claims_of).transpose() {
        Ok(claims) => admin.update_user(&username, claims, enabled).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(user) => user_page(&portal, &session, &user, json!({"notice": "Saved."})),
        Err(AdminError::Invalid(why)) => match admin.user(&username).await {
            Ok(user) => bad_request(user_page(&portal, &session, &user, json!({"error": why}))),
            Err(e) => portal.failed(e),
        },
        Err(e) => portal.failed(e),
    }
}

async fn set_password(
    State(portal): State<Portal>,
    session: Session,
    Path(username): Path<String>,
    body: Bytes,
) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let admin = portal.admin(&session);
    let password = submitted.get("password").unwrap_or_default().to_owned();
    let done = admin.set_password(&username, password).await;
    match (done, admin.user(&username).await) {
        (Ok(()), Ok(user)) => user_page(
            &portal,
            &session,
            &user,
            json!({"notice": "The password is set."}),
        ),
        (Err(AdminError::Invalid(why)), Ok(user)) => {
            bad_request(user_page(&portal, &session, &user, json!({"error": why})))
        }
        (Err(e), _) | (_, Err(e)) => portal.failed(e),
    }
}

async fn revoke_user_tokens(
    State(portal): State<Portal>,
    session: Session,
    Path(username): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    let admin = portal.admin(&session);
    let revoked = admin.revoke_tokens(TokensOf::User(&username)).await;
    match (revoked, admin.user(&username).await) {
        (Ok(n), Ok(user)) => user_page(
            &portal,
            &session,
            &user,
            json!({"notice": format!("{n} tokens revoked.")}),
        ),
        (Err(e), _) | (_, Err(e)) => portal.failed(e),
    }
}

async fn confirm_delete_user(
    State(portal): State<Portal>,
    session: Session,
    Path(username): Path<String>,
) -> Response {
    confirm_deletion(
        &portal,
        &session,
        "users",
        format!("Delete the user {username}?"),
        "Their tokens are revoked and they can no longer sign in. This cannot be undone.",
        format!("/admin/users/{}", path_segment(&username)),
    )
}

async fn delete_user(
    State(portal): State<Portal>,
    session: Session,
    Path(username): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    let done = portal.admin(&session).delete_user(&username).await;
    outcome(&portal, done, "/admin/users")
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
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(path_segment("x/y?z#"), "x%2Fy%3Fz%23");
    }
}

// ---- the client side: server descriptions and client configurations ----

/// The members of a client configuration the portal edits (secrets and keys have their own
/// controls).
const CONFIGURATION_FIELDS: &[&str] = &[
    "client_id",
    "kind",
    "redirect_uri",
    "post_logout_redirect_uri",
    "frontchannel_logout_uri",
    "grant_types",
    "token_endpoint_auth_method",
    "token_endpoint_auth_signing_alg",
    "default_scope",
    "default_max_age",
    "client_name",
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
];

fn when(at: i64) -> String {
    if at == 0 {
        "never (given by hand)".into()
    } else {
        utc_time(at)
    }
}

/// The list of server descriptions, with `extra` (a refused form's error and input).
async fn servers_page(portal: &Portal, session: &Session, extra: Value) -> Response {
    let servers = match portal
        .admin(session)
        .server_descriptions(&portal.client)
        .await
    {
        Ok(servers) => servers,
        Err(e) => return portal.failed(e),
    };
    let servers: Vec<Value> = servers
        .into_iter()
        .map(|s| {
            let keys_fetched = when(s.jwks_fetched_at);
            let mut row = serde_json::to_value(s).unwrap_or_default();
            row["keys_fetched"] = keys_fetched.into();
            row
        })
        .collect();
    let mut context =
        json!({"title": "Server descriptions", "servers": servers, "manual": MANUAL_EXAMPLE});
    merge(&mut context, extra);
    let refused = context.get("error").is_some_and(|e| !e.is_null());
    let response = portal.page("servers.html", session, "servers", context);
    if refused {
        bad_request(response)
    } else {
        response
    }
}

const MANUAL_EXAMPLE: &str = r#"{
  "issuer": "https://as.example/oauth2",
  "metadata": {
    "issuer": "https://as.example/oauth2",
    "authorization_endpoint": "https://as.example/oauth2/authorize",
    "token_endpoint": "https://as.example/oauth2/token"
  },
  "jwks": null
}"#;

async fn servers(State(portal): State<Portal>, session: Session) -> Response {
    servers_page(&portal, &session, json!({})).await
}

fn view_of(issuer: &str) -> String {
    format!("/admin/servers/view?issuer={}", path_segment(issuer))
}

async fn discover_server(State(portal): State<Portal>, session: Session, body: Bytes) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let issuer = submitted
        .get("issuer")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let ca_file = submitted
        .get("ca_file")
        .map(str::trim)
        .filter(|f| !f.is_empty());
    let discovered = portal
        .admin(&session)
        .discover_server(&portal.client, &issuer, ca_file)
        .await;
    match discovered {
        Ok(server) => redirect(&view_of(&server.issuer)),
        Err(AdminError::Invalid(why) | AdminError::NotFound(why)) => {
            servers_page(
                &portal,
                &session,
                json!({"error": why, "issuer": issuer, "ca_file": ca_file}),
            )
            .await
        }
        Err(e) => portal.failed(e),
    }
}

async fn save_server_manually(
    State(portal): State<Portal>,
    session: Session,
    body: Bytes,
) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let text = submitted.get("description").unwrap_or_default().to_owned();
    let saved = match serde_json::from_str::<ostiary_client::ServerDescription>(&text) {
        Ok(server) => {
            portal
                .admin(&session)
                .save_server_description(&portal.client, server)
                .await
        }
        Err(e) => Err(AdminError::Invalid(format!("the description: {e}"))),
    };
    match saved {
        Ok(server) => redirect(&view_of(&server.issuer)),
        Err(AdminError::Invalid(why)) => {
            servers_page(&portal, &session, json!({"error": why, "manual": text})).await
        }
        Err(e) => portal.failed(e),
    }
}

#[derive(serde::Deserialize)]
struct IssuerQuery {
    issuer: String,
}

async fn server_view_page(
    portal: &Portal,
    session: &Session,
    issuer: &str,
    extra: Value,
) -> Response {
    let admin = portal.admin(session);
    let server = match admin.server_description(&portal.client, issuer).await {
        Ok(server) => server,
        Err(e) => return portal.failed(e),
    };
    let configurations = match admin
        .client_configurations(&portal.client, Some(issuer))
        .await
    {
        Ok(all) => all,
        Err(e) => return portal.failed(e),
    };
    let metadata = serde_json::to_value(&server.metadata).unwrap_or_default();
    let endpoints: Vec<(String, String)> = metadata
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| k.ends_with("_endpoint") || k.ends_with("_uri") && v.is_string())
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let kids: Vec<String> = server
        .keys()
        .keys
        .iter()
        .filter_map(|k| k.kid.clone())
        .collect();
    let mut context = json!({
        "title": server.issuer,
        "server": server,
        "endpoints": endpoints,
        "kids": kids,
        "keys_fetched": when(server.jwks_fetched_at),
        "configurations": configurations.iter().map(crate::relying::redacted).collect::<Vec<_>>(),
        "metadata": "{\n  \"grant_types\": [\"client_credentials\"]\n}",
    });
    let refused = extra.get("error").is_some();
    merge(&mut context, extra);
    let response = portal.page("server_view.html", session, "servers", context);
    if refused {
        bad_request(response)
    } else {
        response
    }
}

async fn server_view(
    State(portal): State<Portal>,
    session: Session,
    Query(IssuerQuery { issuer }): Query<IssuerQuery>,
) -> Response {
    server_view_page(&portal, &session, &issuer, json!({})).await
}

async fn refresh_server_keys(
    State(portal): State<Portal>,
    session: Session,
    Query(IssuerQuery { issuer }): Query<IssuerQuery>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    match portal
        .admin(&session)
        .refresh_server_keys(&portal.client, &issuer)
        .await
    {
        Ok(_) => {
            server_view_page(
                &portal,
                &session,
                &issuer,
                json!({"notice": "The server's keys are fetched again."}),
            )
            .await
        }
        Err(AdminError::Invalid(why)) => {
            server_view_page(&portal, &session, &issuer, json!({"error": why})).await
        }
        Err(e) => portal.failed(e),
    }
}

fn configuration_path(app: &str) -> String {
    format!("/admin/configurations/{}", path_segment(app))
}

async fn register_configuration(
    State(portal): State<Portal>,
    session: Session,
    body: Bytes,
) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let issuer = submitted.get("issuer").unwrap_or_default().to_owned();
    let app = submitted.get("app").unwrap_or_default().trim().to_owned();
    let metadata_text = submitted.get("metadata").unwrap_or_default().to_owned();
    let token = submitted
        .get("initial_access_token")
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let registered = match claims_of(&metadata_text) {
        Ok(metadata) => {
            portal
                .admin(&session)
                .register_configuration(&portal.client, &app, &issuer, metadata, token)
                .await
        }
        Err(_) => Err(AdminError::Invalid(
            "metadata: a JSON object is needed".into(),
        )),
    };
    match registered {
        Ok(config) => redirect(&configuration_path(&config.app)),
        Err(AdminError::Invalid(why) | AdminError::Conflict(why)) => {
            server_view_page(
                &portal,
                &session,
                &issuer,
                json!({"error": why, "app": app, "metadata": metadata_text}),
            )
            .await
        }
        Err(e) => portal.failed(e),
    }
}

async fn create_configuration(
    State(portal): State<Portal>,
    session: Session,
    body: Bytes,
) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let issuer = submitted.get("issuer").unwrap_or_default().to_owned();
    let secret = submitted.get("client_secret").filter(|s| !s.is_empty());
    let config = ostiary_client::ClientConfiguration {
        app: submitted.get("app").unwrap_or_default().trim().to_owned(),
        issuer: issuer.clone(),
        client_id: submitted
            .get("client_id")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        client_secret: secret.map(str::to_owned),
        token_endpoint_auth_method: match secret {
            Some(_) => ostiary_core::AuthMethod::ClientSecretBasic,
            None => ostiary_core::AuthMethod::None,
        },
        ..Default::default()
    };
    let app = config.app.clone();
    match portal
        .admin(&session)
        .save_configuration(&portal.client, config, false)
        .await
    {
        Ok(saved) => redirect(&configuration_path(&saved.app)),
        Err(AdminError::Invalid(why)) => {
            server_view_page(
                &portal,
                &session,
                &issuer,
                json!({"error": why, "app": app}),
            )
            .await
        }
        Err(e) => portal.failed(e),
    }
}

fn configuration_page(
    portal: &Portal,
    session: &Session,
    config: &ostiary_client::ClientConfiguration,
    fields: Vec<Field>,
    extra: Value,
) -> Response {
    let kids: Vec<String> = config
        .public_keys()
        .map(|k| k.keys.iter().filter_map(|k| k.kid.clone()).collect())
        .unwrap_or_default();
    let mut context = json!({
        "title": config.app,
        "app": config.app,
        "issuer": config.issuer,
        "registered": config.registration_client_uri.is_some(),
        "fields": fields,
        "kids": kids,
    });
    let refused = extra.get("error").is_some();
    merge(&mut context, extra);
    let response = portal.page("configuration.html", session, "servers", context);
    if refused {
        bad_request(response)
    } else {
        response
    }
}

fn configuration_fields(config: &ostiary_client::ClientConfiguration) -> Vec<Field> {
    let value = serde_json::to_value(config).unwrap_or_default();
    CONFIGURATION_FIELDS
        .iter()
        .map(|p| form::field(&value, p))
        .collect()
}

async fn configuration(
    State(portal): State<Portal>,
    session: Session,
    Path(app): Path<String>,
) -> Response {
    match portal
        .admin(&session)
        .client_configuration(&portal.client, &app)
        .await
    {
        Ok(config) => {
            let fields = configuration_fields(&config);
            configuration_page(&portal, &session, &config, fields, json!({}))
        }
        Err(e) => portal.failed(e),
    }
}

async fn save_configuration(
    State(portal): State<Portal>,
    session: Session,
    Path(app): Path<String>,
    body: Bytes,
) -> Response {
    let submitted = Submitted::parse(&body);
    if let Err(refusal) = submitted.authorize(&session) {
        return refusal.into_response();
    }
    let admin = portal.admin(&session);
    let current = match admin.client_configuration(&portal.client, &app).await {
        Ok(config) => config,
        Err(e) => return portal.failed(e),
    };
    let current_value = serde_json::to_value(&current).unwrap_or_default();
    let mut value = current_value.clone();
    let mut fields = configuration_fields(&current);
    let mut problem = None;
    for field in &mut fields {
        let Some(typed) = submitted.get(&field.path) else {
            continue;
        };
        field.value = typed.to_owned();
        match form::read(&current_value, &field.path, typed) {
            Ok(new) => {
                let _ = set_path(&mut value, &field.path, new);
            }
            Err(why) => {
                field.error = Some(why.clone());
                problem.get_or_insert(why);
            }
        }
    }
    if let Some(secret) = submitted.get("new_secret").filter(|s| !s.is_empty()) {
        value["client_secret"] = secret.into();
    }
    let update = submitted.get("then") == Some("update");
    let saved = match (
        problem,
        serde_json::from_value::<ostiary_client::ClientConfiguration>(value),
    ) {
        (Some(why), _) => Err(AdminError::Invalid(why)),
        (None, Err(e)) => Err(AdminError::Invalid(e.to_string())),
        (None, Ok(config)) => {
            admin
                .save_configuration(&portal.client, config, update)
                .await
        }
    };
    match saved {
        Ok(config) => {
            let fields = configuration_fields(&config);
            let notice = if update {
                "Saved, and the registration updated."
            } else {
                "Saved."
            };
            configuration_page(
                &portal,
                &session,
                &config,
                fields,
                json!({"notice": notice}),
            )
        }
        Err(AdminError::Invalid(why)) => {
            let placed = form::attach_error(&mut fields, &why);
            let error = if placed {
                "Check the marked fields.".to_owned()
            } else {
                why
            };
            configuration_page(&portal, &session, &current, fields, json!({"error": error}))
        }
        Err(e) => portal.failed(e),
    }
}

async fn rotate_configuration_keys(
    State(portal): State<Portal>,
    session: Session,
    Path(app): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    match portal
        .admin(&session)
        .rotate_configuration_keys(&portal.client, &app)
        .await
    {
        Ok(_) => redirect(&configuration_path(&app)),
        Err(AdminError::Invalid(why)) => match portal
            .admin(&session)
            .client_configuration(&portal.client, &app)
            .await
        {
            Ok(config) => {
                let fields = configuration_fields(&config);
                configuration_page(&portal, &session, &config, fields, json!({"error": why}))
            }
            Err(e) => portal.failed(e),
        },
        Err(e) => portal.failed(e),
    }
}

// ---- sessions, grants and tokens ----

#[derive(serde::Deserialize, Default)]
struct ActivityQuery {
    user: Option<String>,
    client: Option<String>,
}

fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

async fn activity(
    State(portal): State<Portal>,
    session: Session,
    Query(query): Query<ActivityQuery>,
) -> Response {
    let admin = portal.admin(&session);
    let (user, client) = (given(&query.user), given(&query.client));
    let found = async {
        let sessions = admin.sessions(user).await?;
        let grants = admin.grants(user).await?;
        let tokens = admin.find_tokens(user, client, 200).await?;
        Ok::<_, AdminError>((sessions, grants, tokens))
    }
    .await;
    let (sessions, grants, tokens) = match found {
        Ok(found) => found,
        Err(e) => return portal.failed(e),
    };
    let now = now();
    let sessions: Vec<Value> = sessions
        .into_iter()
        .map(|mut s| {
            s["since"] = utc_time(s["auth_time"].as_i64().unwrap_or(0)).into();
            s["until"] = utc_time(s["expires_at"].as_i64().unwrap_or(0)).into();
            s
        })
        .collect();
    let tokens: Vec<Value> = tokens
        .into_iter()
        .map(|mut t| {
            t["issued"] = utc_time(t["issued_at"].as_i64().unwrap_or(0)).into();
            let state = if t["revoked"] == true {
                "revoked"
            } else if t["expires_at"].as_i64().unwrap_or(0) <= now {
                "expired"
            } else {
                "active"
            };
            t["state"] = state.into();
            t
        })
        .collect();
    portal.page(
        "activity.html",
        &session,
        "activity",
        json!({
            "title": "Activity",
            "user": user.unwrap_or_default(), "client": client.unwrap_or_default(),
            "sessions": sessions, "grants": grants, "tokens": tokens,
        }),
    )
}

async fn end_session(
    State(portal): State<Portal>,
    session: Session,
    Path(sid): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    let done = portal.admin(&session).end_session(&sid).await;
    outcome(&portal, done, "/admin/activity")
}

async fn revoke_grant(
    State(portal): State<Portal>,
    session: Session,
    Path((username, client_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    match portal
        .admin(&session)
        .revoke_grant(&username, &client_id)
        .await
    {
        Ok(()) => redirect("/admin/activity"),
        Err(e) => portal.failed(e),
    }
}

async fn revoke_token(
    State(portal): State<Portal>,
    session: Session,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(refusal) = Submitted::parse(&body).authorize(&session) {
        return refusal.into_response();
    }
    let done = portal.admin(&session).revoke_token(&id).await;
    outcome(&portal, done, "/admin/activity")
}
