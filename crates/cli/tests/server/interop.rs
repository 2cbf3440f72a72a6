//! Python Authlib, an independent OAuth 2.0 client, against the server (interop/authlib/check.py).

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{Algorithm, Jwk, JwkSet, SigAlg};
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

fn python() -> std::path::PathBuf {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("OSTIARY_TEST_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| workspace.join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run scripts/test, which installs Authlib into .venv",
        python.display()
    );
    python
}

async fn authlib_against(backend: Backend) {
    let server = TestServer::start(backend).await;
    let secret = server
        .client(
            "authlib",
            AuthMethod::ClientSecretBasic,
            &[
                GrantType::ClientCredentials,
                GrantType::Password,
                GrantType::RefreshToken,
            ],
            None,
        )
        .await
        .unwrap();
    let key = Jwk::generate(Algorithm::Sig(SigAlg::RS256)).unwrap();
    server
        .client(
            "authlib-pkjwt",
            AuthMethod::PrivateKeyJwt,
            &[GrantType::ClientCredentials],
            Some(&JwkSet::from(key.clone()).public()),
        )
        .await;
    server.user("frank", "frank-password").await;
    let input = json!({
        "issuer": server.issuer,
        "basic": {"client_id": "authlib", "client_secret": secret},
        "private_key_jwt": {"client_id": "authlib-pkjwt", "jwk": key.to_value()},
        "user": {"username": "frank", "password": "frank-password"},
    });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/authlib/check.py");
    let mut child = tokio::process::Command::new(python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .await
        .unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "authlib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["steps"].as_array().unwrap().len(), 9, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_discovers_gets_refreshes_introspects_and_revokes_on_sqlite() {
    authlib_against(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_discovers_gets_refreshes_introspects_and_revokes_on_postgres() {
    authlib_against(Backend::Postgres).await;
}
