//! `ostiary demo`: the reference's worked example in one process. An authorization server (with
//! the demo user and the client descriptions), a resource server built with `ostiary-resource` (one
//! route validated locally as a JWT, one by introspection) and a client web application built with
//! `ostiary-client` (sign-in, claims, userinfo, a call to the resource server, logout), each on its
//! own loopback port with a store of its own — ready for a browser (authorization code) and for
//! curl (client credentials).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use clap::Args;
use ostiary_client::web::{LoggedIn, Login, SESSION_COOKIE, log_out, require_login};
use ostiary_client::{Client, ClientConfiguration, ClientKind};
use ostiary_portal::{Admin, AdminError};
use ostiary_resource::{BearerToken, Claims, Protected, ResourceServer, TokenCheck, guard};
use ostiary_server::config::{AccessTokenFormat, Registration, User};
use ostiary_server::store::{ConfigStore as _, UserStore as _};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::settings::{Settings, now, open_store};

/// The scope of the demo's API.
const API_SCOPE: &str = "reports:read";
const DEMO_USER: (&str, &str) = ("demo", "demo");
const DEMO_ADMIN: (&str, &str) = ("admin", "demo-admin");

#[derive(Debug, Clone, Args)]
pub struct DemoOptions {
    /// Keep the three roles' data here (default: a temporary directory, removed on exit).
    #[arg(long, env = "OSTIARY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The authorization server's port; the resource server takes the next, the client
    /// application the one after (all on 127.0.0.1).
    #[arg(long, default_value_t = 9000)]
    pub listen_base: u16,
    /// Serve all three over HTTPS, with a self-signed certificate made for 127.0.0.1 (kept in
    /// the data directory; the roles trust it, browsers will ask).
    #[arg(long)]
    pub tls: bool,
}

/// A running demo: where each role answers, and what the client credentials part needs.
#[derive(Debug)]
pub struct Demo {
    pub issuer: String,
    pub resource_server: String,
    pub client_app: String,
    pub portal: String,
    pub service_client_id: String,
    pub service_client_secret: String,
    pub data_dir: PathBuf,
    /// The self-signed certificate, with `--tls`: what a client must trust.
    pub certificate: Option<PathBuf>,
    server: crate::serve::Running,
    /// Removed on drop when the demo made it.
    temporary: Option<PathBuf>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(dir) = &self.temporary {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn failed(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn settings_for(dir: PathBuf) -> Settings {
    let database = format!("sqlite://{}", dir.join("ostiary.db").display());
    Settings {
        data_dir: dir,
        database,
        listen: None,
        issuer: None,
        admin_listen: None,
        tls: None,
        clock: Default::default(),
    }
}

/// A client description made for the demo, or — when a kept data directory has it — a new
/// secret for it; returns the secret.
async fn client_with_secret(admin: &Admin<'_>, metadata: Value) -> Result<String, String> {
    let client_id = metadata["client_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let metadata = metadata.as_object().cloned().unwrap_or_default();
    let answer = match admin.create_client(metadata).await {
        Ok(created) => created,
        Err(AdminError::Conflict(_)) => {
            admin.regenerate_secret(&client_id).await.map_err(failed)?
        }
        Err(e) => return Err(e.to_string()),
    };
    answer["client_secret"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{client_id} got no secret"))
}

/// Starts the three roles on 127.0.0.1: the authorization server on `listen_base`, the resource
/// server on the next port, the client application on the one after.
pub async fn start(options: &DemoOptions) -> Result<Demo, String> {
    let base = options.listen_base;
    if base > u16::MAX - 2 {
        return Err("--listen-base leaves no room for three ports".into());
    }
    let (root, temporary) = match &options.data_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "ostiary-demo-{}-{}",
                std::process::id(),
                &ostiary_server::issue::random_token()[..8]
            ));
            (dir.clone(), Some(dir))
        }
    };
    let tls = match options.tls {
        true => Some(crate::tls::self_signed(&root.join("tls"))?),
        false => None,
    };
    let acceptor = tls.as_ref().map(crate::tls::acceptor).transpose()?;
    let certificate = tls.as_ref().map(|files| files.certificate.clone());
    let ca_file = certificate.as_ref().map(|c| c.display().to_string());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let issuer = format!("{scheme}://127.0.0.1:{base}/oauth2");
    let rs_url = format!("{scheme}://127.0.0.1:{}", base + 1);
    let app_url = format!("{scheme}://127.0.0.1:{}", base + 2);

    // The authorization server: JWT access tokens, the API's scope, open registration (the
    // client application registers itself, as in the reference), the demo user and clients.
    let mut as_settings = settings_for(root.join("authorization-server"));
    as_settings.tls = tls.clone();
    let store = open_store(&as_settings).await?;
    let mut config = ostiary_server::initialize(&store, Some(&issuer), now())
        .await
        .map_err(failed)?;
    config.access_token_format = AccessTokenFormat::Jwt;
    config.registration = Registration::Open;
    config.fetch_private_addresses = true;
    config.description = "Ostiary demo".into();
    if !config.scopes.iter().any(|s| s.name == API_SCOPE) {
        config
            .scopes
            .push(ostiary_server::config::ScopeDescription {
                name: API_SCOPE.into(),
                description: "Read the reports".into(),
            });
    }
    config.validate()?;
    store.save_server_config(&config).await.map_err(failed)?;
    ostiary_server::state::ensure_keys(&store, &config, now())
        .await
        .map_err(failed)?;
    for (username, password, claims) in [
        (
            DEMO_USER.0,
            DEMO_USER.1,
            json!({"name": "Demo User", "given_name": "Demo", "email": "demo@example.com", "email_verified": true}),
        ),
        (
            DEMO_ADMIN.0,
            DEMO_ADMIN.1,
            json!({"name": "Administrator", "ostiary_role": "admin"}),
        ),
    ] {
        if store.user(username).await.map_err(failed)?.is_none() {
            let hash = ostiary_server::password::hash_async(password.into()).await?;
            let user = User {
                username: username.into(),
                claims: claims.as_object().cloned().unwrap_or_default(),
                enabled: true,
            };
            store.create_user(&user, &hash).await.map_err(failed)?;
        }
    }
    let admin = Admin {
        store: &store,
        actor: "demo",
    };
    let service_secret = client_with_secret(
        &admin,
        json!({"client_id": "postman-client", "client_name": "Postman client",
               "grant_types": ["client_credentials"], "scope": API_SCOPE}),
    )
    .await?;
    let resource_secret = client_with_secret(
        &admin,
        json!({"client_id": "resserver", "client_type": "resource", "client_name": "Resource server",
               "grant_types": ["client_credentials"]}),
    )
    .await?;
    let server =
        crate::serve::start(&as_settings, &format!("127.0.0.1:{base}"), Some(&issuer)).await?;

    // The resource server: its own store, the server described by discovery, and a client
    // configuration of type resource server.
    let rs_store = open_store(&settings_for(root.join("resource-server"))).await?;
    let rs_client = Client::new(Arc::new(rs_store));
    rs_client
        .discover(&issuer, ca_file.as_deref())
        .await
        .map_err(failed)?;
    rs_client
        .create_configuration(&ClientConfiguration {
            app: "resserver".into(),
            issuer: issuer.clone(),
            kind: ClientKind::Resource,
            client_id: "resserver".into(),
            client_secret: Some(resource_secret),
            ..Default::default()
        })
        .await
        .map_err(failed)?;
    // Tokens name the client they were issued to as their audience: any client of this
    // issuer may call the API, as long as the token grants the API's scope.
    let resource = Arc::new(
        ResourceServer::load(&rs_client, "resserver")
            .await?
            .with_audience(None),
    );
    serve_on(base + 1, resource_server(resource), acceptor.clone()).await?;

    // The client application: its own store, registered dynamically on first start.
    let app_store = open_store(&settings_for(root.join("client-app"))).await?;
    let app_client = Client::new(Arc::new(app_store));
    app_client
        .discover(&issuer, ca_file.as_deref())
        .await
        .map_err(failed)?;
    if app_client.app("client-app").await.is_err() {
        let metadata = json!({
            "client_name": "Demo client application",
            "redirect_uris": [format!("{app_url}/callback")],
            "post_logout_redirect_uris": [format!("{app_url}/")],
            "frontchannel_logout_uri": format!("{app_url}/frontchannel-logout"),
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": format!("openid profile email {API_SCOPE}"),
        });
        app_client
            .register(
                "client-app",
                &issuer,
                metadata.as_object().cloned().unwrap_or_default(),
                None,
            )
            .await
            .map_err(failed)?;
    }
    let mut http = reqwest::Client::builder();
    if let Some(path) = &certificate {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).map_err(failed)?);
    }
    let http = http.build().map_err(failed)?;
    let app = client_application(app_client, &rs_url, http, tls.is_some());
    serve_on(base + 2, app, acceptor).await?;

    Ok(Demo {
        portal: format!("http://127.0.0.1:{base}/admin"),
        issuer,
        resource_server: rs_url,
        client_app: app_url,
        service_client_id: "postman-client".into(),
        service_client_secret: service_secret,
        data_dir: root,
        certificate,
        server,
        temporary,
    })
}

async fn serve_on(
    port: u16,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    // They stop with the process (the authorization server's shutdown ends it).
    crate::serve::serve_app(listener, tls, app, std::future::pending());
    Ok(())
}

// ---- the resource server ----

fn resource_server(resource: Arc<ResourceServer>) -> Router {
    let locally: Arc<dyn TokenCheck> = resource.validator.clone();
    let by_introspection: Arc<dyn TokenCheck> = match &resource.introspector {
        Some(introspector) => introspector.clone(),
        None => locally.clone(),
    };
    let reports_scope: &'static [&'static str] = &[API_SCOPE];
    let me_scope: &'static [&'static str] = &["openid"];
    Router::new()
        .route(
            "/api/reports",
            get(reports).layer(axum::middleware::from_fn_with_state(
                (Protected::new(locally), reports_scope),
                guard,
            )),
        )
        .route(
            "/api/me",
            get(me)
                .layer(axum::middleware::from_fn_with_state(
                    (Protected::new(by_introspection), me_scope),
                    guard,
                ))
                .with_state(resource),
        )
        .route(
            "/",
            get(|| async {
                Json(json!({
                    "/api/reports": format!("scope {API_SCOPE}; the token is checked locally as a JWT"),
                    "/api/me": "scope openid; the token is checked by introspection, the user's claims come from userinfo",
                }))
            }),
        )
}

async fn reports(Claims(token): Claims) -> Json<Value> {
    Json(json!({
        "validated_by": "local JWT validation",
        "client_id": token.claims.get("client_id"),
        "sub": token.claims.get("sub"),
        "signature": token.security.sigalg.map(|a| a.name()),
        "reports": [
            {"id": 1, "title": "Quarterly revenue", "value": 1_250_000},
            {"id": 2, "title": "Active users", "value": 48_211},
        ],
    }))
}

async fn me(
    State(resource): State<Arc<ResourceServer>>,
    Claims(token): Claims,
    BearerToken(raw): BearerToken,
) -> Response {
    match resource.userinfo(&raw).await {
        Ok(user) => Json(json!({
            "validated_by": "introspection",
            "introspection": token.claims,
            "userinfo": user,
        }))
        .into_response(),
        Err(e) => e.response("demo"),
    }
}

// ---- the client application ----

#[derive(Clone)]
struct App {
    login: Login,
    resource_server: String,
    http: reqwest::Client,
    /// Front-channel logouts received from the server (shown on the home page).
    frontchannel_logouts: Arc<AtomicU64>,
}

fn client_application(
    client: Client,
    resource_server: &str,
    http: reqwest::Client,
    https: bool,
) -> Router {
    let mut login = Login::new(client, "client-app", "/profile");
    login.scope = Some(format!("openid profile email {API_SCOPE}"));
    // Over plain HTTP a Secure cookie would never come back.
    login.secure_cookie = https;
    let app = App {
        login: login.clone(),
        resource_server: resource_server.to_owned(),
        http,
        frontchannel_logouts: Arc::new(AtomicU64::new(0)),
    };
    let signed_in = Router::new()
        .route("/profile", get(profile))
        .route("/call-api", post(call_api))
        .route_layer(axum::middleware::from_fn_with_state(
            login.clone(),
            require_login,
        ))
        .with_state(app.clone());
    let counted = login.routes("/callback", "/frontchannel-logout").layer(
        axum::middleware::from_fn_with_state(app.clone(), count_frontchannel),
    );
    Router::new()
        .route("/", get(home).with_state(app.clone()))
        .route("/logout", post(log_out).with_state(login))
        .merge(signed_in)
        .merge(counted)
}

async fn count_frontchannel(State(app): State<App>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/frontchannel-logout" {
        app.frontchannel_logouts.fetch_add(1, Ordering::Relaxed);
    }
    next.run(request).await
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Ostiary demo client</title>\
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;color:#1d2330}}\
table{{border-collapse:collapse}}td,th{{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #e5e8ee;vertical-align:top}}\
pre{{background:#f4f5f7;padding:.8rem;overflow:auto}}button,.button{{padding:.45rem .9rem;border-radius:6px;border:1px solid #2f5bd3;background:#2f5bd3;color:#fff;font:inherit;cursor:pointer;text-decoration:none}}\
form{{display:inline}}</style></head><body><h1>{title}</h1>{body}</body></html>"
    ))
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    ostiary_server::hooks::session::cookie(headers, SESSION_COOKIE)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

async fn home(State(app): State<App>, headers: HeaderMap) -> Html<String> {
    let signed_in = match session_of(&headers) {
        Some(session) => matches!(
            app.login
                .client
                .is_authorized(&app.login.app, &session, None)
                .await,
            Ok(Some(_))
        ),
        None => false,
    };
    let state = if signed_in {
        "<p id=\"state\">You are signed in.</p><p><a class=\"button\" href=\"/profile\">Your profile</a></p>"
    } else {
        "<p id=\"state\">You are not signed in.</p><p><a class=\"button\" href=\"/profile\">Log in</a></p>"
    };
    let received = app.frontchannel_logouts.load(Ordering::Relaxed);
    page(
        "Demo client application",
        &format!(
            "{state}<p id=\"frontchannel\">Front-channel logouts received from the server: {received}</p>"
        ),
    )
}

fn rows(claims: &Map<String, Value>) -> String {
    claims
        .iter()
        .map(|(name, value)| {
            let shown = value
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(name),
                escape(&shown)
            )
        })
        .collect()
}

async fn profile(State(app): State<App>, Extension(signed_in): Extension<LoggedIn>) -> Response {
    let tokens = &signed_in.tokens;
    let userinfo = app
        .login
        .client
        .session_userinfo(&app.login.app, &signed_in.session)
        .await
        .map(|claims| format!("<table id=\"userinfo\">{}</table>", rows(&claims)))
        .unwrap_or_else(|e| format!("<p>userinfo failed: {}</p>", escape(&e.to_string())));
    let id_token = tokens
        .id_token_claims
        .as_ref()
        .map(|claims| format!("<table id=\"id-token\">{}</table>", rows(claims)))
        .unwrap_or_default();
    let shortened = |token: &str| escape(&format!("{}…", &token[..token.len().min(24)]));
    let body = format!(
        "<h2>The ID token's claims</h2>{id_token}<h2>Userinfo</h2>{userinfo}\
<h2>Tokens</h2><table><tr><th>access token</th><td><code>{}</code></td></tr>\
<tr><th>scope</th><td id=\"scope\">{}</td></tr><tr><th>refresh token</th><td>{}</td></tr></table>\
<p><form method=\"post\" action=\"/call-api\"><button>Call the resource server</button></form> \
<form method=\"post\" action=\"/logout\"><button>Log out</button></form></p>",
        shortened(&tokens.access_token),
        escape(tokens.scope.as_deref().unwrap_or_default()),
        if tokens.refresh_token.is_some() {
            "kept"
        } else {
            "none"
        },
    );
    page("Your profile", &body).into_response()
}

async fn call_api(State(app): State<App>, Extension(signed_in): Extension<LoggedIn>) -> Response {
    let mut sections = String::new();
    for route in ["/api/reports", "/api/me"] {
        let answer = app
            .http
            .get(format!("{}{route}", app.resource_server))
            .bearer_auth(&signed_in.tokens.access_token)
            .send()
            .await;
        let shown = match answer {
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let pretty = serde_json::from_str::<Value>(&text)
                    .and_then(|v| serde_json::to_string_pretty(&v))
                    .unwrap_or(text);
                format!("{status}\n{pretty}")
            }
            Err(e) => format!("the resource server did not answer: {e}"),
        };
        sections += &format!(
            "<h2>GET {route}</h2><pre id=\"{}\">{}</pre>",
            route.trim_start_matches("/api/"),
            escape(&shown)
        );
    }
    page(
        "The resource server answered",
        &format!("{sections}<p><a class=\"button\" href=\"/profile\">Back</a></p>"),
    )
    .into_response()
}

/// The printed guide: URLs, the demo user, and the client credentials part as curl commands.
pub fn guide(demo: &Demo) -> String {
    let (issuer, rs) = (&demo.issuer, &demo.resource_server);
    let (id, secret) = (&demo.service_client_id, &demo.service_client_secret);
    let trust = demo
        .certificate
        .as_ref()
        .map(|c| format!(" --cacert {}", c.display()))
        .unwrap_or_default();
    let kept = if demo.temporary.is_some() {
        " (removed on exit)"
    } else {
        ""
    };
    [
        "Ostiary demo: the three roles of the reference's example, on loopback".to_owned(),
        String::new(),
        format!("  authorization server  {issuer}  (discovery: {issuer}/.well-known/openid-configuration)"),
        format!(
            "  management portal     {}  (sign in as {} / {})",
            demo.portal, DEMO_ADMIN.0, DEMO_ADMIN.1
        ),
        format!("  resource server       {rs}/api/reports (JWT checked locally), {rs}/api/me (introspection + userinfo)"),
        format!(
            "  client application    {}/  (sign in as {} / {})",
            demo.client_app, DEMO_USER.0, DEMO_USER.1
        ),
        String::new(),
        "The client credentials grant (the reference's Postman part; examples/ostiary-demo.postman_collection.json):".to_owned(),
        String::new(),
        format!(
            "  TOKEN=$(curl -s{trust} -u {id}:{secret} -d grant_type=client_credentials -d scope={API_SCOPE} {issuer}/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
        ),
        format!("  curl -s{trust} -H \"Authorization: Bearer $TOKEN\" {rs}/api/reports"),
        String::new(),
        format!("Data: {}{kept}", demo.data_dir.display()),
        "Ctrl-C stops the demo.".to_owned(),
    ]
    .join("\n")
}

pub async fn run(options: DemoOptions) -> Result<String, String> {
    let started = std::time::Instant::now();
    let mut demo = start(&options).await?;
    eprintln!("{}", guide(&demo));
    eprintln!("(ready in {} ms)", started.elapsed().as_millis());
    let done = &mut demo.server.done;
    done.await.map_err(failed)?;
    Ok(String::new())
}
