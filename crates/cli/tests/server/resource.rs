//! The resource server library (`ostiary-resource`) against `ostiary serve`: JWT access tokens
//! validated locally with the published keys, and an axum route protected by scope.

use std::sync::Arc;

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{EncodeOptions, Jwk, JwkSet, SigAlg};
use ostiary_resource::{BearerError, KeySource, Protected, Validator, ValidatorConfig};
use ostiary_server::config::AccessTokenFormat;
use ostiary_server::store::KeyStore as _;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

/// A server issuing JWT access tokens, a client credentials token for `svc` with `scope`.
async fn jwt_server() -> (TestServer, String) {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.access_token_format = AccessTokenFormat::Jwt
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
    let sign = |claims: Value, keys: &JwkSet, alg: SigAlg| {
        let opts = EncodeOptions {
            sig_alg: Some(alg),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, keys, None).unwrap()
    };
    let ours = ring.private_set();
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
    let run = |args: &[&str]| {
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
            .write_all(token.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
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
