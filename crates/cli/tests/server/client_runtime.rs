//! The client runtime (`ostiary-client`) against `ostiary serve`: discovery, dynamic registration,
//! every client authentication method, the token grants, the token store, introspection,
//! revocation and userinfo — and the same through `ostiary client …`.

use std::sync::Arc;

use ostiary_client::id_token::IdTokenError;
use ostiary_client::{Client, ClientConfiguration, ClientError};
use ostiary_core::{AuthMethod, GrantType};
use ostiary_server::config::Registration;
use ostiary_server::store::ClientStore as _;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

fn runtime(server: &TestServer) -> Client {
    Client::new(Arc::new(server.store.clone()))
}

fn metadata(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().unwrap().clone()
}

async fn client_runtime(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.registration = Registration::Open;
        // prompt=none's `login_required` comes back to the registered client at once.
        c.trust_registered_redirect_uris = true;
        c.intervals.access_token = 2;
    })
    .await;
    let client = runtime(&server);
    let described = client.discover(&server.issuer, None).await.unwrap();
    assert_eq!(described.metadata.issuer, server.issuer);
    assert!(
        !described.keys().keys.is_empty(),
        "the keys come with discovery"
    );
    assert_eq!(
        client.refresh_jwks(&server.issuer).await.unwrap(),
        described.keys()
    );

    // Dynamic registration, then every call with the issued credentials.
    let reports = metadata(json!({
        "client_name": "Reports", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic", "scope": "openid",
    }));
    let config = client
        .register("reports", &server.issuer, reports, None)
        .await
        .unwrap();
    assert!(config.client_secret.is_some() && config.registration_access_token.is_some());
    let tokens = client
        .client_credentials("reports", None, Some("svc"))
        .await
        .unwrap();
    let introspected = client
        .introspect("reports", &tokens.access_token)
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["client_id"], config.client_id.as_str());
    client
        .revoke_token("reports", &tokens.access_token)
        .await
        .unwrap();
    let introspected = client
        .introspect("reports", &tokens.access_token)
        .await
        .unwrap();
    assert_eq!(introspected["active"], false, "revoked at the server");

    // A client that registers private_key_jwt gets keys of its own and signs its assertions.
    let signed = metadata(json!({
        "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
    }));
    let config = client
        .register("signed", &server.issuer, signed, None)
        .await
        .unwrap();
    assert!(config.keys.is_some());
    client
        .client_credentials("signed", None, None)
        .await
        .unwrap();

    // Its request objects, signed and encrypted to the server, are accepted: with prompt=none,
    // the answer is login_required and the object's own state comes back.
    let jar = metadata(json!({
        "redirect_uris": ["https://app.example/cb"], "grant_types": ["authorization_code"],
        "response_types": ["code"], "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
    }));
    client
        .register("jar", &server.issuer, jar, None)
        .await
        .unwrap();
    for encrypt in [
        None,
        Some((
            ostiary_jose::KeyAlg::RsaOaep256,
            ostiary_jose::EncAlg::A256Gcm,
        )),
    ] {
        let ask = ostiary_client::authorization::AuthorizationRequest {
            prompt: Some("none".into()),
            request_object: Some(encrypt),
            ..Default::default()
        };
        let url = client
            .authorization_code_url("jar", "ro", ask)
            .await
            .unwrap();
        assert!(url.contains("request=") && !url.contains("state="), "{url}");
        let answer = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&url)
            .send()
            .await
            .unwrap();
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let params: Vec<(String, String)> =
            form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        match client.handle_redirect("jar", &params).await {
            Err(ClientError::Refused(e)) => {
                assert_eq!(e.error, ostiary_core::ErrorCode::LoginRequired)
            }
            other => panic!("expected login_required, got {other:?}"),
        }
    }
    // Key rotation tells the server the new keys (RFC 7592), and assertions keep working.
    let before = client.app("signed").await.unwrap().0.public_keys().unwrap();
    let fresh = client.rotate_keys("signed").await.unwrap();
    let registered = server
        .store
        .client(&config.client_id)
        .await
        .unwrap()
        .unwrap();
    let published = registered.public_keys();
    assert!(
        published
            .keys
            .iter()
            .any(|k| k.kid.as_deref() == Some(fresh[0].as_str()))
    );
    assert!(
        published.keys.len() > before.keys.len(),
        "old keys kept beside the new"
    );
    client
        .client_credentials("signed", None, None)
        .await
        .unwrap();
    // Save and Update Registration.
    let mut renamed = client.app("signed").await.unwrap().0;
    renamed.client_name = Some("Signed, renamed".into());
    client.store().save_configuration(&renamed).await.unwrap();
    client.update_registration("signed").await.unwrap();
    let registered = server
        .store
        .client(&config.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(registered.client_name.as_deref(), Some("Signed, renamed"));

    // Userinfo encrypted to keys the client made at registration, and signed (nested).
    let sealed = metadata(json!({
        "grant_types": ["password"], "token_endpoint_auth_method": "client_secret_basic",
        "userinfo_signed_response_alg": "ES256",
        "userinfo_encrypted_response_alg": "RSA-OAEP-256", "userinfo_encrypted_response_enc": "A128GCM",
    }));
    let sealed = client
        .register("sealed", &server.issuer, sealed, None)
        .await
        .unwrap();
    assert!(
        sealed.keys.is_some(),
        "an encryption key was made and registered"
    );
    server.user("dora", "dora-password").await;
    let tokens = client
        .password_grant(
            "sealed",
            "dora",
            "dora-password",
            Some("openid profile"),
            None,
        )
        .await
        .unwrap();
    let raw = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw.split('.').count(), 5, "a JWE on the wire");
    let claims = client
        .userinfo("sealed", &tokens.access_token)
        .await
        .unwrap();
    assert_eq!(claims["sub"], "dora");
    assert_eq!(claims["iss"], server.issuer.as_str());

    // Configurations made by an administrator: post and client_secret_jwt.
    for (app, method) in [
        ("posting", AuthMethod::ClientSecretPost),
        ("hmac", AuthMethod::ClientSecretJwt),
    ] {
        let secret = server
            .client(app, method, &[GrantType::ClientCredentials], None)
            .await
            .unwrap();
        let config = ClientConfiguration {
            app: app.into(),
            issuer: server.issuer.clone(),
            client_id: app.into(),
            client_secret: Some(secret),
            token_endpoint_auth_method: method,
            ..Default::default()
        };
        client.create_configuration(&config).await.unwrap();
        client.client_credentials(app, None, None).await.unwrap();
    }
    let mut wrong = client.app("posting").await.unwrap().0;
    wrong.app = "wrong".into();
    wrong.client_secret = Some("not-the-secret".into());
    client.create_configuration(&wrong).await.unwrap();
    match client.client_credentials("wrong", None, None).await {
        Err(ClientError::Refused(e)) => assert_eq!(e.error, ostiary_core::ErrorCode::InvalidClient),
        other => panic!("expected invalid_client, got {other:?}"),
    }

    // The password grant, kept for a session; transparent refresh once the access token expires.
    let secret = server
        .client(
            "portal",
            AuthMethod::ClientSecretBasic,
            &[GrantType::Password, GrantType::RefreshToken],
            None,
        )
        .await
        .unwrap();
    server.user("alice", "alice-password").await;
    let config = ClientConfiguration {
        app: "portal".into(),
        issuer: server.issuer.clone(),
        client_id: "portal".into(),
        client_secret: Some(secret),
        default_scope: Some("openid profile".into()),
        ..Default::default()
    };
    client.create_configuration(&config).await.unwrap();
    let first = client
        .password_grant("portal", "alice", "alice-password", None, Some("web-1"))
        .await
        .unwrap();
    assert!(first.refresh_token.is_some());
    let held = client
        .is_authorized("portal", "web-1", Some("openid"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.access_token, first.access_token);
    assert!(
        client
            .is_authorized("portal", "web-1", Some("openid admin"))
            .await
            .unwrap()
            .is_none(),
        "scope not granted"
    );
    assert!(
        client
            .is_authorized("portal", "web-2", None)
            .await
            .unwrap()
            .is_none(),
        "another session has nothing"
    );
    let claims = client
        .userinfo("portal", &first.access_token)
        .await
        .unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["name"], "Alice Liddell");
    // Signed userinfo (OpenID Connect Core §5.3.2): verified with the server's keys.
    let mut portal = server.store.client("portal").await.unwrap().unwrap();
    portal.userinfo_signed_response_alg = Some(ostiary_jose::SigAlg::RS256);
    server.store.update_client(&portal).await.unwrap();
    let signed = client
        .userinfo("portal", &first.access_token)
        .await
        .unwrap();
    assert_eq!(signed["sub"], "alice");
    assert_eq!(signed["iss"], server.issuer.as_str(), "it came as a JWT");
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let refreshed = client
        .is_authorized("portal", "web-1", Some("openid"))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        refreshed.access_token, first.access_token,
        "refreshed on the way"
    );
    assert_ne!(
        refreshed.refresh_token, first.refresh_token,
        "the refresh token rotated"
    );
    // The refresh's ID token was checked, and its claims kept (OpenID Connect Core §12.2).
    let claims = refreshed.id_token_claims.clone().unwrap();
    assert_eq!(
        (&claims["sub"], &claims["aud"]),
        (&json!("alice"), &json!("portal"))
    );
    // One about another user than the session's is refused, and the session keeps its tokens.
    let mut other_user = refreshed.clone();
    other_user.id_token_claims.as_mut().unwrap()["sub"] = json!("mallory");
    let keep = ostiary::settings::now() + 3600;
    client
        .store()
        .save_tokens("portal", "web-1", &other_user, keep)
        .await
        .unwrap();
    match client.refresh("portal", "web-1").await {
        Err(ClientError::IdToken(IdTokenError::ChangedOnRefresh("sub"))) => {}
        other => panic!("expected a changed sub, got {other:?}"),
    }
    client.end_session("portal", "web-1").await.unwrap();
    assert!(
        client
            .is_authorized("portal", "web-1", None)
            .await
            .unwrap()
            .is_none()
    );
    let introspected = client
        .introspect("portal", &refreshed.access_token)
        .await
        .unwrap();
    assert_eq!(
        introspected["active"], false,
        "ending the session revoked its tokens"
    );

    match client
        .password_grant("portal", "alice", "wrong", None, None)
        .await
    {
        Err(ClientError::Refused(e)) => assert_eq!(e.error, ostiary_core::ErrorCode::InvalidGrant),
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_runtime_against_ostiary_on_sqlite() {
    client_runtime(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_runtime_against_ostiary_on_postgres() {
    client_runtime(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_is_s256_by_default_and_can_be_given_or_left_out() {
    use ostiary_client::authorization::{AuthorizationRequest, Pkce};
    let server = TestServer::start(Backend::Sqlite).await;
    let client = runtime(&server);
    client.discover(&server.issuer, None).await.unwrap();
    client
        .create_configuration(&ClientConfiguration {
            app: "web".into(),
            issuer: server.issuer.clone(),
            client_id: "web".into(),
            redirect_uri: Some("https://app.example/cb".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let url = |pkce: Pkce| {
        let client = client.clone();
        async move {
            let ask = AuthorizationRequest {
                pkce,
                ..Default::default()
            };
            let url = client
                .authorization_code_url("web", "s", ask)
                .await
                .unwrap();
            let query: Vec<(String, String)> =
                form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
                    .into_owned()
                    .collect();
            query
                .into_iter()
                .find(|(k, _)| k == "code_challenge")
                .map(|(_, v)| v)
        }
    };
    assert_eq!(url(Pkce::S256).await.unwrap().len(), 43);
    // RFC 7636 Appendix B: this verifier's S256 challenge.
    let given = Pkce::Verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
    assert_eq!(
        url(given).await.as_deref(),
        Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    );
    assert_eq!(url(Pkce::Off).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_refuses_metadata_for_another_issuer_and_plain_http_elsewhere() {
    let server = TestServer::start(Backend::Sqlite).await;
    let client = runtime(&server);
    // A server whose metadata names someone else: a mix-up, refused.
    let body =
        json!({"issuer": server.issuer, "token_endpoint": format!("{}/token", server.issuer)})
            .to_string();
    let fake = format!(
        "{}/oauth2",
        crate::harness::serve_fixed(body, "application/json").await
    );
    match client.discover(&fake, None).await {
        Err(ClientError::IssuerMismatch { expected, found }) => {
            assert_eq!((expected, found), (fake.clone(), server.issuer.clone()));
        }
        other => panic!("expected a mix-up error, got {other:?}"),
    }
    assert!(
        client.store().server(&fake).await.unwrap().is_none(),
        "nothing saved"
    );
    assert!(matches!(
        client.discover("http://as.example/oauth2", None).await,
        Err(ClientError::Config(_))
    ));
    assert!(matches!(
        client.client_credentials("nobody", None, None).await,
        Err(ClientError::Unknown { .. })
    ));
}

/// `ostiary client …` as an operator runs it, with its own data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_commands() {
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.registration = Registration::Open).await;
    let dir = std::env::temp_dir().join(format!("ostiary-client-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ostiary"))
            .args(args)
            .env("OSTIARY_DATA_DIR", &dir)
            .env_remove("OSTIARY_DATABASE")
            .env_remove("OSTIARY_MASTER_KEY")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let json_of = |args: &[&str], stdin: &str| -> Value {
        let (ok, out, err) = run(args, stdin);
        assert!(ok, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap()
    };
    let issuer = server.issuer.as_str();
    let described = json_of(&["client", "server", "discover", issuer], "");
    assert_eq!(described["issuer"], issuer);
    let listed = json_of(&["client", "server", "list"], "");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let registered = json_of(
        &["client", "config", "register", "ops", "--server", issuer],
        r#"{"grant_types": ["client_credentials"], "client_name": "Ops"}"#,
    );
    assert_eq!(
        registered["client_secret"], "(set)",
        "secrets are not printed back"
    );
    let updated = json_of(&["client", "config", "update-registration", "ops"], "");
    assert_eq!(updated["client_name"], "Ops");
    let manual = json!({"issuer": "https://manual.example", "metadata": {"issuer": "https://manual.example"}});
    std::fs::create_dir_all(&dir).unwrap();
    let jwks_file = dir.join("server-jwks.json");
    let server_keys = crate::harness::signing_keys(ostiary_jose::SigAlg::ES256);
    std::fs::write(&jwks_file, server_keys.public().to_json()).unwrap();
    let created = json_of(
        &[
            "client",
            "server",
            "create",
            "--jwks-file",
            jwks_file.to_str().unwrap(),
        ],
        &manual.to_string(),
    );
    assert_eq!(created["issuer"], "https://manual.example");
    assert_eq!(
        created["jwks"]["keys"][0]["kid"],
        server_keys.keys[0].kid.clone().unwrap().as_str()
    );
    assert!(
        created["jwks"]["keys"][0].get("d").is_none(),
        "public keys only"
    );
    let tokens = json_of(&["client", "token", "client-credentials", "ops"], "");
    let token = tokens["access_token"].as_str().unwrap();
    let introspected = json_of(&["client", "token", "introspect", "ops", token], "");
    assert_eq!(introspected["active"], true);
    assert_eq!(
        json_of(&["client", "token", "revoke", "ops", token], ""),
        json!({})
    );
    let introspected = json_of(&["client", "token", "introspect", "ops", token], "");
    assert_eq!(introspected["active"], false);
    let (ok, _, err) = run(&["client", "token", "client-credentials", "nobody"], "");
    assert!(
        !ok && err.lines().filter(|l| l.starts_with("ostiary: ")).count() == 1,
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An application on loopback that uses the login layer: `/` needs a signed-in user and shows
/// `hello <sub> session=<session>`.
pub(crate) async fn web_application(client: Client, app: &str) -> String {
    web_application_with(client, app, None).await
}

/// [`web_application`], asking for answers in `response_mode`.
pub(crate) async fn web_application_with(
    client: Client,
    app: &str,
    response_mode: Option<&str>,
) -> String {
    use axum::routing::get;
    use ostiary_client::web::{LoggedIn, Login, require_login};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut login = Login::new(client, app, "/");
    login.scope = Some("openid profile".into());
    login.secure_cookie = false;
    login.response_mode = response_mode.map(str::to_owned);
    let router = axum::Router::new()
        .route(
            "/",
            get(
                |axum::Extension(user): axum::Extension<LoggedIn>| async move {
                    let claims = user.tokens.id_token_claims.unwrap_or_default();
                    let sub = claims["sub"].as_str().unwrap_or("?");
                    format!("hello {sub} session={}", user.session)
                },
            ),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            login.clone(),
            require_login,
        ))
        .merge(login.routes("/cb", "/fc"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

/// A browser: cookies kept, redirects not followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 303, "expected a redirect: {response:?}");
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// From the application's page to the redirect back, signing in as alice on the way.
async fn sign_in(b: &reqwest::Client, app_base: &str, server: &TestServer, first: bool) -> String {
    let to_server = location(&b.get(format!("{app_base}/")).send().await.unwrap());
    assert!(
        to_server.starts_with(&server.url("/authorize")),
        "{to_server}"
    );
    assert!(
        to_server.contains("code_challenge_method=S256"),
        "PKCE S256 by default"
    );
    let page = b.get(&to_server).send().await.unwrap();
    if page.status() == 303 {
        return location(&page);
    }
    let html = page.text().await.unwrap();
    let handle = crate::authorize::hidden(&html, "handle");
    let form = [
        ("handle", handle.as_str()),
        ("username", "alice"),
        ("password", "alice-password"),
        ("action", "login"),
    ];
    let after_login = b
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    if !first {
        return location(&after_login);
    }
    let html = after_login.text().await.unwrap();
    let handle = crate::authorize::hidden(&html, "handle");
    let form = [("handle", handle.as_str()), ("action", "accept")];
    location(
        &b.post(server.url("/consent"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_layer_signs_users_in_with_the_code_flow() {
    use ostiary_server::store::ClientStore as _;
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.fetch_private_addresses = true).await;
    let client = runtime(&server);
    client.discover(&server.issuer, None).await.unwrap();
    let app_base = web_application(client.clone(), "web").await;
    let redirect_uri = format!("{app_base}/cb");
    let secret = server
        .client(
            "web",
            AuthMethod::ClientSecretBasic,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            None,
        )
        .await
        .unwrap();
    let mut registered = server.store.client("web").await.unwrap().unwrap();
    registered.redirect_uris = vec![redirect_uri.clone()];
    registered.backchannel_logout_uri = Some(format!("{app_base}/fc"));
    server.store.update_client(&registered).await.unwrap();
    server.user("alice", "alice-password").await;
    client
        .create_configuration(&ClientConfiguration {
            app: "web".into(),
            issuer: server.issuer.clone(),
            client_id: "web".into(),
            client_secret: Some(secret),
            redirect_uri: Some(redirect_uri),
            ..Default::default()
        })
        .await
        .unwrap();

    let (b, jar) = browser_with_jar();
    let callback = sign_in(&b, &app_base, &server, true).await;
    assert!(
        callback.starts_with(&format!("{app_base}/cb?")),
        "{callback}"
    );
    let landed = b.get(&callback).send().await.unwrap();
    assert_eq!(location(&landed), "/");
    let home = b.get(format!("{app_base}/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(
        home.text()
            .await
            .unwrap()
            .starts_with("hello alice session=")
    );

    // A request object by reference: the application serves it, the server fetches it (the
    // object's prompt=none and state come back).
    let ask = ostiary_client::authorization::AuthorizationRequest {
        prompt: Some("none".into()),
        request_object: Some(None),
        request_uri_base: Some(format!("{app_base}/cb/request")),
        ..Default::default()
    };
    let url = client
        .authorization_code_url("web", "by-reference", ask)
        .await
        .unwrap();
    assert!(
        url.contains("request_uri=") && !url.contains("&request="),
        "{url}"
    );
    let answer = browser().get(&url).send().await.unwrap();
    let location = location(&answer);
    let params: Vec<(String, String)> =
        form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    match client.handle_redirect("web", &params).await {
        Err(ClientError::Refused(e)) => {
            assert_eq!(e.error, ostiary_core::ErrorCode::LoginRequired)
        }
        other => panic!("expected login_required, got {other:?}"),
    }

    // The same redirect again: its state is spent.
    let replay = b.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    let forged = b
        .get(format!("{app_base}/cb?state=forged&code=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // A mix-up: the response claims another issuer; nothing is stored for that browser.
    let other = browser();
    let callback = sign_in(&other, &app_base, &server, false).await;
    let tampered = callback.replace(
        &format!(
            "iss={}",
            form_urlencoded::byte_serialize(server.issuer.as_bytes()).collect::<String>()
        ),
        "iss=https%3A%2F%2Fevil.example",
    );
    assert_ne!(tampered, callback);
    let refused = other.get(&tampered).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("issuer"));
    assert_eq!(
        other
            .get(format!("{app_base}/"))
            .send()
            .await
            .unwrap()
            .status(),
        303,
        "still signed out"
    );

    // A response carried to another browser (login CSRF) signs neither in, and one without
    // its state is refused.
    let (asker, carrier) = (browser(), browser());
    let callback = sign_in(&asker, &app_base, &server, false).await;
    let refused = carrier.get(&callback).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    for b in [&asker, &carrier] {
        let home = b.get(format!("{app_base}/")).send().await.unwrap();
        assert_eq!(home.status(), 303, "still signed out");
    }
    assert_eq!(asker.get(&callback).send().await.unwrap().status(), 400);
    let callback = sign_in(&asker, &app_base, &server, false).await;
    let (path, query) = callback.split_once('?').unwrap();
    let stateless: String = query
        .split('&')
        .filter(|p| !p.starts_with("state="))
        .collect::<Vec<_>>()
        .join("&");
    let refused = asker
        .get(format!("{path}?{stateless}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(asker.get(&callback).send().await.unwrap().status(), 303);

    // Front-channel logout ends the session that signed in with this sid.
    let stored = session_tokens(&client, &jar, &app_base).await;
    let sessions_sid = stored.id_token_claims.unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong_issuer = b
        .get(format!(
            "{app_base}/fc?iss=https%3A%2F%2Fevil.example&sid={sessions_sid}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_issuer.status(), 400);
    let issuer = form_urlencoded::byte_serialize(server.issuer.as_bytes()).collect::<String>();
    let told = b
        .get(format!("{app_base}/fc?iss={issuer}&sid={sessions_sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(told.status(), 200);
    assert_eq!(
        b.get(format!("{app_base}/")).send().await.unwrap().status(),
        303,
        "signed out"
    );

    // Back-channel logout: the user signs out at the server, which posts a logout token to the
    // application, and the application's session ends. An ID token is not a logout token.
    let (b, jar) = browser_with_jar();
    let callback = sign_in(&b, &app_base, &server, false).await;
    assert_eq!(b.get(&callback).send().await.unwrap().status(), 303);
    let home = format!("{app_base}/");
    assert_eq!(b.get(&home).send().await.unwrap().status(), 200);
    let id_token = session_tokens(&client, &jar, &app_base)
        .await
        .id_token
        .unwrap();
    let http = reqwest::Client::new();
    let posted = http
        .post(format!("{app_base}/fc"))
        .form(&[("logout_token", id_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 400);
    let refusal: serde_json::Value = posted.json().await.unwrap();
    assert_eq!(refusal["error"], "invalid_request", "{refusal}");
    assert_eq!(
        b.get(&home).send().await.unwrap().status(),
        200,
        "still signed in"
    );
    let logout = format!("{}?id_token_hint={id_token}", server.url("/logout"));
    assert_eq!(b.get(&logout).send().await.unwrap().status(), 200);
    let told = std::time::Instant::now();
    while b.get(&home).send().await.unwrap().status() == 200 {
        assert!(
            told.elapsed().as_secs() < 5,
            "the application was never told"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A browser whose cookies the test can read.
fn browser_with_jar() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let b = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (b, jar)
}

/// The tokens the application keeps for the browser whose cookies are in `jar`.
async fn session_tokens(
    client: &Client,
    jar: &reqwest::cookie::Jar,
    app_base: &str,
) -> ostiary_client::store::StoredTokens {
    let app_url: reqwest::Url = app_base.parse().unwrap();
    let cookies = reqwest::cookie::CookieStore::cookies(jar, &app_url).unwrap();
    let session = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("ostiary_rp_session="))
        .unwrap()
        .to_owned();
    client
        .store()
        .tokens("web", &session, 0)
        .await
        .unwrap()
        .unwrap()
}

/// The hidden inputs of a form_post page, as the browser would post them.
fn posted_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |v: &str| {
        v.replace("&#x2f;", "/")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"")?;
            let value = rest.split('"').next()?;
            Some((name.to_owned(), unescape(value)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_requests_come_back_by_form_post_with_a_checked_at_hash() {
    use ostiary_server::store::ClientStore as _;
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.grant_types.push(GrantType::Implicit)).await;
    let client = runtime(&server);
    client.discover(&server.issuer, None).await.unwrap();
    server
        .client("spa", AuthMethod::None, &[GrantType::Implicit], None)
        .await;
    let mut registered = server.store.client("spa").await.unwrap().unwrap();
    registered.response_types = vec!["id_token token".into(), "id_token".into()];
    server.store.update_client(&registered).await.unwrap();
    server.user("alice", "alice-password").await;
    client
        .create_configuration(&ClientConfiguration {
            app: "spa".into(),
            issuer: server.issuer.clone(),
            kind: ostiary_client::ClientKind::Public,
            client_id: "spa".into(),
            token_endpoint_auth_method: AuthMethod::None,
            redirect_uri: Some(crate::authorize::REDIRECT.into()),
            default_scope: Some("openid profile".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let url = client
        .implicit_url("spa", "s-1", true, Default::default())
        .await
        .unwrap();
    assert!(
        url.contains("response_mode=form_post") && url.contains("nonce="),
        "{url}"
    );
    let b = browser();
    let html = b.get(&url).send().await.unwrap().text().await.unwrap();
    let handle = crate::authorize::hidden(&html, "handle");
    let form = [
        ("handle", handle.as_str()),
        ("username", "alice"),
        ("password", "alice-password"),
        ("action", "login"),
    ];
    let html = b
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let handle = crate::authorize::hidden(&html, "handle");
    let page = b
        .post(server.url("/consent"))
        .form(&[("handle", handle.as_str()), ("action", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the form_post page");
    let fields = posted_fields(&page.text().await.unwrap());
    assert!(
        fields.iter().any(|(k, _)| k == "access_token"),
        "{fields:?}"
    );

    // A tampered access token no longer matches the ID token's at_hash.
    let mut tampered = fields.clone();
    for (k, v) in tampered.iter_mut() {
        if k == "access_token" {
            v.push('x');
        }
    }
    match client.handle_redirect("spa", &tampered).await {
        Err(ClientError::IdToken(ostiary_client::id_token::IdTokenError::AccessTokenHash)) => {}
        other => panic!("expected an at_hash mismatch, got {other:?}"),
    }
    assert!(
        client
            .is_authorized("spa", "s-1", None)
            .await
            .unwrap()
            .is_none(),
        "nothing stored"
    );
    // The state was spent by that attempt: the genuine response is now refused too.
    assert!(matches!(
        client.handle_redirect("spa", &fields).await,
        Err(ClientError::StateMismatch)
    ));

    // RFC 9207: the server says it names itself in responses, so one without `iss` is refused.
    let url = client
        .implicit_url("spa", "s-4", true, Default::default())
        .await
        .unwrap();
    let fields = posted_fields(&b.get(&url).send().await.unwrap().text().await.unwrap());
    let unnamed: Vec<(String, String)> = fields.into_iter().filter(|(k, _)| k != "iss").collect();
    match client.handle_redirect("spa", &unnamed).await {
        Err(ClientError::IssuerMismatch { found, .. }) => assert_eq!(found, ""),
        other => panic!("expected an issuer mismatch, got {other:?}"),
    }
    assert!(
        client
            .is_authorized("spa", "s-4", None)
            .await
            .unwrap()
            .is_none()
    );

    // A fresh request, answered as it came.
    let url = client
        .implicit_url("spa", "s-2", true, Default::default())
        .await
        .unwrap();
    let page = b.get(&url).send().await.unwrap();
    let fields = posted_fields(&page.text().await.unwrap());
    let signed_in = client.handle_redirect("spa", &fields).await.unwrap();
    assert_eq!(signed_in.session, "s-2");
    let claims = signed_in.tokens.id_token_claims.unwrap();
    assert_eq!(claims["sub"], "alice");
    let userinfo = client.session_userinfo("spa", "s-2").await.unwrap();
    assert_eq!(userinfo["sub"], "alice");

    // `id_token` alone: no access token, the ID token still checked and kept.
    let url = client
        .implicit_url("spa", "s-3", false, Default::default())
        .await
        .unwrap();
    let fields = posted_fields(&b.get(&url).send().await.unwrap().text().await.unwrap());
    assert!(
        !fields.iter().any(|(k, _)| k == "access_token"),
        "{fields:?}"
    );
    let signed_in = client.handle_redirect("spa", &fields).await.unwrap();
    assert_eq!(signed_in.tokens.id_token_claims.unwrap()["sub"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_for_another_user_than_the_id_token_is_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let client = runtime(&server);
    let fake =
        crate::harness::serve_fixed(r#"{"sub": "mallory"}"#.into(), "application/json").await;
    let userinfo = format!("{fake}/userinfo");
    let mut described = ostiary_client::ServerDescription {
        issuer: "https://as.example".into(),
        ..Default::default()
    };
    described.metadata.issuer = described.issuer.clone();
    described.metadata.userinfo_endpoint = Some(userinfo);
    client.store().save_server(&described).await.unwrap();
    client
        .create_configuration(&ClientConfiguration {
            app: "app".into(),
            issuer: described.issuer.clone(),
            client_id: "app".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let stored = ostiary_client::StoredTokens {
        access_token: "at".into(),
        token_type: "Bearer".into(),
        id_token_claims: Some(metadata(json!({"sub": "alice"}))),
        ..Default::default()
    };
    client
        .store()
        .save_tokens("app", "web", &stored, i64::MAX / 2)
        .await
        .unwrap();
    assert!(matches!(
        client.session_userinfo("app", "web").await,
        Err(ClientError::SubjectMismatch)
    ));
}
