//! `kill -9` of `ostiary serve` under load, on SQLite and on PostgreSQL, again and again: after
//! each restart every token, refresh token, authorization code and dynamically registered client
//! a client received is honoured, and every revocation that was acknowledged is still in force.
//! `OSTIARY_CRASH_ROUNDS` sets how many kills (default 4).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ostiary_core::{AuthMethod, GrantType};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::authorize::{
    CHALLENGE, REDIRECT, VERIFIER, authorize_url, browser, redirect_params, sign_in,
};
use crate::harness::{Backend, TestServer};

/// What the clients saw, across every round.
#[derive(Default)]
struct Seen {
    /// Access tokens received.
    tokens: Vec<String>,
    /// Access tokens whose revocation was acknowledged.
    revoked: HashSet<String>,
    /// Access tokens whose revocation was in flight at a kill: either outcome is right.
    unsure: HashSet<String>,
    /// Refresh tokens, the latest each chain received; `None` once a refresh was in flight at a
    /// kill (the server may have rotated it without the client learning the successor).
    chains: Vec<Option<String>>,
    /// Chains given up that way.
    in_flight: usize,
    refreshed: usize,
    /// Authorization codes received (by a signed-in browser whose consent is remembered).
    codes: Vec<String>,
    /// Clients that registered themselves: their ids and secrets.
    registered: Vec<(String, String)>,
    /// Refresh tokens rotated away (their successor received): a replay must be refused.
    rotated: Vec<String>,
}

/// The status and JSON body (`Null` when empty); `None` when the connection broke first.
async fn send(request: reqwest::RequestBuilder) -> Option<(u16, Value)> {
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let body = response.bytes().await.ok()?;
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// One client's loop against `node` until `stop`: tokens, now and then a revocation, and
/// refreshes along its chain.
async fn client_load(
    worker: usize,
    base: String,
    secrets: Arc<(String, String)>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    signed_in: reqwest::Client,
) {
    let http = reqwest::Client::new();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        if n.is_multiple_of(4) {
            let authorize = format!(
                "{base}/authorize?response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
                form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
            );
            if let Ok(response) = signed_in.get(authorize).send().await {
                let params = redirect_params(&response);
                let code = params.iter().find(|(k, _)| k == "code").expect("a code");
                seen.lock().await.codes.push(code.1.clone());
            }
        }
        if n.is_multiple_of(7) {
            let register = http
                .post(format!("{base}/register"))
                .json(&serde_json::json!({
                    "grant_types": ["client_credentials"],
                    "token_endpoint_auth_method": "client_secret_basic",
                }));
            if let Some((status, body)) = send(register).await {
                assert_eq!(status, 201, "{body}");
                let id = body["client_id"].as_str().unwrap().to_owned();
                let secret = body["client_secret"].as_str().unwrap().to_owned();
                seen.lock().await.registered.push((id, secret));
            }
        }
        let cc = http
            .post(format!("{base}/token"))
            .basic_auth("svc", Some(&secrets.0))
            .form(&[("grant_type", "client_credentials")]);
        let Some((200, body)) = send(cc).await else {
            continue;
        };
        let token = body["access_token"].as_str().unwrap().to_owned();
        seen.lock().await.tokens.push(token.clone());
        if n.is_multiple_of(5) {
            let revoke = http
                .post(format!("{base}/revocation"))
                .basic_auth("svc", Some(&secrets.0))
                .form(&[("token", token.as_str())]);
            match send(revoke).await {
                Some((200, _)) => seen.lock().await.revoked.insert(token),
                _ => seen.lock().await.unsure.insert(token),
            };
        }
        if n.is_multiple_of(3) {
            let Some(current) = seen.lock().await.chains[worker].clone() else {
                continue;
            };
            let refresh = http
                .post(format!("{base}/token"))
                .basic_auth("web", Some(&secrets.1))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", current.as_str()),
                ]);
            let outcome = send(refresh).await;
            let mut seen = seen.lock().await;
            match outcome {
                Some((200, body)) => {
                    seen.chains[worker] = Some(body["refresh_token"].as_str().unwrap().to_owned());
                    seen.refreshed += 1;
                    seen.rotated.push(current);
                }
                Some((status, body)) => panic!("a refresh refused on a live node: {status} {body}"),
                None => {
                    seen.chains[worker] = None;
                    seen.in_flight += 1;
                }
            }
        }
    }
}

async fn kill_nine_under_load(backend: Backend) {
    const WORKERS: usize = 6;
    let rounds: usize = std::env::var("OSTIARY_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4);
    let server = TestServer::start_with(backend, |c| {
        c.registration = ostiary_server::config::Registration::Open;
        c.rate_limits.registration_per_address = 0;
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
    let web = server
        .client(
            "web",
            AuthMethod::ClientSecretBasic,
            &[GrantType::Password, GrantType::RefreshToken],
            None,
        )
        .await
        .unwrap();
    server.user("alice", "alice-password").await;
    server
        .client(
            "spa",
            AuthMethod::None,
            &[GrantType::AuthorizationCode],
            None,
        )
        .await;
    // A browser signed in to the server, its consent to `spa` remembered: each authorization
    // request it makes gets a code at once.
    let signed_in = browser();
    redirect_params(&sign_in(&server, &signed_in, &authorize_url(&server, "spa", "")).await);
    let secrets = Arc::new((svc, web));
    let seen = Arc::new(Mutex::new(Seen {
        chains: vec![None; WORKERS],
        ..Default::default()
    }));

    for round in 0..rounds {
        // A new chain for each one given up at the last kill; the others go on where they were,
        // and a refresh token lost by a kill would be refused in this round.
        for chain in seen.lock().await.chains.iter_mut().filter(|c| c.is_none()) {
            let form = [
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-password"),
            ];
            let (status, body, _) = server
                .post_form("/token", &form, Some(("web", &secrets.1)))
                .await;
            assert_eq!(status, 200, "{body}");
            *chain = Some(body["refresh_token"].as_str().unwrap().to_owned());
        }
        let node = server.another_node().await;
        let stop = Arc::new(AtomicBool::new(false));
        let load: Vec<_> = (0..WORKERS)
            .map(|worker| {
                tokio::spawn(client_load(
                    worker,
                    node.url(""),
                    secrets.clone(),
                    seen.clone(),
                    stop.clone(),
                    signed_in.clone(),
                ))
            })
            .collect();
        // Kill at a different moment each round, mid-load.
        tokio::time::sleep(Duration::from_millis(300 + 97 * round as u64 % 400)).await;
        drop(node); // SIGKILL: no shutdown, no flush
        stop.store(true, Ordering::Relaxed);
        for task in load {
            task.await.unwrap();
        }
    }

    // After the last kill: a fresh node honours everything acknowledged before any of them.
    let node = server.another_node().await;
    let seen = seen.lock().await;
    let introspect = |token: &String| {
        node.http
            .post(node.url("/introspection"))
            .basic_auth("svc", Some(&secrets.0))
            .form(&[("token", token.as_str())])
    };
    let (mut honoured, mut still_revoked) = (0, 0);
    for chunk in seen.tokens.chunks(50) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|t| (t.clone(), tokio::spawn(send(introspect(t)))))
            .collect();
        for (token, task) in tasks {
            let (status, body) = task.await.unwrap().expect("the node answers");
            assert_eq!(status, 200);
            if seen.unsure.contains(&token) {
                continue;
            }
            if seen.revoked.contains(&token) {
                assert_eq!(body["active"], false, "an acknowledged revocation was lost");
                still_revoked += 1;
            } else {
                assert_eq!(body["active"], true, "a token a client received was lost");
                honoured += 1;
            }
        }
    }
    let mut chains_alive = 0;
    for current in seen.chains.iter().flatten() {
        let refresh = node
            .http
            .post(node.url("/token"))
            .basic_auth("web", Some(&secrets.1))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", current.as_str()),
            ]);
        let (status, body) = send(refresh).await.unwrap();
        assert_eq!(
            status, 200,
            "the latest refresh token a client received: {body}"
        );
        chains_alive += 1;
    }
    // A refresh token rotated away before a kill stays spent after it (a replay also revokes its
    // chain, so this comes after the chains' check).
    for old in seen.rotated.iter().take(20) {
        let replay = node
            .http
            .post(node.url("/token"))
            .basic_auth("web", Some(&secrets.1))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", old.as_str()),
            ]);
        let (status, body) = send(replay).await.unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
    }
    // Every code received redeems (within its 60 s), every registered client authenticates.
    for code in &seen.codes {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ];
        let (status, body) = send(node.http.post(node.url("/token")).form(&form))
            .await
            .unwrap();
        assert_eq!(status, 200, "a code a client received: {body}");
    }
    for (id, secret) in &seen.registered {
        let cc = node
            .http
            .post(node.url("/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        let (status, body) = send(cc).await.unwrap();
        assert_eq!(status, 200, "a client that registered itself: {body}");
    }
    eprintln!(
        "{backend:?}: {rounds} kill -9 rounds; {} access tokens received, {honoured} honoured, \
         {still_revoked} acknowledged revocations in force; {} refreshes, {chains_alive} refresh \
         chains honoured, {} in flight at a kill; {} codes and {} registered clients honoured",
        seen.tokens.len(),
        seen.refreshed,
        seen.in_flight,
        seen.codes.len(),
        seen.registered.len()
    );
    assert!(honoured > 0 && still_revoked > 0 && seen.refreshed > 0);
    assert!(!seen.codes.is_empty() && !seen.registered.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_on_sqlite_loses_nothing_acknowledged() {
    kill_nine_under_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_on_postgres_loses_nothing_acknowledged() {
    kill_nine_under_load(Backend::Postgres).await;
}
