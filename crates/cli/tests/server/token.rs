//! The token endpoint: every grant, every client authentication method, both token formats.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{JwkSet, SigAlg};
use ostiary_server::config::AccessTokenFormat;
use ostiary_server::store::{TokenStore as _, UserStore as _};
use serde_json::Value;

use crate::both_backends;
use crate::harness::{Backend, TestServer, client_secret_key, signing_keys};

/// client_credentials with each authentication method; the token introspects active.
async fn client_credentials_with_every_auth_method(server: &TestServer) {
    let cc = [GrantType::ClientCredentials];
    let basic = server
        .client("basic", AuthMethod::ClientSecretBasic, &cc, None)
        .await
        .unwrap();
    let post = server
        .client("post", AuthMethod::ClientSecretPost, &cc, None)
        .await
        .unwrap();
    let hs = server
        .client("hs", AuthMethod::ClientSecretJwt, &cc, None)
        .await
        .unwrap();
    let keys = signing_keys(SigAlg::ES256);
    server
        .client("pk", AuthMethod::PrivateKeyJwt, &cc, Some(&keys.public()))
        .await;
    let rs = server
        .client("rs", AuthMethod::ClientSecretBasic, &[], None)
        .await
        .unwrap();

    let mut tokens = Vec::new();
    let (status, body, headers) = server
        .post_form(
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("basic", &basic)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client_credentials"
    );
    tokens.push(body["access_token"].as_str().unwrap().to_owned());

    let (status, body, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "post"),
                ("client_secret", &post),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    tokens.push(body["access_token"].as_str().unwrap().to_owned());

    for (id, keys, alg) in [
        ("hs", client_secret_key(&hs), SigAlg::HS256),
        ("pk", keys.clone(), SigAlg::ES256),
    ] {
        let assertion = server.assertion(id, &keys, alg, &format!("jti-{id}"), 60);
        let form = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        let (status, body, _) = server.post_form("/token", &form, None).await;
        assert_eq!(status, 200, "{id}: {body}");
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
        // The same assertion again is a replay.
        let (status, body, _) = server.post_form("/token", &form, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{id} replay"
        );
    }

    for token in &tokens {
        let (status, body, _) = server
            .post_form("/introspection", &[("token", token)], Some(("rs", &rs)))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["iss"].as_str(), Some(server.issuer.as_str()));
    }
}

both_backends!(client_credentials_every_auth_method, |server| {
    client_credentials_with_every_auth_method(&server).await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_access_tokens_are_signed_at_jwt_and_verify_with_the_published_keys() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_with(backend, |c| {
            c.access_token_format = AccessTokenFormat::Jwt;
            c.jwt.signing_alg = Some(SigAlg::ES256);
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
        let (status, body, _) = server
            .post_form(
                "/token",
                &[("grant_type", "client_credentials"), ("scope", "profile")],
                Some(("svc", &secret)),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap();
        let keys = server.jwks().await;
        let decoded =
            ostiary_jose::decode(token, &JwkSet::default(), &keys, &Default::default()).unwrap();
        assert_eq!(decoded.security.sigalg, Some(SigAlg::ES256));
        assert_eq!(decoded.header["typ"], "at+jwt");
        for claim in [
            "iss",
            "sub",
            "exp",
            "aud",
            "jti",
            "iat",
            "scope",
            "client_id",
        ] {
            assert!(decoded.claims.contains_key(claim), "{claim} missing");
        }
        assert_eq!(decoded.claims["scope"], "profile");
        assert_eq!(decoded.claims["client_id"], "svc");
        // JWT access tokens are recorded too, so they can be revoked and introspected.
        let (_, intro, _) = server
            .post_form(
                "/introspection",
                &[("token", token)],
                Some(("svc", &secret)),
            )
            .await;
        assert_eq!(intro["active"], true);
        server
            .post_form("/revocation", &[("token", token)], Some(("svc", &secret)))
            .await;
        let (_, intro, _) = server
            .post_form(
                "/introspection",
                &[("token", token)],
                Some(("svc", &secret)),
            )
            .await;
        assert_eq!(intro["active"], false);
    }
}

/// With `self_contained_client_tokens`, a client's JWT for itself is written nowhere, yet
/// introspects as a stored one would; revocation stores it revoked; a deleted client's tokens,
/// and user tokens without a row, are never read from the signature alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_contained_client_tokens_are_not_stored_yet_introspect_and_revoke() {
    use ostiary_server::issue::token_hash;
    use ostiary_server::store::ClientStore as _;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let server = TestServer::start_with(backend, |c| {
            c.access_token_format = AccessTokenFormat::Jwt;
            c.jwt.signing_alg = Some(SigAlg::EdDSA);
            c.self_contained_client_tokens = true;
        })
        .await;
        let mut secrets = Vec::new();
        for name in ["svc", "other"] {
            let secret = server
                .client(
                    name,
                    AuthMethod::ClientSecretBasic,
                    &[GrantType::ClientCredentials, GrantType::Password],
                    None,
                )
                .await
                .unwrap();
            secrets.push(secret);
        }
        let (svc, other) = (("svc", secrets[0].as_str()), ("other", secrets[1].as_str()));
        let token_of = async |client: (&str, &str)| {
            let form = [("grant_type", "client_credentials"), ("scope", "profile")];
            let (status, body, _) = server.post_form("/token", &form, Some(client)).await;
            assert_eq!(status, 200, "{body}");
            body["access_token"].as_str().unwrap().to_owned()
        };
        let introspect = async |token: &str| {
            let form = [("token", token)];
            server.post_form("/introspection", &form, Some(svc)).await.1
        };
        let revoke = async |token: &str, client: (&str, &str)| {
            let form = [("token", token)];
            let (status, body, _) = server.post_form("/revocation", &form, Some(client)).await;
            assert_eq!(status, 200, "{body}");
        };

        let token = token_of(svc).await;
        assert_eq!(server.store.token(&token_hash(&token)).await.unwrap(), None);
        let claims = ostiary_jose::decode(
            &token,
            &JwkSet::default(),
            &server.jwks().await,
            &Default::default(),
        )
        .unwrap()
        .claims;
        let body = introspect(&token).await;
        assert_eq!(body["active"], true, "{body}");
        for member in [
            "sub",
            "client_id",
            "scope",
            "aud",
            "jti",
            "exp",
            "iat",
            "iss",
        ] {
            assert_eq!(body[member], claims[member], "{member}");
        }
        assert_eq!(body["token_type"], "Bearer");

        // Another client's revocation changes nothing; the owner's stores the token revoked.
        revoke(&token, other).await;
        assert_eq!(introspect(&token).await["active"], true);
        revoke(&token, svc).await;
        let row = server.store.token(&token_hash(&token)).await.unwrap();
        assert!(row.is_some_and(|row| row.revoked), "a revoked row");
        assert_eq!(introspect(&token).await["active"], false);
        revoke(&token, svc).await;
        // Each token is revoked alone.
        let second = token_of(svc).await;
        assert_eq!(introspect(&second).await["active"], true);

        // A user's tokens are still rows; a user token that has none (forged here with the
        // server's own key, as a restore would leave one issued after its backup) is not read
        // from the signature.
        server.user("alice", "alice-password").await;
        let form = [
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password"),
        ];
        let (status, body, _) = server.post_form("/token", &form, Some(svc)).await;
        assert_eq!(status, 200, "{body}");
        let users = body["access_token"].as_str().unwrap();
        assert!(
            server
                .store
                .token(&token_hash(users))
                .await
                .unwrap()
                .is_some()
        );
        let mut forged = claims.clone();
        forged.insert("username".into(), "alice".into());
        let forged = server.signed_by_server(forged.into(), "at+jwt").await;
        assert_eq!(introspect(&forged).await["active"], false);
        // Nor is a token of another issuer, or one that is not an access token.
        let mut elsewhere = claims.clone();
        elsewhere.insert("iss".into(), "https://elsewhere.example".into());
        let elsewhere = server.signed_by_server(elsewhere.into(), "at+jwt").await;
        assert_eq!(introspect(&elsewhere).await["active"], false);
        let id_token = server.signed_by_server(claims.clone().into(), "JWT").await;
        assert_eq!(introspect(&id_token).await["active"], false);
        let resigned = server.signed_by_server(claims.into(), "at+jwt").await;
        assert_eq!(introspect(&resigned).await["active"], true, "the control");

        // A deleted client's tokens end with it.
        let others = token_of(other).await;
        assert_eq!(introspect(&others).await["active"], true);
        assert!(server.store.delete_client("other").await.unwrap());
        assert_eq!(introspect(&others).await["active"], false);
    }
}

/// A client assertion's `jti` is kept past its `exp` for as long as the leeway still takes the
/// assertion (RFC 7523 §3: "the jti … MUST NOT be reused"): a replay just after `exp` is refused,
/// while an unused assertion of the same age is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_assertion_cannot_be_replayed_in_the_leeway_after_its_exp() {
    let server = TestServer::start(Backend::Sqlite).await;
    let keys = signing_keys(SigAlg::ES256);
    let cc = [GrantType::ClientCredentials];
    server
        .client("pk", AuthMethod::PrivateKeyJwt, &cc, Some(&keys.public()))
        .await;
    let used = server.assertion("pk", &keys, SigAlg::ES256, "used", 1);
    let unused = server.assertion("pk", &keys, SigAlg::ES256, "unused", 1);
    let present = async |assertion: &str| {
        let form = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ];
        server.post_form("/token", &form, None).await.0
    };
    assert_eq!(present(&used).await, 200);
    // Both expired two seconds ago, within the 30 s leeway.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(present(&unused).await, 200, "within the leeway");
    assert_eq!(present(&used).await, 401, "its jti outlives its exp");
}

/// password grant, then refresh with rotation; reuse revokes the family.
async fn password_and_refresh_rotation(server: &TestServer) {
    let secret = app_for_alice(server).await;
    let basic = Some(("app", secret.as_str()));
    let (status, body, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "nope"),
            ],
            basic,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, first, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "wonderland"),
                ("scope", "openid email"),
            ],
            basic,
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let refresh1 = first["refresh_token"].as_str().unwrap();

    let (status, second, _) = server
        .post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh1)],
            basic,
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["scope"], "openid email");
    assert!(
        second["id_token"].is_string(),
        "refresh of an openid grant gives an ID token"
    );
    let refresh2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(refresh1, refresh2, "refresh tokens rotate");

    // Narrowing is allowed; widening is not.
    let (status, body, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh2),
                ("scope", "openid profile"),
            ],
            basic,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // Another client cannot use it (RFC 6749 §6: bound to the client it was issued to), nor
    // burn it: the token still refreshes for its own client below.
    let other_secret = server
        .client(
            "other",
            AuthMethod::ClientSecretBasic,
            &[GrantType::Password, GrantType::RefreshToken],
            None,
        )
        .await
        .unwrap();
    let (status, body, _) = server
        .post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh2)],
            Some(("other", other_secret.as_str())),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // A refused request does not spend the token: it still refreshes.
    let (status, third, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh2),
                ("scope", "openid"),
            ],
            basic,
        )
        .await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["scope"], "openid");
    let second = third;
    let refresh2 = second["refresh_token"].as_str().unwrap();

    // Reusing the first refresh token revokes the whole family, the newest tokens included.
    let (status, body, _) = server
        .post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh1)],
            basic,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body, _) = server
        .post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh2)],
            basic,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "family revoked"
    );
    let (_, intro, _) = server
        .post_form(
            "/introspection",
            &[("token", second["access_token"].as_str().unwrap())],
            basic,
        )
        .await;
    assert_eq!(intro["active"], false);
}

both_backends!(
    password_then_refresh_rotation_with_reuse_detection,
    |server| {
        password_and_refresh_rotation(&server).await;
    }
);

/// The tokens the password grant gives client `basic` for alice (password "wonderland").
async fn alices_tokens(server: &TestServer, basic: Option<(&str, &str)>) -> Value {
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "wonderland"),
    ];
    let (status, tokens, _) = server.post_form("/token", &form, basic).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// `intervals.refresh_token` is the inactivity limit (each rotation starts it again);
/// `intervals.refresh_token_family` caps the family's whole life, however often it is rotated.
/// The user alice (password `wonderland`) and the confidential client `app` with the password
/// and refresh grants; the client's secret.
async fn app_for_alice(server: &TestServer) -> String {
    let grants = [GrantType::Password, GrantType::RefreshToken];
    let secret = server.client("app", AuthMethod::ClientSecretBasic, &grants, None);
    let secret = secret.await.unwrap();
    server.user("alice", "wonderland").await;
    secret
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_family_ends_when_its_lifetime_is_up() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.intervals.refresh_token_family = 100;
    })
    .await;
    let secret = app_for_alice(&server).await;
    let basic = Some(("app", secret.as_str()));
    let expiry = async |token: &str| {
        let (_, intro, _) = server
            .post_form("/introspection", &[("token", token)], basic)
            .await;
        assert_eq!(intro["active"], true, "{intro}");
        (
            intro["iat"].as_i64().unwrap(),
            intro["exp"].as_i64().unwrap(),
        )
    };
    let first = alices_tokens(&server, basic).await;
    let mut token = first["refresh_token"].as_str().unwrap().to_owned();
    let (began, end) = expiry(&token).await;
    assert_eq!(
        end,
        began + 100,
        "the family's limit, shorter than the token's 86,400 s"
    );
    for _ in 0..3 {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", token.as_str()),
        ];
        let (status, next, _) = server.post_form("/token", &form, basic).await;
        assert_eq!(status, 200, "{next}");
        token = next["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(
            expiry(&token).await.1,
            end,
            "rotation does not extend the family"
        );
    }
}

/// A refresh token revoked while it is being refreshed (row 108): whichever commits first,
/// nothing of the race stays active — not the token, and not what the refresh issued. On
/// PostgreSQL the revocation runs in a snapshot of its own: one that meets the refresh's spend
/// fails and runs again, and then sees the new tokens.
async fn revocation_racing_a_refresh(server: &TestServer) {
    let secret = app_for_alice(server).await;
    let basic = Some(("app", secret.as_str()));
    let active = async |token: &str| {
        let (_, intro, _) = server
            .post_form("/introspection", &[("token", token)], basic)
            .await;
        intro["active"] == true
    };
    let (mut refreshed, mut refused) = (0, 0);
    for _ in 0..25 {
        let first = alices_tokens(server, basic).await;
        let refresh = first["refresh_token"].as_str().unwrap();
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
        let revocation = [("token", refresh)];
        let ((status, next, _), (revoked, _, _)) = tokio::join!(
            server.post_form("/token", &form, basic),
            server.post_form("/revocation", &revocation, basic),
        );
        assert_eq!(revoked, 200);
        assert!(!active(refresh).await);
        match status {
            200 => {
                refreshed += 1;
                for kind in ["access_token", "refresh_token"] {
                    let token = next[kind].as_str().unwrap();
                    assert!(!active(token).await, "the refresh's {kind} is active");
                }
            }
            _ => {
                assert_eq!(next["error"], "invalid_grant", "{next}");
                refused += 1;
            }
        }
    }
    eprintln!("{refreshed} refreshes won the race, {refused} lost it");
}

both_backends!(
    a_revocation_racing_a_refresh_leaves_nothing_of_the_race_active,
    |server| {
        revocation_racing_a_refresh(&server).await;
    }
);

/// RFC 7523 §2.1: a JWT bearer grant for a user, signed with the client's key.
async fn jwt_bearer(server: &TestServer) {
    let keys = signing_keys(SigAlg::PS256);
    server
        .client(
            "bearer",
            AuthMethod::PrivateKeyJwt,
            &[GrantType::JwtBearer],
            Some(&keys.public()),
        )
        .await;
    server.user("bob", "builder").await;
    let now = ostiary::settings::now();
    let claims = serde_json::json!({"iss": "bearer", "sub": "bob", "aud": server.issuer, "exp": now + 60, "jti": "grant-1"});
    let opts = ostiary_jose::EncodeOptions {
        sig_alg: Some(SigAlg::PS256),
        ..Default::default()
    };
    let grant_assertion =
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, &keys, None).unwrap();
    let client_assertion = server.assertion("bearer", &keys, SigAlg::PS256, "auth-1", 60);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", grant_assertion.as_str()),
        ("scope", "openid"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", client_assertion.as_str()),
    ];
    let (status, body, _) = server.post_form("/token", &form, None).await;
    assert_eq!(status, 200, "{body}");
    let userinfo: Value = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], "bob");
    // The same grant assertion again (with a fresh client assertion) is a replay.
    let client_assertion = server.assertion("bearer", &keys, SigAlg::PS256, "auth-2", 60);
    let mut replay = form;
    replay[4].1 = client_assertion.as_str();
    let (status, body, _) = server.post_form("/token", &replay, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

both_backends!(jwt_bearer_grant, |server| {
    jwt_bearer(&server).await;
});

/// What a sign-in through /authorize stores with its code: the properties, with the user's claims
/// and the scope's claim requirements.
fn signed_in_properties(username: &str, scope: &str) -> serde_json::Map<String, Value> {
    let mut properties = ostiary_server::properties::Properties::default();
    let scope = scope
        .split(' ')
        .map(|s| (s.to_owned(), s.to_owned()))
        .collect();
    properties.require_claims(&scope, None);
    properties.set_claim("sub", username);
    properties.set_claim("name", "Alice Liddell");
    let mut extra = serde_json::Map::new();
    extra.insert("properties".into(), serde_json::json!(properties));
    extra
}

/// The code exchange with PKCE, for a code made through the store.
async fn authorization_code(server: &TestServer) {
    use ostiary_server::issue::token_hash;
    let secret = server
        .client(
            "web",
            AuthMethod::ClientSecretPost,
            &[GrantType::AuthorizationCode, GrantType::RefreshToken],
            None,
        )
        .await
        .unwrap();
    server.user("carol", "secret-pass").await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; // RFC 7636 Appendix B
    let now = ostiary::settings::now();
    let code = ostiary_server::store::CodeRecord {
        hash: token_hash("the-code"),
        client_id: "web".into(),
        redirect_uri: "https://app.example/cb".into(),
        username: "carol".into(),
        scope: "openid profile".into(),
        nonce: Some("n-0S6".into()),
        code_challenge: Some(challenge.into()),
        code_challenge_method: Some("S256".into()),
        auth_time: now - 5,
        grant_id: "grant-web-1".into(),
        expires_at: now + 60,
        extra: signed_in_properties("carol", "openid profile"),
    };
    server.store.insert_code(&code).await.unwrap();
    let base = [
        ("grant_type", "authorization_code"),
        ("code", "the-code"),
        ("redirect_uri", "https://app.example/cb"),
        ("client_id", "web"),
        ("client_secret", secret.as_str()),
    ];
    let mut wrong = base.to_vec();
    wrong.push((
        "code_verifier",
        "wrong-verifier-wrong-verifier-wrong-verifier-00",
    ));
    let (status, body, _) = server.post_form("/token", &wrong, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // The failed attempt used the code up: make a second one for the real exchange.
    let code2 = ostiary_server::store::CodeRecord {
        hash: token_hash("code-2"),
        grant_id: "grant-web-2".into(),
        ..code
    };
    server.store.insert_code(&code2).await.unwrap();
    let mut good = base.to_vec();
    good[1].1 = "code-2";
    good.push(("code_verifier", verifier));
    let (status, tokens, _) = server.post_form("/token", &good, None).await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let keys = server.jwks().await;
    let decoded =
        ostiary_jose::decode(id_token, &JwkSet::default(), &keys, &Default::default()).unwrap();
    assert_eq!(decoded.claims["nonce"], "n-0S6");
    assert_eq!(decoded.claims["aud"], "web");
    assert_eq!(decoded.claims["sub"], "carol");
    assert_eq!(
        decoded.claims["name"], "Alice Liddell",
        "profile claims by scope"
    );
    assert_eq!(
        decoded.claims["at_hash"].as_str().unwrap(),
        ostiary_server::issue::left_half_hash(
            SigAlg::RS256,
            tokens["access_token"].as_str().unwrap()
        )
    );
    // Replaying the code fails and revokes what the first exchange issued.
    let (status, body, _) = server.post_form("/token", &good, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (_, intro, _) = server
        .post_form(
            "/introspection",
            &[
                ("token", tokens["access_token"].as_str().unwrap()),
                ("client_id", "web"),
                ("client_secret", &secret),
            ],
            None,
        )
        .await;
    assert_eq!(
        intro["active"], false,
        "tokens from a replayed code are revoked"
    );
    // The refresh token of the first exchange as well: it refreshes no more.
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", "web"),
        ("client_secret", &secret),
    ];
    let (status, body, _) = server.post_form("/token", &refresh, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

/// A code is refused, and spent, when the exchange names another redirect URI, after the code's
/// lifetime, or after its user was disabled.
async fn refused_codes(server: &TestServer) {
    use ostiary_server::issue::token_hash;
    let secret = server
        .client(
            "web",
            AuthMethod::ClientSecretPost,
            &[GrantType::AuthorizationCode],
            None,
        )
        .await
        .unwrap();
    server.user("carol", "secret-pass").await;
    let now = ostiary::settings::now();
    let code = |name: &str, expires_at: i64| ostiary_server::store::CodeRecord {
        hash: token_hash(name),
        client_id: "web".into(),
        redirect_uri: "https://app.example/cb".into(),
        username: "carol".into(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        auth_time: now - 5,
        grant_id: format!("grant-{name}"),
        expires_at,
        extra: signed_in_properties("carol", "openid"),
    };
    let exchange = async |name: &str, redirect_uri: &str| {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", name),
            ("redirect_uri", redirect_uri),
            ("client_id", "web"),
            ("client_secret", secret.as_str()),
        ];
        let (status, body, _) = server.post_form("/token", &form, None).await;
        (
            status,
            body["error"].as_str().map(str::to_owned),
            body["error_description"].clone(),
        )
    };
    let invalid = |(status, error, _): &(u16, Option<String>, Value)| {
        (*status, error.as_deref()) == (400, Some("invalid_grant"))
    };
    for name in [
        "other-uri-0",
        "other-uri-1",
        "other-uri-2",
        "expired",
        "disabled",
        "fine",
    ] {
        let expires_at = if name == "expired" { now - 1 } else { now + 60 };
        server
            .store
            .insert_code(&code(name, expires_at))
            .await
            .unwrap();
    }
    // RFC 6749 §4.1.3: the redirect_uri of the authorization request, exactly.
    let others = ["https://app.example/cb/", "https://app.example/other", ""];
    for (n, other) in others.into_iter().enumerate() {
        let answer = exchange(&format!("other-uri-{n}"), other).await;
        assert!(invalid(&answer), "{other:?}: {answer:?}");
    }
    let answer = exchange("expired", "https://app.example/cb").await;
    assert!(invalid(&answer), "{answer:?}");
    assert!(answer.2.as_str().unwrap().contains("expired"), "{answer:?}");

    let mut carol = server.store.user("carol").await.unwrap().unwrap();
    carol.enabled = false;
    server.store.update_user(&carol).await.unwrap();
    let answer = exchange("disabled", "https://app.example/cb").await;
    assert!(invalid(&answer), "{answer:?}");
    assert!(
        answer.2.as_str().unwrap().contains("disabled"),
        "{answer:?}"
    );
    carol.enabled = true;
    server.store.update_user(&carol).await.unwrap();
    let (status, error, _) = exchange("fine", "https://app.example/cb").await;
    assert_eq!(
        (status, error),
        (200, None),
        "an enabled user's fresh code works"
    );
    // A refused attempt spends nothing (as in node-oidc-provider and fosite): whoever holds a
    // stolen code cannot burn it for its owner by failing a check. An expired code stays refused.
    for name in ["other-uri-0", "disabled"] {
        let (status, error, _) = exchange(name, "https://app.example/cb").await;
        assert_eq!((status, error), (200, None), "{name}");
        let answer = exchange(name, "https://app.example/cb").await;
        assert!(invalid(&answer), "{name} is spent now: {answer:?}");
    }
    let answer = exchange("expired", "https://app.example/cb").await;
    assert!(invalid(&answer), "{answer:?}");
}

both_backends!(
    refused_codes_another_redirect_uri_expiry_and_a_disabled_user,
    |server| {
        refused_codes(&server).await;
    }
);

both_backends!(
    authorization_code_exchange_with_pkce_and_replay_revocation,
    |server| {
        authorization_code(&server).await;
    }
);
