//! Dynamic client registration (RFC 7591) and its management (RFC 7592) over HTTP.

use ostiary_server::config::Registration;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = server.http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        headers,
    )
}

fn service_metadata() -> Value {
    json!({
        "client_name": "Reports",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
        "contacts": ["ops@reports.example"],
    })
}

async fn registration(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.registration = Registration::Open).await;
    let register = server.url("/register");
    let (status, created, headers) = send(
        &server,
        reqwest::Method::POST,
        &register,
        None,
        Some(&service_metadata()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(headers["cache-control"], "no-store");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let token = created["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = created["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(uri, format!("{}/{id}", register));
    assert_eq!(created["client_name"], "Reports");
    assert_eq!(created["contacts"], json!(["ops@reports.example"]));
    assert!(created["client_id_issued_at"].as_i64().unwrap() > 0);
    assert!(created.get("client_secret_expires_at").is_some());

    // The registered client works at once.
    let form = [("grant_type", "client_credentials")];
    let (status, body, _) = server
        .post_form("/token", &form, Some((&id, &secret)))
        .await;
    assert_eq!(status, 200, "{body}");
    // Its registration access token is no OAuth token.
    let (_, introspected, _) = server
        .post_form("/introspection", &[("token", &token)], Some((&id, &secret)))
        .await;
    assert_eq!(introspected["active"], false);

    // RFC 7592: read, update, delete with the registration access token.
    let (status, read, _) = send(&server, reqwest::Method::GET, &uri, Some(&token), None).await;
    assert_eq!(
        (status, read["client_id"].as_str()),
        (200, Some(id.as_str()))
    );
    assert!(
        read.get("client_secret").is_none(),
        "the secret is shown once"
    );
    let mut changed = service_metadata();
    changed["client_id"] = json!(id);
    changed["client_name"] = json!("Reports v2");
    let (status, updated, _) = send(
        &server,
        reqwest::Method::PUT,
        &uri,
        Some(&token),
        Some(&changed),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Reports v2");
    assert_eq!(
        updated["client_id_issued_at"],
        created["client_id_issued_at"]
    );
    let mut wrong_id = changed.clone();
    wrong_id["client_id"] = json!("someone-else");
    let (status, body, _) = send(
        &server,
        reqwest::Method::PUT,
        &uri,
        Some(&token),
        Some(&wrong_id),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    let mut wrong_secret = changed.clone();
    wrong_secret["client_secret"] = json!("not-it");
    let (status, _, _) = send(
        &server,
        reqwest::Method::PUT,
        &uri,
        Some(&token),
        Some(&wrong_secret),
    )
    .await;
    assert_eq!(status, 400);

    // Another client's token, or none, manages nothing.
    let (_, other, _) = send(
        &server,
        reqwest::Method::POST,
        &register,
        None,
        Some(&service_metadata()),
    )
    .await;
    let other_token = other["registration_access_token"].as_str().unwrap();
    for bad in [Some(other_token), Some("made-up"), None] {
        let (status, body, headers) = send(&server, reqwest::Method::GET, &uri, bad, None).await;
        assert_eq!(status, 401, "{bad:?}");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        if bad.is_some() {
            assert_eq!(body["error"], "invalid_token");
        }
    }

    let (status, _, _) = send(&server, reqwest::Method::DELETE, &uri, Some(&token), None).await;
    assert_eq!(status, 204);
    let (status, body, _) = server
        .post_form("/token", &form, Some((&id, &secret)))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _, _) = send(&server, reqwest::Method::GET, &uri, Some(&token), None).await;
    assert_eq!(status, 401, "the token went with its client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_management_on_sqlite() {
    registration(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_management_on_postgres() {
    registration(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_metadata_gets_the_rfc_7591_errors() {
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.registration = Registration::Open).await;
    let register = server.url("/register");
    let cases = [
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["myapp:/cb"], "application_type": "native"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "magic"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "jwks": {"keys": []}, "jwks_uri": "https://app.example/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["authorization_code"]}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (metadata, error) in cases {
        let (status, body, _) = send(
            &server,
            reqwest::Method::POST,
            &register,
            None,
            Some(&metadata),
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{metadata}"
        );
    }
    let native = json!({"redirect_uris": ["com.example.app:/cb", "http://127.0.0.1/cb"], "application_type": "native", "token_endpoint_auth_method": "none"});
    let (status, body, _) = send(
        &server,
        reqwest::Method::POST,
        &register,
        None,
        Some(&native),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body.get("client_secret").is_none(),
        "a public client gets no secret"
    );
    let discovery = server.discovery().await;
    assert_eq!(discovery["registration_endpoint"], register);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_with_an_initial_access_token_or_off() {
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.registration = Registration::Token).await;
    let register = server.url("/register");
    let (status, _, headers) = send(
        &server,
        reqwest::Method::POST,
        &register,
        None,
        Some(&service_metadata()),
    )
    .await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    let now = ostiary::settings::now();
    let initial = ostiary_server::endpoints::register::new_initial_token(&server.store, 600, now)
        .await
        .unwrap();
    let expired =
        ostiary_server::endpoints::register::new_initial_token(&server.store, 600, now - 3600)
            .await
            .unwrap();
    let (status, _, _) = send(
        &server,
        reqwest::Method::POST,
        &register,
        Some(&expired),
        Some(&service_metadata()),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body, _) = send(
        &server,
        reqwest::Method::POST,
        &register,
        Some(&initial),
        Some(&service_metadata()),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let off = TestServer::start(Backend::Sqlite).await;
    let (status, _, _) = send(
        &off,
        reqwest::Method::POST,
        &off.url("/register"),
        None,
        Some(&service_metadata()),
    )
    .await;
    assert_eq!(status, 404);
    let discovery = off.discovery().await;
    assert!(discovery.get("registration_endpoint").is_none());
}

/// RFC 9700 §4.11.2: a client that registered itself cannot use this server to bounce users to
/// its site with a crafted link. Its authorization errors wait on a page that names where it
/// leads; an administrator's clients (and one the administrator vetted) redirect at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_registered_clients_errors_wait_for_the_user() {
    use ostiary_server::store::{ClientStore as _, ConfigStore as _};
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.registration = Registration::Open).await;
    let metadata = json!({
        "client_name": "Lure",
        "redirect_uris": ["https://lure.example/cb"],
        "token_endpoint_auth_method": "none",
    });
    let register = server.url("/register");
    let (status, created, _) = send(
        &server,
        reqwest::Method::POST,
        &register,
        None,
        Some(&metadata),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("dynamically_registered").is_none(), "{created}");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // An unknown scope, no PKCE, prompt=none: each an error for the redirect URI.
    let authorize = |extra: &str| {
        format!(
            "{}?client_id={id}&redirect_uri=https%3A%2F%2Flure.example%2Fcb&response_type=code&state=s1{extra}",
            server.url("/authorize")
        )
    };
    for extra in [
        "&scope=openid%20nope&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "&scope=openid",
        "&response_mode=form_post&scope=openid",
    ] {
        let page = browser.get(authorize(extra)).send().await.unwrap();
        assert_eq!(page.status(), 200, "{extra}");
        assert!(page.headers().get("location").is_none(), "{extra}");
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        // (minijinja escapes `/` and `&` in attributes and text)
        let html = page
            .text()
            .await
            .unwrap()
            .replace("&#x2f;", "/")
            .replace("&amp;", "&");
        assert!(html.contains("Continue to https://lure.example"), "{html}");
        assert!(html.contains("registered itself"), "{html}");
        if extra.contains("form_post") {
            assert!(
                html.contains(r#"<form method="post" action="https://lure.example/cb">"#),
                "{html}"
            );
            assert!(html.contains(r#"name="state" value="s1""#), "{html}");
            assert!(
                !html.contains("<script"),
                "nothing submits the form but the user: {html}"
            );
        } else {
            assert!(
                html.contains(r#"href="https://lure.example/cb?error="#),
                "{html}"
            );
            assert!(html.contains("state=s1"), "{html}");
        }
    }
    // An unregistered redirect URI still gets the plain error page, with no link at all.
    let page = browser
        .get(authorize("&scope=openid").replace("lure.example%2Fcb", "evil.example%2Fcb"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(!page.text().await.unwrap().contains("evil.example"));

    // Vetted by an administrator, or every such client trusted by the configuration: errors
    // redirect at once, as for any other client.
    let mut client = server.store.client(&id).await.unwrap().unwrap();
    assert!(client.dynamically_registered);
    client.dynamically_registered = false;
    server.store.update_client(&client).await.unwrap();
    let answer = browser
        .get(authorize("&scope=openid"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://lure.example/cb?error="),
        "{location}"
    );
    client.dynamically_registered = true;
    server.store.update_client(&client).await.unwrap();
    assert_eq!(
        browser
            .get(authorize("&scope=openid"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mut config = server.store.server_config().await.unwrap().unwrap();
    config.trust_registered_redirect_uris = true;
    server.store.save_server_config(&config).await.unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let answer = browser
                .get(authorize("&scope=openid"))
                .send()
                .await
                .unwrap();
            if answer.status() == 303 {
                return answer;
            }
            // (the server reads its configuration again within two seconds)
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the configuration's trust applies within its cache time");
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://lure.example/cb?error="),
        "{location}"
    );
}
