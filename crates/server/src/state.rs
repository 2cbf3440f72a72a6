//! The server's shared state: the store, the hooks, and short-lived caches of the configuration
//! and keys. Caches expire after [`CACHE_TTL`], so changes made by `ostiary admin` or another node
//! take effect within that time without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ostiary_jose::{Algorithm, KeyAlg, KeyRing, SigAlg};
use tokio::sync::RwLock;

use crate::config::ServerConfig;
use crate::error::{ServerError, ServerResult};
use crate::hooks::Hooks;
use crate::store::ServerStore;

/// How stale the cached configuration and keys may be.
pub const CACHE_TTL: Duration = Duration::from_secs(2);

struct Cached<T>(RwLock<Option<(Instant, Arc<T>)>>);

impl<T> Cached<T> {
    fn new() -> Self {
        Cached(RwLock::new(None))
    }

    async fn get_or_load<F, Fut>(&self, load: F) -> ServerResult<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = ServerResult<T>>,
    {
        if let Some((at, value)) = self.0.read().await.as_ref()
            && at.elapsed() < CACHE_TTL
        {
            return Ok(value.clone());
        }
        let value = Arc::new(load().await?);
        *self.0.write().await = Some((Instant::now(), value.clone()));
        Ok(value)
    }

    async fn clear(&self) {
        *self.0.write().await = None;
    }
}

/// A response body made from a cached value, made again only when that value was reloaded: the
/// JWKS and discovery documents are served as precomputed bytes.
struct Derived<T>(std::sync::Mutex<Option<(Arc<T>, axum::body::Bytes)>>);

impl<T> Default for Derived<T> {
    fn default() -> Self {
        Derived(std::sync::Mutex::new(None))
    }
}

impl<T> Derived<T> {
    pub fn get(
        &self,
        source: &Arc<T>,
        make: impl FnOnce(&T) -> axum::body::Bytes,
    ) -> axum::body::Bytes {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((from, body)) = slot.as_ref()
            && Arc::ptr_eq(from, source)
        {
            return body.clone();
        }
        let body = make(source);
        *slot = Some((source.clone(), body.clone()));
        body
    }
}

/// The authorization server. Cheap to clone; build one with [`Server::new`].
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ServerStore>,
    hooks: Hooks,
    config: Cached<ServerConfig>,
    keys: Cached<KeyRing>,
    jwks_body: Derived<KeyRing>,
    discovery_body: Derived<ServerConfig>,
    logins: crate::ratelimit::Limiter,
    fetched_keys: crate::client_keys::FetchedKeys,
    metrics: Arc<crate::metrics::Metrics>,
    limits: crate::ratelimit::RequestLimits,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl Server {
    /// A server over `store`. The store must hold a server configuration and keys: see
    /// [`initialize`], which `ostiary serve` runs on start.
    pub fn new(store: Arc<dyn ServerStore>, hooks: Hooks) -> Self {
        Server {
            inner: Arc::new(Inner {
                store,
                hooks,
                config: Cached::new(),
                keys: Cached::new(),
                jwks_body: Default::default(),
                discovery_body: Default::default(),
                logins: Default::default(),
                fetched_keys: Default::default(),
                metrics: Default::default(),
                limits: Default::default(),
            }),
        }
    }

    pub fn store(&self) -> &dyn ServerStore {
        self.inner.store.as_ref()
    }

    pub fn shared_store(&self) -> Arc<dyn ServerStore> {
        self.inner.store.clone()
    }

    pub fn login_limiter(&self) -> &crate::ratelimit::Limiter {
        &self.inner.logins
    }

    /// This node's request and client-authentication counters (the configuration's `rate_limits`).
    pub fn limits(&self) -> &crate::ratelimit::RequestLimits {
        &self.inner.limits
    }

    /// This node's counters, for `/metrics` and the portal's dashboard.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.inner.metrics
    }

    /// Client keys fetched from `jwks_uri`s.
    pub fn fetched_keys(&self) -> &crate::client_keys::FetchedKeys {
        &self.inner.fetched_keys
    }

    /// The JWKS document's body, made once per loaded key ring.
    pub fn jwks_body(&self, keys: &Arc<KeyRing>) -> axum::body::Bytes {
        self.inner.jwks_body.get(keys, |ring| {
            serde_json::to_vec(&ring.public_set())
                .unwrap_or_default()
                .into()
        })
    }

    /// The discovery document's body, made once per loaded configuration.
    pub fn discovery_body(
        &self,
        config: &Arc<ServerConfig>,
        make: impl FnOnce(&ServerConfig) -> axum::body::Bytes,
    ) -> axum::body::Bytes {
        self.inner.discovery_body.get(config, make)
    }

    pub fn hooks(&self) -> &Hooks {
        &self.inner.hooks
    }

    pub async fn config(&self) -> ServerResult<Arc<ServerConfig>> {
        let store = self.inner.store.clone();
        self.inner
            .config
            .get_or_load(|| async move {
                store.server_config().await?.ok_or_else(|| {
                    ServerError::Config(
                        "no server configuration: run `ostiary serve` once to create it".into(),
                    )
                })
            })
            .await
    }

    pub async fn keys(&self) -> ServerResult<Arc<KeyRing>> {
        let store = self.inner.store.clone();
        self.inner
            .keys
            .get_or_load(|| async move {
                store
                    .key_ring()
                    .await?
                    .ok_or_else(|| ServerError::Config("the server has no keys".into()))
            })
            .await
    }

    /// The private keys to sign with `alg`. A key for an algorithm the server has not used before is
    /// made the first time a client needs it (a client may register any advertised algorithm).
    pub async fn signing_keys(&self, alg: SigAlg) -> ServerResult<ostiary_jose::JwkSet> {
        let now = crate::endpoints::now();
        let keys = self.keys().await?.signing_set(now);
        if keys
            .select(None, alg.name(), ostiary_jose::KeyOp::Sign)
            .is_ok()
        {
            return Ok(keys);
        }
        // Re-read the stored ring, so as not to overwrite what another node added meanwhile.
        let mut ring = self.store().key_ring().await?.unwrap_or_default();
        if ring.current(alg.name()).is_none() {
            let fresh = KeyRing::generate(&[Algorithm::Sig(alg)], now)
                .map_err(|e| ServerError::Config(e.to_string()))?;
            ring.merge(fresh);
            self.store().save_key_ring(&ring).await?;
            tracing::info!(%alg, "generated a signing key for a newly used algorithm");
        }
        self.inner.keys.clear().await;
        Ok(self.keys().await?.signing_set(now))
    }

    /// Drops the caches (after this process changed the configuration or keys).
    pub async fn refresh(&self) {
        self.inner.config.clear().await;
        self.inner.keys.clear().await;
    }
}

/// The algorithms the server keeps keys for: its signing algorithm, its JWE key management
/// algorithm when set, and RSA-OAEP-256 so that clients can always encrypt to it.
pub fn algorithms_in_use(config: &ServerConfig) -> Vec<Algorithm> {
    let mut algs = vec![Algorithm::Sig(
        config.jwt.signing_alg.unwrap_or(SigAlg::RS256),
    )];
    if config.jwt.signing_alg != Some(SigAlg::RS256) {
        // RS256 is the OpenID Connect default for ID tokens: always able to sign with it.
        algs.push(Algorithm::Sig(SigAlg::RS256));
    }
    algs.push(Algorithm::Key(KeyAlg::RsaOaep256));
    if let Some(k) = config.jwt.key_alg
        && !matches!(k, KeyAlg::RsaOaep256 | KeyAlg::Dir)
        && !k.name().starts_with('A')
    {
        algs.push(Algorithm::Key(k));
    }
    algs
}

/// Makes sure the store holds a server configuration (the default, with `issuer` when given)
/// and a key ring for the algorithms in use. Returns the configuration.
pub async fn initialize(
    store: &dyn ServerStore,
    issuer: Option<&str>,
    now: i64,
) -> ServerResult<ServerConfig> {
    let stored = store.server_config().await?;
    let mut changed = stored.is_none();
    let mut config = stored.unwrap_or_default();
    if let Some(url) = issuer {
        let endpoint = crate::config::IssuerEndpoint::from_url(url).ok_or_else(|| {
            ServerError::Config(format!(
                "issuer \"{url}\" is not http(s)://host[:port][/prefix]/oauth2"
            ))
        })?;
        if endpoint != config.issuer {
            config.issuer = endpoint;
            changed = true;
        }
    }
    config.validate().map_err(ServerError::Config)?;
    if changed {
        store.save_server_config(&config).await?;
    }
    ensure_keys(store, &config, now).await?;
    Ok(config)
}

/// Adds keys for any algorithm in use that has none (a new ring on first start), and installs
/// the X.509 credentials' key when configured.
pub async fn ensure_keys(
    store: &dyn ServerStore,
    config: &ServerConfig,
    now: i64,
) -> ServerResult<()> {
    install_x509_key(store, config, now).await?;
    let wanted = algorithms_in_use(config);
    let ring = match store.key_ring().await? {
        None => KeyRing::generate(&wanted, now).map_err(|e| ServerError::Config(e.to_string()))?,
        Some(mut ring) => {
            let missing: Vec<Algorithm> = wanted
                .into_iter()
                .filter(|a| ring.current(&a.to_string()).is_none())
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            let extra =
                KeyRing::generate(&missing, now).map_err(|e| ServerError::Config(e.to_string()))?;
            ring.merge(extra);
            ring
        }
    };
    store.save_key_ring(&ring).await?;
    Ok(())
}

/// With X.509 credentials configured, their key signs (and its certificate goes out in `x5c`)
/// instead of a generated one; a new certificate replaces the old key, which keeps verifying.
async fn install_x509_key(
    store: &dyn ServerStore,
    config: &ServerConfig,
    now: i64,
) -> ServerResult<()> {
    let Some(credentials) = &config.jwt.x509 else {
        return Ok(());
    };
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map_err(|e| ServerError::Config(format!("X.509 credentials: {path}: {e}")))
    };
    let password = match &credentials.private_key_password_file {
        Some(path) => Some(read(path)?.trim_end_matches(['\r', '\n']).to_owned()),
        None => None,
    };
    let mut key = ostiary_jose::Jwk::from_pem_with_certificate(
        &read(&credentials.private_key_file)?,
        &read(&credentials.certificate_file)?,
        password.as_deref().map(str::as_bytes),
    )
    .map_err(|e| ServerError::Config(format!("X.509 credentials: {e}")))?;
    let alg = config.jwt.signing_alg.unwrap_or(SigAlg::RS256);
    let fits = match key.kty() {
        "RSA" => alg.name().starts_with("RS") || alg.name().starts_with("PS"),
        "EC" => alg.name().starts_with("ES"),
        "OKP" => alg == SigAlg::EdDSA,
        _ => false,
    };
    if !fits {
        return Err(ServerError::Config(format!(
            "X.509 credentials: a {} key cannot sign {alg}",
            key.kty()
        )));
    }
    key.alg = Some(alg.name().to_owned());
    // A kid, so that verifiers pick this key among the published ones (RFC 7638 thumbprint).
    if key.kid.is_none() {
        key.kid = Some(key.thumbprint());
    }
    let mut ring = store.key_ring().await?.unwrap_or_default();
    if ring
        .install(key, now)
        .map_err(|e| ServerError::Config(e.to_string()))?
    {
        store.save_key_ring(&ring).await?;
        tracing::info!(%alg, "the X.509 credentials' key signs from now on");
    }
    Ok(())
}

/// Key rotation (the reference's JWKS rotation): a new key for every algorithm in use, published
/// at once (every node within [`CACHE_TTL`]) and signing after the configuration's
/// `intervals.key_publication`, when every node does; the replaced ones sign until then, and stay
/// published, verifying and decrypting, until [`retire_keys`]. Returns the new keys' ids.
pub async fn rotate_keys(store: &dyn ServerStore, now: i64) -> ServerResult<Vec<String>> {
    let ahead = store
        .server_config()
        .await?
        .unwrap_or_default()
        .intervals
        .key_publication;
    let mut ring = store
        .key_ring()
        .await?
        .ok_or_else(|| ServerError::Config("the server has no keys".into()))?;
    let fresh = ring
        .rotate(now, ahead)
        .map_err(|e| ServerError::Config(e.to_string()))?;
    store.save_key_ring(&ring).await?;
    tracing::info!(keys = ?fresh, "server keys rotated");
    Ok(fresh)
}

/// Retires the replaced keys created before `before`: they are no longer published nor used to
/// verify or decrypt. Returns how many went.
pub async fn retire_keys(store: &dyn ServerStore, before: i64, now: i64) -> ServerResult<usize> {
    let Some(mut ring) = store.key_ring().await? else {
        return Ok(0);
    };
    let retired = ring.retire_previous(before, now);
    if retired > 0 {
        store.save_key_ring(&ring).await?;
        tracing::info!(retired, "replaced server keys retired");
    }
    Ok(retired)
}
