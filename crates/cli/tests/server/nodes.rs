//! Several nodes on one PostgreSQL: the test's server and `ostiary serve` processes beside it on
//! ports of their own, each with its own caches and connection pool. What one node issues, another
//! honours; what one revokes or rotates, the others see; races for one code or one refresh token
//! have one winner.

use std::time::{Duration, Instant};

use ostiary_core::{AuthMethod, GrantType};
use ostiary_server::config::AccessTokenFormat;
use serde_json::Value;

use crate::authorize::{
    REDIRECT, VERIFIER, authorize_url, browser, param, redirect_params, setup, sign_in,
};
use crate::harness::{Backend, TestServer};

/// Signs alice in on `node` and returns the code of the redirect.
pub(crate) async fn code_from(node: &TestServer, b: &reqwest::Client) -> String {
    let done = sign_in(node, b, &authorize_url(node, "spa", "")).await;
    param(&redirect_params(&done), "code").unwrap().to_owned()
}

pub(crate) async fn redeem(node: &TestServer, code: &str) -> (u16, Value) {
    all_at_once([redemption(node, code)].into_iter())
        .await
        .remove(0)
}

pub(crate) async fn refresh(node: &TestServer, secret: &str, token: &str) -> (u16, Value) {
    all_at_once([refreshing(node, secret, token)].into_iter())
        .await
        .remove(0)
}

pub(crate) async fn active(node: &TestServer, secret: &str, token: &str) -> bool {
    let (status, body, _) = node
        .post_form("/introspection", &[("token", token)], Some(("web", secret)))
        .await;
    assert_eq!(status, 200, "{body}");
    body["active"] == true
}

/// The confidential client `web`, with the password and refresh grants; its secret.
pub(crate) async fn web_client(node: &TestServer) -> String {
    let grants = [GrantType::Password, GrantType::RefreshToken];
    let secret = node.client("web", AuthMethod::ClientSecretBasic, &grants, None);
    secret.await.unwrap()
}

pub(crate) const ALICES_PASSWORD_GRANT: [(&str, &str); 3] = [
    ("grant_type", "password"),
    ("username", "alice"),
    ("password", "alice-password"),
];

pub(crate) fn kid_of(jwt: &str) -> String {
    use base64::Engine as _;
    let header = jwt.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_sessions_refresh_tokens_revocations_and_keys_cross_nodes() {
    let a = TestServer::start_with(Backend::Postgres, |c| {
        c.access_token_format = AccessTokenFormat::Jwt;
        c.intervals.key_publication = KEY_PUBLICATION;
    })
    .await;
    let (b, c) = (a.another_node().await, a.another_node().await);
    let nodes = [&a, &b, &c];
    setup(&a).await;

    // A login session made on A is B's too: no login page, straight back with a code, which C
    // redeems.
    let browser_a = browser();
    let code = code_from(&a, &browser_a).await;
    let silent = browser_a
        .get(authorize_url(&b, "spa", "&prompt=none"))
        .send()
        .await
        .unwrap();
    let from_b = param(&redirect_params(&silent), "code").unwrap().to_owned();
    let (status, body) = redeem(&c, &from_b).await;
    assert_eq!(status, 200, "{body}");

    // 50 redemptions of A's code at once, spread over the three nodes: exactly one wins.
    let outcomes = all_at_once((0..50).map(|i| redemption(nodes[i % 3], &code))).await;
    let won: Vec<&(u16, Value)> = outcomes.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .filter(|(s, _)| *s != 200)
            .all(|(s, body)| *s == 400 && body["error"] == "invalid_grant"),
        "{outcomes:?}"
    );

    // A refresh token rotated on A is refused on B, and that reuse, seen on B, revokes the
    // family everywhere: the successor A gave out is refused on C, its access token inactive.
    let secret = web_client(&a).await;
    let form = ALICES_PASSWORD_GRANT;
    let (status, first, _) = a.post_form("/token", &form, Some(("web", &secret))).await;
    assert_eq!(status, 200, "{first}");
    let (status, rotated) = refresh(&a, &secret, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{rotated}");
    let successor = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = refresh(&b, &secret, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the rotated token is spent on every node");
    assert_eq!(refresh(&c, &secret, &successor).await.0, 400);
    assert!(!active(&c, &secret, rotated["access_token"].as_str().unwrap()).await);

    // 50 refreshes with one refresh token at once across the nodes: one new head. The other 49
    // present a spent token, which is reuse (RFC 9700 §4.14.2): the family is revoked, so in
    // the end no head is valid — never two.
    let (status, fresh, _) = a.post_form("/token", &form, Some(("web", &secret))).await;
    assert_eq!(status, 200, "{fresh}");
    let contested = fresh["refresh_token"].as_str().unwrap().to_owned();
    let outcomes =
        all_at_once((0..50).map(|i| refreshing(nodes[i % 3], &secret, &contested))).await;
    let heads: Vec<&Value> = outcomes
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(heads.len(), 1, "{outcomes:?}");
    let head = heads[0]["refresh_token"].as_str().unwrap();
    for node in nodes {
        assert_eq!(
            refresh(node, &secret, head).await.0,
            400,
            "revoked with its family"
        );
    }

    // A token revoked on A is inactive on B and C at once.
    let (status, issued, _) = a.post_form("/token", &form, Some(("web", &secret))).await;
    assert_eq!(status, 200, "{issued}");
    let access = issued["access_token"].as_str().unwrap();
    assert!(active(&b, &secret, access).await);
    let (status, _, _) = a
        .post_form("/revocation", &[("token", access)], Some(("web", &secret)))
        .await;
    assert_eq!(status, 200);
    assert!(!active(&b, &secret, access).await);
    assert!(!active(&c, &secret, access).await);

    // Keys rotated on A are published by B within the two-second cache, and sign on every node
    // only once `key_publication` has passed: no node signs with a key another does not publish.
    let admin = ostiary_portal::Admin {
        store: &a.store,
        actor: "test",
    };
    let fresh_kids: Vec<String> =
        serde_json::from_value(admin.rotate_keys().await.unwrap()).unwrap();
    let rotated_at = Instant::now();
    let published = loop {
        let kids: Vec<String> = b
            .jwks()
            .await
            .keys
            .iter()
            .filter_map(|k| k.kid.clone())
            .collect();
        if fresh_kids.iter().all(|k| kids.contains(k)) {
            break rotated_at.elapsed();
        }
        assert!(
            rotated_at.elapsed() < Duration::from_secs(5),
            "B never published {fresh_kids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("keys rotated on A published by B after {published:?}");
    assert!(published <= Duration::from_millis(2_500), "{published:?}");
    let signer = async |node: &TestServer| {
        let (status, issued, _) = node
            .post_form("/token", &form, Some(("web", &secret)))
            .await;
        assert_eq!(status, 200, "{issued}");
        kid_of(issued["access_token"].as_str().unwrap())
    };
    // The new keys sign from the whole second `KEY_PUBLICATION` after the rotation's, at least
    // a second after the publication checked above.
    for node in nodes {
        assert!(
            !fresh_kids.contains(&signer(node).await),
            "a key signs before its time"
        );
    }
    tokio::time::sleep(Duration::from_secs(KEY_PUBLICATION).saturating_sub(rotated_at.elapsed()))
        .await;
    for node in nodes {
        assert!(fresh_kids.contains(&signer(node).await));
    }
}

/// The environment of a node whose system clock is `offset` off (libfaketime moves it;
/// `scripts/test` installs it), and which reads `clock` (`OSTIARY_CLOCK`).
fn skewed<'a>(library: &'a str, offset: &'a str, clock: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("LD_PRELOAD", library),
        ("FAKETIME", offset),
        // Timers and timeouts keep real time; only the wall clock moves.
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ("OSTIARY_CLOCK", clock),
    ]
}

fn libfaketime() -> String {
    std::env::var("OSTIARY_TEST_LIBFAKETIME")
        .expect("OSTIARY_TEST_LIBFAKETIME names libfaketime.so.1: scripts/test installs it")
}

/// The value of a gauge on `node`'s `/metrics`.
async fn gauge(node: &TestServer, name: &str) -> f64 {
    let page = crate::authorize::metrics(node, &node.http).await;
    let line = page
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '));
    line.unwrap_or_else(|| panic!("no {name} in\n{page}"))
        .parse()
        .unwrap()
}

/// Nodes whose clocks are 30 s apart, one ahead of the first and one behind it, and that read
/// their own clocks (`OSTIARY_CLOCK=system`): what one issues, the others honour, and a client
/// whose clock is the first node's is taken by all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_whose_clocks_differ_by_30_seconds_honour_each_others_grants() {
    let library = libfaketime();
    let a = TestServer::start_with(Backend::Postgres, |c| {
        c.access_token_format = AccessTokenFormat::Jwt;
    })
    .await;
    let ahead = a
        .another_node_with(&skewed(&library, "+30s", "system"))
        .await;
    let behind = a
        .another_node_with(&skewed(&library, "-30s", "system"))
        .await;
    setup(&a).await;
    // The clocks do differ, by the `Date` each node answers with.
    let date = async |node: &TestServer| {
        let response = node.http.get(node.url("/jwks")).send().await.unwrap();
        let date = response.headers()["date"].to_str().unwrap().to_owned();
        httpdate::parse_http_date(&date).unwrap()
    };
    let (then, early, late) = (date(&a).await, date(&behind).await, date(&ahead).await);
    let apart = |x: std::time::SystemTime, y| x.duration_since(y).unwrap().as_secs();
    assert!((28..=32).contains(&apart(then, early)), "behind by 30 s");
    assert!((28..=32).contains(&apart(late, then)), "ahead by 30 s");
    // Each node measured its clock against the database's, for `/metrics` (and the log), and
    // reads its own all the same.
    let mut offsets = vec![];
    for node in [&a, &ahead, &behind] {
        offsets.push(gauge(node, "ostiary_clock_ahead_of_database_seconds").await);
    }
    for node in [&ahead, &behind] {
        assert_eq!(gauge(node, "ostiary_clock_correction_seconds").await, 0.0);
    }
    let near = |x: f64, y: f64| (x - y).abs() < 2.0;
    assert!(
        near(offsets[0], 0.0) && near(offsets[1], 30.0) && near(offsets[2], -30.0),
        "{offsets:?}"
    );

    // Codes (60 s) made on one node are redeemed on a node 30 s ahead or behind it, and the
    // login session made on the first node serves the others.
    let b = browser();
    let code = code_from(&a, &b).await;
    let (status, body) = redeem(&ahead, &code).await;
    assert_eq!(status, 200, "{body}");
    for (from, to) in [(&ahead, &a), (&a, &behind), (&behind, &a)] {
        let response = b.get(authorize_url(from, "spa", "")).send().await.unwrap();
        let code = param(&redirect_params(&response), "code")
            .unwrap()
            .to_owned();
        let (status, body) = redeem(to, &code).await;
        assert_eq!(status, 200, "{body}");
    }

    // Tokens and refresh tokens of each node work on the others.
    let secret = web_client(&a).await;
    let form = ALICES_PASSWORD_GRANT;
    for (from, to) in [(&ahead, &behind), (&behind, &ahead), (&a, &ahead)] {
        let (status, issued, _) = from
            .post_form("/token", &form, Some(("web", &secret)))
            .await;
        assert_eq!(status, 200, "{issued}");
        assert!(active(to, &secret, issued["access_token"].as_str().unwrap()).await);
        let (status, body) = refresh(to, &secret, issued["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{body}");
    }

    // A code replayed 30 s after its redemption (on the node that lives 30 s later) is refused,
    // and the tokens it bought are revoked.
    let response = b.get(authorize_url(&a, "spa", "")).send().await.unwrap();
    let code = param(&redirect_params(&response), "code")
        .unwrap()
        .to_owned();
    let (status, first) = redeem(&a, &code).await;
    assert_eq!(status, 200, "{first}");
    let access_token = first["access_token"].as_str().unwrap();
    assert!(active(&a, &secret, access_token).await);
    let (status, replayed) = redeem(&ahead, &code).await;
    assert_eq!(
        (status, replayed["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(!active(&a, &secret, access_token).await);

    // A client assertion made on the first node's clock is taken 30 s either side of it.
    assertions_are_taken(&a, &[&a, &ahead, &behind]).await;
}

/// A client assertion (60 s) made now by this machine's clock is taken by each of `nodes`.
async fn assertions_are_taken(server: &TestServer, nodes: &[&TestServer]) {
    let keys = crate::harness::signing_keys(ostiary_jose::SigAlg::ES256);
    server
        .client(
            "pk",
            AuthMethod::PrivateKeyJwt,
            &[GrantType::ClientCredentials],
            Some(&keys.public()),
        )
        .await;
    for (i, node) in nodes.iter().enumerate() {
        let jti = format!("j{i}");
        let assertion = server.assertion("pk", &keys, ostiary_jose::SigAlg::ES256, &jti, 60);
        let form = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ];
        let (status, body, _) = node.post_form("/token", &form, None).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// Nodes ten minutes ahead of the database and ten minutes behind it, far beyond every leeway,
/// that read the database's time (the default): codes, the login session, tokens and client
/// assertions cross between them, and what they issue is dated by the database's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_read_the_databases_time_whatever_their_own_clocks_say() {
    let library = libfaketime();
    let a = TestServer::start_with(Backend::Postgres, |c| {
        c.access_token_format = AccessTokenFormat::Jwt;
    })
    .await;
    let ahead = a
        .another_node_with(&skewed(&library, "+600s", "database"))
        .await;
    let behind = a
        .another_node_with(&skewed(&library, "-600s", "database"))
        .await;
    setup(&a).await;
    for (node, off) in [(&ahead, 600.0), (&behind, -600.0)] {
        let measured = gauge(node, "ostiary_clock_ahead_of_database_seconds").await;
        let correction = gauge(node, "ostiary_clock_correction_seconds").await;
        let near = |x: f64, y: f64| (x - y).abs() < 2.0;
        assert!(near(measured, off), "{measured}");
        assert!(near(correction, -off), "{correction}");
    }

    // A code (60 s) made behind is redeemed ahead, twenty minutes later by their own clocks; the
    // login session made behind serves the node ahead, whose code is redeemed behind.
    let b = browser();
    let code = code_from(&behind, &b).await;
    let (status, body) = redeem(&ahead, &code).await;
    assert_eq!(status, 200, "{body}");
    let response = b
        .get(authorize_url(&ahead, "spa", ""))
        .send()
        .await
        .unwrap();
    let code = param(&redirect_params(&response), "code")
        .unwrap()
        .to_owned();
    let (status, body) = redeem(&behind, &code).await;
    assert_eq!(status, 200, "{body}");

    // Tokens carry the database's time, and each node honours the other's.
    let secret = web_client(&a).await;
    let keys = a.jwks().await;
    for (from, to) in [(&ahead, &behind), (&behind, &ahead)] {
        let form = ALICES_PASSWORD_GRANT;
        let (status, issued, _) = from
            .post_form("/token", &form, Some(("web", &secret)))
            .await;
        assert_eq!(status, 200, "{issued}");
        let access_token = issued["access_token"].as_str().unwrap();
        let options = Default::default();
        let none = ostiary_jose::JwkSet::default();
        let claims = ostiary_jose::decode(access_token, &none, &keys, &options)
            .unwrap()
            .claims;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let iat = claims["iat"].as_i64().unwrap();
        assert!((iat - now).abs() < 10, "iat {iat}, now {now}");
        assert!(active(to, &secret, access_token).await);
        let (status, body) = refresh(to, &secret, issued["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{body}");
    }

    assertions_are_taken(&a, &[&ahead, &behind]).await;
}

/// Seconds a rotated key is published before it signs, in the test above.
const KEY_PUBLICATION: u64 = 5;

/// Sends the requests at once (a task each); the answers, in order.
async fn all_at_once(requests: impl Iterator<Item = reqwest::RequestBuilder>) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = requests
        .map(|request| {
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn redemption(node: &TestServer, code: &str) -> reqwest::RequestBuilder {
    node.http.post(node.url("/token")).form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ])
}

fn refreshing(node: &TestServer, secret: &str, token: &str) -> reqwest::RequestBuilder {
    node.http
        .post(node.url("/token"))
        .basic_auth("web", Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
}

/// A PostgreSQL cluster of this test's own (`scripts/postgres`), which it can stop and start.
struct Cluster {
    dir: std::path::PathBuf,
    url: String,
}

impl Cluster {
    fn script(dir: &std::path::Path, command: &str) -> String {
        Self::script_with(dir, command, &[])
    }

    fn script_with(
        dir: &std::path::Path,
        command: &str,
        env: &[(&str, &std::path::Path)],
    ) -> String {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres");
        let out = std::process::Command::new(script)
            .arg(command)
            .env("OSTIARY_PG_DIR", dir)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postgres {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn start() -> Cluster {
        let dir = std::env::temp_dir().join(format!("ostiary-pg-{}", crate::harness::unique()));
        let url = Self::script(&dir, "start");
        Cluster { dir, url }
    }

    /// A synchronous standby of `primary`: every commit there waits until this one has it.
    fn standby(primary: &Cluster) -> Cluster {
        let dir = std::env::temp_dir().join(format!("ostiary-pg-{}", crate::harness::unique()));
        let url = Self::script_with(&dir, "standby", &[("OSTIARY_PG_PRIMARY", &primary.dir)]);
        Cluster { dir, url }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        Self::script(&self.dir, "stop");
    }
}

/// `(status, body)` of a client_credentials request.
fn cc(node: &TestServer, secret: &str) -> reqwest::RequestBuilder {
    node.http
        .post(node.url("/token"))
        .basic_auth("svc", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .timeout(Duration::from_secs(30))
}

/// A server on `cluster`, and the secret of its client `svc` (client_credentials).
async fn svc_on(cluster: &Cluster) -> (TestServer, String) {
    let dir = crate::harness::TempDir(
        std::env::temp_dir().join(format!("ostiary-it-{}", crate::harness::unique())),
    );
    std::fs::create_dir_all(&dir.0).unwrap();
    let server = TestServer::start_on(dir, cluster.url.clone(), |_| {}).await;
    let grants = [GrantType::ClientCredentials];
    let secret = server.client("svc", AuthMethod::ClientSecretBasic, &grants, None);
    let secret = secret.await.unwrap();
    (server, secret)
}

async fn ready(node: &TestServer) -> u16 {
    let url = format!("{}/readyz", node.base);
    node.http.get(url).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_its_database_answers_503_and_recovers_losing_no_token() {
    let cluster = Cluster::start();
    let (a, secret) = svc_on(&cluster).await;
    let b = a.another_node().await;

    // A steady load on both nodes, recording every token a client received.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = [&a, &b]
        .iter()
        .map(|node| {
            let (request, stop) = (cc(node, &secret), stop.clone());
            tokio::spawn(async move {
                let (mut received, mut refused) = (Vec::new(), 0);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(response) = request.try_clone().unwrap().send().await else {
                        refused += 1;
                        continue;
                    };
                    match response.status().as_u16() {
                        200 => {
                            let body: Value = response.json().await.unwrap();
                            received.push(body["access_token"].as_str().unwrap().to_owned());
                        }
                        503 => {
                            let body: Value = response.json().await.unwrap();
                            assert_eq!(body["error"], "temporarily_unavailable");
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        other => panic!("{other} during the outage"),
                    }
                }
                (received, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((ready(&a).await, ready(&b).await), (200, 200));

    let issued: Value = cc(&a, &secret).send().await.unwrap().json().await.unwrap();
    let issued = issued["access_token"].as_str().unwrap().to_owned();
    Cluster::script(&cluster.dir, "pause");
    // A revocation that cannot be stored is not acknowledged (RFC 7009 §2.2.1: 503).
    let revocation = b
        .http
        .post(b.url("/revocation"))
        .basic_auth("svc", Some(&secret))
        .form(&[("token", issued.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revocation.status(), 503);
    let refused = cc(&b, &secret).send().await.unwrap();
    let (status, retry_after) = (
        refused.status().as_u16(),
        refused.headers().get("retry-after").cloned(),
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    assert_eq!(
        retry_after.and_then(|v| v.to_str().ok().map(str::to_owned)),
        Some(ostiary_server::error::STORAGE_RETRY_AFTER_SECONDS.to_string())
    );
    assert_eq!((ready(&a).await, ready(&b).await), (503, 503));

    Cluster::script(&cluster.dir, "resume");
    let back = Instant::now();
    for node in [&a, &b] {
        while ready(node).await != 200
            || all_at_once([cc(node, &secret)].into_iter()).await[0].0 != 200
        {
            assert!(
                back.elapsed() < Duration::from_secs(30),
                "{} did not recover",
                node.base
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let recovered = back.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut received, mut refused) = (Vec::new(), 0);
    for task in load {
        let (tokens, refusals) = task.await.unwrap();
        received.extend(tokens);
        refused += refusals;
    }
    assert!(refused > 0, "the outage was felt");
    // Every token a client received before, during or after the outage is honoured.
    let introspect = |token: &String| {
        a.http
            .post(a.url("/introspection"))
            .basic_auth("svc", Some(&secret))
            .form(&[("token", token.as_str())])
    };
    let mut lost = 0;
    for chunk in received.chunks(100) {
        let answers = all_at_once(chunk.iter().map(introspect)).await;
        lost += answers
            .iter()
            .filter(|(_, body)| body["active"] != true)
            .count();
    }
    eprintln!(
        "outage: {} tokens received, {refused} refused, recovered {recovered:?} after the restart, {lost} lost",
        received.len()
    );
    assert_eq!(lost, 0);
}

/// The primary PostgreSQL is killed (SIGKILL) under a load of token requests and revocations, and
/// its synchronous standby promoted: a node on the promoted server honours every token a client
/// received and keeps every revocation that was acknowledged. Requests the dying primary could
/// not serve got 503, nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_synchronous_standby_lost_nothing_that_was_acknowledged() {
    let primary = Cluster::start();
    let standby = Cluster::standby(&primary);
    let (a, secret) = svc_on(&primary).await;

    #[derive(Default)]
    struct Seen {
        received: Vec<String>,
        revoked: Vec<String>,
        /// Revocations whose answer never came: either outcome is right.
        unanswered: Vec<String>,
        refused: usize,
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (node, secret, stop) = (a.url(""), secret.clone(), stop.clone());
            let (http, token_request) = (a.http.clone(), cc(&a, &secret));
            tokio::spawn(async move {
                let mut seen = Seen::default();
                let answer = |sent: reqwest::Result<reqwest::Response>| async {
                    let response = sent.ok()?;
                    let status = response.status().as_u16();
                    Some((
                        status,
                        response.json::<Value>().await.unwrap_or(Value::Null),
                    ))
                };
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = token_request.try_clone().unwrap().send().await;
                    let token = match answer(sent).await {
                        Some((200, body)) => body["access_token"].as_str().unwrap().to_owned(),
                        Some((503, body)) => {
                            assert_eq!(body["error"], "temporarily_unavailable");
                            seen.refused += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        Some((status, body)) => panic!("{status} {body} as the primary died"),
                        None => {
                            seen.refused += 1;
                            continue;
                        }
                    };
                    seen.received.push(token.clone());
                    if seen.received.len() % 5 == 0 {
                        let sent = http
                            .post(format!("{node}/revocation"))
                            .basic_auth("svc", Some(&secret))
                            .form(&[("token", token.as_str())])
                            .timeout(Duration::from_secs(10))
                            .send()
                            .await;
                        match answer(sent).await {
                            Some((200, _)) => seen.revoked.push(token),
                            Some((503, _)) | None => seen.unanswered.push(token),
                            Some((status, body)) => panic!("{status} {body} for a revocation"),
                        }
                    }
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    // The standby stops taking WAL for a while before the crash: with asynchronous replication
    // the primary would go on acknowledging what the standby never gets (this test then fails);
    // with synchronous replication those commits wait, and die unacknowledged.
    Cluster::script(&standby.dir, "hold");
    tokio::time::sleep(Duration::from_millis(300)).await;
    Cluster::script(&primary.dir, "kill");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = Seen::default();
    for task in load {
        let part = task.await.unwrap();
        seen.received.extend(part.received);
        seen.revoked.extend(part.revoked);
        seen.unanswered.extend(part.unanswered);
        seen.refused += part.refused;
    }
    assert!(seen.received.len() >= 50, "{} tokens", seen.received.len());
    assert!(seen.refused > 0, "the load ran into the dead primary");

    // What the held receiver had not read yet (in its socket) is gone with it.
    Cluster::script(&standby.dir, "cut");
    Cluster::script(&standby.dir, "promote");
    let b = a
        .another_node_with(&[("OSTIARY_DATABASE", standby.url.as_str())])
        .await;
    let mut lost = Vec::new();
    for token in &seen.received {
        if seen.unanswered.contains(token) {
            continue;
        }
        let revoked = seen.revoked.contains(token);
        let form = [("token", token.as_str())];
        let (status, body, _) = b
            .post_form("/introspection", &form, Some(("svc", &secret)))
            .await;
        assert_eq!(status, 200, "{body}");
        if (body["active"] == true) == revoked {
            lost.push((token.clone(), revoked));
        }
    }
    eprintln!(
        "failover: {} tokens received, {} revocations acknowledged, {} unanswered, {} requests refused",
        seen.received.len(),
        seen.revoked.len(),
        seen.unanswered.len(),
        seen.refused
    );
    assert!(
        lost.is_empty(),
        "{} of {} tokens ({} revoked) came back wrong: {lost:?}",
        lost.len(),
        seen.received.len(),
        seen.revoked.len()
    );
}
