//! Keys that come from outside: a client's from `jwks_uri` (cached, fetched again when a
//! signature does not verify) or from an X.509 certificate, and the server's own from X.509
//! credentials.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{Jwk, JwkSet, SigAlg};
use ostiary_server::config::ClientDescription;
use ostiary_server::store::ClientStore as _;
use tokio::sync::Mutex;

use crate::harness::{Backend, TestServer, signing_keys};

/// A client's JWKS endpoint on loopback: serves what `keys` holds, counting requests.
pub(crate) struct JwksHost {
    pub(crate) url: String,
    pub(crate) keys: Arc<Mutex<String>>,
    pub(crate) hits: Arc<AtomicUsize>,
}

pub(crate) async fn jwks_host(initial: &JwkSet) -> JwksHost {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let keys = Arc::new(Mutex::new(initial.public().to_json()));
    let hits = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (keys.clone(), hits.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 2048];
            let _ = socket.read(&mut request).await;
            counted.fetch_add(1, Ordering::SeqCst);
            let body = served.lock().await.clone();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        }
    });
    JwksHost { url, keys, hits }
}

pub(crate) async fn register(
    server: &TestServer,
    id: &str,
    configure: impl FnOnce(&mut ClientDescription),
) {
    let mut client = ClientDescription {
        client_id: id.into(),
        name: id.into(),
        grant_types: vec![GrantType::ClientCredentials],
        response_types: vec![],
        token_endpoint_auth_method: AuthMethod::PrivateKeyJwt,
        ..Default::default()
    };
    configure(&mut client);
    client.validate().unwrap();
    server.store.create_client(&client, None).await.unwrap();
}

async fn token_with(
    server: &TestServer,
    id: &str,
    keys: &JwkSet,
    jti: &str,
) -> (u16, serde_json::Value) {
    let assertion = server.assertion(id, keys, SigAlg::RS256, jti, 60);
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.as_str()),
    ];
    let (status, body, _) = server.post_form("/token", &form, None).await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_jwks_uri_are_cached_and_fetched_again_after_the_client_rotates() {
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.fetch_private_addresses = true).await;
    let first = signing_keys(SigAlg::RS256);
    let host = jwks_host(&first).await;
    register(&server, "rotating", |c| c.jwks_uri = Some(host.url.clone())).await;

    for jti in ["a1", "a2", "a3"] {
        let (status, body) = token_with(&server, "rotating", &first, jti).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        host.hits.load(Ordering::SeqCst),
        1,
        "fetched once, then cached"
    );

    // A stranger's key right away: refused, and no fetch storm.
    let (status, _) = token_with(&server, "rotating", &signing_keys(SigAlg::RS256), "x1").await;
    assert_eq!(status, 401);
    assert_eq!(host.hits.load(Ordering::SeqCst), 1);

    // The client rotates; once the minimum interval has passed, one failed check fetches again.
    let second = signing_keys(SigAlg::RS256);
    *host.keys.lock().await = second.public().to_json();
    tokio::time::sleep(
        ostiary_server::client_keys::MIN_REFETCH + std::time::Duration::from_millis(300),
    )
    .await;
    let (status, body) = token_with(&server, "rotating", &second, "b1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(host.hits.load(Ordering::SeqCst), 2);
    let (status, _) = token_with(&server, "rotating", &first, "a4").await;
    assert_eq!(status, 401, "the old key is gone from the client's set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_jwks_makes_the_node_use_a_clients_new_keys_at_once() {
    use ostiary_portal::admin::Role;
    use reqwest::Method;
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.fetch_private_addresses = true).await;
    let first = signing_keys(SigAlg::RS256);
    let host = jwks_host(&first).await;
    register(&server, "rotating", |c| c.jwks_uri = Some(host.url.clone())).await;
    register(&server, "inline", |c| {
        c.jwks = Some(serde_json::from_str(&first.public().to_json()).unwrap())
    })
    .await;
    let (status, body) = token_with(&server, "rotating", &first, "a1").await;
    assert_eq!(status, 200, "{body}");

    // The client rotates; moments later its new key is not yet known (no fetch storms)...
    let second = signing_keys(SigAlg::RS256);
    *host.keys.lock().await = second.public().to_json();
    let (status, _) = token_with(&server, "rotating", &second, "b1").await;
    assert_eq!(status, 401);
    assert_eq!(host.hits.load(Ordering::SeqCst), 1);

    // ...until an administrator selects Update JWKS.
    let ops = crate::admin_api::api_token(&server, "ops", Role::Admin).await;
    let viewer = crate::admin_api::api_token(&server, "auditor", Role::Viewer).await;
    let path = "/clients/rotating/jwks";
    let (status, _) =
        crate::admin_api::call(&server, Some(&viewer), Method::POST, path, None).await;
    assert_eq!(status, 403);
    let (status, updated) =
        crate::admin_api::call(&server, Some(&ops), Method::POST, path, None).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["jwks_uri"], host.url.as_str());
    assert_eq!(
        updated["jwks"]["keys"][0]["kid"],
        second.keys[0].kid.as_deref().unwrap()
    );
    assert!(
        updated["jwks"]["keys"][0].get("d").is_none(),
        "public keys only"
    );
    assert_eq!(host.hits.load(Ordering::SeqCst), 2);
    let (status, body) = token_with(&server, "rotating", &second, "b2").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = token_with(&server, "rotating", &first, "a2").await;
    assert_eq!(status, 401, "the old key is gone");
    assert_eq!(
        host.hits.load(Ordering::SeqCst),
        2,
        "no fetch beyond the update"
    );

    let (status, refused) = crate::admin_api::call(
        &server,
        Some(&ops),
        Method::POST,
        "/clients/inline/jwks",
        None,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("no jwks_uri")
    );
    let (status, _) = crate::admin_api::call(
        &server,
        Some(&ops),
        Method::POST,
        "/clients/nobody/jwks",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, audit) = crate::admin_api::call(&server, Some(&ops), Method::GET, "/audit", None).await;
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "client.update_jwks")
        .expect("audited");
    assert_eq!(entry["target"], "rotating");
    assert_eq!(
        entry["detail"]["kids"][0],
        second.keys[0].kid.as_deref().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_uri_on_a_private_address_is_not_fetched_by_default() {
    let server = TestServer::start(Backend::Sqlite).await;
    let keys = signing_keys(SigAlg::RS256);
    let host = jwks_host(&keys).await;
    register(&server, "internal", |c| c.jwks_uri = Some(host.url.clone())).await;
    let (status, body) = token_with(&server, "internal", &keys, "i1").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(host.hits.load(Ordering::SeqCst), 0, "never contacted");
}

/// A private key and its self-signed certificate, made by openssl; the key is encrypted
/// (PBES2 with AES-256) with `password` when one is given.
fn key_and_certificate(dir: &std::path::Path, password: Option<&str>) -> (String, String) {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let run = |args: Vec<String>| {
        let status = std::process::Command::new("openssl")
            .args(&args)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    let path = |p: &std::path::Path| p.display().to_string();
    let mut genkey: Vec<String> = [
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut req: Vec<String> = ["req", "-x509", "-subj", "/CN=ostiary-test", "-days", "2"]
        .map(str::to_owned)
        .to_vec();
    if let Some(p) = password {
        genkey.extend([
            "-aes-256-cbc".to_owned(),
            "-pass".to_owned(),
            format!("pass:{p}"),
        ]);
        req.extend(["-passin".to_owned(), format!("pass:{p}")]);
    }
    genkey.extend(["-out".to_owned(), path(&key)]);
    req.extend([
        "-key".to_owned(),
        path(&key),
        "-out".to_owned(),
        path(&cert),
    ]);
    run(genkey);
    run(req);
    (
        std::fs::read_to_string(key).unwrap(),
        std::fs::read_to_string(cert).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_supplies_its_key() {
    let server = TestServer::start(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("ostiary-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key_pem, cert_pem) = key_and_certificate(&dir, None);
    let _ = std::fs::remove_dir_all(&dir);
    let mut key = Jwk::from_pem(&key_pem, None).unwrap();
    key.alg = Some("RS256".into());
    let keys = JwkSet::from(key);
    register(&server, "certified", |c| {
        c.x509_certificate = Some(cert_pem.clone())
    })
    .await;
    let (status, body) = token_with(&server, "certified", &keys, "c1").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = token_with(&server, "certified", &signing_keys(SigAlg::RS256), "c2").await;
    assert_eq!(status, 401);

    let not_a_certificate = ClientDescription {
        client_id: "x".into(),
        x509_certificate: Some(key_pem),
        ..Default::default()
    };
    assert!(
        not_a_certificate.validate().is_err(),
        "a private key is not a certificate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_signs_with_its_x509_credentials() {
    use ostiary_server::config::{AccessTokenFormat, X509Credentials};
    let dir = std::env::temp_dir().join(format!("ostiary-server-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key_pem, cert_pem) = key_and_certificate(&dir, Some("s3cret"));
    assert!(key_pem.contains("ENCRYPTED PRIVATE KEY"));
    std::fs::write(dir.join("password"), "s3cret\n").unwrap();
    let credentials = X509Credentials {
        certificate_file: dir.join("cert.pem").display().to_string(),
        private_key_file: dir.join("key.pem").display().to_string(),
        private_key_password_file: Some(dir.join("password").display().to_string()),
    };
    let configured = credentials.clone();
    let server = TestServer::start_with(Backend::Sqlite, move |c| {
        c.jwt.x509 = Some(configured);
        c.access_token_format = AccessTokenFormat::Jwt;
    })
    .await;
    let certificate = Jwk::from_pem(&cert_pem, None).unwrap();
    let published = server.jwks().await;
    let ours = published
        .keys
        .iter()
        .find(|k| k.x5c == certificate.x5c)
        .expect("the certificate is published in x5c");
    assert!(ours.x5t_s256.is_some());

    let secret = server
        .client(
            "svc",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            None,
        )
        .await
        .unwrap();
    let form = [("grant_type", "client_credentials")];
    let (status, body, _) = server
        .post_form("/token", &form, Some(("svc", &secret)))
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let decoded =
        ostiary_jose::decode(token, &JwkSet::default(), &published, &Default::default()).unwrap();
    assert_eq!(decoded.header["kid"].as_str(), ours.kid.as_deref());

    // A wrong password is a configuration error, not a silently generated key.
    std::fs::write(dir.join("password"), "wrong").unwrap();
    let mut config = ostiary_server::store::ConfigStore::server_config(&server.store)
        .await
        .unwrap()
        .unwrap();
    config.jwt.x509 = Some(credentials);
    let result = ostiary_server::state::ensure_keys(&server.store, &config, 0).await;
    assert!(result.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_issuer_vouches_for_users_in_jwt_bearer_grants() {
    use ostiary_server::config::TrustedIssuer;
    let idp = signing_keys(SigAlg::ES256);
    // A shared secret among the issuer's keys, as a careless configuration might hold: it must
    // not vouch for anyone (public-key signatures only).
    let shared = crate::harness::client_secret_key("a-secret-shared-with-the-idp-0123456789");
    let mut published = idp.public();
    published.keys.extend(shared.keys.clone());
    let published = published.to_value();
    let server = TestServer::start_with(Backend::Sqlite, move |c| {
        c.trusted_issuers = vec![TrustedIssuer {
            issuer: "https://idp.example".into(),
            jwks: Some(published),
            jwks_uri: None,
        }];
    })
    .await;
    let secret = server
        .client(
            "app",
            AuthMethod::ClientSecretBasic,
            &[GrantType::JwtBearer],
            None,
        )
        .await
        .unwrap();
    server.user("alice", "alice-password").await;
    let signed = |keys: &JwkSet, alg: SigAlg, iss: &str, jti: &str| {
        let now = ostiary::settings::now();
        let claims = serde_json::json!({"iss": iss, "sub": "alice", "aud": server.issuer, "exp": now + 60, "jti": jti});
        let opts = ostiary_jose::EncodeOptions {
            sig_alg: Some(alg),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, keys, None).unwrap()
    };
    let assertion = |keys: &JwkSet, iss: &str, jti: &str| signed(keys, SigAlg::ES256, iss, jti);
    let grant = |assertion: String| {
        let secret = secret.clone();
        let server = &server;
        async move {
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ];
            server
                .post_form("/token", &form, Some(("app", &secret)))
                .await
        }
    };
    let (status, body, _) = grant(assertion(&idp, "https://idp.example", "j1")).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let (_, introspected, _) = server
        .post_form(
            "/introspection",
            &[("token", token)],
            Some(("app", &secret)),
        )
        .await;
    assert_eq!(introspected["username"], "alice");

    for (case, jwt) in [
        ("replayed", assertion(&idp, "https://idp.example", "j1")),
        (
            "signed by another key",
            assertion(&signing_keys(SigAlg::ES256), "https://idp.example", "j2"),
        ),
        (
            "an issuer nobody trusts",
            assertion(&idp, "https://other-idp.example", "j3"),
        ),
        (
            "HS256 with the issuer's shared secret",
            signed(&shared, SigAlg::HS256, "https://idp.example", "j4"),
        ),
    ] {
        let (status, body, _) = grant(jwt).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{case}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_runtime_signs_with_its_x509_credentials() {
    let server = TestServer::start(Backend::Sqlite).await;
    let dir = std::env::temp_dir().join(format!("ostiary-rp-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, cert_pem) = key_and_certificate(&dir, Some("rp-pass"));
    std::fs::write(dir.join("password"), "rp-pass\n").unwrap();
    register(&server, "certified-rp", |c| {
        c.x509_certificate = Some(cert_pem.clone())
    })
    .await;
    let client = ostiary_client::Client::new(std::sync::Arc::new(server.store.clone()));
    client.discover(&server.issuer, None).await.unwrap();
    let config = ostiary_client::ClientConfiguration {
        app: "certified-rp".into(),
        issuer: server.issuer.clone(),
        client_id: "certified-rp".into(),
        token_endpoint_auth_method: AuthMethod::PrivateKeyJwt,
        x509: Some(ostiary_client::config::X509Credentials {
            certificate_file: dir.join("cert.pem").display().to_string(),
            private_key_file: dir.join("key.pem").display().to_string(),
            private_key_password_file: Some(dir.join("password").display().to_string()),
        }),
        ..Default::default()
    };
    client.create_configuration(&config).await.unwrap();
    let public = config.public_keys().unwrap();
    assert_eq!(
        public.keys[0].x5c,
        Jwk::from_pem(&cert_pem, None).unwrap().x5c
    );
    client
        .client_credentials("certified-rp", None, None)
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
