//! /authorize with the login and consent pages, sessions and prompts, over HTTP with a cookie jar.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::JwkSet;
use reqwest::redirect::Policy;
use serde_json::Value;

use crate::both_backends;
use crate::harness::{Backend, TestServer};

pub(crate) const REDIRECT: &str = "https://app.example/cb";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of a hidden input in a page.
pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub(crate) fn authorize_url(server: &TestServer, client_id: &str, extra: &str) -> String {
    format!(
        "{}?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20profile&state=st-1&nonce=n-1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        server.url("/authorize"),
        urlencode(REDIRECT)
    )
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

/// The query (or fragment) parameters of a redirect to the client.
pub(crate) fn redirect_params(response: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), 303, "expected a redirect");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let query = location
        .split_once(['?', '#'])
        .map(|x| x.1)
        .unwrap_or_default();
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":").replace("%2F", "/")))
        .collect()
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Exchanges a code issued to the public client `spa` (with the PKCE verifier of
/// [`authorize_url`]); the token response.
pub(crate) async fn exchange(server: &TestServer, code: &str) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ];
    let (status, tokens, _) = server.post_form("/token", &form, None).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

pub(crate) async fn setup(server: &TestServer) {
    server
        .client(
            "spa",
            AuthMethod::None,
            &[GrantType::AuthorizationCode],
            None,
        )
        .await;
    server
        .client(
            "other",
            AuthMethod::None,
            &[GrantType::AuthorizationCode],
            None,
        )
        .await;
    server.user("alice", "alice-password").await;
}

/// The node's `/metrics` page.
pub(crate) async fn metrics(server: &TestServer, b: &reqwest::Client) -> String {
    let response = b.get(format!("{}/metrics", server.base)).send().await;
    response.unwrap().text().await.unwrap()
}

pub(crate) async fn login(
    server: &TestServer,
    b: &reqwest::Client,
    html: &str,
    password: &str,
) -> reqwest::Response {
    let handle = hidden(html, "handle");
    b.post(server.url("/login"))
        .form(&[
            ("handle", handle.as_str()),
            ("username", "alice"),
            ("password", password),
            ("action", "login"),
        ])
        .send()
        .await
        .unwrap()
}

pub(crate) async fn consent(
    server: &TestServer,
    b: &reqwest::Client,
    html: &str,
    action: &str,
) -> reqwest::Response {
    let handle = hidden(html, "handle");
    b.post(server.url("/consent"))
        .form(&[("handle", handle.as_str()), ("action", action)])
        .send()
        .await
        .unwrap()
}

/// Opens the authorization request `url` in browser `b`, signs alice in and accepts the consent;
/// the answer to the consent (a redirect to the client).
pub(crate) async fn sign_in(
    server: &TestServer,
    b: &reqwest::Client,
    url: &str,
) -> reqwest::Response {
    let html = b.get(url).send().await.unwrap().text().await.unwrap();
    let html = login(server, b, &html, "alice-password")
        .await
        .text()
        .await
        .unwrap();
    consent(server, b, &html, "accept").await
}

async fn code_flow(server: &TestServer) {
    setup(server).await;
    let b = browser();
    let page = b
        .get(authorize_url(server, "spa", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    // The page's URL holds the request's state and PKCE challenge: no Referer may carry them.
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in") && html.contains("name=\"password\""));
    // Nothing on the page is fetched from elsewhere: no scripts at all, no styles or fonts from
    // another origin (a client's logo is the one image that may be), so no third party sees a
    // request made from it.
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    for attribute in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "<script",
        "@import",
    ] {
        assert!(!html.contains(attribute), "{attribute} in the login page");
    }

    let wrong = login(server, &b, &html, "nope").await;
    assert_eq!(wrong.status(), 401);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("Wrong username or password"));
    let consent_page = login(server, &b, &html, "alice-password").await;
    assert_eq!(consent_page.status(), 200);
    // The session cookie's value: `name=value; attributes`.
    let session_cookies: Vec<String> = consent_page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| {
            c.to_str()
                .ok()?
                .split(';')
                .next()?
                .split_once('=')
                .map(|(_, v)| v.to_owned())
        })
        .filter(|v| v.len() >= 16)
        .collect();
    assert!(!session_cookies.is_empty());
    let html = consent_page.text().await.unwrap();
    assert!(
        html.contains("profile") && html.contains("Your name and profile"),
        "{html}"
    );

    let done = consent(server, &b, &html, "accept").await;
    let params = redirect_params(&done);
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert_eq!(param(&params, "iss"), Some(server.issuer.as_str()));
    let code = param(&params, "code").unwrap().to_owned();

    let tokens = exchange(server, &code).await;
    let keys = server.jwks().await;
    let id = ostiary_jose::decode(
        tokens["id_token"].as_str().unwrap(),
        &JwkSet::default(),
        &keys,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        (id.claims["sub"].as_str(), id.claims["nonce"].as_str()),
        (Some("alice"), Some("n-1"))
    );
    assert_eq!(
        (id.claims["azp"].as_str(), id.claims["amr"][0].as_str()),
        (Some("spa"), Some("pwd"))
    );
    assert!(id.claims["sid"].is_string() && id.claims["auth_time"].is_i64());
    // A stolen database dump holds none of them: codes, tokens and session cookies are stored by
    // their hashes only.
    let dump = server.store.debug_dump().await;
    assert!(
        dump.contains(&ostiary_server::issue::token_hash(&code)),
        "the dump covers codes"
    );
    for (what, value) in [
        ("code", code.as_str()),
        ("access token", tokens["access_token"].as_str().unwrap()),
        ("session cookie", session_cookies[0].as_str()),
    ] {
        assert!(!dump.contains(value), "the {what} is in the database");
    }

    // The session and the remembered consent: the next request gets a code at once.
    let again = b
        .get(authorize_url(server, "spa", ""))
        .send()
        .await
        .unwrap();
    assert!(param(&redirect_params(&again), "code").is_some());
    // prompt=none works from the session …
    let silent = b
        .get(authorize_url(server, "spa", "&prompt=none"))
        .send()
        .await
        .unwrap();
    assert!(param(&redirect_params(&silent), "code").is_some());
    // … and a second client is SSO: login skipped, consent asked.
    let sso = b
        .get(authorize_url(server, "other", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(sso.status(), 200);
    let html = sso.text().await.unwrap();
    assert!(
        html.contains("wants to access your account"),
        "consent, not login: {html}"
    );
    let silent_other = b
        .get(authorize_url(server, "other", "&prompt=none"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&redirect_params(&silent_other), "error"),
        Some("consent_required")
    );
    // prompt=login forces the login page.
    let relogin = b
        .get(authorize_url(server, "spa", "&prompt=login"))
        .send()
        .await
        .unwrap();
    assert!(relogin.text().await.unwrap().contains("name=\"password\""));
    // A fresh browser has no session.
    let stranger = browser()
        .get(authorize_url(server, "spa", "&prompt=none"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&redirect_params(&stranger), "error"),
        Some("login_required")
    );
}

/// A PKCE challenge or nonce that comes again is flagged (RFC 9700 §2.1.1), per client: the
/// request still gets its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_challenge_or_nonce_is_flagged() {
    let server = TestServer::start(Backend::Sqlite).await;
    setup(&server).await;
    let b = browser();
    let reused = async || {
        let metrics = metrics(&server, &b).await;
        ["code_challenge", "nonce"].map(|value| {
            let line = format!("ostiary_reused_request_values_total{{value=\"{value}\"}} ");
            let count = metrics
                .split('\n')
                .find_map(|l| l.strip_prefix(line.as_str()));
            count
                .unwrap_or_else(|| panic!("{metrics}"))
                .parse::<u64>()
                .unwrap()
        })
    };
    let code_from = async |url: String| {
        let response = b.get(url).send().await.unwrap();
        assert!(param(&redirect_params(&response), "code").is_some());
    };
    let first = sign_in(&server, &b, &authorize_url(&server, "spa", "")).await;
    assert!(param(&redirect_params(&first), "code").is_some());
    assert_eq!(reused().await, [0, 0]);
    // The same challenge and nonce again, from the session: flagged, and answered.
    code_from(authorize_url(&server, "spa", "")).await;
    assert_eq!(reused().await, [1, 1]);
    // Fresh values are not; values are remembered per client.
    let fresh = authorize_url(&server, "spa", "")
        .replace(CHALLENGE, &"f".repeat(43))
        .replace("nonce=n-1", "nonce=n-2");
    code_from(fresh).await;
    assert_eq!(reused().await, [1, 1]);
}

both_backends!(code_flow_with_login_consent_sso_and_prompts, |server| {
    code_flow(&server).await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_max_age_and_response_modes() {
    let server = TestServer::start(Backend::Sqlite).await;
    setup(&server).await;
    let b = browser();
    let html = b
        .get(authorize_url(&server, "spa", ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let handle = hidden(&html, "handle");
    let cancelled = b
        .post(server.url("/login"))
        .form(&[("handle", handle.as_str()), ("action", "cancel")])
        .send()
        .await
        .unwrap();
    let params = redirect_params(&cancelled);
    assert_eq!(
        (param(&params, "error"), param(&params, "state")),
        (Some("access_denied"), Some("st-1"))
    );

    let html = b
        .get(authorize_url(&server, "spa", ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let html = login(&server, &b, &html, "alice-password")
        .await
        .text()
        .await
        .unwrap();
    let refused = consent(&server, &b, &html, "cancel").await;
    assert_eq!(
        param(&redirect_params(&refused), "error"),
        Some("access_denied")
    );

    // After the refusal the session exists but consent does not: accept this time.
    let html = b
        .get(authorize_url(&server, "spa", ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        param(
            &redirect_params(&consent(&server, &b, &html, "accept").await),
            "code"
        )
        .is_some()
    );

    // max_age: an older sign-in must be repeated.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let old = b
        .get(authorize_url(&server, "spa", "&max_age=0"))
        .send()
        .await
        .unwrap();
    assert!(
        old.text().await.unwrap().contains("name=\"password\""),
        "max_age=0 forces a new login"
    );

    let fragment = b
        .get(authorize_url(&server, "spa", "&response_mode=fragment"))
        .send()
        .await
        .unwrap();
    assert!(
        fragment.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{REDIRECT}#code="))
    );
    let form = b
        .get(authorize_url(&server, "spa", "&response_mode=form_post"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let csp = form.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains(&format!("form-action {REDIRECT}")) && csp.contains("script-src 'nonce-"));
    // minijinja escapes '/' in attributes; a browser reads it back as it was.
    let html = form.text().await.unwrap().replace("&#x2f;", "/");
    assert!(
        html.contains(&format!("action=\"{REDIRECT}\"")) && html.contains("name=\"code\""),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_render_or_redirect_as_the_rules_say() {
    let server = TestServer::start(Backend::Sqlite).await;
    setup(&server).await;
    let b = browser();
    // Never redirect to an unverified place: an unknown client, no client, two clients, or a
    // redirect URI that differs from the registered one in any byte.
    let unregistered = [
        "https://evil.example/cb",
        "https://app.example/cb/../x",
        "https://app.example/CB",
        "https://app.example/cb/",
        "https://app.example:443/cb",
        "https://APP.example/cb",
        "https://app.example/cb?x=1",
        "https://app.example/%2e%2e/cb",
        "https://app.example/cb/..;/x",
        "https://app.example/cb%252f..",
        "https://app.example/cb%2F",
        "https://app.example/cb#x",
    ];
    let mut urls: Vec<String> = unregistered
        .iter()
        .map(|uri| {
            format!(
                "{}?response_type=code&client_id=spa&redirect_uri={}",
                server.url("/authorize"),
                form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
            )
        })
        .collect();
    urls.extend([
        format!(
            "{}?response_type=code&client_id=nobody&redirect_uri={}",
            server.url("/authorize"),
            urlencode(REDIRECT)
        ),
        format!(
            "{}?response_type=code&redirect_uri={}",
            server.url("/authorize"),
            urlencode(REDIRECT)
        ),
        format!("{}?client_id=spa&client_id=other", server.url("/authorize")),
    ]);
    for url in urls {
        let r = b.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{url}");
        assert!(
            r.headers().get("location").is_none(),
            "{url} must not redirect"
        );
        assert_eq!(r.headers()["x-frame-options"], "DENY");
    }
    // Errors after the redirect URI is known go back to the client, with state and iss.
    let base = format!(
        "{}?client_id=spa&redirect_uri={}&state=s",
        server.url("/authorize"),
        urlencode(REDIRECT)
    );
    for (extra, error) in [
        ("&response_type=magic", "unsupported_response_type"),
        ("&response_type=token", "unauthorized_client"),
        ("&response_type=code", "invalid_request"), // public client without PKCE
        (
            &format!("&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=S512")
                as &str,
            "invalid_request",
        ),
        // plain PKCE, asked for or implied by a missing method (RFC 9700 §2.1.1)
        (
            &format!("&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=plain")
                as &str,
            "invalid_request",
        ),
        (
            &format!("&response_type=code&code_challenge={CHALLENGE}") as &str,
            "invalid_request",
        ),
        (
            &format!(
                "&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=S256&scope=admin"
            ) as &str,
            "invalid_scope",
        ),
        (
            &format!(
                "&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=S256&prompt=none%20login"
            ) as &str,
            "invalid_request",
        ),
    ] {
        let r = b.get(format!("{base}{extra}")).send().await.unwrap();
        let params = redirect_params(&r);
        assert_eq!(param(&params, "error"), Some(error), "{extra}");
        assert_eq!(
            (param(&params, "state"), param(&params, "iss")),
            (Some("s"), Some(server.issuer.as_str()))
        );
    }
    // A login form posted by another browser (login CSRF) or with no handle is refused.
    let html = b
        .get(authorize_url(&server, "spa", ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let attacker = browser();
    let forged = login(&server, &attacker, &html, "alice-password").await;
    assert_eq!(forged.status(), 400);
    let missing = b
        .post(server.url("/login"))
        .form(&[("username", "alice"), ("password", "alice-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    // A code is bound to its client: another client cannot redeem it.
    let html = login(&server, &b, &html, "alice-password")
        .await
        .text()
        .await
        .unwrap();
    // The consent form is bound to the browser too: another browser's answer is refused.
    let forged = consent(&server, &attacker, &html, "accept").await;
    assert_eq!(forged.status(), 400);
    assert!(forged.headers().get("location").is_none());
    let code = param(
        &redirect_params(&consent(&server, &b, &html, "accept").await),
        "code",
    )
    .unwrap()
    .to_owned();
    let (status, body, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("client_id", "other"),
                ("code_verifier", VERIFIER),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

/// OpenID Connect Core §3.1.2.1: an `id_token_hint` names the user the client expects. The
/// session answers for its own user only: for anyone else `prompt=none` gets `login_required`,
/// and without it the login page, the hinted user filled in. A hint this server did not sign is
/// an `invalid_request`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_hint_must_name_the_signed_in_user() {
    let server = TestServer::start(Backend::Sqlite).await;
    setup(&server).await;
    let b = browser();
    let code = param(
        &redirect_params(&sign_in(&server, &b, &authorize_url(&server, "spa", "")).await),
        "code",
    )
    .unwrap()
    .to_owned();
    let alices = exchange(&server, &code).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bobs = server
        .signed_by_server(
            serde_json::json!({"iss": server.issuer, "sub": "bob", "aud": "spa"}),
            "JWT",
        )
        .await;
    let with_hint = |hint: &str, extra: &str| {
        authorize_url(&server, "spa", &format!("&id_token_hint={hint}{extra}"))
    };

    let silent = b
        .get(with_hint(&alices, "&prompt=none"))
        .send()
        .await
        .unwrap();
    assert!(
        param(&redirect_params(&silent), "code").is_some(),
        "the session's own user"
    );
    let silent = b
        .get(with_hint(&bobs, "&prompt=none"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&redirect_params(&silent), "error"),
        Some("login_required")
    );
    let page = b.get(with_hint(&bobs, "")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains(r#"name="username" value="bob""#),
        "the login page, for the hinted user"
    );
    let forged = b.get(with_hint("not-a-token", "")).send().await.unwrap();
    assert_eq!(
        param(&redirect_params(&forged), "error"),
        Some("invalid_request")
    );
}

/// OpenID Connect Core §3.1.2.1: /authorize takes POST as well as GET; `login_hint` fills in the
/// username; `display`, `ui_locales` and parameters it does not know are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_by_post_with_hints_and_unknown_parameters() {
    let server = TestServer::start(Backend::Sqlite).await;
    setup(&server).await;
    let b = browser();
    let form = [
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "st-post"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("login_hint", "alice"),
        ("display", "popup"),
        ("ui_locales", "fr-CA fr en"),
        ("claims_locales", "fr"),
        ("x-unknown-extension", "whatever"),
    ];
    let page = b
        .post(server.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"name="username" value="alice""#),
        "login_hint fills in the username"
    );
    let html = login(&server, &b, &html, "alice-password")
        .await
        .text()
        .await
        .unwrap();
    let params = redirect_params(&consent(&server, &b, &html, "accept").await);
    assert_eq!(param(&params, "state"), Some("st-post"));
    assert!(param(&params, "code").is_some());
}

/// A redirect URI is one registered, character for character (RFC 9700 §4.1.3), but for the port
/// of a native app's loopback URI (RFC 8252 §7.3); anything else gets a page and no redirect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_uris_match_exactly_but_for_a_loopback_port() {
    use ostiary_server::store::ClientStore as _;
    let server = TestServer::start(Backend::Sqlite).await;
    let native = ostiary_server::config::ClientDescription {
        client_id: "native".into(),
        client_type: ostiary_server::config::ClientType::Public,
        redirect_uris: vec![
            "http://127.0.0.1/cb".into(),
            "http://[::1]:8000/cb".into(),
            "https://app.example/cb?tenant=a".into(),
        ],
        grant_types: vec![GrantType::AuthorizationCode],
        token_endpoint_auth_method: AuthMethod::None,
        ..Default::default()
    };
    native.validate().unwrap();
    server.store.create_client(&native, None).await.unwrap();
    let b = browser();
    // An unknown scope: an error that goes to the redirect URI once that is known to be good.
    let authorize = |redirect_uri: Option<&str>, extra: &str| {
        let redirect = redirect_uri
            .map(|uri| {
                format!(
                    "&redirect_uri={}",
                    form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default();
        format!(
            "{}?response_type=code&client_id=native{redirect}&scope=admin&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
            server.url("/authorize")
        )
    };
    for (uri, goes_to) in [
        (
            "http://127.0.0.1:53172/cb",
            "http://127.0.0.1:53172/cb?error=invalid_scope",
        ),
        (
            "http://127.0.0.1/cb",
            "http://127.0.0.1/cb?error=invalid_scope",
        ),
        ("http://[::1]:9/cb", "http://[::1]:9/cb?error=invalid_scope"),
        // A registered query is kept, the error's parameters added to it.
        (
            "https://app.example/cb?tenant=a",
            "https://app.example/cb?tenant=a&error=invalid_scope",
        ),
    ] {
        let r = b.get(authorize(Some(uri), "")).send().await.unwrap();
        assert_eq!(r.status(), 303, "{uri}");
        let location = r.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(goes_to), "{uri}: {location}");
    }
    for (uri, extra) in [
        ("http://127.0.0.1:53172/other", ""),
        ("http://127.0.0.1:53172/cb?x=1", ""),
        ("http://127.0.0.1:53172@evil.example/cb", ""),
        ("http://127.0.0.1.evil.example/cb", ""),
        ("http://localhost:53172/cb", ""),
        ("https://127.0.0.1:53172/cb", ""),
        ("http://127.0.0.1:/cb", ""),
        ("https://app.example/cb?tenant=b", ""),
        ("https://app.example/cb", ""),
        (
            "https://app.example/cb?tenant=a&next=https://evil.example",
            "",
        ),
        // An unknown response mode with a bad redirect URI: the URI is checked first.
        ("https://evil.example/cb", "&response_mode=bogus"),
    ] {
        let r = b.get(authorize(Some(uri), extra)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{uri}");
        assert!(
            r.headers().get("location").is_none(),
            "{uri} must not redirect"
        );
    }
    // Without redirect_uri, a client with several registered gets a page.
    let r = b.get(authorize(None, "")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("redirect_uri is missing"));
    // /authorize is for top-level navigation: no CORS, so no other origin's script reads it.
    let preflight = b
        .request(
            reqwest::Method::OPTIONS,
            authorize(Some("http://127.0.0.1/cb"), ""),
        )
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let read = b
        .get(authorize(Some("http://127.0.0.1/cb"), ""))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(read.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_template_directory_takes_effect() {
    let dir = std::env::temp_dir().join(format!("ostiary-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("login.html"), "<p>ACME sign-in for {{ client_name }}</p><form><input name=\"handle\" value=\"{{ handle }}\"></form>").unwrap();
    let templates = dir.to_string_lossy().into_owned();
    let server = TestServer::start_with(Backend::Sqlite, move |c| {
        c.customization.templates_dir = Some(templates)
    })
    .await;
    setup(&server).await;
    let html = browser()
        .get(authorize_url(&server, "spa", ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("ACME sign-in for spa"), "{html}");
    // Pages it does not override stay the built-in ones.
    let error = browser()
        .get(format!("{}?client_id=nobody", server.url("/authorize")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("This request cannot go on"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_are_slowed_down() {
    // Loopback is a trusted proxy: a request's own address is 127.0.0.1, or the one it forwards.
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    setup(&server).await;
    let b = browser();
    let mut html = b
        .get(authorize_url(&server, "spa", ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for _ in 0..5 {
        let r = login(&server, &b, &html, "wrong").await;
        assert_eq!(r.status(), 401);
        html = r.text().await.unwrap();
    }
    // Even the right password waits now, with a clear message.
    let blocked = login(&server, &b, &html, "alice-password").await;
    assert_eq!(blocked.status(), 429);
    let retry_after: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    // Five wrong passwords and one refused attempt, in this node's metrics.
    let metrics = metrics(&server, &b).await;
    assert!(
        metrics.contains("\nostiary_login_failures_total{realm=\"user\"} 6\n"),
        "{metrics}"
    );
    assert!(
        blocked
            .text()
            .await
            .unwrap()
            .contains("Too many failed sign-ins")
    );
    // The lock is the guesser's address's: from another one, the right password passes.
    let elsewhere = browser_at("203.0.113.7");
    let html = html_of(&server, &elsewhere).await;
    let signed_in = login(&server, &elsewhere, &html, "alice-password").await;
    assert_eq!(signed_in.status(), 200);
    let consent = signed_in.text().await.unwrap();
    assert!(
        consent.contains("Signed in as <strong>alice</strong>"),
        "{consent}"
    );
    // …while the guesser's address still waits.
    assert_eq!(
        login(&server, &b, &html_of(&server, &b).await, "alice-password")
            .await
            .status(),
        429
    );
}

/// A browser whose requests come, by a trusted proxy's word, from `address`.
fn browser_at(address: &'static str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(
            [(
                reqwest::header::HeaderName::from_static("x-forwarded-for"),
                reqwest::header::HeaderValue::from_static(address),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap()
}

/// Credential stuffing: one address trying many users, a wrong password each, is stopped after
/// thirty failures in the window, whichever users it names (unknown ones included: they cost the
/// same hash), while the users themselves still sign in from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_guessing_many_users_is_stopped() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.trusted_proxies = vec!["127.0.0.0/8".into()];
    })
    .await;
    setup(&server).await;
    let stuffer = browser_at("198.51.100.9");
    let mut html = html_of(&server, &stuffer).await;
    for n in 0..ostiary_server::ratelimit::PER_ADDRESS {
        // Alice among strangers; each name is tried less often than its own limit of five.
        let username = if n == 0 {
            "alice".to_owned()
        } else {
            format!("user-{n}")
        };
        let attempt = stuffer
            .post(server.url("/login"))
            .form(&[
                ("handle", hidden(&html, "handle").as_str()),
                ("username", username.as_str()),
                ("password", "Summer2026!"),
                ("action", "login"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(attempt.status(), 401, "{n}");
        html = attempt.text().await.unwrap();
    }
    let handle = hidden(&html, "handle");
    let blocked = stuffer
        .post(server.url("/login"))
        .form(&[
            ("handle", handle.as_str()),
            ("username", "bob"),
            ("password", "anything"),
            ("action", "login"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        blocked.status(),
        429,
        "the address is stopped, whoever it names"
    );
    assert!(blocked.headers().contains_key("retry-after"));
    let elsewhere = browser_at("203.0.113.7");
    let html = html_of(&server, &elsewhere).await;
    assert_eq!(
        login(&server, &elsewhere, &html, "alice-password")
            .await
            .status(),
        200
    );
}

/// The page `/authorize` shows `b` for the client `spa`.
async fn html_of(server: &TestServer, b: &reqwest::Client) -> String {
    let page = b
        .get(authorize_url(server, "spa", ""))
        .send()
        .await
        .unwrap();
    page.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_and_hybrid_responses_travel_in_the_fragment() {
    use ostiary_server::config::{ClientDescription, ClientType};
    use ostiary_server::store::ClientStore as _;
    let server =
        TestServer::start_with(Backend::Sqlite, |c| c.grant_types.push(GrantType::Implicit)).await;
    server.user("alice", "alice-password").await;
    let types = [
        "code",
        "id_token",
        "token",
        "code id_token",
        "code token",
        "id_token token",
        "code id_token token",
    ];
    let client = ClientDescription {
        client_id: "hybrid".into(),
        client_type: ClientType::Confidential,
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::Implicit],
        response_types: types.iter().map(|t| (*t).to_owned()).collect(),
        token_endpoint_auth_method: AuthMethod::ClientSecretPost,
        ..Default::default()
    };
    server
        .store
        .create_client(&client, Some("hybrid-secret-0123456789abcdef0123456789"))
        .await
        .unwrap();
    let keys = server.jwks().await;
    let b = browser();
    let url = |response_type: &str, extra: &str| {
        format!(
            "{}?response_type={}&client_id=hybrid&redirect_uri={}&scope=openid%20email&state=st&nonce=n-h{extra}",
            server.url("/authorize"),
            response_type.replace(' ', "%20"),
            urlencode(REDIRECT)
        )
    };
    // Sign in once (consent included), then every response type answers from the session.
    let done = sign_in(&server, &b, &url("code id_token token", "")).await;
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{REDIRECT}#")),
        "hybrid answers in the fragment: {location}"
    );
    let params = redirect_params(&done);
    let (code, access, id_token) = (
        param(&params, "code").unwrap(),
        param(&params, "access_token").unwrap(),
        param(&params, "id_token").unwrap(),
    );
    let id =
        ostiary_jose::decode(id_token, &JwkSet::default(), &keys, &Default::default()).unwrap();
    assert_eq!(id.claims["nonce"], "n-h");
    assert_eq!(
        id.claims["c_hash"].as_str().unwrap(),
        ostiary_server::issue::left_half_hash(ostiary_jose::SigAlg::RS256, code)
    );
    assert_eq!(
        id.claims["at_hash"].as_str().unwrap(),
        ostiary_server::issue::left_half_hash(ostiary_jose::SigAlg::RS256, access)
    );
    assert_eq!(param(&params, "token_type"), Some("Bearer"));
    let userinfo: Value = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], "alice@example.com");
    let (status, _, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("client_id", "hybrid"),
                ("client_secret", "hybrid-secret-0123456789abcdef0123456789"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "the hybrid code redeems");

    let only_id = redirect_params(&b.get(url("id_token", "")).send().await.unwrap());
    assert!(
        param(&only_id, "id_token").is_some()
            && param(&only_id, "access_token").is_none()
            && param(&only_id, "code").is_none()
    );
    let reordered = redirect_params(&b.get(url("token id_token", "")).send().await.unwrap());
    assert!(param(&reordered, "id_token").is_some() && param(&reordered, "access_token").is_some());
    // A hybrid response by form_post: a page that posts every parameter, nothing in a URL.
    let posted = b
        .get(url("code id_token", "&response_mode=form_post"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert!(posted.headers().get("location").is_none());
    let html = posted.text().await.unwrap().replace("&#x2f;", "/");
    assert!(html.contains(&format!("action=\"{REDIRECT}\"")), "{html}");
    for name in ["code", "id_token", "state", "iss"] {
        assert!(html.contains(&format!("name=\"{name}\"")), "{name}: {html}");
    }
    assert!(!html.contains("name=\"access_token\""), "{html}");
    // Tokens never go in the query, and an ID token needs a nonce.
    let in_query = redirect_params(
        &b.get(url("token", "&response_mode=query"))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(param(&in_query, "error"), Some("invalid_request"));
    let no_nonce = b
        .get(url("id_token", "").replace("&nonce=n-h", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&redirect_params(&no_nonce), "error"),
        Some("invalid_request")
    );
    // A client that did not register implicit may not use it.
    server
        .client(
            "codeonly",
            AuthMethod::None,
            &[GrantType::AuthorizationCode],
            None,
        )
        .await;
    let refused = b
        .get(url("id_token", "").replace("client_id=hybrid", "client_id=codeonly"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&redirect_params(&refused), "error"),
        Some("unauthorized_client")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claims_parameter_releases_what_it_names() {
    let server = TestServer::start(Backend::Sqlite).await;
    setup(&server).await;
    let b = browser();
    let claims = r#"{"id_token":{"email":{"essential":true}},"userinfo":{"name":null}}"#;
    let url = format!(
        "{}?response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256&claims={}",
        server.url("/authorize"),
        urlencode(REDIRECT),
        claims
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
            .replace(':', "%3A")
            .replace(',', "%2C")
    );
    let code = param(&redirect_params(&sign_in(&server, &b, &url).await), "code")
        .unwrap()
        .to_owned();
    let tokens = exchange(&server, &code).await;
    let keys = server.jwks().await;
    let id = ostiary_jose::decode(
        tokens["id_token"].as_str().unwrap(),
        &JwkSet::default(),
        &keys,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        id.claims["email"], "alice@example.com",
        "asked for in the ID token"
    );
    assert!(
        id.claims.get("name").is_none(),
        "asked for in userinfo only"
    );
    let userinfo: Value = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["name"], "Alice Liddell");
    assert!(userinfo.get("email").is_none());
    let bad = b
        .get(url.replace("claims=", "claims=not-json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&redirect_params(&bad), "error"),
        Some("invalid_request")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_downgrade_and_code_reuse_are_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    server.user("alice", "alice-password").await;
    // A confidential client (PKCE not enforced for it by default) that sent no code_challenge.
    let secret = server
        .client(
            "web",
            AuthMethod::ClientSecretPost,
            &[GrantType::AuthorizationCode],
            None,
        )
        .await
        .unwrap();
    let b = browser();
    let url = format!(
        "{}?response_type=code&client_id=web&redirect_uri={}&scope=openid&state=s",
        server.url("/authorize"),
        urlencode(REDIRECT)
    );
    let code = param(&redirect_params(&sign_in(&server, &b, &url).await), "code")
        .unwrap()
        .to_owned();
    let exchange = |code: String, verifier: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_owned()),
            ("client_id", "web".to_owned()),
            ("client_secret", secret.clone()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v.to_owned()));
        }
        server.http.post(server.url("/token")).form(&form).send()
    };
    // RFC 9700 §2.1.1: a code_verifier for a code issued without a challenge is a downgrade attempt.
    let downgrade = exchange(code, Some(VERIFIER)).await.unwrap();
    assert_eq!(downgrade.status(), 400);
    assert_eq!(
        downgrade.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // A fresh code redeems once; the second use fails and revokes what the first one gave.
    let again = b.get(&url).send().await.unwrap();
    let code = param(&redirect_params(&again), "code").unwrap().to_owned();
    let first: Value = exchange(code.clone(), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(first["access_token"].is_string(), "{first}");
    let second = exchange(code, None).await.unwrap();
    assert_eq!(second.status(), 400);
    let userinfo = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        userinfo.status(),
        401,
        "tokens of a replayed code are revoked"
    );
}

/// The `acr` of an ID token for a code from `response`.
async fn acr_of(server: &TestServer, response: reqwest::Response) -> String {
    let params = redirect_params(&response);
    let code = param(&params, "code").unwrap_or_else(|| panic!("no code: {params:?}"));
    let tokens = exchange(server, code).await;
    let id = ostiary_jose::decode(
        tokens["id_token"].as_str().unwrap(),
        &JwkSet::default(),
        &server.jwks().await,
        &Default::default(),
    )
    .unwrap();
    id.claims["acr"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acr_values_and_select_account() {
    let server = TestServer::start(Backend::Sqlite).await;
    setup(&server).await;
    let b = browser();
    let done = sign_in(&server, &b, &authorize_url(&server, "spa", "")).await;
    assert_eq!(acr_of(&server, done).await, "1", "a password sign-in");
    let sso = b
        .get(authorize_url(&server, "spa", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(acr_of(&server, sso).await, "0", "the session answered");

    // acr_values=1: the session is not enough, the user signs in again.
    let step_up = b
        .get(authorize_url(&server, "spa", "&acr_values=1"))
        .send()
        .await
        .unwrap();
    let html = step_up.text().await.unwrap();
    assert!(html.contains("name=\"password\""), "{html}");
    let done = login(&server, &b, &html, "alice-password").await;
    assert_eq!(acr_of(&server, done).await, "1");
    // An essential acr the sign-in cannot meet fails it (OpenID Connect Core §5.5.1.1).
    let claims = "&claims=%7B%22id_token%22%3A%7B%22acr%22%3A%7B%22essential%22%3Atrue%2C%22value%22%3A%22urn%3Aother%22%7D%7D%7D";
    let html = b
        .get(authorize_url(&server, "spa", claims))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = login(&server, &b, &html, "alice-password").await;
    assert_eq!(
        param(&redirect_params(&refused), "error"),
        Some("access_denied")
    );

    // prompt=select_account offers the session's user, and signing in as them again works too.
    let choose = b
        .get(authorize_url(&server, "spa", "&prompt=select_account"))
        .send()
        .await
        .unwrap();
    assert_eq!(choose.status(), 200);
    let html = choose.text().await.unwrap();
    assert!(html.contains("Continue as alice"), "{html}");
    let handle = hidden(&html, "handle");
    let continued = b
        .post(server.url("/login"))
        .form(&[("handle", handle.as_str()), ("action", "continue")])
        .send()
        .await
        .unwrap();
    assert_eq!(acr_of(&server, continued).await, "0");
    // Continuing needs the session the page offered: with another session cookie, the same
    // browser is asked to sign in.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let b = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .build()
        .unwrap();
    let html = b
        .get(authorize_url(&server, "spa", ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    login(&server, &b, &html, "alice-password").await;
    let html = b
        .get(authorize_url(&server, "spa", "&prompt=select_account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let handle = hidden(&html, "handle");
    let url: reqwest::Url = server.url("/login").parse().unwrap();
    let cookies = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &url).unwrap();
    let swapped: String = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .map(|c| {
            if c.starts_with("ostiary_session=") {
                "ostiary_session=forged"
            } else {
                c
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let response = reqwest::Client::new()
        .post(url)
        .header("cookie", swapped)
        .form(&[("handle", handle.as_str()), ("action", "continue")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("sign in again"));

    let discovery = server.discovery().await;
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!(["0", "1"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_aud_becomes_the_access_tokens_audience() {
    let server = TestServer::start_with(Backend::Sqlite, |config| {
        config.audience_required = true;
        config.access_token_format = ostiary_server::config::AccessTokenFormat::Jwt;
    })
    .await;
    setup(&server).await;
    let b = browser();
    let missing = b
        .get(authorize_url(&server, "spa", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&redirect_params(&missing), "error"),
        Some("invalid_request")
    );
    let params = redirect_params(
        &sign_in(
            &server,
            &b,
            &authorize_url(&server, "spa", "&aud=https%3A%2F%2Fapi.example"),
        )
        .await,
    );
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
    let access = ostiary_jose::decode(
        tokens["access_token"].as_str().unwrap(),
        &JwkSet::default(),
        &server.jwks().await,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        access.claims["aud"],
        serde_json::json!(["https://api.example"])
    );
    assert_eq!(access.claims["client_id"], "spa");
}

/// PKCE is required of public clients by default, and of confidential ones when the server says
/// so (`enforce_pkce_confidential_clients`; off by default, as in the reference).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confidential_clients_can_be_held_to_pkce() {
    for enforced in [false, true] {
        let server = TestServer::start_with(Backend::Sqlite, |c| {
            c.enforce_pkce_confidential_clients = enforced;
        })
        .await;
        let grants = [GrantType::AuthorizationCode];
        server
            .client("conf", AuthMethod::ClientSecretBasic, &grants, None)
            .await;
        let url = format!(
            "{}?response_type=code&client_id=conf&redirect_uri={}&scope=openid&state=s-1&nonce=n",
            server.url("/authorize"),
            urlencode(REDIRECT)
        );
        let response = browser().get(url).send().await.unwrap();
        if enforced {
            let params = redirect_params(&response);
            assert_eq!(
                param(&params, "error"),
                Some("invalid_request"),
                "{params:?}"
            );
            assert_eq!(param(&params, "state"), Some("s-1"));
        } else {
            assert_eq!(response.status(), 200, "the login page");
        }
    }
}
