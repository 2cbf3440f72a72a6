//! A rolling upgrade on one PostgreSQL: a node of the version before (the baseline that
//! `scripts/baseline` builds) keeps serving while nodes of this version start beside it. The old
//! version made the database and this one migrates it under the running old node; what either
//! issues, the other honours, and what either spends or revokes, the other sees.

use std::path::PathBuf;

use crate::authorize::{authorize_url, browser, param, redirect_params, setup};
use crate::harness::{TempDir, TestServer, free_address, postgres_database, serve_process, unique};
use crate::nodes::{ALICES_PASSWORD_GRANT, active, code_from, kid_of, redeem, refresh, web_client};

/// The baseline's `ostiary`, which `scripts/test` builds and names in `OSTIARY_TEST_BASELINE`;
/// `skip` there when the clone lacks the baseline's commit (a shallow clone).
fn baseline() -> Option<PathBuf> {
    let path = std::env::var("OSTIARY_TEST_BASELINE").expect(
        "OSTIARY_TEST_BASELINE names the baseline's ostiary: scripts/test builds it (scripts/baseline)",
    );
    if path == "skip" {
        eprintln!("skipped: the baseline's commit is not in this clone");
        return None;
    }
    Some(PathBuf::from(path))
}

fn temp_dir(what: &str) -> TempDir {
    let dir = TempDir(std::env::temp_dir().join(format!("ostiary-{what}-{}", unique())));
    std::fs::create_dir_all(&dir.0).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_new_nodes_serve_one_database_through_a_rolling_upgrade() {
    let Some(old_version) = baseline() else {
        return;
    };
    // Before the upgrade, a node of the old version made the database (schema, configuration,
    // keys) and serves it.
    let (dir, old_dir) = (temp_dir("it"), temp_dir("node"));
    let database = postgres_database(&dir.0).await;
    let master_key = ostiary_store::MasterKey::generate_text();
    std::fs::write(dir.0.join("master.key"), &master_key).unwrap();
    let addr = free_address();
    let issuer = format!("http://{addr}/oauth2");
    let env = [
        ("OSTIARY_ISSUER", issuer.as_str()),
        ("OSTIARY_MASTER_KEY", master_key.trim()),
    ];
    let (old_base, old_process) = serve_process(&old_version, &old_dir.0, &database, &env).await;
    // The upgrade: a node of this version migrates the database while the old one serves.
    let new = TestServer::start_at(addr, dir, database, |_| {}).await;
    let old = new.beside(old_base, old_process, old_dir);
    assert_eq!(old.discovery().await["issuer"], new.issuer);
    // Clients and users written by this version are read by the old one.
    setup(&new).await;

    // A login session made on the old node serves the new one; codes cross both ways, once.
    let b = browser();
    let code = code_from(&old, &b).await;
    let (status, from_old) = redeem(&new, &code).await;
    assert_eq!(status, 200, "{from_old}");
    let silent = b
        .get(authorize_url(&new, "spa", "&prompt=none"))
        .send()
        .await
        .unwrap();
    let code = param(&redirect_params(&silent), "code").unwrap().to_owned();
    let (status, from_new) = redeem(&old, &code).await;
    assert_eq!(status, 200, "{from_new}");
    assert_eq!(redeem(&new, &code).await.0, 400, "a code is spent on both");

    // Both publish the same keys, and the ID tokens of both are signed with one of them.
    let kids = async |node: &TestServer| -> Vec<String> {
        let keys = node.jwks().await.keys;
        keys.into_iter().filter_map(|k| k.kid).collect()
    };
    let published = kids(&old).await;
    assert_eq!(published, kids(&new).await);
    for tokens in [&from_old, &from_new] {
        assert!(published.contains(&kid_of(tokens["id_token"].as_str().unwrap())));
    }

    // Refresh tokens rotate across the versions, and a reuse seen by either revokes the family
    // on both.
    let secret = web_client(&new).await;
    let grant = Some(("web", secret.as_str()));
    let (status, first, _) = old.post_form("/token", &ALICES_PASSWORD_GRANT, grant).await;
    assert_eq!(status, 200, "{first}");
    let refresh_token =
        |tokens: &serde_json::Value| tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = refresh(&new, &secret, &refresh_token(&first)).await;
    assert_eq!(status, 200, "{second}");
    let (status, third) = refresh(&old, &secret, &refresh_token(&second)).await;
    assert_eq!(status, 200, "{third}");
    let access_token = third["access_token"].as_str().unwrap();
    assert!(active(&new, &secret, access_token).await);
    assert_eq!(refresh(&new, &secret, &refresh_token(&first)).await.0, 400);
    assert!(!active(&old, &secret, access_token).await);
    assert_eq!(refresh(&old, &secret, &refresh_token(&third)).await.0, 400);

    // A token one version issued and the other revoked is inactive on both.
    for (issuer_node, revoker) in [(&old, &new), (&new, &old)] {
        let (status, issued, _) = issuer_node
            .post_form("/token", &ALICES_PASSWORD_GRANT, grant)
            .await;
        assert_eq!(status, 200, "{issued}");
        let access_token = issued["access_token"].as_str().unwrap();
        assert!(active(revoker, &secret, access_token).await);
        let form = [("token", access_token)];
        assert_eq!(revoker.post_form("/revocation", &form, grant).await.0, 200);
        assert!(!active(issuer_node, &secret, access_token).await);
        assert!(!active(revoker, &secret, access_token).await);
    }

    // The upgrade ends: the old node stops, and what it gave out works on this version's nodes.
    let (status, last, _) = old.post_form("/token", &ALICES_PASSWORD_GRANT, grant).await;
    assert_eq!(status, 200, "{last}");
    drop(old);
    let newer = new.another_node().await;
    assert!(active(&newer, &secret, last["access_token"].as_str().unwrap()).await);
    let (status, body) = refresh(&newer, &secret, &refresh_token(&last)).await;
    assert_eq!(status, 200, "{body}");
}
