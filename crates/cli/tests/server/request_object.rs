//! Request objects (OpenID Connect Core §6, RFC 9101) by value and by reference, signed,
//! encrypted, and refused; and server key rotation seen through them.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{EncAlg, JwkSet, KeyAlg, SigAlg};
use ostiary_server::store::KeyStore as _;
use serde_json::{Value, json};

use crate::authorize::{REDIRECT, browser, param, redirect_params};
use crate::harness::{Backend, TestServer, client_secret_key, serve_fixed, signing_keys};

/// A registered client "ro" with an RS256 key; returns the key and the secret.
async fn client(server: &TestServer) -> (JwkSet, String) {
    let keys = signing_keys(SigAlg::RS256);
    let secret = server
        .client(
            "ro",
            AuthMethod::ClientSecretBasic,
            &[GrantType::AuthorizationCode],
            Some(&keys.public()),
        )
        .await
        .unwrap();
    (keys, secret)
}

/// The request object's claims: prompt=none, so that an accepted object ends at once with
/// `login_required` and the object's own `state`.
fn claims(server: &TestServer) -> Value {
    let now = ostiary::settings::now();
    json!({
        "iss": "ro", "aud": server.issuer, "client_id": "ro", "exp": now + 300, "iat": now,
        "response_type": "code", "redirect_uri": REDIRECT, "scope": "openid",
        "state": "inner", "nonce": "n", "prompt": "none",
    })
}

fn sign(claims: &Value, keys: &JwkSet, alg: SigAlg) -> String {
    let opts = ostiary_jose::EncodeOptions {
        sig_alg: Some(alg),
        ..Default::default()
    };
    ostiary_jose::encode(claims.as_object().unwrap(), &opts, keys, None).unwrap()
}

fn encrypt_to(claims: &Value, keys: &JwkSet, server_keys: &JwkSet) -> String {
    let opts = ostiary_jose::EncodeOptions {
        sig_alg: Some(SigAlg::RS256),
        key_alg: Some(KeyAlg::RsaOaep256),
        enc: Some(EncAlg::A256Gcm),
        ..Default::default()
    };
    ostiary_jose::encode(claims.as_object().unwrap(), &opts, keys, Some(server_keys)).unwrap()
}

/// Sends the query (client_id, state=outer, response_type, redirect_uri, scope) plus `extra`.
async fn authorize(server: &TestServer, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut query = vec![
        ("client_id", "ro"),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "outer"),
    ];
    query.extend_from_slice(extra);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    browser()
        .get(format!("{}?{query}", server.url("/authorize")))
        .send()
        .await
        .unwrap()
}

/// Publishes a request object on loopback; returns its URL.
async fn host(body: String) -> String {
    let base = serve_fixed(body, "application/oauth-authz-req+jwt").await;
    format!("{base}/request.jwt")
}

/// The object was used: its prompt=none and its state came back.
fn accepted(response: &reqwest::Response) {
    let params = redirect_params(response);
    assert_eq!(
        param(&params, "error"),
        Some("login_required"),
        "{params:?}"
    );
    assert_eq!(
        param(&params, "state"),
        Some("inner"),
        "the object's parameters win"
    );
}

fn refused(response: &reqwest::Response, error: &str) {
    let params = redirect_params(response);
    assert_eq!(param(&params, "error"), Some(error), "{params:?}");
    assert_eq!(param(&params, "state"), Some("outer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_encrypted_and_referenced_request_objects_are_used() {
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.fetch_private_addresses = true).await;
    let (keys, secret) = client(&server).await;
    let claims = claims(&server);
    accepted(
        &authorize(
            &server,
            &[("request", &sign(&claims, &keys, SigAlg::RS256))],
        )
        .await,
    );
    let with_secret = sign(&claims, &client_secret_key(&secret), SigAlg::HS256);
    accepted(&authorize(&server, &[("request", &with_secret)]).await);
    let encrypted = encrypt_to(&claims, &keys, &server.jwks().await);
    accepted(&authorize(&server, &[("request", &encrypted)]).await);
    let uri = host(sign(&claims, &keys, SigAlg::RS256)).await;
    accepted(&authorize(&server, &[("request_uri", &uri)]).await);
    let discovery = server.discovery().await;
    assert_eq!(discovery["request_parameter_supported"], true);
    assert_eq!(discovery["request_uri_parameter_supported"], true);
    assert!(
        discovery["request_object_encryption_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "RSA-OAEP-256")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_objects_are_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (keys, _) = client(&server).await;
    let good = claims(&server);
    let changed = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        sign(&c, &keys, SigAlg::RS256)
    };
    let mut tampered = sign(&good, &keys, SigAlg::RS256);
    tampered.insert(tampered.len() - 4, 'A');
    let other_key = sign(&good, &signing_keys(SigAlg::RS256), SigAlg::RS256);
    let unsigned = {
        let opts = ostiary_jose::EncodeOptions {
            allow_unsigned: true,
            ..Default::default()
        };
        ostiary_jose::encode(good.as_object().unwrap(), &opts, &JwkSet::default(), None).unwrap()
    };
    let now = ostiary::settings::now();
    let cases = [
        ("tampered", tampered),
        ("signed by another key", other_key),
        ("unsigned", unsigned),
        (
            "other client_id",
            changed(&|c| c["client_id"] = json!("someone")),
        ),
        ("other iss", changed(&|c| c["iss"] = json!("someone"))),
        (
            "other aud",
            changed(&|c| c["aud"] = json!("https://elsewhere.example")),
        ),
        ("expired", changed(&|c| c["exp"] = json!(now - 3600))),
        ("not a JWT", "garbage".to_owned()),
    ];
    for (case, jwt) in cases {
        let response = authorize(&server, &[("request", &jwt)]).await;
        assert_eq!(response.status(), 303, "{case}");
        refused(&response, "invalid_request_object");
    }
    // request_uri: private addresses are not fetched by default (SSRF), and both forms at once
    // are refused.
    let uri = host(sign(&good, &keys, SigAlg::RS256)).await;
    refused(
        &authorize(&server, &[("request_uri", &uri)]).await,
        "invalid_request_uri",
    );
    let jwt = sign(&good, &keys, SigAlg::RS256);
    refused(
        &authorize(&server, &[("request_uri", &uri), ("request", &jwt)]).await,
        "invalid_request",
    );
    // Without a known client, the refusal is a page.
    let response = browser()
        .get(format!(
            "{}?client_id=nobody&request={jwt}",
            server.url("/authorize")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_key_rotation_old_tokens_verify_and_old_encryption_keys_decrypt() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.access_token_format = ostiary_server::config::AccessTokenFormat::Jwt;
    })
    .await;
    let (keys, _) = client(&server).await;
    let service = server
        .client(
            "svc",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            None,
        )
        .await
        .unwrap();
    let token = || async {
        let form = [("grant_type", "client_credentials")];
        let (status, body, _) = server
            .post_form("/token", &form, Some(("svc", &service)))
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    };
    let before = server.jwks().await;
    let old_token = token().await;
    let old_encryption_object = encrypt_to(&claims(&server), &keys, &before);

    let mut ring = server.store.key_ring().await.unwrap().unwrap();
    let fresh = ring.rotate(ostiary::settings::now(), 0).unwrap();
    server.store.save_key_ring(&ring).await.unwrap();
    tokio::time::sleep(ostiary_server::state::CACHE_TTL + std::time::Duration::from_millis(200))
        .await;

    let after = server.jwks().await;
    assert_eq!(
        after.keys.len(),
        before.keys.len() * 2,
        "new keys published beside the old"
    );
    for kid in &fresh {
        assert!(after.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
    }
    for old in &before.keys {
        assert!(
            after.keys.iter().any(|k| k.kid == old.kid),
            "old keys still published"
        );
    }
    let kid = |jwt: &str| {
        let decoded = ostiary_jose::decode(jwt, &JwkSet::default(), &after, &Default::default())
            .expect("verifies with the published keys");
        decoded.header["kid"].as_str().unwrap().to_owned()
    };
    assert!(
        !fresh.contains(&kid(&old_token)),
        "signed with an old key, and still valid"
    );
    assert!(
        fresh.contains(&kid(&token().await)),
        "new tokens use the new key"
    );
    accepted(&authorize(&server, &[("request", &old_encryption_object)]).await);
    accepted(
        &authorize(
            &server,
            &[("request", &encrypt_to(&claims(&server), &keys, &after))],
        )
        .await,
    );
}

/// A client's `request_object_signing_alg` is the only algorithm its objects may use, and an
/// object's `redirect_uri` is held to the client's registered URIs as a query's is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_objects_algorithm_and_redirect_uri_are_the_clients() {
    use ostiary_server::store::ClientStore as _;
    let server = TestServer::start(Backend::Sqlite).await;
    let (keys, _) = client(&server).await;
    let object = sign(&claims(&server), &keys, SigAlg::RS256);
    for (pinned, taken) in [(SigAlg::RS256, true), (SigAlg::PS256, false)] {
        let mut ro = server.store.client("ro").await.unwrap().unwrap();
        ro.request_object_signing_alg = Some(pinned);
        server.store.update_client(&ro).await.unwrap();
        let response = authorize(&server, &[("request", &object)]).await;
        match taken {
            true => accepted(&response),
            false => refused(&response, "invalid_request_object"),
        }
    }
    let mut elsewhere = claims(&server);
    elsewhere["redirect_uri"] = json!("https://evil.example/cb");
    let object = sign(&elsewhere, &keys, SigAlg::RS256);
    let mut ro = server.store.client("ro").await.unwrap().unwrap();
    ro.request_object_signing_alg = None;
    server.store.update_client(&ro).await.unwrap();
    let response = authorize(&server, &[("request", &object)]).await;
    let location = response.headers().get("location");
    assert!(
        location.is_none_or(|l| !l.to_str().unwrap().contains("evil.example")),
        "{location:?}"
    );
    assert_eq!(response.status(), 400, "an error page, no redirect");
}
