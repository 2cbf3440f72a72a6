//! Malformed and hostile requests: the protocol's error and status, never a 500.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::SigAlg;

use crate::both_backends;
use crate::harness::{TestServer, signing_keys};

/// A token request, its client credentials, and the status and error it must get.
type Case<'a> = (
    Vec<(&'a str, &'a str)>,
    Option<(&'a str, &'a str)>,
    u16,
    &'a str,
);

async fn bad_requests(server: &TestServer) {
    let secret = server
        .client(
            "app",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            None,
        )
        .await
        .unwrap();
    let basic = Some(("app", secret.as_str()));
    let cases: Vec<Case> = vec![
        (vec![], basic, 400, "invalid_request"),
        (
            vec![("grant_type", "magic")],
            basic,
            400,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "client_credentials")],
            None,
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials")],
            Some(("app", "wrong")),
            401,
            "invalid_client",
        ),
        (
            vec![("grant_type", "client_credentials")],
            Some(("nobody", "x")),
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "app"),
                ("client_secret", &secret),
            ],
            basic,
            400,
            "invalid_request",
        ),
        (
            vec![("grant_type", "client_credentials"), ("scope", "admin")],
            basic,
            400,
            "invalid_scope",
        ),
        (
            vec![("grant_type", "client_credentials"), ("scope", "a\"b")],
            basic,
            400,
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "x"),
                ("password", "y"),
            ],
            basic,
            400,
            "unauthorized_client",
        ),
        (
            vec![("grant_type", "implicit")],
            basic,
            400,
            "unsupported_grant_type",
        ),
    ];
    for (form, auth, status, error) in cases {
        let (got, body, headers) = server.post_form("/token", &form, auth).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{form:?}"
        );
        assert_eq!(headers["cache-control"], "no-store");
        if status == 401 && auth.is_some() {
            assert_eq!(headers["www-authenticate"], "Basic realm=\"ostiary\"");
        }
    }
    let url = server.url("/token");
    // Repeated parameters (RFC 6749 §3.2).
    let dup = server
        .http
        .post(&url)
        .basic_auth("app", Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 400);
    // Wrong content type.
    let json = server
        .http
        .post(&url)
        .basic_auth("app", Some(&secret))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400);
    // Oversized body. The server answers before reading it all and closes the connection, so
    // this request gets a connection of its own (a pooled one would fail the next request).
    let huge = format!("grant_type=client_credentials&x={}", "a".repeat(200_000));
    let big = reqwest::Client::new()
        .post(&url)
        .basic_auth("app", Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 400);
    // Ten thousand scopes (60 KB, under the body limit): one protocol error, not ten thousand.
    let scopes: Vec<String> = (0..10_000).map(|n| format!("s{n}")).collect();
    let many = server
        .http
        .post(&url)
        .basic_auth("app", Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", &scopes.join(" ")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(many.status(), 400);
    assert_eq!(
        many.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    // A 200 KB query string at /authorize (sent by hand: HTTP clients stop at 64 KB): refused
    // with a client error, never a server error.
    let status_line = {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let address = server.base.trim_start_matches("http://").to_owned();
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        let path = server.url("/authorize").replacen(&server.base, "", 1);
        let request = format!(
            "GET {path}?client_id=app&x={} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n",
            "a".repeat(200_000)
        );
        // The server may answer and close before it has read everything.
        let _ = socket.write_all(request.as_bytes()).await;
        let mut answer = vec![0u8; 64];
        let n = socket.read(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(status_line.starts_with("HTTP/1.1 4"), "{status_line}");
    // Malformed Basic headers.
    for header in ["Basic !!!", "Basic", "Bearer abc", "Basic YXBw"] {
        let r = server
            .http
            .post(&url)
            .header("authorization", header)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
    }
}

both_backends!(bad_token_requests_get_protocol_errors, |server| {
    bad_requests(&server).await;
});

async fn bad_assertions(server: &TestServer) {
    let keys = signing_keys(SigAlg::ES256);
    let other = signing_keys(SigAlg::ES256);
    server
        .client(
            "pk",
            AuthMethod::PrivateKeyJwt,
            &[GrantType::ClientCredentials],
            Some(&keys.public()),
        )
        .await;
    let now = ostiary::settings::now();
    let make = |claims: serde_json::Value, keys: &ostiary_jose::JwkSet| {
        let opts = ostiary_jose::EncodeOptions {
            sig_alg: Some(SigAlg::ES256),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, keys, None).unwrap()
    };
    let aud = server.issuer.clone();
    let cases = [
        (
            "expired",
            make(
                serde_json::json!({"iss": "pk", "sub": "pk", "aud": aud, "exp": now - 120, "jti": "a"}),
                &keys,
            ),
        ),
        (
            "wrong key",
            make(
                serde_json::json!({"iss": "pk", "sub": "pk", "aud": aud, "exp": now + 60, "jti": "b"}),
                &other,
            ),
        ),
        (
            "wrong audience",
            make(
                serde_json::json!({"iss": "pk", "sub": "pk", "aud": "https://other.example", "exp": now + 60, "jti": "c"}),
                &keys,
            ),
        ),
        (
            "no jti",
            make(
                serde_json::json!({"iss": "pk", "sub": "pk", "aud": aud, "exp": now + 60}),
                &keys,
            ),
        ),
        (
            "sub differs",
            make(
                serde_json::json!({"iss": "pk", "sub": "admin", "aud": aud, "exp": now + 60, "jti": "d"}),
                &keys,
            ),
        ),
        (
            "lives too long",
            make(
                serde_json::json!({"iss": "pk", "sub": "pk", "aud": aud, "exp": now + 86_400, "jti": "e"}),
                &keys,
            ),
        ),
        ("not a JWT", "garbage".to_owned()),
        ("unsigned (alg none)", {
            use base64::Engine as _;
            let b64 = |v: serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            let claims = serde_json::json!({"iss": "pk", "sub": "pk", "aud": aud, "exp": now + 60, "jti": "f"});
            format!(
                "{}.{}.",
                b64(serde_json::json!({"alg": "none"})),
                b64(claims)
            )
        }),
    ];
    for (what, assertion) in cases {
        let form = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        let (status, body, _) = server.post_form("/token", &form, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{what}"
        );
    }
}

both_backends!(bad_client_assertions_are_refused, |server| {
    bad_assertions(&server).await;
});

/// A client that pins `token_endpoint_auth_signing_alg` is authenticated only by assertions of
/// that algorithm, though its keys would verify others (RFC 8725 §3.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_assertion_algorithm_is_the_only_one_taken() {
    use ostiary_server::store::ClientStore as _;
    let server = TestServer::start(crate::harness::Backend::Sqlite).await;
    let (ec, rsa) = (signing_keys(SigAlg::ES256), signing_keys(SigAlg::RS256));
    let mut both = ec.public();
    both.keys.extend(rsa.public().keys);
    let grants = [GrantType::ClientCredentials];
    server
        .client("pinned", AuthMethod::PrivateKeyJwt, &grants, Some(&both))
        .await;
    let assert_with = |keys: &ostiary_jose::JwkSet, alg: SigAlg, jti: &str| {
        server.assertion("pinned", keys, alg, jti, 60)
    };
    let token = async |assertion: String| {
        let form = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        server.post_form("/token", &form, None).await.0
    };
    // Unpinned, either key's algorithm is taken.
    assert_eq!(token(assert_with(&rsa, SigAlg::RS256, "a")).await, 200);
    assert_eq!(token(assert_with(&ec, SigAlg::ES256, "b")).await, 200);
    let mut client = server.store.client("pinned").await.unwrap().unwrap();
    client.token_endpoint_auth_signing_alg = Some(SigAlg::ES256);
    server.store.update_client(&client).await.unwrap();
    assert_eq!(token(assert_with(&rsa, SigAlg::RS256, "c")).await, 401);
    assert_eq!(token(assert_with(&ec, SigAlg::ES256, "d")).await, 200);
}
