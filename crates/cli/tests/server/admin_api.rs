//! The admin JSON API (`/admin/api`) of `ostiary serve`: token authentication and roles, every
//! operation, the audit trail, and the OpenAPI document against the router.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_portal::Admin;
use ostiary_portal::admin::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

/// A new admin API token named `name` with `role`.
pub(crate) async fn api_token(server: &TestServer, name: &str, role: Role) -> String {
    let admin = Admin {
        store: &server.store,
        actor: "test",
    };
    admin.create_api_token(name, role, 3600).await.unwrap()
}

/// Calls the admin API; returns the status and the JSON body (`Null` when there is none).
pub(crate) async fn call(
    server: &TestServer,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server
        .http
        .request(method, format!("{}/admin/api{path}", server.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_a_token_and_viewers_only_read() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = api_token(&server, "ops", Role::Admin).await;
    let viewer = api_token(&server, "auditor", Role::Viewer).await;

    let response = server
        .http
        .get(format!("{}/admin/api/clients", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (status, body) = call(&server, Some("made-up"), Method::GET, "/clients", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );

    // An OAuth access token is not an admin token.
    let secret = server
        .client(
            "svc",
            AuthMethod::ClientSecretBasic,
            &[GrantType::ClientCredentials],
            None,
        )
        .await
        .unwrap();
    let (_, issued, _) = server
        .post_form(
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("svc", &secret)),
        )
        .await;
    let access_token = issued["access_token"].as_str().unwrap();
    let (status, _) = call(&server, Some(access_token), Method::GET, "/clients", None).await;
    assert_eq!(status, 401);

    let (status, clients) = call(&server, Some(&viewer), Method::GET, "/clients", None).await;
    assert_eq!(status, 200);
    assert_eq!(clients[0]["client_id"], "svc");
    let (status, body) = call(&server, Some(&viewer), Method::DELETE, "/clients/svc", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let (status, _) = call(&server, Some(&admin), Method::GET, "/clients/svc", None).await;
    assert_eq!(status, 200, "the viewer changed nothing");

    // Revoked tokens stop working; the OpenAPI document needs none.
    let ops = Admin {
        store: &server.store,
        actor: "test",
    };
    assert_eq!(ops.revoke_api_tokens("auditor").await.unwrap(), 1);
    let (status, _) = call(&server, Some(&viewer), Method::GET, "/clients", None).await;
    assert_eq!(status, 401);
    let (status, document) = call(&server, None, Method::GET, "/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let (status, body) = call(&server, Some(&admin), Method::GET, "/nowhere", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_users_keys_and_configuration_through_the_api_are_audited() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = api_token(&server, "ops", Role::Admin).await;
    let token = Some(token.as_str());

    // A client description: created (secret shown once), read, changed, given a new secret.
    let (status, created) = call(
        &server,
        token,
        Method::POST,
        "/clients",
        Some(json!({"client_name": "Billing", "grant_types": ["client_credentials"], "scope": "profile"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let (status, shown) = call(&server, token, Method::GET, &format!("/clients/{id}"), None).await;
    assert_eq!(status, 200);
    assert!(shown.get("client_secret").is_none());
    let (status, changed) = call(
        &server,
        token,
        Method::PATCH,
        &format!("/clients/{id}"),
        Some(json!({"description": "pays the bills"})),
    )
    .await;
    assert_eq!(
        (status, changed["description"].as_str()),
        (200, Some("pays the bills"))
    );
    let (status, body) = call(
        &server,
        token,
        Method::PATCH,
        &format!("/clients/{id}"),
        Some(json!({"redirect_uris": ["not a uri"]})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = call(&server, token, Method::POST, "/clients", Some(json!([1]))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, renewed) = call(
        &server,
        token,
        Method::POST,
        &format!("/clients/{id}/secret"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let renewed = renewed["client_secret"].as_str().unwrap().to_owned();
    let cc = [("grant_type", "client_credentials")];
    let (status, _, _) = server.post_form("/token", &cc, Some((&id, &secret))).await;
    assert_eq!(status, 401, "the old secret is gone");
    let (status, issued, _) = server.post_form("/token", &cc, Some((&id, &renewed))).await;
    assert_eq!(status, 200);
    let client_token = issued["access_token"].as_str().unwrap().to_owned();

    // Revoking a client's tokens shows at introspection.
    let (status, revoked) = call(
        &server,
        token,
        Method::POST,
        "/tokens/revoke",
        Some(json!({"client": id})),
    )
    .await;
    assert_eq!((status, revoked["revoked"].as_u64()), (200, Some(1)));
    let (_, introspected, _) = server
        .post_form(
            "/introspection",
            &[("token", &client_token)],
            Some((&id, &renewed)),
        )
        .await;
    assert_eq!(introspected["active"], false);

    // Users: created, changed, given a password, deleted.
    let (status, alice) = call(
        &server,
        token,
        Method::POST,
        "/users",
        Some(json!({"username": "alice", "password": "wonderland", "claims": {"email": "alice@example.com"}})),
    )
    .await;
    assert_eq!((status, alice["enabled"].as_bool()), (201, Some(true)));
    let (status, _) = call(
        &server,
        token,
        Method::POST,
        "/users",
        Some(json!({"username": "alice", "password": "again"})),
    )
    .await;
    assert_eq!(status, 409);
    let (status, body) = call(
        &server,
        token,
        Method::POST,
        "/users",
        Some(json!({"username": "bob"})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, alice) = call(
        &server,
        token,
        Method::PATCH,
        "/users/alice",
        Some(json!({"claims": {"email": "alice@wonderland.example"}})),
    )
    .await;
    assert_eq!(
        (status, alice["claims"]["email"].as_str()),
        (200, Some("alice@wonderland.example"))
    );
    let (status, _) = call(
        &server,
        token,
        Method::PUT,
        "/users/alice/password",
        Some(json!({"password": "looking-glass"})),
    )
    .await;
    assert_eq!(status, 204);
    let hash = ostiary_server::store::UserStore::password_hash(&server.store, "alice")
        .await
        .unwrap()
        .unwrap();
    assert!(ostiary_server::password::verify("looking-glass", &hash));
    let (status, _) = call(&server, token, Method::DELETE, "/users/alice", None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&server, token, Method::GET, "/users/alice", None).await;
    assert_eq!(status, 404);

    // The server configuration: a valid change is saved, an invalid one changes nothing.
    let (status, config) = call(
        &server,
        token,
        Method::PATCH,
        "/server-config",
        Some(json!({"description": "staging", "intervals": {"access_token": 600}})),
    )
    .await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(
        (
            config["description"].as_str(),
            config["intervals"]["access_token"].as_u64()
        ),
        (Some("staging"), Some(600))
    );
    let (status, _) = call(
        &server,
        token,
        Method::PATCH,
        "/server-config",
        Some(json!({"no_such_option": true})),
    )
    .await;
    assert_eq!(status, 400);
    // Schemathesis found this one: X.509 files that are not there were saved, and left the
    // server without keys and the configuration unreadable. Refused now, nothing saved.
    let (status, refused) = call(
        &server,
        token,
        Method::PATCH,
        "/server-config",
        Some(json!({"jwt": {"x509": {"certificate_file": "0", "private_key_file": "0"}}})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let (status, config) = call(&server, token, Method::GET, "/server-config", None).await;
    assert_eq!(status, 200);
    assert_eq!(config["description"], "staging");
    assert_eq!(config["jwt"]["x509"], Value::Null);

    // Rotate Keys: a new kid is published.
    let before: Vec<String> = kids(&server).await;
    let (status, _) = call(
        &server,
        token,
        Method::POST,
        "/server-config/rotate-keys",
        None,
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(ostiary_server::state::CACHE_TTL + std::time::Duration::from_millis(300))
        .await;
    let after = kids(&server).await;
    assert!(
        after.iter().any(|k| !before.contains(k)),
        "{before:?} {after:?}"
    );

    let (status, _) = call(
        &server,
        token,
        Method::DELETE,
        &format!("/clients/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);

    // Everything above is in the audit log, as done by this token, with no secret in it.
    let (status, log) = call(&server, token, Method::GET, "/audit?limit=50", None).await;
    assert_eq!(status, 200);
    let text = log.to_string();
    assert!(!text.contains(&secret) && !text.contains(&renewed) && !text.contains("looking-glass"));
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "api-token:ops")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "client.delete",
            "keys.rotate",
            "server_config.update",
            "user.delete",
            "user.set_password",
            "user.update",
            "user.create",
            "tokens.revoke_client",
            "client.regenerate_secret",
            "client.update",
            "client.create",
        ]
    );
    let config_change = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "server_config.update")
        .unwrap();
    assert_eq!(
        config_change["detail"]["changed"],
        json!(["description", "intervals.access_token"])
    );
}

async fn kids(server: &TestServer) -> Vec<String> {
    server
        .jwks()
        .await
        .keys
        .iter()
        .filter_map(|k| k.kid.clone())
        .collect()
}

/// Every operation of the OpenAPI document is routed, and answers with a status the document
/// lists — never a 405, a 5xx or a framework error in another shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_of_the_openapi_document_is_served_as_documented() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = api_token(&server, "ops", Role::Admin).await;
    let (_, document) = call(&server, None, Method::GET, "/openapi.json", None).await;
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue; // path-level `parameters`
            }
            let method: Method = method.to_uppercase().parse().unwrap();
            let concrete = path
                .replace("{client_id}", "nobody")
                .replace("{username}", "nobody")
                .replace("{issuer}", "https%3A%2F%2Fnowhere.example")
                .replace("{app}", "nobody")
                .replace("{id}", "nobody")
                .replace("{sid}", "nobody");
            // The body: an empty object, which every operation must refuse or accept cleanly.
            let body = operation.get("requestBody").map(|_| json!({}));
            let (status, answer) =
                call(&server, Some(&token), method.clone(), &concrete, body).await;
            let documented = operation["responses"]
                .as_object()
                .unwrap()
                .contains_key(&status.to_string());
            assert!(documented, "{method} {path}: {status} {answer}");
            // Only a named item can be missing: a 404 elsewhere is a route the router lacks.
            assert!(
                status != 404 || path.contains('{'),
                "{method} {path} is not routed"
            );
            if status >= 400 {
                assert!(answer["error"].is_string(), "{method} {path}: {answer}");
            }
            operations += 1;
        }
    }
    assert_eq!(operations, 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_grants_and_tokens_are_found_and_revoked() {
    use ostiary_server::store::{InteractionStore as _, SessionRecord};
    let server = TestServer::start(Backend::Sqlite).await;
    let token = api_token(&server, "ops", Role::Admin).await;
    let token = Some(token.as_str());
    let (secret, access_token) = server.user_token("alice", "wonderland", None).await;
    let now = ostiary::settings::now();
    server
        .store
        .create_session(&SessionRecord {
            hash: "cookie-hash".into(),
            sid: "sid-1".into(),
            username: "alice".into(),
            auth_time: now,
            expires_at: now + 600,
        })
        .await
        .unwrap();
    server
        .store
        .save_consent("alice", "web", "openid profile", now)
        .await
        .unwrap();

    // The same from a shell, on the same data.
    let dir = server.dir.0.to_str().unwrap().to_owned();
    let cli = |args: &[&str]| {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data-dir", &dir]);
        let out = crate::resource::cli_with_stdin(&all, "");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(
        cli(&["session", "list", "--user", "alice"])[0]["sid"],
        "sid-1"
    );
    assert_eq!(cli(&["grant", "list"])[0]["client_id"], "web");
    let listed = cli(&["token", "list", "--client", "web"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // A second session and grant, ended and revoked from the shell.
    server
        .store
        .create_session(&SessionRecord {
            hash: "cookie-hash-2".into(),
            sid: "sid-2".into(),
            username: "alice".into(),
            auth_time: now,
            expires_at: now + 600,
        })
        .await
        .unwrap();
    server
        .store
        .save_consent("alice", "other", "openid", now)
        .await
        .unwrap();
    assert_eq!(cli(&["session", "revoke", "sid-2"])["ended"], "sid-2");
    assert_eq!(
        cli(&["grant", "revoke", "alice", "other"])["revoked"]["client_id"],
        "other"
    );
    assert_eq!(cli(&["session", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(cli(&["grant", "list"]).as_array().unwrap().len(), 1);

    let (status, sessions) = call(&server, token, Method::GET, "/sessions?user=alice", None).await;
    assert_eq!(status, 200);
    assert_eq!(sessions[0]["sid"], "sid-1");
    assert!(sessions[0].get("hash").is_none(), "never the cookie's hash");
    // A token issued through that session ends with it (as at a logout); alice's others stay.
    use ostiary_server::store::{TokenKind, TokenRecord, TokenStore as _};
    let through_session = TokenRecord {
        hash: "token-of-sid-1".into(),
        kind: TokenKind::Access,
        client_id: "another-client".into(),
        username: Some("alice".into()),
        scope: "openid".into(),
        family: "family-of-sid-1".into(),
        grant_id: None,
        jti: "jti-of-sid-1".into(),
        audience: Vec::new(),
        issued_at: now,
        expires_at: now + 600,
        revoked: false,
        extra: json!({"sid": "sid-1"}).as_object().unwrap().clone(),
    };
    server.store.insert_token(&through_session).await.unwrap();
    let (status, _) = call(&server, token, Method::DELETE, "/sessions/sid-1", None).await;
    assert_eq!(status, 204);
    let ended = server.store.token("token-of-sid-1").await.unwrap().unwrap();
    assert!(ended.revoked, "the session's token is revoked");
    let alices_token_active = async || {
        let form = [("token", access_token.as_str())];
        let (_, introspected, _) = server
            .post_form("/introspection", &form, Some(("web", &secret)))
            .await;
        introspected["active"].clone()
    };
    assert_eq!(
        alices_token_active().await,
        true,
        "a token of no session stays"
    );
    let (_, sessions) = call(&server, token, Method::GET, "/sessions", None).await;
    assert_eq!(sessions, json!([]));
    let (status, _) = call(&server, token, Method::DELETE, "/sessions/sid-1", None).await;
    assert_eq!(status, 404);

    let (_, grants) = call(&server, token, Method::GET, "/grants?user=alice", None).await;
    assert_eq!(grants[0]["scope"], "openid profile");
    let (status, _) = call(&server, token, Method::DELETE, "/grants/alice/web", None).await;
    assert_eq!(status, 204);
    let (_, grants) = call(&server, token, Method::GET, "/grants", None).await;
    assert_eq!(grants, json!([]));

    let (_, found) = call(
        &server,
        token,
        Method::GET,
        "/tokens?user=alice&client=web",
        None,
    )
    .await;
    let access = found
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "access")
        .unwrap();
    assert!(
        !found.to_string().contains(&access_token),
        "ids, never tokens"
    );
    let id = access["id"].as_str().unwrap();
    let (status, _) = call(
        &server,
        token,
        Method::POST,
        &format!("/tokens/{id}/revoke"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        cli(&["token", "list", "--user", "alice"])[0]["revoked"],
        true
    );
    let revoked_by_cli = cli(&["token", "revoke", "--id", id]);
    assert_eq!(revoked_by_cli["revoked"], 1, "revoking again is harmless");
    assert_eq!(alices_token_active().await, false);
    let (status, _) = call(&server, token, Method::GET, "/tokens?limit=many", None).await;
    assert_eq!(status, 400);

    // A new password ends what the old one signed in to: tokens and login sessions.
    let (status, issued, _) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "wonderland"),
            ],
            Some(("web", &secret)),
        )
        .await;
    assert_eq!(status, 200, "{issued}");
    server
        .store
        .create_session(&SessionRecord {
            hash: "cookie-hash-3".into(),
            sid: "sid-3".into(),
            username: "alice".into(),
            auth_time: now,
            expires_at: now + 600,
        })
        .await
        .unwrap();
    let new_password = json!({ "password": "looking-glass" });
    let (status, _) = call(
        &server,
        token,
        Method::PUT,
        "/users/alice/password",
        Some(new_password),
    )
    .await;
    assert_eq!(status, 204);
    let (_, introspected, _) = server
        .post_form(
            "/introspection",
            &[("token", issued["access_token"].as_str().unwrap())],
            Some(("web", &secret)),
        )
        .await;
    assert_eq!(introspected["active"], false);
    let (_, sessions) = call(&server, token, Method::GET, "/sessions?user=alice", None).await;
    assert_eq!(sessions, json!([]));
}

/// Schemathesis (property-based, from the OpenAPI document) against the API: no server error,
/// statuses, content types and response bodies as documented, schema-violating input refused.
/// Operations that fetch a URL from their input (discovery, registration, UpdateJWKS) are left
/// out: the fuzzer's URLs would leave loopback. Bounded: 25 examples an operation, a fixed seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_holds_up_under_schemathesis() {
    let server = TestServer::start(Backend::Sqlite).await;
    let token = api_token(&server, "fuzz", Role::Admin).await;
    let schemathesis = crate::interop::python().with_file_name("schemathesis");
    assert!(
        schemathesis.exists(),
        "{} not found: run scripts/test, which installs it into .venv",
        schemathesis.display()
    );
    let api = format!("{}/admin/api", server.base);
    let run = tokio::process::Command::new(&schemathesis)
        .args(["run", &format!("{api}/openapi.json"), "--url", &api])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", "25", "--seed", "1"])
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args([
            "--exclude-operation-id",
            "discoverServer",
            "--exclude-operation-id",
            "refreshServerKeys",
            "--exclude-operation-id",
            "registerClientConfiguration",
        ])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("schemathesis finished within 300 s")
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("passed"), "{report}");
}
