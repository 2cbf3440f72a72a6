//! The resource server library (`ostiary-resource`) against `ostiary serve`: JWT access tokens
//! validated locally with the published keys, and an axum route protected by scope.

use std::sync::Arc;

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{EncodeOptions, Jwk, JwkSet, KeyRing, SigAlg};
use ostiary_resource::{BearerError, KeySource, Protected, Validator, ValidatorConfig};
use ostiary_server::config::AccessTokenFormat;
use ostiary_server::store::KeyStore as _;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

/// A server issuing JWT access tokens, a client credentials token for `svc` with `scope`.
async fn jwt_server() -> (TestServer, String) {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.access_token_format = AccessTokenFormat::Jwt;
        // Rotated keys sign at once: a resource server meets a kid it does not know.
        c.intervals.key_publication = 0;
    })
    .await;
    let secret = server
        .client(
            "svc",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            None,
        )
        .await
        .unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "profile email"),
    ];
    let (status, body, _) = server
        .post_form("/token", &form, Some(("svc", &secret)))
        .await;
    assert_eq!(status, 200, "{body}");
    (server, body["access_token"].as_str().unwrap().to_owned())
}

/// Runs `ostiary ARGS` with `input` on stdin.
pub(crate) fn cli_with_stdin(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ostiary"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn invalid(result: Result<ostiary_resource::Validated, BearerError>) -> bool {
    matches!(result, Err(BearerError::InvalidToken(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_access_tokens_are_validated_with_the_published_keys() {
    let (server, token) = jwt_server().await;
    let validator = Validator::discover(&server.issuer, Some("svc"))
        .await
        .unwrap();
    let validated = validator.validate(&token, &["profile"]).await.unwrap();
    assert_eq!(validated.claims["sub"], "svc");
    assert_eq!(validated.security.sigalg, Some(SigAlg::RS256));
    assert_eq!(validated.scopes(), ["profile", "email"]);
    assert_eq!(
        validator
            .validate(&token, &["profile", "phone"])
            .await
            .unwrap_err(),
        BearerError::InsufficientScope {
            scope: "profile phone".into()
        }
    );
    let elsewhere = Validator::discover(&server.issuer, Some("another-api"))
        .await
        .unwrap();
    assert!(
        invalid(elsewhere.validate(&token, &[]).await),
        "wrong audience"
    );
    let mut impostor = ValidatorConfig::new(
        "https://evil.example",
        KeySource::Static(server.jwks().await),
    );
    impostor.audience = Some("svc".into());
    assert!(
        invalid(Validator::new(impostor).validate(&token, &[]).await),
        "wrong issuer"
    );
    let mut tampered = token.clone();
    tampered.insert(tampered.len() - 5, 'x');
    assert!(
        invalid(validator.validate(&tampered, &[]).await),
        "bad signature"
    );

    // Tokens made with the server's own key but with bad claims, and forgeries.
    let ring = server.store.key_ring().await.unwrap().unwrap();
    let now = ostiary::settings::now();
    let claims = |extra: Value| {
        let mut c = json!({"iss": server.issuer, "aud": "svc", "sub": "svc", "scope": "profile", "exp": now + 300});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let typed = |claims: Value, keys: &JwkSet, alg: SigAlg, typ: &str| {
        let opts = EncodeOptions {
            sig_alg: Some(alg),
            typ: Some(typ.into()),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, keys, None).unwrap()
    };
    let sign = |claims: Value, keys: &JwkSet, alg: SigAlg| typed(claims, keys, alg, "at+jwt");
    let ours = ring.private_set();
    // The same claims typed as an ID token are not an access token (RFC 9068 §4).
    assert!(invalid(
        validator
            .validate(&typed(claims(json!({})), &ours, SigAlg::RS256, "JWT"), &[])
            .await
    ));
    assert!(
        validator
            .validate(&sign(claims(json!({})), &ours, SigAlg::RS256), &[])
            .await
            .is_ok()
    );
    assert!(
        invalid(
            validator
                .validate(
                    &sign(claims(json!({"exp": now - 3600})), &ours, SigAlg::RS256),
                    &[]
                )
                .await
        ),
        "expired"
    );
    assert!(
        invalid(
            validator
                .validate(
                    &sign(claims(json!({"nbf": now + 3600})), &ours, SigAlg::RS256),
                    &[]
                )
                .await
        ),
        "not yet valid"
    );
    let unsigned = {
        let opts = EncodeOptions {
            allow_unsigned: true,
            ..Default::default()
        };
        ostiary_jose::encode(
            claims(json!({})).as_object().unwrap(),
            &opts,
            &JwkSet::default(),
            None,
        )
        .unwrap()
    };
    assert!(
        invalid(validator.validate(&unsigned, &[]).await),
        "alg none"
    );
    // HS256 keyed with the server's public RSA key, under its kid: the key confusion attack.
    let public = server.jwks().await;
    let rsa = public
        .keys
        .iter()
        .find(|k| k.kty() == "RSA")
        .unwrap()
        .clone();
    let mut confused = Jwk::symmetric(rsa.to_value().to_string().as_bytes()).unwrap();
    confused.kid = rsa.kid.clone();
    let forged = sign(claims(json!({})), &JwkSet::from(confused), SigAlg::HS256);
    assert!(
        invalid(validator.validate(&forged, &[]).await),
        "HS256 with the public key"
    );
    let stranger =
        JwkSet::from(Jwk::generate(ostiary_jose::Algorithm::Sig(SigAlg::RS256)).unwrap());
    let unknown_kid = sign(claims(json!({})), &stranger, SigAlg::RS256);
    assert!(
        invalid(validator.validate(&unknown_kid, &[]).await),
        "unknown kid, after one refetch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_route_requires_a_token_with_its_scopes() {
    use axum::routing::get;
    use ostiary_resource::{Claims, guard};
    let (server, token) = jwt_server().await;
    let validator = Arc::new(
        Validator::discover(&server.issuer, Some("svc"))
            .await
            .unwrap(),
    );
    let protected = Protected::new(validator);
    let reports: &'static [&'static str] = &["profile"];
    let phones: &'static [&'static str] = &["phone"];
    let router = axum::Router::new()
        .route(
            "/reports",
            get(|Claims(token): Claims| async move {
                token.claims["sub"].as_str().unwrap_or("?").to_owned()
            })
            .layer(axum::middleware::from_fn_with_state(
                (protected.clone(), reports),
                guard,
            )),
        )
        .route(
            "/phones",
            get(|| async { "never" }).layer(axum::middleware::from_fn_with_state(
                (protected, phones),
                guard,
            )),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, app).await;
    });
    let http = reqwest::Client::new();
    let ok = http
        .get(format!("{base}/reports"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "svc");
    let none = http.get(format!("{base}/reports")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"ostiary\""
    );
    let scope = http
        .get(format!("{base}/phones"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(scope.status(), 403);
    assert!(
        scope.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    let query = http
        .get(format!("{base}/reports?access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query.status(),
        400,
        "tokens in the query are off by default"
    );
    let bad = http
        .get(format!("{base}/reports"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_validate_checks_a_token_from_a_shell() {
    let (server, token) = jwt_server().await;
    let run = |args: &[&str]| cli_with_stdin(args, &token);
    let issuer = server.issuer.as_str();
    let out = run(&[
        "resource",
        "validate",
        "--issuer",
        issuer,
        "--audience",
        "svc",
        "--scope",
        "profile",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["claims"]["sub"], "svc");
    assert_eq!(printed["security"]["sigalg"], "RS256");
    let out = run(&[
        "resource", "validate", "--issuer", issuer, "--scope", "phone",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.trim().starts_with("ostiary: insufficient_scope"),
        "{err}"
    );
    let out = run(&[
        "resource",
        "validate",
        "--issuer",
        issuer,
        "--audience",
        "other",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_token"));

    // A token typed `JWT`, as Keycloak types its access tokens: refused unless the operator says
    // that type (or any) is expected.
    let claims = json!({"iss": issuer, "sub": "svc", "client_id": "svc", "scope": "profile"});
    let typed_jwt = server.signed_by_server(claims, "JWT").await;
    let validate = |extra: &[&str]| {
        let args = [&["resource", "validate", "--issuer", issuer], extra].concat();
        cli_with_stdin(&args, &typed_jwt)
    };
    let out = validate(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid_token") && err.contains("typ"),
        "{err}"
    );
    for token_type in ["JWT", "any"] {
        let out = validate(&["--token-type", token_type]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "--token-type {token_type}: {err}");
    }
    assert!(!validate(&["--token-type", "other+jwt"]).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_fetched_again_when_the_issuer_rotates() {
    let (server, token) = jwt_server().await;
    let mut config = ValidatorConfig::new(&server.issuer, KeySource::Uri(server.url("/jwks")));
    config.min_refetch = std::time::Duration::from_millis(500);
    let validator = Validator::new(config);
    validator.validate(&token, &[]).await.unwrap();
    ostiary_server::state::rotate_keys(&server.store, ostiary::settings::now())
        .await
        .unwrap();
    tokio::time::sleep(ostiary_server::state::CACHE_TTL + std::time::Duration::from_millis(300))
        .await;
    // The harness's secret for `svc`.
    let secret = "svc-secret-0123456789abcdefghijklmnopqrstuv";
    let (_, body, _) = server
        .post_form(
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("svc", secret)),
        )
        .await;
    let fresh = body["access_token"].as_str().unwrap();
    // The new kid is unknown to the cached keys: one fetch, and it validates.
    let validated = validator.validate(fresh, &[]).await.unwrap();
    assert_eq!(validated.claims["sub"], "svc");
    validator.validate(&token, &[]).await.unwrap();
}

/// Tokens with kids the issuer never published make the validator fetch the keys again at most
/// once per `min_refetch`: a stream of made-up kids cannot turn it against the issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_fetch_the_keys_again_at_most_once_per_min_refetch() {
    use std::sync::atomic::Ordering::SeqCst;
    let published = crate::harness::signing_keys(SigAlg::ES256);
    let body = serde_json::to_string(&published.public()).unwrap();
    let (base, fetches) = crate::harness::serve_counted(body, "application/json").await;
    let issuer = "https://as.example";
    let mut config = ValidatorConfig::new(issuer, KeySource::Uri(format!("{base}/jwks")));
    config.min_refetch = std::time::Duration::from_millis(1500);
    let validator = Validator::new(config);
    let token = |keys: &JwkSet| {
        let now = ostiary::settings::now();
        let claims = json!({"iss": issuer, "sub": "svc", "exp": now + 600, "iat": now});
        let opts = EncodeOptions {
            sig_alg: Some(SigAlg::ES256),
            typ: Some("at+jwt".into()),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, keys, None).unwrap()
    };
    let strangers = async |count| {
        for _ in 0..count {
            let unknown = crate::harness::signing_keys(SigAlg::ES256);
            assert!(validator.validate(&token(&unknown), &[]).await.is_err());
        }
    };
    validator.validate(&token(&published), &[]).await.unwrap();
    assert_eq!(fetches.load(SeqCst), 1);
    strangers(20).await;
    assert_eq!(
        fetches.load(SeqCst),
        1,
        "within min_refetch of the first fetch"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    strangers(20).await;
    assert_eq!(
        fetches.load(SeqCst),
        2,
        "one fetch once min_refetch is past"
    );
    validator.validate(&token(&published), &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_tokens_are_checked_by_introspection_with_a_cache() {
    use ostiary_resource::{IntrospectionConfig, Introspector};
    let server = TestServer::start(Backend::Sqlite).await;
    let svc = server
        .client(
            "svc",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            None,
        )
        .await
        .unwrap();
    let api = server
        .client(
            "api",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            None,
        )
        .await
        .unwrap();
    let form = [("grant_type", "client_credentials"), ("scope", "profile")];
    let (_, body, _) = server.post_form("/token", &form, Some(("svc", &svc))).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 1, "opaque");
    let mut config = IntrospectionConfig::new(&server.url("/introspection"), "api", &api);
    config.max_ttl = std::time::Duration::from_millis(800);
    let introspector = Introspector::new(config);
    let validated = introspector.validate(&token, &["profile"]).await.unwrap();
    assert_eq!(validated.claims["client_id"], "svc");
    assert_eq!(
        introspector.validate(&token, &["phone"]).await.unwrap_err(),
        BearerError::InsufficientScope {
            scope: "phone".into()
        }
    );
    // Revoked at the server: the cached answer holds until max_ttl, then the truth shows.
    let (status, _, _) = server
        .post_form("/revocation", &[("token", &token)], Some(("svc", &svc)))
        .await;
    assert_eq!(status, 200);
    assert!(introspector.validate(&token, &[]).await.is_ok(), "cached");
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert!(invalid(introspector.validate(&token, &[]).await), "revoked");
    assert!(invalid(introspector.validate("made-up", &[]).await));

    let nowhere = Introspector::new(IntrospectionConfig::new(
        "http://127.0.0.1:9/introspection",
        "api",
        &api,
    ));
    let unavailable = nowhere.validate(&token, &[]).await.unwrap_err();
    assert_eq!(
        unavailable.status(),
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    );
}

/// Registers the resource server `id` (type resource, with `keys`' public half when given) and
/// saves its client configuration under the application name `id`; returns the client runtime.
async fn resource_server(
    server: &TestServer,
    id: &str,
    keys: Option<&KeyRing>,
) -> ostiary_client::Client {
    use ostiary_server::config::{ClientDescription, ClientType};
    use ostiary_server::store::ClientStore as _;
    let secret = format!("{id}-secret-0123456789abcdefghijklmnopqrstuv");
    let description = ClientDescription {
        client_id: id.into(),
        client_type: ClientType::Resource,
        name: id.into(),
        jwks: keys.map(|k| k.public_set().to_value()),
        ..Default::default()
    };
    description.validate().unwrap();
    server
        .store
        .create_client(&description, Some(&secret))
        .await
        .unwrap();
    let client = ostiary_client::Client::new(Arc::new(server.store.clone()));
    client.discover(&server.issuer, None).await.unwrap();
    client
        .create_configuration(&ostiary_client::ClientConfiguration {
            app: id.into(),
            issuer: server.issuer.clone(),
            kind: ostiary_client::ClientKind::Resource,
            client_id: id.into(),
            client_secret: Some(secret),
            keys: keys.cloned(),
            ..Default::default()
        })
        .await
        .unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_jwt_access_tokens_are_opened_by_the_resource_server_they_are_for() {
    use ostiary_jose::{Algorithm, EncAlg, KeyAlg};
    use ostiary_resource::{ResourceServer, TokenCheck as _};
    use ostiary_server::store::ConfigStore as _;
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.access_token_format = AccessTokenFormat::Jwt;
        c.jwt.key_alg = Some(KeyAlg::RsaOaep256);
        c.jwt.enc_alg = Some(EncAlg::A256Gcm);
    })
    .await;
    let svc = server
        .client(
            "svc",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            None,
        )
        .await
        .unwrap();
    let ring = KeyRing::generate(
        &[Algorithm::Key(KeyAlg::RsaOaep256)],
        ostiary::settings::now(),
    )
    .unwrap();
    let client = resource_server(&server, "api", Some(&ring)).await;
    let api = ResourceServer::load(&client, "api").await.unwrap();
    let token_for_api = || async {
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", "profile"),
            ("aud", "api"),
        ];
        let (status, body, _) = server.post_form("/token", &form, Some(("svc", &svc))).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    };

    // Encrypted to the resource server's public key, which only it can open.
    let token = token_for_api().await;
    assert_eq!(token.split('.').count(), 5, "a JWE");
    let validated = api.check(&token, &["profile"]).await.unwrap();
    assert_eq!(validated.claims["client_id"], "svc");
    assert_eq!(validated.security.sigalg, Some(SigAlg::RS256));
    assert_eq!(validated.security.keyalg, Some(KeyAlg::RsaOaep256));
    assert_eq!(validated.security.encalg, Some(EncAlg::A256Gcm));
    let keyless = Validator::discover(&server.issuer, Some("api"))
        .await
        .unwrap();
    assert!(
        invalid(keyless.validate(&token, &[]).await),
        "no key to open it"
    );

    // With a symmetric algorithm, the key is the resource server's secret (OpenID Connect §10.2).
    let mut config = server.store.server_config().await.unwrap().unwrap();
    config.jwt.key_alg = Some(KeyAlg::A256Kw);
    config.jwt.enc_alg = Some(EncAlg::A128CbcHs256);
    server.store.save_server_config(&config).await.unwrap();
    tokio::time::sleep(ostiary_server::state::CACHE_TTL + std::time::Duration::from_millis(300))
        .await;
    let token = token_for_api().await;
    let validated = api.check(&token, &[]).await.unwrap();
    assert_eq!(validated.security.keyalg, Some(KeyAlg::A256Kw));
    assert_eq!(validated.security.encalg, Some(EncAlg::A128CbcHs256));
    let mut impostor = ValidatorConfig::new(&server.issuer, KeySource::Static(server.jwks().await));
    impostor.client_secret = Some("svc-secret-0123456789abcdefghijklmnopqrstuv".into());
    assert!(
        invalid(Validator::new(impostor).validate(&token, &[]).await),
        "another client's secret opens nothing"
    );

    // The operator's view of the same token, from the stored configuration.
    let out = cli_with_stdin(
        &[
            "resource",
            "validate",
            "--app",
            "api",
            "--data-dir",
            server.dir.0.to_str().unwrap(),
        ],
        &token,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["security"]["keyalg"], "A256KW");
    assert_eq!(printed["claims"]["aud"], json!(["api"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_resource_server_introspects_reads_form_bodies_and_asks_userinfo() {
    use axum::routing::post;
    use ostiary_resource::{BearerToken, Claims, Methods, ResourceServer, TokenCheck as _, guard};
    let server = TestServer::start(Backend::Sqlite).await;
    let (_, token) = server
        .user_token("alice", "wonderland", Some("openid profile"))
        .await;
    let client = resource_server(&server, "api", None).await;
    let api = Arc::new(ResourceServer::load(&client, "api").await.unwrap());

    // Opaque: introspected with the stored credentials.
    let validated = api.check(&token, &["profile"]).await.unwrap();
    assert_eq!(validated.claims["username"], "alice");
    assert!(invalid(api.check("made-up", &[]).await));
    // The userinfo variation: the user's claims for the same token.
    let user = api.userinfo(&token).await.unwrap();
    assert_eq!(user["name"], "Alice Liddell");
    assert!(invalid(api.userinfo("made-up").await.map(|claims| {
        ostiary_resource::Validated {
            claims,
            security: Default::default(),
        }
    })));

    // A route that also takes the token from a form body (RFC 6750 §2.2), which it still sees.
    let mut protected = Protected::new(api);
    protected.methods = Methods {
        header: true,
        body: true,
        query: false,
    };
    let profile: &'static [&'static str] = &["profile"];
    let router = axum::Router::new().route(
        "/notes",
        post(
            |Claims(token): Claims, BearerToken(raw): BearerToken, body: String| async move {
                // The raw token comes along too (its length shows it is the one sent).
                let who = token.claims["username"].as_str().unwrap_or("?");
                format!("{who}/{}/ {body}", raw.len())
            },
        )
        .layer(axum::middleware::from_fn_with_state(
            (protected, profile),
            guard,
        )),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, app).await;
    });
    let http = reqwest::Client::new();
    let by_form = http
        .post(format!("{base}/notes"))
        .form(&[("access_token", token.as_str()), ("note", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(by_form.status(), 200);
    let echoed = by_form.text().await.unwrap();
    assert!(
        echoed.starts_with(&format!("alice/{}/ access_token=", token.len())),
        "{echoed}"
    );
    assert!(echoed.ends_with("&note=hi"), "{echoed}");
    let twice = http
        .post(format!("{base}/notes"))
        .bearer_auth(&token)
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400, "two ways at once");
    let by_header = http
        .post(format!("{base}/notes"))
        .bearer_auth(&token)
        .body("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_header.text().await.unwrap(),
        format!("alice/{}/ plain", token.len())
    );
}
