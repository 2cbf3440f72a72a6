//! Python Authlib, an independent OAuth 2.0 client, against the server (interop/authlib/check.py).

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{Algorithm, Jwk, JwkSet, SigAlg};
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

pub(crate) fn python() -> std::path::PathBuf {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("OSTIARY_TEST_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| workspace.join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run scripts/test, which installs Authlib into .venv",
        python.display()
    );
    python
}

/// Runs a peer's script with `input` as JSON on stdin; returns the JSON report it prints, or fails
/// the test with what the peer said.
pub(crate) async fn run_peer(
    program: &std::path::Path,
    script: &std::path::Path,
    input: &Value,
    timeout_secs: u64,
) -> Value {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(program)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .await
        .unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(timeout_secs),
        child.wait_with_output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{} did not finish in {timeout_secs} s", script.display()))
    .unwrap();
    assert!(
        out.status.success(),
        "{}: {}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn authlib_against(backend: Backend) {
    let server = TestServer::start(backend).await;
    let secret = server
        .client(
            "authlib",
            AuthMethod::ClientSecretBasic,
            &[
                GrantType::ClientCredentials,
                GrantType::Password,
                GrantType::RefreshToken,
            ],
            None,
        )
        .await
        .unwrap();
    let key = Jwk::generate(Algorithm::Sig(SigAlg::RS256)).unwrap();
    server
        .client(
            "authlib-pkjwt",
            AuthMethod::PrivateKeyJwt,
            &[GrantType::ClientCredentials],
            Some(&JwkSet::from(key.clone()).public()),
        )
        .await;
    server.user("frank", "frank-password").await;
    let input = json!({
        "issuer": server.issuer,
        "basic": {"client_id": "authlib", "client_secret": secret},
        "private_key_jwt": {"client_id": "authlib-pkjwt", "jwk": key.to_value()},
        "user": {"username": "frank", "password": "frank-password"},
    });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/authlib/check.py");
    let report = run_peer(&python(), &script, &input, 60).await;
    assert_eq!(report["steps"].as_array().unwrap().len(), 9, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_discovers_gets_refreshes_introspects_and_revokes_on_sqlite() {
    authlib_against(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_discovers_gets_refreshes_introspects_and_revokes_on_postgres() {
    authlib_against(Backend::Postgres).await;
}

/// node openid-client through a real headless Chromium (interop/node/code_flow.mjs).
async fn browser_code_flow(backend: Backend) {
    use ostiary_server::config::ClientDescription;
    use ostiary_server::store::ClientStore as _;
    // An operator's consent page, from a templates directory.
    let templates = std::env::temp_dir().join(format!("ostiary-templates-{}", std::process::id()));
    std::fs::create_dir_all(&templates).unwrap();
    let marker = format!("operator-consent-{backend:?}");
    let builtin = include_str!("../../../server/templates/consent.html");
    std::fs::write(
        templates.join("consent.html"),
        builtin.replace("<h1>", &format!("<p>{marker}</p><h1>")),
    )
    .unwrap();
    let dir = templates.display().to_string();
    let server = TestServer::start_with(backend, |config| {
        config.customization.templates_dir = Some(dir);
    })
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "openid-client-secret-0123456789abcdef0123456789";
    for id in ["openid-client", "second-client"] {
        let client = ClientDescription {
            client_id: id.into(),
            name: id.into(),
            redirect_uris: vec![format!("http://127.0.0.1:{port}/cb")],
            grant_types: vec![GrantType::AuthorizationCode],
            ..Default::default()
        };
        server
            .store
            .create_client(&client, Some(secret))
            .await
            .unwrap();
    }
    server.user("grace", "grace-password").await;
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = workspace.join("interop/node/code_flow.mjs");
    assert!(
        workspace
            .join("interop/node/node_modules/openid-client")
            .exists(),
        "interop/node/node_modules is missing: run scripts/test, which installs openid-client and playwright-core"
    );
    let input = json!({
        "issuer": server.issuer, "client_id": "openid-client", "client_secret": secret,
        "second_client_id": "second-client", "second_client_secret": secret,
        "callback_port": port, "username": "grace", "password": "grace-password",
        "template_marker": marker,
    });
    let report = run_peer(std::path::Path::new("node"), &script, &input, 120).await;
    let _ = std::fs::remove_dir_all(&templates);
    assert_eq!(report["steps"].as_array().unwrap().len(), 15, "{report}");
}

/// node openid-client registers dynamically, uses a signed request object and logs out
/// (interop/node/registration_flow.mjs), through a real headless Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_registers_sends_a_request_object_and_logs_out() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.registration = ostiary_server::config::Registration::Open;
        // The script's last step is prompt=none's `login_required`, redirected at once.
        config.trust_registered_redirect_uris = true;
    })
    .await;
    server.user("grace", "grace-password").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = workspace.join("interop/node/registration_flow.mjs");
    let input = json!({
        "issuer": server.issuer, "callback_port": port,
        "username": "grace", "password": "grace-password",
    });
    let report = run_peer(std::path::Path::new("node"), &script, &input, 120).await;
    assert_eq!(report["steps"].as_array().unwrap().len(), 6, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_in_chromium_completes_the_code_flow_on_sqlite() {
    browser_code_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_in_chromium_completes_the_code_flow_on_postgres() {
    browser_code_flow(Backend::Postgres).await;
}

/// node oidc-provider on loopback (interop/node/op.mjs), stopped when dropped.
struct NodeProvider {
    issuer: String,
    _child: tokio::process::Child,
}

async fn node_provider() -> NodeProvider {
    node_provider_with(None, None).await
}

/// [`node_provider`], over HTTPS with `tls` = (key file, certificate file), and issuing JWT
/// access tokens for `jwt_resource`.
async fn node_provider_with(
    tls: Option<(&std::path::Path, &std::path::Path)>,
    jwt_resource: Option<&str>,
) -> NodeProvider {
    use tokio::io::AsyncBufReadExt as _;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut command = tokio::process::Command::new("node");
    if let Some((key, cert)) = tls {
        command.env("TLS_KEY", key).env("TLS_CERT", cert);
    }
    if let Some(resource) = jwt_resource {
        command.env("JWT_RESOURCE", resource);
    }
    let mut child = command
        .arg(workspace.join("interop/node/op.mjs"))
        .env("PORT", port.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Generous: on a loaded 2-core CI machine, loading oidc-provider and making its RSA key once
    // took more than 30 s.
    let ready = tokio::time::timeout(std::time::Duration::from_secs(90), lines.next_line())
        .await
        .expect("oidc-provider starts within 90 s")
        .unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    // Keep reading what it prints: a closed pipe would kill it on its next log line.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let scheme = if tls.is_some() { "https" } else { "http" };
    NodeProvider {
        issuer: format!("{scheme}://127.0.0.1:{port}"),
        _child: child,
    }
}

/// The client runtime trusts a server's certificate only through the system roots or the CA file
/// its server description names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_runtime_trusts_an_extra_ca_file_for_tls() {
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("ostiary-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A test CA, and a certificate it issues for 127.0.0.1 (an end-entity certificate: TLS
    // libraries refuse a self-signed CA certificate as a server's).
    let (key, cert, ca) = (
        dir.join("key.pem"),
        dir.join("cert.pem"),
        dir.join("ca.pem"),
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Ostiary test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    let op = node_provider_with(Some((&key, &cert)), None).await;
    assert!(op.issuer.starts_with("https://"));
    let rp = TestServer::start(Backend::Sqlite).await;
    let client = ostiary_client::Client::new(Arc::new(rp.store.clone()));
    assert!(
        matches!(
            client.discover(&op.issuer, None).await,
            Err(ostiary_client::ClientError::Http(_))
        ),
        "an unknown certificate is refused"
    );
    let ca = ca.display().to_string();
    client.discover(&op.issuer, Some(&ca)).await.unwrap();
    let metadata = json!({
        "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    client
        .register(
            "tls-app",
            &op.issuer,
            metadata.as_object().unwrap().clone(),
            None,
        )
        .await
        .unwrap();
    let tokens = client
        .client_credentials("tls-app", None, None)
        .await
        .unwrap();
    assert!(!tokens.access_token.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The client runtime against a server nobody here wrote: node oidc-provider, through Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_runtime_against_node_oidc_provider() {
    use std::sync::Arc;
    let op = node_provider().await;
    // The runtime's own store (the Ostiary server beside it is not used).
    let rp = TestServer::start(Backend::Sqlite).await;
    let client = ostiary_client::Client::new(Arc::new(rp.store.clone()));
    let described = client.discover(&op.issuer, None).await.unwrap();
    assert!(described.metadata.registration_endpoint.is_some());
    let app_base = crate::client_runtime::web_application(client.clone(), "op-app").await;
    let metadata = json!({
        "client_name": "Ostiary client runtime",
        "redirect_uris": [format!("{app_base}/cb")],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    let config = client
        .register(
            "op-app",
            &op.issuer,
            metadata.as_object().unwrap().clone(),
            None,
        )
        .await
        .unwrap();
    assert!(config.client_secret.is_some());

    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let input = json!({
        "start_url": format!("{app_base}/"), "login": "carol", "password": "any",
        "expect": "hello carol",
    });
    let script = workspace.join("interop/node/rp_login.mjs");
    let report = run_peer(std::path::Path::new("node"), &script, &input, 120).await;
    assert_eq!(report["steps"].as_array().unwrap().len(), 3, "{report}");
    let session = report["page"]
        .as_str()
        .unwrap()
        .split("session=")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();

    let claims = client.session_userinfo("op-app", &session).await.unwrap();
    assert_eq!(claims["sub"], "carol");
    let held = client
        .is_authorized("op-app", &session, Some("openid"))
        .await
        .unwrap()
        .unwrap();
    assert!(held.refresh_token.is_some(), "{held:?}");
    let refreshed = client.refresh("op-app", &session).await.unwrap();
    assert_ne!(refreshed.access_token, held.access_token);
    let introspected = client
        .introspect("op-app", &refreshed.access_token)
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    client
        .revoke_token("op-app", &refreshed.access_token)
        .await
        .unwrap();
    let introspected = client
        .introspect("op-app", &refreshed.access_token)
        .await
        .unwrap();
    assert_eq!(introspected["active"], false, "{introspected}");
    let service = client
        .client_credentials("op-app", None, None)
        .await
        .unwrap();
    assert!(!service.access_token.is_empty());
}

/// The login layer with fragment responses, in Chromium against Ostiary: the code arrives in the
/// URL fragment and the redirect endpoint's page hands it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_layer_takes_fragment_responses_in_chromium() {
    use ostiary_server::store::ClientStore as _;
    use std::sync::Arc;
    let server = TestServer::start(Backend::Sqlite).await;
    let client = ostiary_client::Client::new(Arc::new(server.store.clone()));
    client.discover(&server.issuer, None).await.unwrap();
    let app_base =
        crate::client_runtime::web_application_with(client.clone(), "frag", Some("fragment")).await;
    let secret = server
        .client(
            "frag",
            AuthMethod::ClientSecretBasic,
            &[GrantType::AuthorizationCode],
            None,
        )
        .await
        .unwrap();
    let mut registered = server.store.client("frag").await.unwrap().unwrap();
    registered.redirect_uris = vec![format!("{app_base}/cb")];
    server.store.update_client(&registered).await.unwrap();
    server.user("grace", "grace-password").await;
    client
        .create_configuration(&ostiary_client::ClientConfiguration {
            app: "frag".into(),
            issuer: server.issuer.clone(),
            client_id: "frag".into(),
            client_secret: Some(secret),
            redirect_uri: Some(format!("{app_base}/cb")),
            ..Default::default()
        })
        .await
        .unwrap();
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let input = json!({
        "start_url": format!("{app_base}/"), "login": "grace", "password": "grace-password",
        "expect": "hello grace", "expect_fragment": true,
        "pages": {
            "login": "#username", "password": "#password", "submit": "button[value=login]",
            "consent": "button[value=accept]", "accept": "button[value=accept]",
        },
    });
    let script = workspace.join("interop/node/rp_login.mjs");
    let report = run_peer(std::path::Path::new("node"), &script, &input, 120).await;
    assert_eq!(report["steps"].as_array().unwrap().len(), 4, "{report}");
}

/// The resource server library validates JWT access tokens of a server nobody here wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_server_validates_node_oidc_provider_jwt_access_tokens() {
    use std::sync::Arc;
    let op = node_provider_with(None, Some("urn:ostiary:api")).await;
    let rp = TestServer::start(Backend::Sqlite).await;
    let client = ostiary_client::Client::new(Arc::new(rp.store.clone()));
    client.discover(&op.issuer, None).await.unwrap();
    let metadata = json!({
        "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    client
        .register(
            "api-client",
            &op.issuer,
            metadata.as_object().unwrap().clone(),
            None,
        )
        .await
        .unwrap();
    let tokens = client
        .client_credentials("api-client", Some("api:read"), None)
        .await
        .unwrap();
    assert_eq!(
        tokens.access_token.split('.').count(),
        3,
        "a JWT access token"
    );
    let validator = ostiary_resource::Validator::discover(&op.issuer, Some("urn:ostiary:api"))
        .await
        .unwrap();
    let validated = validator
        .validate(&tokens.access_token, &["api:read"])
        .await
        .unwrap();
    assert_eq!(validated.security.sigalg, Some(SigAlg::RS256));
    let elsewhere = ostiary_resource::Validator::discover(&op.issuer, Some("urn:other"))
        .await
        .unwrap();
    assert!(matches!(
        elsewhere.validate(&tokens.access_token, &[]).await,
        Err(ostiary_resource::BearerError::InvalidToken(_))
    ));
}
