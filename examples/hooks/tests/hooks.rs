//! The example's hooks at work, over HTTP against a real server on a fresh SQLite store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ostiary::settings::{Settings, open_store};
use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::JwkSet;
use ostiary_server::config::{ClientDescription, ClientType, ScopeDescription};
use ostiary_server::store::{ClientStore as _, ConfigStore as _};
use reqwest::redirect::Policy;
use serde_json::Value;

const REDIRECT: &str = "https://app.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Clinic {
    issuer: String,
    http: reqwest::Client,
    _running: ostiary::serve::Running,
    dir: PathBuf,
}

impl Drop for Clinic {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn secret(client_id: &str) -> String {
    format!("{client_id}-secret-0123456789abcdefghijklmnopqrstuv")
}

impl Clinic {
    async fn start() -> Clinic {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ostiary-example-hooks-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let settings = Settings {
            data_dir: dir.clone(),
            database: format!("sqlite://{}", dir.join("ostiary.db").display()),
            listen: None,
            issuer: None,
            admin_listen: None,
            tls: None,
            clock: Default::default(),
        };
        let store = open_store(&settings).await.unwrap();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let issuer = format!("http://{addr}/oauth2");
        let mut config = ostiary_server::initialize(&store, Some(&issuer), 0)
            .await
            .unwrap();
        for name in [ostiary_example_hooks::LAUNCH_PATIENT, "org", "kiosk"] {
            config.scopes.push(ScopeDescription {
                name: name.into(),
                description: String::new(),
            });
        }
        store.save_server_config(&config).await.unwrap();
        let clients = [
            (
                "chart",
                AuthMethod::ClientSecretBasic,
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            ),
            (
                "chart2",
                AuthMethod::ClientSecretBasic,
                vec![GrantType::AuthorizationCode],
            ),
            (
                "kiosk",
                AuthMethod::None,
                vec![GrantType::AuthorizationCode],
            ),
            (
                "reporting",
                AuthMethod::ClientSecretBasic,
                vec![GrantType::ClientCredentials],
            ),
            (
                "other-service",
                AuthMethod::ClientSecretBasic,
                vec![GrantType::ClientCredentials],
            ),
        ];
        for (id, method, grants) in clients {
            let public = method == AuthMethod::None;
            let client = ClientDescription {
                client_id: id.into(),
                client_type: if public {
                    ClientType::Public
                } else {
                    ClientType::Confidential
                },
                name: format!("{id} app"),
                redirect_uris: vec![REDIRECT.into()],
                grant_types: grants,
                token_endpoint_auth_method: method,
                ..Default::default()
            };
            client.validate().unwrap();
            let secret = (!public).then(|| secret(id));
            store
                .create_client(&client, secret.as_deref())
                .await
                .unwrap();
        }
        let hooks =
            ostiary_example_hooks::hooks(ostiary_example_hooks::sample_directory(), &["kiosk"]);
        let running = ostiary::serve::start_with_hooks(&settings, &addr.to_string(), None, hooks)
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap();
        Clinic {
            issuer,
            http,
            _running: running,
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    async fn authorize(&self, client_id: &str, scope: &str, extra: &str) -> reqwest::Response {
        let url = format!(
            "{}?response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s1&nonce=n1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
            self.url("/authorize"),
            REDIRECT.replace(':', "%3A").replace('/', "%2F"),
            scope.replace(' ', "%20").replace('/', "%2F"),
        );
        self.http.get(url).send().await.unwrap()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn token(&self, client_id: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/token"))
            .basic_auth(client_id, Some(secret(client_id)))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn exchange(&self, client_id: &str, code: &str) -> Value {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        let (status, body) = if client_id == "kiosk" {
            let mut public = form.to_vec();
            public.push(("client_id", "kiosk"));
            let response = self.post("/token", &public).await;
            (response.status().as_u16(), response.json().await.unwrap())
        } else {
            self.token(client_id, &form).await
        };
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn decode(&self, jwt: &str) -> ostiary_jose::Decoded {
        let keys = JwkSet::from_json(
            &self
                .http
                .get(self.url("/jwks"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap();
        ostiary_jose::decode(jwt, &JwkSet::default(), &keys, &Default::default()).unwrap()
    }
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The parameters of a redirect to the client.
fn redirected(response: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), 303, "expected a redirect to the client");
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let query = location.split_once('?').map(|x| x.1).unwrap_or_default();
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_patient_request_picks_a_patient_and_carries_the_directory_claims() {
    let clinic = Clinic::start().await;
    let page = clinic
        .authorize("chart", "openid profile launch/patient org", "")
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    // display_login: the example's own page, with the patient picker before_authenticate asked for.
    assert!(html.contains("Clinic portal"), "{html}");
    assert!(html.contains("name=\"p_patient\""), "{html}");

    let handle = hidden(&html, "handle");
    let wrong = clinic
        .post(
            "/login",
            &[
                ("handle", &handle),
                ("username", "alice"),
                ("password", "nope"),
                ("action", "login"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.text().await.unwrap().contains("(attempt 2)"),
        "login_count reaches the page"
    );

    let consent = clinic
        .post(
            "/login",
            &[
                ("handle", &handle),
                ("username", "alice"),
                ("password", "alice-password"),
                ("p_patient", "p-200"),
                ("p_tenant", "north"),
                ("action", "login"),
            ],
        )
        .await;
    assert_eq!(consent.status(), 200);
    let html = consent.text().await.unwrap();
    // display_permissions: the example's consent page, with before_authenticate's display form.
    assert!(html.contains("would like to see, for alice"), "{html}");
    assert!(
        html.contains("data-scope=\"launch&#x2f;patient\">Choose a patient<"),
        "{html}"
    );
    let handle = hidden(&html, "handle");
    let done = clinic
        .post("/consent", &[("handle", &handle), ("action", "accept")])
        .await;
    let params = redirected(&done);
    assert_eq!(
        param(&params, "patient"),
        Some("p-200"),
        "after_authenticate's response member"
    );
    let tokens = clinic
        .exchange("chart", param(&params, "code").unwrap())
        .await;

    // after_authenticate turned the launch scope into the chosen patient's.
    let scope = tokens["scope"].as_str().unwrap();
    assert!(
        scope.contains("patient/p-200.read") && !scope.contains("launch/patient"),
        "{scope}"
    );
    assert_eq!(tokens["patient"], "p-200");
    assert_eq!(
        tokens["tenant"], "north",
        "the p_tenant field reached the token generator"
    );

    // The access token: TenantTokens' JWT, with the directory's claim and header parameters.
    let access = clinic
        .decode(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(access.header["co"], "ostiary-example");
    assert_eq!(access.header["jku"], clinic.url("/jwks"));
    assert_eq!(access.header["typ"], "at+jwt");
    assert_eq!(access.claims["department"], "cardiology");
    assert_eq!(access.claims["tenant"], "north");
    assert_eq!(access.claims["sub"], "alice");
    assert_eq!(
        access.claims["iss"], clinic.issuer,
        "the server's claims win over a hook's"
    );

    let id = clinic.decode(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id.claims["fhirUser"], "Patient/p-200");
    assert_eq!(id.claims["name"], "Alice Liddell");
    assert_eq!(id.claims["nonce"], "n1");
    assert!(
        id.claims.get("department").is_none(),
        "not asked for in the ID token"
    );

    let userinfo: Value = clinic
        .http
        .get(clinic.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        userinfo["department"], "cardiology",
        "the org scope releases it: {userinfo}"
    );
    assert_eq!(userinfo["name"], "Alice Liddell");
    assert!(
        userinfo.get("email").is_none(),
        "email was not asked for: {userinfo}"
    );

    let access_token = tokens["access_token"].as_str().unwrap();
    let (status, introspected) = clinic
        .token_like("/introspection", "chart", &[("token", access_token)])
        .await;
    assert_eq!(status, 200);
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["department"], "cardiology");

    // A refresh goes through validate_user again and keeps what the sign-in decided.
    let (status, refreshed) = clinic
        .token(
            "chart",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(
        refreshed["scope"]
            .as_str()
            .unwrap()
            .contains("patient/p-200.read")
    );
    let access = clinic
        .decode(refreshed["access_token"].as_str().unwrap())
        .await;
    assert_eq!(access.claims["tenant"], "north");
}

impl Clinic {
    async fn token_like(&self, path: &str, client_id: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .basic_auth(client_id, Some(secret(client_id)))
            .form(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_without_a_chosen_patient_is_denied() {
    let clinic = Clinic::start().await;
    let html = clinic
        .authorize("chart", "openid launch/patient", "")
        .await
        .text()
        .await
        .unwrap();
    let handle = hidden(&html, "handle");
    let consent = clinic
        .post(
            "/login",
            &[
                ("handle", &handle),
                ("username", "bob"),
                ("password", "bob-password"),
                ("action", "login"),
            ],
        )
        .await;
    let handle = hidden(&consent.text().await.unwrap(), "handle");
    let done = clinic
        .post("/consent", &[("handle", &handle), ("action", "accept")])
        .await;
    let params = redirected(&done);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("s1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiosks_sign_in_directly_and_the_deny_marker_refuses_more() {
    let clinic = Clinic::start().await;
    // direct_login: no page at all, straight back with a code for the kiosk account.
    let response = clinic.authorize("kiosk", "openid kiosk", "").await;
    let params = redirected(&response);
    let tokens = clinic
        .exchange("kiosk", param(&params, "code").unwrap())
        .await;
    let id = clinic.decode(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id.claims["sub"], "kiosk");
    assert!(
        !response
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("clinic_session")),
        "a direct login makes no session"
    );

    // The deny marker: a kiosk asking for more ends with access_denied.
    let params = redirected(&clinic.authorize("kiosk", "openid profile", "").await);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert!(param(&params, "code").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_live_in_the_custom_session_store() {
    let clinic = Clinic::start().await;
    let html = clinic
        .authorize("chart", "openid", "")
        .await
        .text()
        .await
        .unwrap();
    let handle = hidden(&html, "handle");
    let consent = clinic
        .post(
            "/login",
            &[
                ("handle", &handle),
                ("username", "alice"),
                ("password", "alice-password"),
                ("action", "login"),
            ],
        )
        .await;
    let cookies: Vec<String> = consent
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("clinic_session=")),
        "{cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("ostiary_session=")),
        "{cookies:?}"
    );
    let handle = hidden(&consent.text().await.unwrap(), "handle");
    redirected(
        &clinic
            .post("/consent", &[("handle", &handle), ("action", "accept")])
            .await,
    );

    // Single sign-on to a second client: its consent page comes without a login page.
    let second = clinic.authorize("chart2", "openid", "").await;
    assert_eq!(second.status(), 200);
    let html = second.text().await.unwrap();
    assert!(html.contains("would like to see, for alice"), "{html}");

    // And prompt=none answers from the session for the first client.
    let params = redirected(&clinic.authorize("chart", "openid", "&prompt=none").await);
    assert!(param(&params, "code").is_some(), "{params:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_are_for_listed_services_only() {
    let clinic = Clinic::start().await;
    let (status, body) = clinic
        .token("reporting", &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant"], "main");
    let access = clinic.decode(body["access_token"].as_str().unwrap()).await;
    assert_eq!(
        access.claims["sub"], "reporting",
        "sub filled in with the client id"
    );
    let token = body["access_token"].as_str().unwrap();
    let (_, introspected) = clinic
        .token_like("/introspection", "reporting", &[("token", token)])
        .await;
    assert_eq!(introspected["service_tier"], "gold");

    let (status, body) = clinic
        .token("other-service", &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );

    let discovery: Value = clinic
        .http
        .get(clinic.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims = discovery["claims_supported"].as_array().unwrap();
    assert!(claims.iter().any(|c| c == "department"), "{claims:?}");
}
