//! Starts a server with a fresh store and gives tests a client and direct store access.

use std::path::PathBuf;

use ostiary::settings::{Settings, open_store};
use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{Algorithm, Jwk, JwkSet, SigAlg};
use ostiary_server::config::{ClientDescription, ClientType, ServerConfig, User};
use ostiary_server::store::{ClientStore as _, ConfigStore as _, UserStore as _};
use ostiary_store::Store;
use serde_json::{Map, Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub base: String,
    pub issuer: String,
    /// Where this node's endpoints are: the issuer's path on this node's address.
    endpoints: String,
    /// The database URL, for more nodes.
    database: String,
    pub store: Store,
    pub http: reqwest::Client,
    _running: Node,
    pub dir: TempDir,
}

/// A server in this process, or `ostiary serve` as a process of its own (killed when dropped).
enum Node {
    InProcess(#[allow(dead_code)] ostiary::serve::Running),
    Process(#[allow(dead_code)] tokio::process::Child),
}

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("ostiary.db").display()),
        Backend::Postgres => {
            let base = std::env::var("OSTIARY_TEST_POSTGRES_URL")
                .expect("OSTIARY_TEST_POSTGRES_URL is not set: run the tests through scripts/test, which starts PostgreSQL");
            let name = format!("ostiary_it_{}", unique());
            sqlx_admin(&base, &format!("CREATE DATABASE {name}")).await;
            format!("{}/{name}", base.rsplit_once('/').unwrap().0)
        }
    }
}

async fn sqlx_admin(url: &str, statement: &str) {
    // The store crate's dependency does the talking; a tiny admin connection is all we need.
    let store = ostiary_store::admin_execute(url, statement).await;
    store.expect("PostgreSQL admin statement");
}

/// A loopback address no one listens on (just now).
pub fn free_address() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A database of its own on the test PostgreSQL; its URL.
pub async fn postgres_database(dir: &std::path::Path) -> String {
    database(Backend::Postgres, dir).await
}

/// `program serve` (an `ostiary` binary) on a port of its own, with `data_dir` and `database`
/// and more environment (`env`): its base URL and the process (killed when dropped).
pub async fn serve_process(
    program: &std::path::Path,
    data_dir: &std::path::Path,
    database: &str,
    env: &[(&str, &str)],
) -> (String, tokio::process::Child) {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(program)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("OSTIARY_DATA_DIR", data_dir)
        .env("OSTIARY_DATABASE", database)
        .env("OSTIARY_BOOTSTRAP_ADMIN_PASSWORD", "not-used-by-the-tests")
        .env_remove("OSTIARY_CONFIG")
        .env_remove("OSTIARY_MASTER_KEY")
        .env_remove("OSTIARY_ISSUER")
        .env_remove("OSTIARY_LISTEN")
        .env_remove("OSTIARY_ADMIN_LISTEN")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("the node started in time")
            .unwrap()
            .expect("the node printed its address");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading, so that the node never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (base, child)
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts with the server configuration changed by `configure` before the server reads it.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let dir = TempDir(std::env::temp_dir().join(format!("ostiary-it-{}", unique())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let database = database(backend, &dir.0).await;
        Self::start_on(dir, database, configure).await
    }

    /// Starts on `database` (a URL), with `dir` as the data directory.
    pub async fn start_on(
        dir: TempDir,
        database: String,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        Self::start_at(free_address(), dir, database, configure).await
    }

    /// [`Self::start_on`], listening on `addr` (its issuer is `http://ADDR/oauth2`).
    pub async fn start_at(
        addr: std::net::SocketAddr,
        dir: TempDir,
        database: String,
        configure: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let settings = Settings {
            data_dir: dir.0.clone(),
            database,
            listen: None,
            issuer: None,
            admin_listen: None,
            tls: None,
            clock: Default::default(),
        };
        let store = open_store(&settings).await.unwrap();
        let mut config =
            ostiary_server::initialize(&store, Some(&format!("http://{addr}/oauth2")), 0)
                .await
                .unwrap();
        configure(&mut config);
        config.validate().unwrap();
        store.save_server_config(&config).await.unwrap();
        ostiary_server::state::ensure_keys(&store, &config, 0)
            .await
            .unwrap();
        let running = ostiary::serve::start(&settings, &addr.to_string(), None)
            .await
            .unwrap();
        TestServer {
            base: format!("http://{}", running.addr),
            issuer: running.issuer.clone(),
            endpoints: running.issuer.clone(),
            database: settings.database.clone(),
            // The server's own store, as the portal and admin API use it (the one above is another
            // process's view, which sees client changes only after the server's cache expires).
            store: running.store.clone(),
            http: reqwest::Client::new(),
            _running: Node::InProcess(running),
            dir,
        }
    }

    /// Another node on this server's database and master key: `ostiary serve` as a process of
    /// its own, on a port of its own, with caches and a connection pool of its own. The test's
    /// `store` is shared: the nodes see what the test writes as they see each other's writes.
    pub async fn another_node(&self) -> TestServer {
        self.another_node_with(&[]).await
    }

    /// [`Self::another_node`] with more environment variables (a faked clock, say).
    pub async fn another_node_with(&self, env: &[(&str, &str)]) -> TestServer {
        self.another_node_of(std::path::Path::new(env!("CARGO_BIN_EXE_ostiary")), env)
            .await
    }

    /// [`Self::another_node_with`], running `program` (another version of `ostiary`, say).
    pub async fn another_node_of(
        &self,
        program: &std::path::Path,
        env: &[(&str, &str)],
    ) -> TestServer {
        let dir = TempDir(std::env::temp_dir().join(format!("ostiary-node-{}", unique())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let master_key = std::fs::read_to_string(self.dir.0.join("master.key")).unwrap();
        let mut env = env.to_vec();
        env.push(("OSTIARY_MASTER_KEY", master_key.trim()));
        let (base, child) = serve_process(program, &dir.0, &self.database, &env).await;
        self.beside(base, child, dir)
    }

    /// A node at `base` (a process serving this server's database) as a test server.
    pub fn beside(&self, base: String, child: tokio::process::Child, dir: TempDir) -> TestServer {
        let path = self.endpoints.strip_prefix(&self.base).unwrap_or("/oauth2");
        TestServer {
            endpoints: format!("{base}{path}"),
            base,
            issuer: self.issuer.clone(),
            database: self.database.clone(),
            store: self.store.clone(),
            http: reqwest::Client::new(),
            _running: Node::Process(child),
            dir,
        }
    }

    /// The server's published keys, as a client would fetch them.
    pub async fn jwks(&self) -> JwkSet {
        let text = self
            .http
            .get(self.url("/jwks"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        JwkSet::from_json(&text).unwrap()
    }

    /// The server's OpenID Provider metadata, as a client would fetch it.
    pub async fn discovery(&self) -> Value {
        self.http
            .get(self.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoints)
    }

    /// Registers a client directly in the store; returns its secret (confidential clients).
    pub async fn client(
        &self,
        id: &str,
        method: AuthMethod,
        grants: &[GrantType],
        jwks: Option<&JwkSet>,
    ) -> Option<String> {
        let client_type = if method == AuthMethod::None {
            ClientType::Public
        } else {
            ClientType::Confidential
        };
        let client = ClientDescription {
            client_id: id.into(),
            client_type,
            name: id.into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            grant_types: grants.to_vec(),
            token_endpoint_auth_method: method,
            jwks: jwks.map(|k| k.to_value()),
            ..Default::default()
        };
        client.validate().unwrap();
        let secret = (client_type == ClientType::Confidential)
            .then(|| format!("{id}-secret-0123456789abcdefghijklmnopqrstuv"));
        self.store
            .create_client(&client, secret.as_deref())
            .await
            .unwrap();
        secret
    }

    pub async fn user(&self, username: &str, password: &str) {
        let claims: Map<String, Value> =
            json!({"name": "Alice Liddell", "email": "alice@example.com", "email_verified": true})
                .as_object()
                .cloned()
                .unwrap();
        let hash = ostiary_server::password::hash(password).unwrap();
        self.store
            .create_user(
                &User {
                    username: username.into(),
                    claims,
                    enabled: true,
                },
                &hash,
            )
            .await
            .unwrap();
    }

    /// The user `username` (password `password`), the confidential client `web` with the
    /// password grant, and an access token it got for the user with `scope`: (the client's
    /// secret, the access token).
    pub async fn user_token(
        &self,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> (String, String) {
        self.user(username, password).await;
        let secret = self
            .client(
                "web",
                AuthMethod::ClientSecretBasic,
                &[GrantType::Password],
                None,
            )
            .await
            .unwrap();
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        form.extend(scope.map(|s| ("scope", s)));
        let (status, issued, _) = self
            .post_form("/token", &form, Some(("web", &secret)))
            .await;
        assert_eq!(status, 200, "{issued}");
        (secret, issued["access_token"].as_str().unwrap().to_owned())
    }

    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// A JWT this server could have made: `claims`, with `iat` and a 10-minute `exp` added,
    /// signed RS256 with the server's own key, typed `typ`.
    pub async fn signed_by_server(&self, mut claims: Value, typ: &str) -> String {
        use ostiary_server::store::KeyStore as _;
        let keys = self.store.key_ring().await.unwrap().unwrap().private_set();
        let now = ostiary::settings::now();
        claims["iat"] = now.into();
        claims["exp"] = (now + 600).into();
        let opts = ostiary_jose::EncodeOptions {
            sig_alg: Some(SigAlg::RS256),
            typ: Some(typ.into()),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, &keys, None).unwrap()
    }

    /// A signed client assertion (RFC 7523 §3) for `client_id`, audience this server's issuer.
    pub fn assertion(
        &self,
        client_id: &str,
        key: &JwkSet,
        alg: SigAlg,
        jti: &str,
        exp_in: i64,
    ) -> String {
        let now = ostiary::settings::now();
        let claims = json!({"iss": client_id, "sub": client_id, "aud": self.issuer, "exp": now + exp_in, "iat": now, "jti": jti});
        let opts = ostiary_jose::EncodeOptions {
            sig_alg: Some(alg),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, key, None).unwrap()
    }
}

/// Serves `body` with `content_type` to every request on a loopback port, as plain HTTP (a
/// stand-in for another party's endpoint); returns `http://127.0.0.1:PORT`.
pub async fn serve_fixed(body: String, content_type: &'static str) -> String {
    serve_counted(body, content_type).await.0
}

/// [`serve_fixed`], with the number of requests served so far.
pub async fn serve_counted(
    body: String,
    content_type: &'static str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        }
    });
    (base, served)
}

/// A private signing key of `alg`, as a set.
pub fn signing_keys(alg: SigAlg) -> JwkSet {
    JwkSet::from(Jwk::generate(Algorithm::Sig(alg)).unwrap())
}

pub fn client_secret_key(secret: &str) -> JwkSet {
    JwkSet::from(Jwk::symmetric(secret.as_bytes()).unwrap())
}

/// Runs the body once per backend, as a test named for each.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, |$server:ident| $body:block) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $server =
                    $crate::harness::TestServer::start($crate::harness::Backend::Sqlite).await;
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $server =
                    $crate::harness::TestServer::start($crate::harness::Backend::Postgres).await;
                $body
            }
        }
    };
}
