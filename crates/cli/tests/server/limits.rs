//! Rate limits (the configuration's `rate_limits`) and the client address behind trusted proxies:
//! 429 with `Retry-After` and a JSON error, counted per client, per address, per user.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_server::config::Registration;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

const CC: [GrantType; 1] = [GrantType::ClientCredentials];

/// A token request by `id` with `secret`, from `forwarded_for` when given.
async fn token(
    server: &TestServer,
    id: &str,
    secret: &str,
    forwarded_for: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = server
        .http
        .post(server.url("/token"))
        .form(&[("grant_type", "client_credentials")])
        .basic_auth(id, Some(secret));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
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

fn assert_limited(status: u16, body: &Value, headers: &reqwest::header::HeaderMap) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "Retry-After {wait}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_are_limited_per_client() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.rate_limits.token_per_client = 3;
    })
    .await;
    let busy = server
        .client("busy", AuthMethod::ClientSecretBasic, &CC, None)
        .await
        .unwrap();
    let calm = server
        .client("calm", AuthMethod::ClientSecretBasic, &CC, None)
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(token(&server, "busy", &busy, None).await.0, 200);
    }
    let (status, body, headers) = token(&server, "busy", &busy, None).await;
    assert_limited(status, &body, &headers);
    assert_eq!(
        token(&server, "calm", &calm, None).await.0,
        200,
        "per client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_client_secrets_from_one_address_is_stopped() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.rate_limits.client_auth_failures_per_address = 3;
    })
    .await;
    let secret = server
        .client("target", AuthMethod::ClientSecretBasic, &CC, None)
        .await
        .unwrap();
    for guess in ["a", "b", "c"] {
        let (status, body, _) = token(&server, "target", guess, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client"))
        );
    }
    // The right secret from that address waits too, at every endpoint that authenticates clients.
    let (status, body, headers) = token(&server, "target", &secret, None).await;
    assert_limited(status, &body, &headers);
    let (status, body, headers) = server
        .post_form(
            "/introspection",
            &[("token", "x")],
            Some(("target", &secret)),
        )
        .await;
    assert_limited(status, &body, &headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_limited_per_address() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.registration = Registration::Open;
        c.rate_limits.registration_per_address = 2;
    })
    .await;
    let register = || async {
        let response = server
            .http
            .post(server.url("/register"))
            .json(&json!({"redirect_uris": ["https://app.example/cb"]}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, response.json::<Value>().await.unwrap(), headers)
    };
    assert_eq!(register().await.0, 201);
    assert_eq!(register().await.0, 201);
    let (status, body, headers) = register().await;
    assert_limited(status, &body, &headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_grant_shares_the_login_limit() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (secret, _) = server.user_token("alice", "wonderland", None).await;
    let attempt = |password: &'static str| {
        let secret = secret.clone();
        let server = &server;
        async move {
            let form = [
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", password),
            ];
            server
                .post_form("/token", &form, Some(("web", &secret)))
                .await
        }
    };
    for _ in 0..ostiary_server::ratelimit::PER_USER {
        let (status, body, _) = attempt("guess").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let (status, body, headers) = attempt("wonderland").await;
    assert_limited(status, &body, &headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // Untrusted: X-Forwarded-For is anyone's to send, so every request is 127.0.0.1's.
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.rate_limits.token_per_address = 2;
    })
    .await;
    let secret = server
        .client("app", AuthMethod::ClientSecretBasic, &CC, None)
        .await
        .unwrap();
    assert_eq!(
        token(&server, "app", &secret, Some("203.0.113.1")).await.0,
        200
    );
    assert_eq!(
        token(&server, "app", &secret, Some("203.0.113.2")).await.0,
        200
    );
    let (status, body, headers) = token(&server, "app", &secret, Some("203.0.113.3")).await;
    assert_limited(status, &body, &headers);

    // Behind a trusted proxy on loopback, each forwarded address has its own count.
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.rate_limits.token_per_address = 2;
        c.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    let secret = server
        .client("app", AuthMethod::ClientSecretBasic, &CC, None)
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            token(&server, "app", &secret, Some("203.0.113.1")).await.0,
            200
        );
    }
    let (status, body, headers) = token(&server, "app", &secret, Some("203.0.113.1")).await;
    assert_limited(status, &body, &headers);
    let hops = "198.51.100.9, 203.0.113.2, 127.0.0.5";
    assert_eq!(
        token(&server, "app", &secret, Some(hops)).await.0,
        200,
        "nearest untrusted hop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_sent_in_parallel_cannot_all_pass_the_login_limit() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (secret, _) = server.user_token("alice", "wonderland", None).await;
    // Password grants for `username`, one per password, sent at once; their statuses.
    let at_once = |username: &str, passwords: Vec<String>| {
        let tasks: Vec<_> = passwords
            .iter()
            .map(|password| {
                let request = server
                    .http
                    .post(server.url("/token"))
                    .basic_auth("web", Some(&secret))
                    .form(&[
                        ("grant_type", "password"),
                        ("username", username),
                        ("password", password),
                    ]);
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect();
        async move {
            let mut statuses = Vec::new();
            for task in tasks {
                statuses.push(task.await.unwrap());
            }
            statuses
        }
    };
    let statuses = at_once("alice", (0..20).map(|i| format!("guess-{i}")).collect()).await;
    let checked = statuses.iter().filter(|s| **s == 400).count();
    // (and the right password, sent 12 times at once by another user, passes every time)
    server.user("bob", "builder").await;
    let logins = at_once("bob", vec!["builder".to_owned(); 12]).await;
    assert!(logins.iter().all(|s| *s == 200), "{logins:?}");
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (checked, refused),
        (
            ostiary_server::ratelimit::PER_USER as usize,
            20 - ostiary_server::ratelimit::PER_USER as usize
        ),
        "{statuses:?}"
    );
}
