//! Discovery, JWKS, introspection, revocation and userinfo.

use ostiary_core::{AuthMethod, GrantType};
use serde_json::Value;

use crate::both_backends;
use crate::harness::TestServer;

async fn discovery(server: &TestServer) {
    for url in [
        server.url("/.well-known/openid-configuration"),
        server.url("/.well-known/oauth-authorization-server"),
        format!(
            "{}/.well-known/oauth-authorization-server/oauth2",
            server.base
        ),
    ] {
        let response = server.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{url}"
        );
        let meta: Value = response.json().await.unwrap();
        assert_eq!(
            meta["issuer"].as_str(),
            Some(server.issuer.as_str()),
            "{url}"
        );
        for endpoint in [
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            let value = meta[endpoint].as_str().unwrap();
            assert!(value.starts_with(&server.issuer), "{endpoint} = {value}");
        }
        assert!(
            meta["id_token_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "RS256")
        );
        assert!(
            meta["scopes_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "openid")
        );
        assert_eq!(
            meta["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
        // The issuer and endpoints come from the configuration, whatever Host says.
        let spoofed: Value = server
            .http
            .get(&url)
            .header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "host=evil.example;proto=https")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(spoofed, meta, "{url}");
        // Front-channel logout with `iss` and `sid`, and back-channel logout tokens with `sid`.
        assert_eq!(meta["frontchannel_logout_supported"], true);
        assert_eq!(meta["frontchannel_logout_session_supported"], true);
        assert_eq!(meta["backchannel_logout_supported"], true);
        assert_eq!(meta["backchannel_logout_session_supported"], true);
    }
    let jwks = server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let set = ostiary_jose::JwkSet::from_json(&jwks).unwrap();
    assert!(!set.is_empty());
    assert!(
        set.keys.iter().all(|k| !k.is_private()),
        "the JWKS is public keys only"
    );
    for member in ["\"d\"", "\"p\"", "\"k\""] {
        assert!(!jwks.contains(member));
    }
}

both_backends!(discovery_and_jwks, |server| {
    discovery(&server).await;
});

async fn introspection_and_revocation(server: &TestServer) {
    let secret = server
        .client(
            "app",
            AuthMethod::ClientSecretBasic,
            &[GrantType::Password, GrantType::RefreshToken],
            None,
        )
        .await
        .unwrap();
    let public_id = "spa";
    server
        .client(public_id, AuthMethod::None, &[GrantType::Password], None)
        .await;
    server.user("dave", "pw-dave-123").await;
    let basic = Some(("app", secret.as_str()));
    let (_, tokens, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "dave"),
                ("password", "pw-dave-123"),
                ("scope", "openid"),
            ],
            basic,
        )
        .await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, intro, headers) = server
        .post_form("/introspection", &[("token", access)], basic)
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(intro["active"], true);
    assert_eq!(intro["username"], "dave");
    assert_eq!(intro["client_id"], "app");
    assert_eq!(intro["token_type"], "Bearer");
    for member in ["scope", "exp", "iat", "nbf", "sub", "aud", "iss", "jti"] {
        assert!(intro.get(member).is_some(), "{member}");
    }
    let (_, unknown, _) = server
        .post_form("/introspection", &[("token", "no-such-token")], basic)
        .await;
    assert_eq!(unknown, serde_json::json!({"active": false}));
    // Public clients cannot introspect.
    let (status, _, _) = server
        .post_form(
            "/introspection",
            &[("token", access), ("client_id", public_id)],
            None,
        )
        .await;
    assert_eq!(status, 400);

    // Revoking an unknown token is fine; revoking the refresh token kills its access token too.
    let (status, _, _) = server
        .post_form("/revocation", &[("token", "unknown")], basic)
        .await;
    assert_eq!(status, 200);
    let (status, body, _) = server
        .post_form(
            "/revocation",
            &[("token", refresh), ("token_type_hint", "bogus")],
            basic,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_token_type"))
    );
    let (status, _, _) = server
        .post_form(
            "/revocation",
            &[("token", refresh), ("token_type_hint", "refresh_token")],
            basic,
        )
        .await;
    assert_eq!(status, 200);
    let (_, intro, _) = server
        .post_form("/introspection", &[("token", access)], basic)
        .await;
    assert_eq!(intro["active"], false);
    let (status, body, _) = server
        .post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            basic,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

both_backends!(introspection_and_revocation_work_together, |server| {
    introspection_and_revocation(&server).await;
});

async fn userinfo(server: &TestServer) {
    let secret = server
        .client(
            "app",
            AuthMethod::ClientSecretBasic,
            &[GrantType::Password, GrantType::ClientCredentials],
            None,
        )
        .await
        .unwrap();
    server.user("erin", "pw-erin-123").await;
    let basic = Some(("app", secret.as_str()));
    let (_, tokens, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "erin"),
                ("password", "pw-erin-123"),
                ("scope", "openid email"),
            ],
            basic,
        )
        .await;
    let token = tokens["access_token"].as_str().unwrap();
    let by_header: Value = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_header["sub"], "erin");
    assert_eq!(by_header["email"], "alice@example.com");
    assert!(by_header.get("name").is_none(), "no profile scope, no name");
    let by_body: Value = server
        .http
        .post(server.url("/userinfo"))
        .form(&[("access_token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_body, by_header);
    let by_query: Value = server
        .http
        .get(format!("{}?access_token={token}", server.url("/userinfo")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_query, by_header);

    let missing = server
        .http
        .get(server.url("/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"ostiary\""
    );
    let bad = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth("forged")
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
    let twice = server
        .http
        .get(format!("{}?access_token={token}", server.url("/userinfo")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
    assert!(
        twice.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_request")
    );
    let (_, cc, _) = server
        .post_form("/token", &[("grant_type", "client_credentials")], basic)
        .await;
    let machine = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(cc["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(machine.status(), 403, "no openid scope");
    assert!(
        machine.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

both_backends!(userinfo_by_header_body_and_query, |server| {
    userinfo(&server).await;
});

/// The `address` and `phone` scopes release their claims at userinfo (OpenID Connect Core §5.4),
/// and only theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_and_phone_scopes_release_their_claims() {
    use ostiary_server::config::User;
    use ostiary_server::store::UserStore as _;
    let server = TestServer::start(crate::harness::Backend::Sqlite).await;
    let secret = server
        .client(
            "app",
            AuthMethod::ClientSecretBasic,
            &[GrantType::Password],
            None,
        )
        .await
        .unwrap();
    let claims = serde_json::json!({
        "name": "Jo March",
        "email": "jo@example.com",
        "address": {"street_address": "1 Orchard House", "locality": "Concord", "country": "US"},
        "phone_number": "+1 555 0100",
        "phone_number_verified": true,
    });
    let user = User {
        username: "jo".into(),
        claims: claims.as_object().unwrap().clone(),
        enabled: true,
    };
    let hash = ostiary_server::password::hash("jo-password").unwrap();
    server.store.create_user(&user, &hash).await.unwrap();
    let userinfo = async |scope: &str| {
        let form = [
            ("grant_type", "password"),
            ("username", "jo"),
            ("password", "jo-password"),
            ("scope", scope),
        ];
        let (status, tokens, _) = server
            .post_form("/token", &form, Some(("app", &secret)))
            .await;
        assert_eq!(status, 200, "{tokens}");
        let token = tokens["access_token"].as_str().unwrap();
        let response = server.http.get(server.url("/userinfo")).bearer_auth(token);
        response
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let address = userinfo("openid address").await;
    assert_eq!(address["address"], claims["address"]);
    for absent in ["phone_number", "phone_number_verified", "name", "email"] {
        assert!(address.get(absent).is_none(), "{absent} in {address}");
    }
    let phone = userinfo("openid phone").await;
    assert_eq!(phone["phone_number"], "+1 555 0100");
    assert_eq!(phone["phone_number_verified"], true);
    assert!(phone.get("address").is_none(), "{phone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_is_a_signed_jwt_when_the_client_asks() {
    use ostiary_server::config::ClientDescription;
    use ostiary_server::store::ClientStore as _;
    let server = TestServer::start(crate::harness::Backend::Sqlite).await;
    let client = ClientDescription {
        client_id: "signed".into(),
        grant_types: vec![GrantType::Password],
        userinfo_signed_response_alg: Some(ostiary_jose::SigAlg::ES256),
        ..Default::default()
    };
    let secret = "signed-userinfo-secret-0123456789abcdef0123";
    server
        .store
        .create_client(&client, Some(secret))
        .await
        .unwrap();
    server.user("ivy", "ivy-password").await;
    let (_, tokens, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "ivy"),
                ("password", "ivy-password"),
                ("scope", "openid email"),
            ],
            Some(("signed", secret)),
        )
        .await;
    let response = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/jwt");
    let jwt = response.text().await.unwrap();
    let keys = server.jwks().await;
    let decoded = ostiary_jose::decode(
        &jwt,
        &ostiary_jose::JwkSet::default(),
        &keys,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(decoded.security.sigalg, Some(ostiary_jose::SigAlg::ES256));
    assert_eq!(
        (
            decoded.claims["sub"].as_str(),
            decoded.claims["aud"].as_str()
        ),
        (Some("ivy"), Some("signed"))
    );
    assert_eq!(decoded.claims["email"], "alice@example.com");
}

/// `ostiary serve` over HTTPS with a certificate and key from files: the issuer is https, and a
/// client that trusts the certificate gets discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_https_with_a_certificate_from_files() {
    let dir = crate::harness::TempDir(
        std::env::temp_dir().join(format!("ostiary-tls-{}", std::process::id())),
    );
    let files = ostiary::tls::self_signed(&dir.0.join("tls")).unwrap();
    let settings = ostiary::settings::Settings {
        data_dir: dir.0.clone(),
        database: format!("sqlite://{}", dir.0.join("ostiary.db").display()),
        listen: None,
        issuer: None,
        admin_listen: None,
        tls: Some(files.clone()),
        clock: Default::default(),
    };
    let running = ostiary::serve::start(&settings, "127.0.0.1:0", None)
        .await
        .unwrap();
    assert!(
        running.issuer.starts_with("https://127.0.0.1:"),
        "{}",
        running.issuer
    );
    let pem = std::fs::read(&files.certificate).unwrap();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let metadata: serde_json::Value = trusting
        .get(format!(
            "{}/.well-known/openid-configuration",
            running.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], running.issuer);
    // A client that does not trust it gets no answer; plain HTTP on the port gets none either.
    assert!(
        reqwest::get(format!("{}/jwks", running.issuer))
            .await
            .is_err()
    );
    assert!(
        reqwest::get(format!("http://{}/oauth2/jwks", running.addr))
            .await
            .is_err()
    );
    let _ = running.stop.send(());
}
