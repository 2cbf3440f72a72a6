//! RP-initiated logout and front-channel logout, over HTTP with a cookie jar.

use ostiary_server::store::ClientStore as _;
use serde_json::Value;

use crate::authorize::{
    REDIRECT, VERIFIER, authorize_url, browser, consent, hidden, param, redirect_params, setup,
    sign_in,
};
use crate::harness::{Backend, TestServer};

const BYE: &str = "https://app.example/bye";

/// Signs alice in to `spa` and `other` in one browser; returns the browser and spa's ID token.
/// A browser signed in to `spa` and `other`, and the tokens `spa` got.
async fn signed_in(server: &TestServer) -> (reqwest::Client, Value) {
    setup(server).await;
    for (id, frontchannel) in [
        ("spa", "https://app.example/fc"),
        ("other", "https://other.example/fc?x=1"),
    ] {
        let mut client = server.store.client(id).await.unwrap().unwrap();
        client.post_logout_redirect_uris = vec![BYE.into()];
        client.frontchannel_logout_uri = Some(frontchannel.into());
        client.frontchannel_logout_session_required = true;
        server.store.update_client(&client).await.unwrap();
    }
    let b = browser();
    let params = redirect_params(&sign_in(server, &b, &authorize_url(server, "spa", "")).await);
    let (status, tokens, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", param(&params, "code").unwrap()),
                ("redirect_uri", REDIRECT),
                ("client_id", "spa"),
                ("code_verifier", VERIFIER),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let html = b
        .get(authorize_url(server, "other", ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    redirect_params(&consent(server, &b, &html, "accept").await);
    (b, tokens)
}

async fn signed_in_still(server: &TestServer, b: &reqwest::Client) -> bool {
    let silent = b
        .get(authorize_url(server, "spa", "&prompt=none"))
        .send()
        .await
        .unwrap();
    param(&redirect_params(&silent), "code").is_some()
}

fn logout_url(server: &TestServer, query: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{}?{query}", server.url("/logout"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hint_for_the_session_logs_out_and_tells_every_client() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (b, tokens) = signed_in(&server).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let userinfo = async || {
        b.get(server.url("/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(userinfo().await, 200);
    let url = logout_url(
        &server,
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", BYE),
            ("state", "s&1"),
        ],
    );
    let response = b.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cleared = response.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap().starts_with("ostiary_session=;")
            && c.to_str().unwrap().contains("Max-Age=0")
    });
    assert!(cleared, "the session cookie is cleared");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-src https://app.example https://other.example")
            || csp.contains("frame-src https://other.example https://app.example"),
        "{csp}"
    );
    let html = response.text().await.unwrap();
    let issuer = form_urlencoded::byte_serialize(server.issuer.as_bytes()).collect::<String>();
    assert!(
        html.contains(&format!(
            "https:&#x2f;&#x2f;app.example&#x2f;fc?iss={issuer}"
        )),
        "{html}"
    );
    assert!(
        html.contains("other.example&#x2f;fc?x=1&amp;iss="),
        "an existing query is kept: {html}"
    );
    assert!(html.contains("&amp;sid="), "{html}");
    assert!(
        html.contains("url=https:&#x2f;&#x2f;app.example&#x2f;bye?state=s%261"),
        "{html}"
    );
    assert!(
        !signed_in_still(&server, &b).await,
        "prompt=none now says login_required"
    );
    assert_eq!(
        userinfo().await,
        401,
        "the session's access token ended with it"
    );

    // Logging out again tells nobody twice: the clients were told already.
    let again = b
        .get(logout_url(
            &server,
            &[("client_id", "spa"), ("post_logout_redirect_uri", BYE)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()["location"], BYE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_hint_the_user_confirms() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (b, _) = signed_in(&server).await;
    let page = b
        .get(logout_url(&server, &[("client_id", "spa")]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign out of spa?"), "{html}");
    let handle = hidden(&html, "handle");

    // The form only counts from the browser that opened it.
    let forged = reqwest::Client::new()
        .post(server.url("/logout"))
        .form(&[("handle", handle.as_str()), ("action", "logout")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(signed_in_still(&server, &b).await);

    let stay = b
        .post(server.url("/logout"))
        .form(&[("handle", handle.as_str()), ("action", "stay")])
        .send()
        .await
        .unwrap();
    assert!(stay.text().await.unwrap().contains("still signed in"));
    assert!(signed_in_still(&server, &b).await);

    let html = b
        .get(logout_url(&server, &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let handle = hidden(&html, "handle");
    let done = b
        .post(server.url("/logout"))
        .form(&[("handle", handle.as_str()), ("action", "logout")])
        .send()
        .await
        .unwrap();
    assert!(done.text().await.unwrap().contains("You are signed out"));
    assert!(!signed_in_still(&server, &b).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_logout_requests_never_redirect() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (b, tokens) = signed_in(&server).await;
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let foreign = {
        let keys = crate::harness::signing_keys(ostiary_jose::SigAlg::RS256);
        let claims = serde_json::json!({"iss": server.issuer, "sub": "alice", "aud": "spa"});
        let opts = ostiary_jose::EncodeOptions {
            sig_alg: Some(ostiary_jose::SigAlg::RS256),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, &keys, None).unwrap()
    };
    // The real hint's claims, unsigned (`alg: none`).
    let unsigned = {
        use base64::Engine as _;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = id_token.split('.').nth(1).unwrap();
        format!("{header}.{payload}.")
    };
    // An access token (`typ: at+jwt`) signed with the server's own key: not an ID token.
    let access_token = server
        .signed_by_server(serde_json::json!({"iss": server.issuer, "sub": "alice", "aud": "spa", "client_id": "spa"}), "at+jwt")
        .await;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("id_token_hint", &unsigned),
            ("post_logout_redirect_uri", BYE),
        ],
        vec![
            ("id_token_hint", &access_token),
            ("post_logout_redirect_uri", BYE),
        ],
        vec![
            ("client_id", "spa"),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![
            ("client_id", "spa"),
            ("post_logout_redirect_uri", "https://app.example/bye/"),
        ],
        vec![("post_logout_redirect_uri", BYE)],
        vec![("client_id", "nobody"), ("post_logout_redirect_uri", BYE)],
        vec![
            ("id_token_hint", "not-a-token"),
            ("post_logout_redirect_uri", BYE),
        ],
        vec![
            ("id_token_hint", &foreign),
            ("post_logout_redirect_uri", BYE),
        ],
        vec![
            ("id_token_hint", &id_token),
            ("client_id", "other"),
            ("post_logout_redirect_uri", BYE),
        ],
    ];
    for query in cases {
        let response = b.get(logout_url(&server, &query)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query:?}");
        assert!(response.headers().get("location").is_none(), "{query:?}");
    }
    assert!(
        signed_in_still(&server, &b).await,
        "nothing above logged out"
    );

    let discovery = server.discovery().await;
    assert_eq!(discovery["end_session_endpoint"], server.url("/logout"));
}

/// A receiver of back-channel logouts on loopback: its URL, and the logout tokens it was sent.
async fn logout_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/bc",
        axum::routing::post(
            move |form: axum::extract::Form<Vec<(String, String)>>| async move {
                let token = form.0.iter().find(|(k, _)| k == "logout_token");
                kept.lock().unwrap().extend(token.map(|(_, v)| v.clone()));
                axum::http::StatusCode::OK
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bc", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// OpenID Connect Back-Channel Logout 1.0: the session's end is posted to each client that
/// registered a `backchannel_logout_uri`, as a logout token signed like its ID tokens; only to
/// addresses the server may reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_channel_logout_posts_a_logout_token_to_the_sessions_clients() {
    for may_reach_loopback in [true, false] {
        let server = TestServer::start_with(Backend::Sqlite, |c| {
            c.fetch_private_addresses = may_reach_loopback;
        })
        .await;
        let discovery = server.discovery().await;
        assert_eq!(discovery["backchannel_logout_supported"], true);
        assert_eq!(discovery["backchannel_logout_session_supported"], true);
        let (receiver, received) = logout_receiver().await;
        let (b, tokens) = signed_in(&server).await;
        let mut spa = server.store.client("spa").await.unwrap().unwrap();
        spa.backchannel_logout_uri = Some(receiver);
        server.store.update_client(&spa).await.unwrap();
        let id_token = tokens["id_token"].as_str().unwrap();
        let url = logout_url(&server, &[("id_token_hint", id_token)]);
        assert_eq!(b.get(url).send().await.unwrap().status(), 200);
        let sent = std::time::Instant::now();
        while received.lock().unwrap().is_empty() && sent.elapsed().as_secs() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let received = received.lock().unwrap().clone();
        if !may_reach_loopback {
            assert!(received.is_empty(), "a private address is not posted to");
            continue;
        }
        assert_eq!(received.len(), 1, "spa alone registered a back-channel URI");
        let keys = server.jwks().await;
        let decoded = ostiary_jose::decode(
            &received[0],
            &ostiary_jose::JwkSet::default(),
            &keys,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(decoded.header["typ"], "logout+jwt");
        let (claims, id) = (decoded.claims, id_claims(id_token, &keys));
        assert_eq!(claims["iss"], server.issuer);
        assert_eq!(claims["aud"], "spa");
        assert_eq!(claims["sid"], id["sid"]);
        let event = "http://schemas.openid.net/event/backchannel-logout";
        assert_eq!(claims["events"], serde_json::json!({ event: {} }));
        assert!(!claims.contains_key("nonce"));
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!((1..=300).contains(&lifetime), "{lifetime}");
    }
}

fn id_claims(id_token: &str, keys: &ostiary_jose::JwkSet) -> serde_json::Map<String, Value> {
    let none = ostiary_jose::JwkSet::default();
    ostiary_jose::decode(id_token, &none, keys, &Default::default())
        .unwrap()
        .claims
}

/// Logging out revokes the tokens every client got through the session, those granted without
/// `openid` too (no ID token, but the same session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_revokes_the_sessions_tokens_granted_without_openid() {
    use ostiary_server::issue::token_hash;
    use ostiary_server::store::TokenStore as _;
    let server = TestServer::start(Backend::Sqlite).await;
    let (b, tokens) = signed_in(&server).await;
    let oauth_only = authorize_url(&server, "other", "").replace("openid%20profile", "profile");
    let params = redirect_params(&b.get(oauth_only).send().await.unwrap());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", param(&params, "code").unwrap()),
        ("redirect_uri", REDIRECT),
        ("client_id", "other"),
        ("code_verifier", VERIFIER),
    ];
    let (status, issued, _) = server.post_form("/token", &form, None).await;
    assert_eq!(status, 200, "{issued}");
    assert!(issued.get("id_token").is_none());
    let access_token = issued["access_token"].as_str().unwrap();
    let revoked = async || {
        let record = server.store.token(&token_hash(access_token)).await.unwrap();
        record.unwrap().revoked
    };
    assert!(!revoked().await);
    let hint = tokens["id_token"].as_str().unwrap();
    let url = logout_url(&server, &[("id_token_hint", hint)]);
    assert_eq!(b.get(url).send().await.unwrap().status(), 200);
    assert!(revoked().await, "the session's OAuth-only token is revoked");
}

/// A session an administrator ends (admin API) is told to its clients by back-channel logout,
/// there being no browser for front-channel frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_ending_a_session_tells_its_clients() {
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.fetch_private_addresses = true).await;
    let (receiver, received) = logout_receiver().await;
    let (_, tokens) = signed_in(&server).await;
    let mut spa = server.store.client("spa").await.unwrap().unwrap();
    spa.backchannel_logout_uri = Some(receiver);
    server.store.update_client(&spa).await.unwrap();
    let keys = server.jwks().await;
    let sid = id_claims(tokens["id_token"].as_str().unwrap(), &keys)["sid"].clone();
    let role = ostiary_portal::admin::Role::Admin;
    let api = crate::admin_api::api_token(&server, "ops", role).await;
    let path = format!("/sessions/{}", sid.as_str().unwrap());
    let delete = reqwest::Method::DELETE;
    let (status, _) = crate::admin_api::call(&server, Some(&api), delete, &path, None).await;
    assert_eq!(status, 204);
    let sent = std::time::Instant::now();
    while received.lock().unwrap().is_empty() {
        assert!(sent.elapsed().as_secs() < 5, "no logout token came");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let token = received.lock().unwrap()[0].clone();
    assert_eq!(id_claims(&token, &keys)["sid"], sid);

    // `ostiary admin session revoke`, with no server of its own, tells them too before it
    // returns, and says how many took the token.
    let b = browser();
    let page = b.get(authorize_url(&server, "spa", "")).send().await;
    let page = page.unwrap().text().await.unwrap();
    // Consent is remembered: the sign-in goes straight back to the client.
    let done = crate::authorize::login(&server, &b, &page, "alice-password").await;
    let params = redirect_params(&done);
    let tokens = crate::authorize::exchange(&server, param(&params, "code").unwrap()).await;
    let sid = id_claims(tokens["id_token"].as_str().unwrap(), &keys)["sid"].clone();
    let dir = server.dir.0.to_str().unwrap();
    let args = [
        "admin",
        "--data-dir",
        dir,
        "session",
        "revoke",
        sid.as_str().unwrap(),
    ];
    let out = crate::resource::cli_with_stdin(&args, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let said: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&said["clients_told"], &said["clients_not_reached"]),
        (&1.into(), &0.into())
    );
    let token = received.lock().unwrap().last().cloned().unwrap();
    assert_eq!(id_claims(&token, &keys)["sid"], sid);
    assert!(!signed_in_still(&server, &b).await);
}
