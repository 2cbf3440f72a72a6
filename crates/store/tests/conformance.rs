//! One storage suite, run on SQLite and on PostgreSQL. PostgreSQL comes from the test command
//! (`scripts/postgres` starts a throw-away cluster and exports `OSTIARY_TEST_POSTGRES_URL`).

#![allow(clippy::unwrap_used)]

use ostiary_jose::{Algorithm, KeyRing, SigAlg};
use ostiary_server::config::{ClientDescription, ServerConfig, User};
use ostiary_server::store::{
    AuditEntry, AuditStore, ClientStore, CodeRecord, ConfigStore, InteractionStore, KeyStore,
    OverviewStore, Redeem, Redeemable, SessionRecord, TokenKind, TokenRecord, TokenStore,
    UserStore,
};
use ostiary_store::{MasterKey, Store};
use serde_json::json;

fn master() -> MasterKey {
    MasterKey::new(&[7u8; 32]).unwrap()
}

async fn sqlite() -> Store {
    Store::open(&url::sqlite().await, master()).await.unwrap()
}

/// A fresh database in the test cluster for each test.
async fn postgres() -> Store {
    Store::open(&url::postgres().await, master()).await.unwrap()
}

/// The URL of a fresh, empty database, for tests that open it more than once.
mod url {
    pub async fn sqlite() -> String {
        // Under the target directory, which `cargo clean` empties, rather than one more dir in
        // /tmp per test run.
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "store-{}-{}",
            std::process::id(),
            super::unique()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        format!("sqlite://{}", dir.join("ostiary.db").display())
    }

    pub async fn postgres() -> String {
        let Ok(base) = std::env::var("OSTIARY_TEST_POSTGRES_URL") else {
            panic!(
                "OSTIARY_TEST_POSTGRES_URL is not set: run the tests through scripts/test, which starts PostgreSQL"
            );
        };
        let name = format!("ostiary_test_{}", super::unique());
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&base).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        format!("{}/{name}", base.rsplit_once('/').unwrap().0)
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    nanos * 1000 + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How many of the spawned inserts failed on a taken key; any other failure fails the test.
async fn conflicts(
    inserts: impl IntoIterator<Item = tokio::task::JoinHandle<ostiary_server::store::StoreResult<()>>>,
) -> usize {
    let mut conflicts = 0;
    for insert in inserts {
        match insert.await.unwrap() {
            Ok(()) => {}
            Err(ostiary_server::store::StoreError::Conflict) => conflicts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    conflicts
}

fn token(hash: &str, kind: TokenKind, family: &str) -> TokenRecord {
    TokenRecord {
        hash: hash.into(),
        kind,
        client_id: "app".into(),
        username: Some("alice".into()),
        scope: "openid".into(),
        family: family.into(),
        grant_id: Some("g1".into()),
        jti: format!("jti-{hash}"),
        audience: vec!["app".into()],
        issued_at: 100,
        expires_at: 200,
        revoked: false,
        extra: json!({"auth_time": 99}).as_object().cloned().unwrap(),
    }
}

macro_rules! suite {
    ($backend:ident) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn server_config_is_one_row_and_round_trips() {
                let s = super::$backend().await;
                assert_eq!(s.server_config().await.unwrap(), None);
                let mut config = ServerConfig::default();
                s.save_server_config(&config).await.unwrap();
                config.description = "second save replaces".into();
                s.save_server_config(&config).await.unwrap();
                assert_eq!(s.server_config().await.unwrap(), Some(config));
            }

            #[tokio::test]
            async fn key_rings_are_sealed_and_round_trip() {
                let s = super::$backend().await;
                let ring = KeyRing::generate(&[Algorithm::Sig(SigAlg::ES256)], 1).unwrap();
                s.save_key_ring(&ring).await.unwrap();
                let back = s.key_ring().await.unwrap().unwrap();
                assert_eq!(back.private_set(), ring.private_set());
            }

            #[tokio::test]
            async fn clients_are_created_read_updated_and_deleted() {
                let s = super::$backend().await;
                let mut client = ClientDescription { client_id: "app".into(), name: "App".into(), ..Default::default() };
                s.create_client(&client, Some("s3cret")).await.unwrap();
                assert!(matches!(s.create_client(&client, None).await, Err(ostiary_server::store::StoreError::Conflict)));
                assert_eq!(s.client("app").await.unwrap().unwrap().name, "App");
                assert!(s.check_client_secret("app", "s3cret").await.unwrap());
                assert!(!s.check_client_secret("app", "wrong").await.unwrap());
                assert!(!s.check_client_secret("nobody", "s3cret").await.unwrap());
                assert_eq!(s.client_secret("app").await.unwrap().as_deref(), Some("s3cret"));
                // A node's cache remembers the secret (sealed) and forgets it when it changes.
                let cached = s.clone().with_caches();
                assert_eq!(cached.client_secret("app").await.unwrap().as_deref(), Some("s3cret"));
                client.description = "updated".into();
                assert!(s.update_client(&client).await.unwrap());
                assert!(cached.set_client_secret("app", "n3w", 5000).await.unwrap());
                assert!(s.check_client_secret("app", "n3w").await.unwrap());
                assert_eq!(cached.client_secret("app").await.unwrap().as_deref(), Some("n3w"));
                let stored = s.client("app").await.unwrap().unwrap();
                assert_eq!((stored.description.as_str(), stored.client_secret_expires_at), ("updated", 5000));
                assert_eq!(s.clients().await.unwrap().len(), 1);
                assert!(s.delete_client("app").await.unwrap());
                assert!(!s.delete_client("app").await.unwrap());
                assert_eq!(s.client("app").await.unwrap(), None);
            }

            #[tokio::test]
            async fn users_are_created_read_updated_and_deleted() {
                let s = super::$backend().await;
                let mut user = User { username: "alice".into(), claims: json!({"email": "a@example.com"}).as_object().cloned().unwrap(), enabled: true };
                s.create_user(&user, "$argon2id$v=19$fake").await.unwrap();
                assert_eq!(s.user("alice").await.unwrap(), Some(user.clone()));
                user.enabled = false;
                assert!(s.update_user(&user).await.unwrap());
                assert!(!s.user("alice").await.unwrap().unwrap().enabled);
                assert!(s.set_password_hash("alice", "$argon2id$new").await.unwrap());
                assert_eq!(s.password_hash("alice").await.unwrap().as_deref(), Some("$argon2id$new"));
                assert_eq!(s.users().await.unwrap().len(), 1);
                assert!(s.delete_user("alice").await.unwrap());
                assert_eq!(s.password_hash("alice").await.unwrap(), None);
            }

            #[tokio::test]
            async fn a_remembered_user_is_forgotten_on_change_here_and_after_the_cache_time_elsewhere() {
                // Two views of one database: `elsewhere` stands for another node (no cache).
                let elsewhere = super::$backend().await;
                let here = elsewhere.clone().with_caches();
                let mut user = User { username: "alice".into(), claims: Default::default(), enabled: true };
                elsewhere.create_user(&user, "$argon2id$v=19$fake").await.unwrap();
                assert!(here.user("alice").await.unwrap().unwrap().enabled);
                user.enabled = false;
                elsewhere.update_user(&user).await.unwrap();
                assert!(here.user("alice").await.unwrap().unwrap().enabled, "remembered");
                tokio::time::sleep(ostiary_server::state::CACHE_TTL + std::time::Duration::from_millis(200)).await;
                assert!(!here.user("alice").await.unwrap().unwrap().enabled, "seen after the cache time");
                user.enabled = true;
                here.update_user(&user).await.unwrap();
                assert!(here.user("alice").await.unwrap().unwrap().enabled, "its own change at once");
                here.delete_user("alice").await.unwrap();
                assert_eq!(here.user("alice").await.unwrap(), None);
            }

            #[tokio::test]
            async fn administrators_list_sessions_consents_and_tokens() {
                let s = super::$backend().await;
                for (hash, sid, user, at) in [("h1", "s1", "alice", 10), ("h2", "s2", "bob", 20), ("h3", "s3", "alice", 30)] {
                    s.create_session(&SessionRecord { hash: hash.into(), sid: sid.into(), username: user.into(), auth_time: at, expires_at: 1000 }).await.unwrap();
                }
                let sids = |v: Vec<SessionRecord>| v.into_iter().map(|r| r.sid).collect::<Vec<_>>();
                assert_eq!(sids(s.active_sessions(None, 500).await.unwrap()), ["s3", "s2", "s1"]);
                assert_eq!(sids(s.active_sessions(Some("alice"), 500).await.unwrap()), ["s3", "s1"]);
                assert!(s.active_sessions(None, 1000).await.unwrap().is_empty(), "expired");
                assert_eq!(s.delete_session_by_sid("s1").await.unwrap().as_deref(), Some("alice"));
                assert_eq!(s.delete_session_by_sid("s1").await.unwrap(), None);
                assert_eq!(s.session("h1").await.unwrap(), None);

                s.save_consent("alice", "app", "openid", 5).await.unwrap();
                s.save_consent("bob", "app", "openid email", 6).await.unwrap();
                assert_eq!(s.consents(None).await.unwrap().len(), 2);
                let bobs = s.consents(Some("bob")).await.unwrap();
                assert_eq!((bobs.len(), bobs[0].scope.as_str()), (1, "openid email"));
                assert!(s.delete_consent("bob", "app").await.unwrap());
                assert_eq!(s.consent("bob", "app").await.unwrap(), None);

                let mut early = token("t1", TokenKind::Access, "f1");
                early.issued_at = 120;
                let mut late = token("t2", TokenKind::Access, "f2");
                late.issued_at = 185;
                let mut other = token("t3", TokenKind::Refresh, "f3");
                other.client_id = "other".into();
                other.username = Some("bob".into());
                for t in [&early, &late, &other] {
                    s.insert_token(t).await.unwrap();
                }
                let hashes = |v: Vec<TokenRecord>| v.into_iter().map(|t| t.hash).collect::<Vec<_>>();
                assert_eq!(hashes(s.find_tokens(Some("alice"), None, 10).await.unwrap()), ["t2", "t1"]);
                assert_eq!(hashes(s.find_tokens(None, Some("other"), 10).await.unwrap()), ["t3"]);
                assert_eq!(hashes(s.find_tokens(None, None, 1).await.unwrap()), ["t2"]);
                assert_eq!(s.issued_per_minute(0).await.unwrap(), [(120, 1), (180, 1)]);
                assert_eq!(s.issued_per_minute(150).await.unwrap(), [(180, 1)]);

                // Administrators' tokens are not a user's or a client's to lose.
                let mut admin = token("a1", TokenKind::AdminApi, "f4");
                admin.client_id = String::new();
                admin.username = Some("api-token:ops".into());
                s.insert_token(&admin).await.unwrap();
                s.revoke_client_tokens("").await.unwrap();
                s.revoke_user_tokens("api-token:ops").await.unwrap();
                assert!(!s.token("a1").await.unwrap().unwrap().revoked);
                assert_eq!(s.revoke_admin_tokens("api-token:ops").await.unwrap(), 1);
                assert!(s.token("a1").await.unwrap().unwrap().revoked);
            }

            #[tokio::test]
            async fn the_audit_log_keeps_entries_in_order_newest_first() {
                let s = super::$backend().await;
                for (i, action) in ["client.create", "client.update", "client.delete"].iter().enumerate() {
                    let entry = AuditEntry { at: 1_700_000_000, actor: "ann".into(), action: (*action).into(), target: "app".into(), detail: json!({"i": i}) };
                    s.record_audit(&entry).await.unwrap();
                }
                let log = s.audit_log(2).await.unwrap();
                assert_eq!(log.len(), 2);
                assert_eq!((log[0].action.as_str(), log[1].action.as_str()), ("client.delete", "client.update"));
                assert_eq!(log[0].detail, json!({"i": 2}));
                assert_eq!(log[0].at, 1_700_000_000);
                assert_eq!(s.audit_log(10).await.unwrap().len(), 3);
            }

            #[tokio::test]
            async fn a_refresh_token_is_used_once_and_families_revoke_together() {
                let s = super::$backend().await;
                s.insert_token(&token("r1", TokenKind::Refresh, "f1")).await.unwrap();
                s.insert_token(&token("a1", TokenKind::Access, "f1")).await.unwrap();
                s.insert_token(&token("a2", TokenKind::Access, "f2")).await.unwrap();
                assert_eq!(s.token("a1").await.unwrap(), Some(token("a1", TokenKind::Access, "f1")));
                let store = &s;
                let spend = move |hash: &'static str| async move { store.redeem(Redeem::RefreshToken(hash), 150, &[token(&format!("{hash}-next"), TokenKind::Refresh, "f1")]).await.unwrap() };
                assert!(spend("r1").await);
                assert!(s.token("r1-next").await.unwrap().is_some(), "the new token came with the spending");
                s.revoke_token("r1-next").await.unwrap();
                assert!(!s.redeem(Redeem::RefreshToken("r1"), 151, &[token("r1-again", TokenKind::Refresh, "f1")]).await.unwrap());
                assert_eq!(s.token("r1-again").await.unwrap(), None, "nothing is written for a spent token");
                assert!(!spend("a1").await, "access tokens are not refresh tokens");
                assert!(!spend("zz").await);
                s.insert_token(&token("r2", TokenKind::Refresh, "f1")).await.unwrap();
                s.revoke_token("r2").await.unwrap();
                assert!(!spend("r2").await, "a revoked refresh token buys nothing");
                assert_eq!(s.token("r2-next").await.unwrap(), None);
                assert_eq!(s.revoke_family("f1").await.unwrap(), 2, "r1 and a1: r1-next and r2 were revoked before");
                assert!(s.token("a1").await.unwrap().unwrap().revoked);
                assert!(!s.token("a2").await.unwrap().unwrap().revoked);
                assert_eq!(s.revoke_user_tokens("alice").await.unwrap(), 1);
                assert!(!s.revoke_token("a2").await.unwrap(), "revoked with alice's tokens before");
                s.insert_token(&token("a3", TokenKind::Access, "f3")).await.unwrap();
                assert!(s.revoke_token("a3").await.unwrap());
                assert!(!s.revoke_token("zz").await.unwrap());
            }

            #[tokio::test]
            async fn concurrent_redemptions_of_one_refresh_token_have_one_winner() {
                let s = super::$backend().await;
                s.insert_token(&token("r1", TokenKind::Refresh, "f1")).await.unwrap();
                let tries = (0..20).map(|i| {
                    let s = s.clone();
                    tokio::spawn(async move { s.redeem(Redeem::RefreshToken("r1"), 150, &[token(&format!("n{i}"), TokenKind::Refresh, "f1")]).await.unwrap() })
                });
                let mut fresh = 0;
                for t in tries {
                    if t.await.unwrap() { fresh += 1; }
                }
                assert_eq!(fresh, 1);
                let mut written = 0;
                for i in 0..20 {
                    if s.token(&format!("n{i}")).await.unwrap().is_some() { written += 1; }
                }
                assert_eq!(written, 1, "only the winner's token is stored");
            }

            #[tokio::test]
            async fn concurrent_inserts_and_lookups_are_batched_yet_answered_one_by_one() {
                let s = super::$backend().await;
                // 100 inserts at once, one of them a duplicate of another: they share statements,
                // yet only the duplicate fails, and every other row is there.
                let inserts = (0..100).map(|i| {
                    let s = s.clone();
                    let i = if i == 99 { 0 } else { i };
                    let hash = format!("t{i}");
                    tokio::spawn(async move { s.insert_token(&token(&hash, TokenKind::Access, &format!("f{i}"))).await })
                });
                assert_eq!(conflicts(inserts).await, 1);
                let lookups = (0..120).map(|i| {
                    let s = s.clone();
                    tokio::spawn(async move { (i, s.token(&format!("t{i}")).await.unwrap()) })
                });
                for lookup in lookups {
                    let (i, found) = lookup.await.unwrap();
                    match found {
                        Some(t) => {
                            assert!(i < 99, "t{i} was never stored");
                            assert_eq!((t.hash, t.family), (format!("t{i}"), format!("f{i}")));
                        }
                        None => assert!(i >= 99, "t{i} is missing"),
                    }
                }
            }

            #[tokio::test]
            async fn refreshes_and_inserts_share_a_commit_yet_a_duplicate_fails_alone() {
                let s = super::$backend().await;
                for i in 0..20 {
                    s.insert_token(&token(&format!("r{i}"), TokenKind::Refresh, "f")).await.unwrap();
                }
                // Two redemptions of each refresh token and 50 inserts (one a duplicate) at once:
                // they reach the writer together, one transaction on PostgreSQL's savepoints.
                let uses = (0..40).map(|i| {
                    let s = s.clone();
                    let next = [token(&format!("a{i}"), TokenKind::Access, "f"), token(&format!("s{i}"), TokenKind::Refresh, "f")];
                    tokio::spawn(async move { (i, s.redeem(Redeem::RefreshToken(&format!("r{}", i % 20)), 150, &next).await) })
                });
                let inserts = (0..50).map(|i| {
                    let s = s.clone();
                    // The duplicate early, in the batch of the redemptions.
                    let i = if i == 1 { 0 } else { i };
                    tokio::spawn(async move { s.insert_token(&token(&format!("n{i}"), TokenKind::Access, "f")).await })
                });
                let (uses, inserts): (Vec<_>, Vec<_>) = (uses.collect(), inserts.collect());
                let mut winners = [0; 20];
                for used in uses {
                    let (i, won) = used.await.unwrap();
                    let won = won.unwrap();
                    let (access, refresh) = (s.token(&format!("a{i}")).await.unwrap(), s.token(&format!("s{i}")).await.unwrap());
                    assert_eq!((access.is_some(), refresh.is_some()), (won, won), "a{i} and s{i} are stored if the spending won");
                    if won { winners[i % 20] += 1; }
                }
                assert_eq!(winners, [1; 20], "each refresh token is used once");
                assert_eq!(conflicts(inserts).await, 1);
                for i in (0..50).filter(|i| *i != 1) {
                    assert!(s.token(&format!("n{i}")).await.unwrap().is_some(), "n{i} is missing");
                }
                for i in 0..20 {
                    assert!(!s.redeem(Redeem::RefreshToken(&format!("r{i}")), 160, &[token("late", TokenKind::Access, "f")]).await.unwrap(), "r{i} was used");
                }
                assert_eq!(s.token("late").await.unwrap(), None);
            }

            #[tokio::test]
            async fn a_code_is_redeemed_once_with_its_tokens() {
                let s = super::$backend().await;
                let code = CodeRecord {
                    hash: "c1".into(), client_id: "app".into(), redirect_uri: "https://app/cb".into(), username: "alice".into(),
                    scope: "openid".into(), nonce: Some("n".into()), code_challenge: None, code_challenge_method: None,
                    auth_time: 1, grant_id: "g1".into(), expires_at: 100, extra: Default::default(),
                };
                s.insert_code(&code).await.unwrap();
                assert_eq!(s.code("c1").await.unwrap(), Redeemable::Fresh(code.clone()));
                assert!(s.redeem(Redeem::Code("c1"), 50, &[token("a1", TokenKind::Access, "f1")]).await.unwrap());
                assert!(s.token("a1").await.unwrap().is_some());
                assert_eq!(s.code("c1").await.unwrap(), Redeemable::Spent(code));
                assert!(!s.redeem(Redeem::Code("c1"), 51, &[token("a2", TokenKind::Access, "f2")]).await.unwrap());
                assert_eq!(s.token("a2").await.unwrap(), None);
                assert_eq!(s.code("nope").await.unwrap(), Redeemable::Missing);
                assert!(!s.redeem(Redeem::Code("nope"), 51, &[token("a3", TokenKind::Access, "f3")]).await.unwrap());
            }

            #[tokio::test]
            async fn an_item_whose_tokens_are_refused_stays_unspent() {
                let s = super::$backend().await;
                s.insert_token(&token("taken", TokenKind::Access, "f0")).await.unwrap();
                s.insert_token(&token("r1", TokenKind::Refresh, "f1")).await.unwrap();
                // Alone and in a batch with other writes (PostgreSQL then has savepoints to undo).
                let pair = [token("new", TokenKind::Access, "f1"), token("taken", TokenKind::Refresh, "f1")];
                let refused = s.redeem(Redeem::RefreshToken("r1"), 150, &pair).await;
                assert!(matches!(refused, Err(ostiary_server::store::StoreError::Conflict)), "{refused:?}");
                assert_eq!(s.token("new").await.unwrap(), None, "the pair is written all or none");
                let others = (0..10).map(|i| {
                    let s = s.clone();
                    tokio::spawn(async move { s.insert_token(&token(&format!("o{i}"), TokenKind::Access, "f2")).await })
                });
                let again = s.redeem(Redeem::RefreshToken("r1"), 151, &pair);
                let (others, again): (Vec<_>, _) = (others.collect(), again.await);
                assert!(matches!(again, Err(ostiary_server::store::StoreError::Conflict)), "{again:?}");
                assert_eq!(conflicts(others).await, 0);
                assert!(s.redeem(Redeem::RefreshToken("r1"), 152, &[token("r1-next", TokenKind::Refresh, "f1")]).await.unwrap(), "r1 was never spent");
            }

            #[tokio::test]
            async fn a_jti_is_accepted_once_until_it_expires() {
                let s = super::$backend().await;
                assert!(s.consume_jti("app:j1", 100, 10).await.unwrap());
                assert!(!s.consume_jti("app:j1", 100, 20).await.unwrap());
                assert!(s.consume_jti("app:j1", 300, 200).await.unwrap(), "after expiry the entry is gone");
                // Twenty at once: one wins.
                let racers: Vec<_> = (0..20)
                    .map(|_| {
                        let s = s.clone();
                        tokio::spawn(async move { s.consume_jti("app:raced", 1000, 500).await.unwrap() })
                    })
                    .collect();
                let mut won = 0;
                for racer in racers {
                    won += usize::from(racer.await.unwrap());
                }
                assert_eq!(won, 1);
            }

            #[tokio::test]
            async fn a_jti_used_on_one_node_is_refused_on_another() {
                let url = super::url::$backend().await;
                let (a, b) = (Store::open(&url, master()).await.unwrap(), Store::open(&url, master()).await.unwrap());
                assert!(a.consume_jti("app:shared", 1000, 10).await.unwrap());
                assert!(!b.consume_jti("app:shared", 1000, 11).await.unwrap());
            }

            #[tokio::test]
            async fn a_sessions_clients_are_told_once() {
                let s = super::$backend().await;
                s.add_session_client("sid-1", "a", 100).await.unwrap();
                s.add_session_client("sid-1", "b", 100).await.unwrap();
                s.add_session_client("sid-1", "a", 200).await.unwrap();
                s.add_session_client("sid-2", "c", 100).await.unwrap();
                let mut told = s.take_session_clients("sid-1").await.unwrap();
                told.sort();
                assert_eq!(told, ["a", "b"]);
                assert!(s.take_session_clients("sid-1").await.unwrap().is_empty());
                assert_eq!(s.take_session_clients("sid-2").await.unwrap(), ["c"]);
            }

            #[tokio::test]
            async fn the_client_runtime_keeps_servers_configurations_and_tokens() {
                use ostiary_client::store::{ClientConfigStore, ClientTokenStore, ServerDescriptionStore, StoredTokens};
                let s = super::$backend().await;
                let server = ostiary_client::ServerDescription { issuer: "https://as.example".into(), ..Default::default() };
                s.save_server(&server).await.unwrap();
                assert_eq!(s.server("https://as.example").await.unwrap(), Some(server.clone()));
                assert_eq!(s.servers().await.unwrap().len(), 1);
                let config = ostiary_client::ClientConfiguration {
                    app: "app".into(), issuer: server.issuer.clone(), client_id: "id".into(),
                    client_secret: Some("rp-secret-value".into()), ..Default::default()
                };
                s.save_configuration(&config).await.unwrap();
                assert_eq!(s.configuration("app").await.unwrap().unwrap().client_secret.as_deref(), Some("rp-secret-value"));
                let tokens = StoredTokens { access_token: "rp-access-token".into(), token_type: "Bearer".into(), ..Default::default() };
                s.save_tokens("app", "web", &tokens, 100).await.unwrap();
                assert_eq!(s.tokens("app", "web", 50).await.unwrap(), Some(tokens));
                assert_eq!(s.tokens("app", "web", 100).await.unwrap(), None, "expired");
                let dump = s.debug_dump().await;
                assert!(!dump.contains("rp-secret-value") && !dump.contains("rp-access-token"), "sealed at rest");
                assert!(s.delete_configuration("app").await.unwrap());
                assert_eq!(s.tokens("app", "web", 50).await.unwrap(), None, "tokens go with their configuration");
                assert!(s.delete_server("https://as.example").await.unwrap());
            }

            #[tokio::test]
            async fn sealed_values_move_to_a_new_master_key() {
                use ostiary_client::store::{ClientConfigStore, ClientTokenStore, PendingStore, StoredTokens};
                let url = super::url::$backend().await;
                let (old, new) = (MasterKey::generate_text(), MasterKey::generate_text());
                let key = |text: &str| MasterKey::from_text(text).unwrap();
                let before = Store::open(&url, key(&old)).await.unwrap();
                let client = ClientDescription { client_id: "c".into(), ..Default::default() };
                before.create_client(&client, Some("client-secret")).await.unwrap();
                before.create_client(&ClientDescription { client_id: "public".into(), ..Default::default() }, None).await.unwrap();
                let ring = KeyRing::generate(&[Algorithm::Sig(SigAlg::ES256)], 1).unwrap();
                before.save_key_ring(&ring).await.unwrap();
                let config = ostiary_client::ClientConfiguration {
                    app: "app".into(), issuer: "https://as.example".into(), client_id: "id".into(),
                    client_secret: Some("rp-secret".into()), ..Default::default()
                };
                before.save_configuration(&config).await.unwrap();
                let tokens = StoredTokens { access_token: "rp-token".into(), ..Default::default() };
                before.save_tokens("app", "web", &tokens, i64::MAX).await.unwrap();
                let pending = ostiary_client::store::PendingAuthorization { app: "app".into(), state: "state-1".into(), ..Default::default() };
                before.save_pending(&pending, i64::MAX).await.unwrap();

                let rotating = Store::open(&url, key(&format!("{new},{old}"))).await.unwrap();
                assert_eq!(rotating.reseal().await.unwrap(), ostiary_store::Resealed { resealed: 5, current: 0 });
                assert_eq!(rotating.reseal().await.unwrap(), ostiary_store::Resealed { resealed: 0, current: 5 });

                let after = Store::open(&url, key(&new)).await.unwrap();
                assert_eq!(after.client_secret("c").await.unwrap().as_deref(), Some("client-secret"));
                assert_eq!(after.key_ring().await.unwrap().unwrap().private_set(), ring.private_set());
                assert_eq!(after.configuration("app").await.unwrap().unwrap().client_secret.as_deref(), Some("rp-secret"));
                assert_eq!(after.tokens("app", "web", 0).await.unwrap(), Some(tokens));
                assert!(after.take_pending("state-1", 0).await.unwrap().is_some());
                assert_eq!(after.reseal().await.unwrap().current, 4, "one key opens everything");
                // The old key alone opens nothing now, and a reseal with it names what it cannot open.
                let stale = Store::open(&url, key(&old)).await.unwrap();
                assert!(stale.key_ring().await.is_err());
                assert!(stale.reseal().await.unwrap_err().contains("key_rings server"));
            }

            #[tokio::test]
            async fn a_sessions_tokens_end_with_it_but_offline_ones() {
                let s = super::$backend().await;
                let of_session = |hash: &str, sid: &str, scope: &str| {
                    let mut t = token(hash, TokenKind::Refresh, hash);
                    t.scope = scope.into();
                    t.extra.insert("sid".into(), sid.into());
                    t
                };
                s.insert_tokens(&[
                    of_session("mine", "se_s1", "openid"),
                    of_session("mine-at", "se_s1", "openid profile"),
                    of_session("offline", "se_s1", "openid offline_access"),
                    // `_` is not a wildcard: a session id one character off is another session.
                    of_session("other", "seXs1", "openid"),
                    of_session("prefix", "se_s10", "openid"),
                ]).await.unwrap();
                assert_eq!(s.revoke_session_tokens("alice", "se_s1").await.unwrap(), 2);
                for (hash, revoked) in [("mine", true), ("mine-at", true), ("offline", false), ("other", false), ("prefix", false)] {
                    assert_eq!(s.token(hash).await.unwrap().unwrap().revoked, revoked, "{hash}");
                }
                assert_eq!(s.revoke_session_tokens("bob", "seXs1").await.unwrap(), 0, "another user's session");
            }

            #[tokio::test]
            async fn invalidating_grants_ends_tokens_codes_and_sessions_and_keeps_the_rest() {
                let s = super::$backend().await;
                s.insert_tokens(&[
                    token("access", TokenKind::Access, "f1"),
                    token("refresh", TokenKind::Refresh, "f1"),
                    token("api", TokenKind::AdminApi, "f2"),
                    token("registration", TokenKind::Registration, "f3"),
                ]).await.unwrap();
                s.insert_code(&CodeRecord {
                    hash: "c1".into(), client_id: "app".into(), redirect_uri: "https://app/cb".into(), username: "alice".into(),
                    scope: "openid".into(), nonce: None, code_challenge: None, code_challenge_method: None,
                    auth_time: 1, grant_id: "g1".into(), expires_at: i64::MAX, extra: Default::default(),
                }).await.unwrap();
                s.create_session(&SessionRecord { hash: "h1".into(), sid: "s1".into(), username: "alice".into(), auth_time: 1, expires_at: i64::MAX }).await.unwrap();
                s.save_consent("alice", "app", "openid", 5).await.unwrap();

                let ended = s.invalidate_grants().await.unwrap();
                assert_eq!(ended, ostiary_store::Invalidated { tokens: 2, codes: 1, sessions: 1 });
                for (hash, revoked) in [("access", true), ("refresh", true), ("api", false), ("registration", false)] {
                    assert_eq!(s.token(hash).await.unwrap().unwrap().revoked, revoked, "{hash}");
                }
                assert_eq!(s.code("c1").await.unwrap(), Redeemable::Missing);
                assert!(!s.redeem(Redeem::RefreshToken("refresh"), 150, &[token("next", TokenKind::Refresh, "f1")]).await.unwrap());
                assert_eq!(s.session("h1").await.unwrap(), None);
                assert!(s.consent("alice", "app").await.unwrap().is_some(), "consents stay");
            }

            #[tokio::test]
            async fn secrets_are_not_stored_in_the_clear() {
                let s = super::$backend().await;
                let client = ClientDescription { client_id: "c".into(), ..Default::default() };
                s.create_client(&client, Some("plain-secret-value")).await.unwrap();
                s.save_key_ring(&KeyRing::generate(&[Algorithm::Sig(SigAlg::RS256)], 1).unwrap()).await.unwrap();
                let dump = s.debug_dump().await;
                assert!(!dump.contains("plain-secret-value"));
                assert!(!dump.contains("\"d\""), "no private key member in the clear");
            }
        }
    };
}

suite!(sqlite);
suite!(postgres);

/// A restored backup cannot know what was spent, rotated or revoked after it was made: unless
/// told to keep them, a restore ends its grants.
#[tokio::test]
async fn a_restore_ends_the_grants_of_the_backup_unless_told_to_keep_them() {
    let url = url::sqlite().await;
    let path = std::path::PathBuf::from(url.strip_prefix("sqlite://").unwrap());
    let live = Store::open(&url, master()).await.unwrap();
    live.insert_tokens(&[token("refresh", TokenKind::Refresh, "f1")])
        .await
        .unwrap();
    let backup = path.with_extension("backup");
    live.backup_to(&backup).await.unwrap();
    // After the backup, the refresh token is rotated away; then the server stops.
    assert!(
        live.redeem(
            Redeem::RefreshToken("refresh"),
            150,
            &[token("next", TokenKind::Refresh, "f1")]
        )
        .await
        .unwrap()
    );
    live.close().await;

    let restored = ostiary_store::restore(&backup, &path, master(), false)
        .await
        .unwrap();
    assert_eq!(restored.invalidated.unwrap().tokens, 1);
    assert!(restored.kept.unwrap().is_file());
    let after = Store::open(&url, master()).await.unwrap();
    assert!(after.token("refresh").await.unwrap().unwrap().revoked);
    assert_eq!(
        after.token("next").await.unwrap(),
        None,
        "as the backup was"
    );
    after.close().await;

    let kept = ostiary_store::restore(&backup, &path, master(), true)
        .await
        .unwrap();
    assert_eq!(kept.invalidated, None);
    let after = Store::open(&url, master()).await.unwrap();
    assert!(!after.token("refresh").await.unwrap().unwrap().revoked);
}

/// PostgreSQL undoes a transaction to resolve a deadlock (40P01) or a serialization failure
/// (40001); the store runs it again, and when the conflict will not end, the caller gets an error
/// and nothing of the transaction stays. A trigger raises the conflicts: the first N firings fail
/// (a sequence counts them: its values survive the rollbacks).
#[tokio::test]
async fn statements_postgresql_undoes_for_a_conflict_are_run_again() {
    let url = url::postgres().await;
    let s = Store::open(&url, master()).await.unwrap();
    let db = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE SEQUENCE firings;
         CREATE FUNCTION conflict() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF nextval('firings') <= TG_ARGV[0]::int THEN
             RAISE EXCEPTION 'injected conflict' USING ERRCODE = TG_ARGV[1];
           END IF;
           RETURN NEW;
         END $$;",
    )
    .execute(&db)
    .await
    .unwrap();
    let conflicts = async |on: &'static str, failures: u32, code: &'static str| {
        let sql = format!(
            "DROP TRIGGER IF EXISTS conflicts ON codes; DROP TRIGGER IF EXISTS conflicts ON tokens;
             ALTER SEQUENCE firings RESTART;
             CREATE TRIGGER conflicts BEFORE {on} FOR EACH ROW EXECUTE FUNCTION conflict({failures}, '{code}');"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&db)
            .await
            .unwrap();
    };
    let code = |hash: &str| CodeRecord {
        hash: hash.into(),
        client_id: "app".into(),
        redirect_uri: "https://app/cb".into(),
        username: "alice".into(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        auth_time: 1,
        grant_id: format!("g-{hash}"),
        expires_at: i64::MAX,
        extra: Default::default(),
    };

    // A code's spend meets two deadlocks; the third run commits it with its tokens.
    s.insert_code(&code("c1")).await.unwrap();
    conflicts("UPDATE ON codes", 2, "40P01").await;
    assert!(
        s.redeem(
            Redeem::Code("c1"),
            50,
            &[token("a1", TokenKind::Access, "f1")]
        )
        .await
        .unwrap()
    );
    assert!(matches!(s.code("c1").await.unwrap(), Redeemable::Spent(_)));
    assert!(s.token("a1").await.unwrap().is_some());

    // Token inserts, alone and inside a refresh, meet serialization failures.
    conflicts("INSERT ON tokens", 2, "40001").await;
    s.insert_tokens(&[token("r1", TokenKind::Refresh, "f2")])
        .await
        .unwrap();
    conflicts("INSERT ON tokens", 2, "40001").await;
    assert!(
        s.redeem(
            Redeem::RefreshToken("r1"),
            60,
            &[token("r2", TokenKind::Refresh, "f2")]
        )
        .await
        .unwrap()
    );
    assert!(s.token("r2").await.unwrap().is_some());

    // A revocation of many rows meets a deadlock.
    conflicts("UPDATE ON tokens", 1, "40P01").await;
    assert_eq!(s.revoke_family("f2").await.unwrap(), 2);

    // A conflict that does not end: an error, and the code neither spent nor its token written.
    s.insert_code(&code("c2")).await.unwrap();
    conflicts("UPDATE ON codes", 1000, "40P01").await;
    let failed = s
        .redeem(
            Redeem::Code("c2"),
            70,
            &[token("a2", TokenKind::Access, "f3")],
        )
        .await;
    assert!(
        matches!(
            failed,
            Err(ostiary_server::store::StoreError::Unavailable(_))
        ),
        "{failed:?}"
    );
    conflicts("UPDATE ON codes", 0, "40P01").await;
    assert!(matches!(s.code("c2").await.unwrap(), Redeemable::Fresh(_)));
    assert_eq!(s.token("a2").await.unwrap(), None);
}

/// A PostgreSQL server reached with `sslmode=verify-full` must show a certificate from the CA that
/// the URL names, for the host it names. `scripts/postgres` serves TLS with a certificate for IP
/// 127.0.0.1 only, from a CA of its own, and makes a second CA that signed nothing.
#[tokio::test]
async fn postgres_is_reached_over_tls_and_its_certificate_checked() {
    let tls = std::env::var("OSTIARY_TEST_POSTGRES_TLS").expect(
        "OSTIARY_TEST_POSTGRES_TLS names scripts/postgres tls: run the tests through scripts/test",
    );
    let url = url::postgres().await;
    let open = async |mode: &str, ca: &str, host: &str| {
        let url = url.replacen("127.0.0.1", host, 1);
        let url = format!("{url}?sslmode={mode}&sslrootcert={tls}/{ca}.pem");
        Store::open(&url, master()).await.map(|store| (store, url))
    };

    // The CA and the name: the store works, over TLS.
    let (store, url) = open("verify-full", "ca", "127.0.0.1").await.unwrap();
    assert_eq!(ostiary_store::database_warning(&url), None);
    store
        .save_server_config(&ServerConfig::default())
        .await
        .unwrap();
    assert!(store.server_config().await.unwrap().is_some());
    let connection = sqlx::PgPool::connect(&url).await.unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&connection)
            .await
            .unwrap();
    assert!(encrypted);

    // A certificate from another CA, or for another name, is refused.
    let Err(stranger) = open("verify-full", "stranger-ca", "127.0.0.1").await else {
        panic!("a server whose certificate the named CA did not sign was taken");
    };
    assert!(
        stranger.contains("invalid peer certificate: UnknownIssuer"),
        "{stranger}"
    );
    let Err(misnamed) = open("verify-full", "ca", "localhost").await else {
        panic!("a certificate for 127.0.0.1 was taken for localhost");
    };
    assert!(
        misnamed.contains("not valid for name \"localhost\""),
        "{misnamed}"
    );
    // `verify-ca` checks the CA and not the name.
    assert!(open("verify-ca", "ca", "localhost").await.is_ok());
    assert!(open("verify-ca", "stranger-ca", "localhost").await.is_err());
}
