//! The management portal's pages (`/admin`) over HTTP, as a browser without JavaScript uses them:
//! signing in, CSRF, client descriptions, users, the server configuration's tabs, roles and the
//! audit log.

use ostiary_portal::Admin;
use reqwest::redirect::Policy;
use serde_json::json;

use crate::harness::{Backend, TestServer};

/// A browser: one cookie jar of its own, redirects not followed (the tests look at them).
struct Browser {
    http: reqwest::Client,
    base: String,
}

/// The value of the hidden `csrf` input of a page.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

impl Browser {
    fn new(server: &TestServer) -> Self {
        Self::with_headers(server, reqwest::header::HeaderMap::new())
    }

    /// A browser behind a proxy that forwards its requests from `address`.
    fn forwarded_from(server: &TestServer, address: &'static str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        Self::with_headers(server, headers)
    }

    fn with_headers(server: &TestServer, headers: reqwest::header::HeaderMap) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .default_headers(headers)
                .build()
                .unwrap(),
            base: server.base.clone(),
        }
    }

    async fn get(&self, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        (
            response.status().as_u16(),
            response.text().await.unwrap(),
            headers,
        )
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, String, reqwest::header::HeaderMap) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        (
            response.status().as_u16(),
            response.text().await.unwrap(),
            headers,
        )
    }

    /// Signs in; returns the session's CSRF token, or `None` when refused.
    async fn log_in(&self, username: &str, password: &str) -> Option<String> {
        let (_, page, _) = self.get("/admin/login").await;
        let (status, _, headers) = self
            .post(
                "/admin/login",
                &[
                    ("csrf", &csrf(&page)),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(status, 303);
        if headers["location"] != "/admin" {
            return None;
        }
        let (status, dashboard, _) = self.get("/admin").await;
        assert_eq!(status, 200);
        Some(csrf(&dashboard))
    }
}

async fn administrator(server: &TestServer, username: &str, role: &str) {
    let admin = Admin {
        store: &server.store,
        actor: "test",
    };
    let claims = json!({"ostiary_role": role}).as_object().cloned().unwrap();
    admin
        .create_user(username, "correct horse".into(), claims)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_sign_in_and_manage_clients_users_and_the_server_configuration() {
    let server = TestServer::start(Backend::Sqlite).await;
    administrator(&server, "ann", "admin").await;
    server.user("alice", "wonderland").await;
    let browser = Browser::new(&server);

    // Every page needs a session; sign-in refuses wrong passwords and non-administrators.
    let (status, _, headers) = browser.get("/admin/clients").await;
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/admin/login")
    );
    let (status, page, headers) = browser.get("/admin/login").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let (status, _, headers) = browser
        .post(
            "/admin/login",
            &[("username", "ann"), ("password", "correct horse")],
        )
        .await;
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/admin/login"),
        "no login CSRF token"
    );
    assert!(page.contains("name=\"password\""));
    assert_eq!(browser.log_in("ann", "wrong").await, None);
    assert_eq!(
        browser.log_in("alice", "wonderland").await,
        None,
        "not an administrator"
    );
    let (_, login_page, _) = browser.get("/admin/login").await;
    let (_, _, headers) = browser
        .post(
            "/admin/login",
            &[
                ("csrf", &csrf(&login_page)),
                ("username", "ann"),
                ("password", "correct horse"),
            ],
        )
        .await;
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("ostiary_admin=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let (_, dashboard, _) = browser.get("/admin").await;
    assert!(dashboard.contains("Dashboard") && dashboard.contains("ann (admin)"));
    let token = csrf(&dashboard);

    // A client description: a form without the CSRF token changes nothing.
    let (status, _, _) = browser
        .post(
            "/admin/clients/new",
            &[("name", "Forged"), ("grant_types", "client_credentials")],
        )
        .await;
    assert_eq!(status, 403);
    let (status, page, _) = browser
        .post(
            "/admin/clients/new",
            &[
                ("csrf", &token),
                ("name", "Billing"),
                ("grant_types", "client_credentials"),
                ("redirect_uris", "not a uri"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        page.contains("class=\"field-error\""),
        "the message sits by the field: {page}"
    );
    assert!(page.contains("not a uri"), "what was typed is kept");
    let (status, page, _) = browser
        .post(
            "/admin/clients/new",
            &[
                ("csrf", &token),
                ("name", "Billing"),
                ("grant_types", "client_credentials"),
                ("redirect_uris", ""),
            ],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let secret_at = page.find("id=\"client-secret\">").unwrap() + 19;
    let secret = page[secret_at..secret_at + page[secret_at..].find('<').unwrap()].to_owned();
    let (status, clients, _) = browser.get("/admin/clients").await;
    assert_eq!(status, 200);
    let id_at = clients.find("<code>").unwrap() + 6;
    let client_id = clients[id_at..id_at + clients[id_at..].find('<').unwrap()].to_owned();
    assert!(clients.contains("Billing"));
    let (status, _, _) = server
        .post_form(
            "/token",
            &[("grant_type", "client_credentials")],
            Some((&client_id, &secret)),
        )
        .await;
    assert_eq!(status, 200, "the secret shown once works");
    let (status, page, _) = browser
        .post(
            &format!("/admin/clients/{client_id}"),
            &[
                ("csrf", &token),
                ("description", "pays the bills"),
                ("default_max_age", "3600"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Saved.") && page.contains("pays the bills"));
    let (status, page, _) = browser
        .get(&format!("/admin/clients/{client_id}/delete"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Delete the client description"));
    let (status, _, headers) = browser
        .post(
            &format!("/admin/clients/{client_id}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/admin/clients")
    );
    let (status, _, _) = browser.get(&format!("/admin/clients/{client_id}")).await;
    assert_eq!(status, 404);

    // The server configuration's tabs: a bad value is refused by its field, a good one saved.
    let (status, page, _) = browser.get("/admin/server?tab=intervals").await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"intervals.access_token\""));
    let (status, page, _) = browser
        .post(
            "/admin/server?tab=intervals",
            &[("csrf", &token), ("intervals.access_token", "soon")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("class=\"field-error\"") && page.contains("not a number"));
    // A number of the wrong kind is caught by the configuration's own type, and still marked
    // at its field rather than above the form.
    let (status, page, _) = browser
        .post(
            "/admin/server?tab=intervals",
            &[("csrf", &token), ("intervals.access_token", "-5")],
        )
        .await;
    assert_eq!(status, 400);
    let marked = page
        .split("class=\"field-error\"")
        .nth(1)
        .unwrap_or_default();
    let marked = &marked[..marked.find("</div>").unwrap_or(0)];
    assert!(
        marked.contains("intervals.access_token") && marked.contains("expected u64"),
        "{page}"
    );
    assert!(!page.contains("<p class=\"error\">"), "{page}");
    // The Limits tab: a proxy that is no address is refused at its field; good ones are saved.
    let (status, page, _) = browser
        .post(
            "/admin/server?tab=limits",
            &[("csrf", &token), ("trusted_proxies", "10.0.0.0/40")],
        )
        .await;
    assert_eq!(status, 400);
    let marked = page
        .split("class=\"field-error\"")
        .nth(1)
        .unwrap_or_default();
    let hint = &marked[..marked.find("</div>").unwrap_or(0)];
    assert!(
        hint.contains("trusted_proxies") && hint.contains("cidr block"),
        "{page}"
    );
    let (status, page, _) = browser
        .post(
            "/admin/server?tab=limits",
            &[
                ("csrf", &token),
                ("trusted_proxies", "10.0.0.0/8\n::1"),
                ("rate_limits.token_per_client", "500"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Saved."));
    let saved = ostiary_server::store::ConfigStore::server_config(&server.store)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.trusted_proxies, ["10.0.0.0/8", "::1"]);
    assert_eq!(saved.rate_limits.token_per_client, 500);
    let (status, page, _) = browser
        .post(
            "/admin/server?tab=intervals",
            &[("csrf", &token), ("intervals.access_token", "600")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Saved."));
    let saved = ostiary_server::store::ConfigStore::server_config(&server.store)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.intervals.access_token, 600);
    let (status, _, _) = browser
        .post(
            "/admin/server?tab=scopes",
            &[
                ("csrf", &token),
                ("scopes", "openid Sign you in\napi:read Read the API"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let saved = ostiary_server::store::ConfigStore::server_config(&server.store)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.scopes.len(), 2);

    // Users: created, disabled (their tokens revoked), deleted after confirmation.
    let (status, _, headers) = browser
        .post(
            "/admin/users/new",
            &[
                ("csrf", &token),
                ("username", "bob"),
                ("password", "builder"),
                ("claims", "{\"email\": \"bob@example.com\"}"),
            ],
        )
        .await;
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/admin/users/bob")
    );
    let (status, page, _) = browser
        .post(
            "/admin/users/new",
            &[
                ("csrf", &token),
                ("username", "carol"),
                ("password", "x"),
                ("claims", "[1]"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("claims: a JSON object is needed"));
    let (status, page, _) = browser
        .post(
            "/admin/users/bob",
            &[
                ("csrf", &token),
                ("claims", "{\"email\": \"bob@example.com\"}"),
                ("enabled", "false"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Saved."));
    let bob = ostiary_server::store::UserStore::user(&server.store, "bob")
        .await
        .unwrap()
        .unwrap();
    assert!(!bob.enabled);
    let (status, _, _) = browser
        .post("/admin/users/bob/delete", &[("csrf", &token)])
        .await;
    assert_eq!(status, 303);

    // The audit log names the administrator for every change.
    let (status, page, _) = browser.get("/admin/audit").await;
    assert_eq!(status, 200);
    for action in [
        "client.create",
        "client.update",
        "client.delete",
        "server_config.update",
        "user.create",
        "user.update",
        "user.delete",
    ] {
        assert!(page.contains(action), "{action}");
    }
    assert!(!page.contains(&secret));

    // Logging out ends the session.
    let (status, _, _) = browser.post("/admin/logout", &[("csrf", &token)]).await;
    assert_eq!(status, 303);
    let (status, _, _) = browser.get("/admin").await;
    assert_eq!(status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_everything_and_change_nothing() {
    let server = TestServer::start(Backend::Sqlite).await;
    administrator(&server, "vic", "viewer").await;
    let browser = Browser::new(&server);
    let token = browser.log_in("vic", "correct horse").await.unwrap();
    let (status, page, _) = browser.get("/admin/server?tab=jwt").await;
    assert_eq!(status, 200);
    assert!(page.contains("readonly") || page.contains("disabled"));
    assert!(!page.contains("Rotate keys"));
    let (status, _, _) = browser
        .post(
            "/admin/server?tab=intervals",
            &[("csrf", &token), ("intervals.access_token", "1")],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = browser
        .post(
            "/admin/users/new",
            &[("csrf", &token), ("username", "mallory"), ("password", "x")],
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        ostiary_server::store::UserStore::user(&server.store, "mallory")
            .await
            .unwrap()
            .is_none()
    );
    let (_, audit, _) = browser.get("/admin/audit").await;
    assert!(!audit.contains("server_config.update"));

    // No longer an administrator: the session ends at once.
    let admin = Admin {
        store: &server.store,
        actor: "test",
    };
    admin
        .update_user("vic", Some(Default::default()), None)
        .await
        .unwrap();
    let (status, _, _) = browser.get("/admin/audit").await;
    assert_eq!(status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited() {
    // Loopback is a trusted proxy: a request's address is 127.0.0.1, or the one it forwards.
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    administrator(&server, "ann", "admin").await;
    let browser = Browser::new(&server);
    for _ in 0..ostiary_server::ratelimit::PER_USER {
        assert_eq!(browser.log_in("ann", "guess").await, None);
    }
    let (_, page, _) = browser.get("/admin/login").await;
    let (status, _, headers) = browser
        .post(
            "/admin/login",
            &[
                ("csrf", &csrf(&page)),
                ("username", "ann"),
                ("password", "correct horse"),
            ],
        )
        .await;
    assert_eq!(status, 429, "even the right password waits");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    // …at the guesser's address only: from another, the administrator signs in.
    let elsewhere = Browser::forwarded_from(&server, "203.0.113.7");
    assert!(elsewhere.log_in("ann", "correct horse").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_descriptions_and_client_configurations_from_the_portal() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.registration = ostiary_server::config::Registration::Open;
    })
    .await;
    administrator(&server, "ann", "admin").await;
    let browser = Browser::new(&server);
    let token = browser.log_in("ann", "correct horse").await.unwrap();

    // Discover and Save: here, this very server's issuer.
    let (status, page, _) = browser
        .post(
            "/admin/servers/discover",
            &[("csrf", &token), ("issuer", "not a url")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("class=\"error\""));
    let (status, _, headers) = browser
        .post(
            "/admin/servers/discover",
            &[("csrf", &token), ("issuer", &server.issuer)],
        )
        .await;
    assert_eq!(status, 303);
    let view = headers["location"].to_str().unwrap().to_owned();
    let (status, page, _) = browser.get(&view).await;
    assert_eq!(status, 200);
    assert!(page.contains("token_endpoint") && page.contains("Dynamic Registration and Save"));

    // Dynamic Registration and Save, then the configuration's page and its buttons.
    let (status, _, headers) = browser
        .post(
            "/admin/configurations/register",
            &[
                ("csrf", &token),
                ("issuer", &server.issuer),
                ("app", "billing"),
                (
                    "metadata",
                    r#"{"grant_types": ["client_credentials"], "client_name": "Billing", "token_endpoint_auth_method": "private_key_jwt"}"#,
                ),
            ],
        )
        .await;
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/admin/configurations/billing")
    );
    let (status, page, _) = browser.get("/admin/configurations/billing").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("registered dynamically") && page.contains("Save and Update Registration")
    );
    let runtime = ostiary_client::Client::new(std::sync::Arc::new(server.store.clone()));
    let tokens = runtime
        .client_credentials("billing", None, None)
        .await
        .unwrap();
    assert!(
        !tokens.access_token.is_empty(),
        "the registered configuration gets tokens"
    );
    let (status, page, _) = browser
        .post(
            "/admin/configurations/billing",
            &[
                ("csrf", &token),
                ("client_name", "Billing and Payments"),
                ("then", "update"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("the registration updated"));
    let client_id = runtime.app("billing").await.unwrap().0.client_id;
    let registered = ostiary_server::store::ClientStore::client(&server.store, &client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        registered.client_name.as_deref(),
        Some("Billing and Payments"),
        "the server has the new metadata"
    );
    let (status, page, _) = browser
        .post(
            "/admin/configurations/billing",
            &[("csrf", &token), ("default_max_age", "soon")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("class=\"error\""), "refused, nothing saved");
    let kids = |page: &str| {
        let at = page.find("<h2>Keys</h2>\n<p>").unwrap() + 17;
        let listed = &page[at..at + page[at..].find('<').unwrap()];
        listed.split(", ").map(str::to_owned).collect::<Vec<_>>()
    };
    let (_, page, _) = browser.get("/admin/configurations/billing").await;
    let old_kid = kids(&page).remove(0);
    let (status, _, _) = browser
        .post("/admin/configurations/billing/keys", &[("csrf", &token)])
        .await;
    assert_eq!(status, 303);
    let registered = ostiary_server::store::ClientStore::client(&server.store, &client_id)
        .await
        .unwrap()
        .unwrap();
    let registered_kids = registered.jwks.unwrap().to_string();
    assert!(
        registered_kids.contains(&old_kid),
        "the old key still verifies"
    );
    let (_, page, _) = browser.get("/admin/configurations/billing").await;
    let now_listed = kids(&page);
    assert_eq!(
        now_listed.len(),
        2,
        "a new key beside the old: {now_listed:?}"
    );
    assert!(now_listed.contains(&old_kid));
    let tokens = runtime
        .client_credentials("billing", None, None)
        .await
        .unwrap();
    assert!(
        !tokens.access_token.is_empty(),
        "signed with the new key, accepted"
    );
    let (_, page, _) = browser.get("/admin/servers").await;
    assert!(
        page.contains("</a></td><td>1</td><td>yes</td>"),
        "one configuration, registration offered: {page}"
    );
    let (_, audit, _) = browser.get("/admin/audit").await;
    for action in [
        "server_description.discover",
        "client_configuration.register",
        "client_configuration.save",
        "client_configuration.rotate_keys",
    ] {
        assert!(audit.contains(action), "{action}");
    }
}

/// The portal in headless Chromium (interop/node/portal.mjs), with a screenshot of each page
/// under `target/portal-screenshots/` for review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_uses_the_portal_in_chromium() {
    use ostiary_core::{AuthMethod, GrantType};
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.registration = ostiary_server::config::Registration::Open;
    })
    .await;
    administrator(&server, "ann", "admin").await;
    server.user("grace", "grace-password").await;
    let secret = server
        .client(
            "web",
            AuthMethod::ClientSecretBasic,
            &[GrantType::Password],
            None,
        )
        .await
        .unwrap();
    let form = [
        ("grant_type", "password"),
        ("username", "grace"),
        ("password", "grace-password"),
    ];
    let (status, issued, _) = server
        .post_form("/token", &form, Some(("web", &secret)))
        .await;
    assert_eq!(status, 200, "{issued}");
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let screenshots = workspace.join("target/portal-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    let input = json!({
        "base": server.base, "issuer": server.issuer,
        "username": "ann", "password": "correct horse",
        "screenshots": screenshots,
        "user": "grace", "user_token": issued["access_token"],
        "introspect_id": "web", "introspect_secret": secret,
    });
    let script = workspace.join("interop/node/portal.mjs");
    let report = crate::interop::run_peer(std::path::Path::new("node"), &script, &input, 120).await;
    assert_eq!(report["steps"].as_array().unwrap().len(), 14, "{report}");
    let taken = std::fs::read_dir(&screenshots).unwrap().count();
    assert!(taken >= 14, "{taken} screenshots");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_counts_and_the_activity_page_revokes() {
    let server = TestServer::start(Backend::Sqlite).await;
    administrator(&server, "ann", "admin").await;
    let (secret, access_token) = server.user_token("alice", "wonderland", None).await;
    let browser = Browser::new(&server);
    assert_eq!(browser.log_in("ann", "a wrong guess").await, None);
    let token = browser.log_in("ann", "correct horse").await.unwrap();

    let (_, dashboard, _) = browser.get("/admin").await;
    assert!(dashboard.contains("id=\"issued-chart\"") && dashboard.contains("id=\"failed-chart\""));
    assert!(
        dashboard.contains("<b>1</b>access tokens in the last hour"),
        "{dashboard}"
    );
    assert!(
        dashboard.contains("<b id=\"failed-logins\">1</b>failed logins"),
        "{dashboard}"
    );
    assert_eq!(
        dashboard.matches("<rect ").count(),
        120,
        "one bar a minute, two charts"
    );
    let failed_chart = dashboard.split("id=\"failed-chart\"").nth(1).unwrap();
    let failed_chart = &failed_chart[..failed_chart.find("</svg>").unwrap()];
    assert_eq!(
        failed_chart.matches(": 1</title>").count(),
        1,
        "the failed login's bar"
    );
    assert_eq!(failed_chart.matches(": 0</title>").count(), 59);

    let (status, page, _) = browser.get("/admin/activity?user=alice").await;
    assert_eq!(status, 200);
    let at = page
        .find("/admin/activity/tokens/")
        .expect("a revoke button")
        + "/admin/activity/tokens/".len();
    let id = &page[at..at + page[at..].find('/').unwrap()];
    let (status, _, _) = browser
        .post(
            &format!("/admin/activity/tokens/{id}/revoke"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(status, 303);
    let (_, introspected, _) = server
        .post_form(
            "/introspection",
            &[("token", &access_token)],
            Some(("web", &secret)),
        )
        .await;
    assert_eq!(introspected["active"], false);
    let (_, page, _) = browser.get("/admin/activity?user=alice").await;
    assert!(page.contains("<td>revoked</td>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_can_have_a_listener_of_its_own() {
    let dir = crate::harness::TempDir(
        std::env::temp_dir().join(format!("ostiary-admin-listen-{}", std::process::id())),
    );
    let settings = ostiary::settings::Settings {
        data_dir: dir.0.clone(),
        database: format!("sqlite://{}", dir.0.join("ostiary.db").display()),
        listen: None,
        issuer: None,
        admin_listen: Some("127.0.0.1:0".into()),
        tls: None,
        clock: Default::default(),
    };
    let running = ostiary::serve::start(&settings, "127.0.0.1:0", None)
        .await
        .unwrap();
    let admin = running.admin_addr.expect("a listener of its own");
    let status = |url: String| async move {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status(format!("http://{admin}/admin/login")).await, 200);
    assert_eq!(
        status(format!("http://{admin}/admin/api/openapi.json")).await,
        200
    );
    assert_eq!(
        status(format!("http://{}/admin/login", running.addr)).await,
        404
    );
    assert_eq!(
        status(format!("http://{}/admin/api/openapi.json", running.addr)).await,
        404
    );
    assert_eq!(
        status(format!(
            "{}/.well-known/openid-configuration",
            running.issuer
        ))
        .await,
        200
    );
    let _ = running.stop.send(());
    running.done.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_jwks_from_a_client_page() {
    use ostiary_jose::SigAlg;
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.fetch_private_addresses = true).await;
    administrator(&server, "ann", "admin").await;
    let keys = crate::harness::signing_keys(SigAlg::ES256);
    let host = crate::client_keys::jwks_host(&keys).await;
    crate::client_keys::register(&server, "fetching", |c| c.jwks_uri = Some(host.url.clone()))
        .await;
    crate::client_keys::register(&server, "holding", |c| {
        c.jwks = Some(serde_json::from_str(&keys.public().to_json()).unwrap())
    })
    .await;
    let browser = Browser::new(&server);
    let token = browser.log_in("ann", "correct horse").await.unwrap();
    let (_, page, _) = browser.get("/admin/clients/fetching").await;
    assert!(page.contains("Update JWKS"));
    let (_, page, _) = browser.get("/admin/clients/holding").await;
    assert!(
        !page.contains("Update JWKS"),
        "keys held inline have nothing to fetch"
    );

    let (status, page, _) = browser
        .post("/admin/clients/fetching/jwks", &[("csrf", &token)])
        .await;
    assert_eq!(status, 200, "{page}");
    let kid = keys.keys[0].kid.as_deref().unwrap();
    // (minijinja escapes `/` as `&#x2f;`)
    let url = host.url.replace('/', "&#x2f;");
    assert!(
        page.contains(&format!("Fetched 1 key(s) from {url}: {kid}.")),
        "{page}"
    );
    assert_eq!(host.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (status, _, _) = browser
        .post("/admin/clients/fetching/jwks", &[("csrf", "forged")])
        .await;
    assert_ne!(status, 200);
    assert_eq!(
        host.hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no fetch without CSRF"
    );
    let (status, page, _) = browser
        .post("/admin/clients/holding/jwks", &[("csrf", &token)])
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("no jwks_uri"));
}
