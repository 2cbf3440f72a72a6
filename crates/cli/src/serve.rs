//! `ostiary serve`: the authorization server on the configured store. On first start it creates
//! the data directory, the master key, the server configuration and keys, and the `admin` user.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use ostiary_server::config::User;
use ostiary_server::store::{ServerStore, UserStore as _};
use ostiary_server::{Hooks, Server};
use tokio::net::TcpListener;

use crate::settings::{ClockSource, CommonOptions, Settings, now, open_store};

#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    #[command(flatten)]
    pub common: CommonOptions,
    /// Address to listen on.
    #[arg(long, env = "OSTIARY_LISTEN")]
    pub listen: Option<String>,
    /// Issuer URL (http(s)://host[:port][/prefix]/oauth2); default: from the listen address.
    #[arg(long, env = "OSTIARY_ISSUER")]
    pub issuer: Option<String>,
    /// Serve the portal and admin API on this address of their own (say, an internal network)
    /// instead of under `/admin` of `--listen`.
    #[arg(long, env = "OSTIARY_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Serve HTTPS with this certificate (chain, PEM); needs --tls-key.
    #[arg(long, env = "OSTIARY_TLS_CERTIFICATE", requires = "tls_key")]
    pub tls_certificate: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "OSTIARY_TLS_KEY", requires = "tls_certificate")]
    pub tls_key: Option<PathBuf>,
    /// On PostgreSQL, the clock every expiry is read from: the database's (the default: nodes
    /// agree whatever their own clocks say) or this machine's system clock.
    #[arg(long, env = "OSTIARY_CLOCK", value_enum)]
    pub clock: Option<ClockSource>,
}

/// A running server: its address, and a handle that stops it.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    /// The portal's own address, when it has one.
    pub admin_addr: Option<SocketAddr>,
    pub issuer: String,
    /// The server's store: writes through it reach the server's caches at once.
    pub store: ostiary_store::Store,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub done: tokio::task::JoinHandle<()>,
}

/// Prepares the store and starts serving; returns once the listener is bound.
pub async fn start(
    settings: &Settings,
    listen: &str,
    issuer: Option<&str>,
) -> Result<Running, String> {
    start_with_hooks(settings, listen, issuer, Hooks::default()).await
}

/// [`start`], with customization hooks in place of the built-in ones.
pub async fn start_with_hooks(
    settings: &Settings,
    listen: &str,
    issuer: Option<&str>,
    hooks: Hooks,
) -> Result<Running, String> {
    // Client authentication (every token, introspection and revocation request) reads no row.
    let store = open_store(settings).await?.with_caches();
    let certified = settings
        .tls
        .as_ref()
        .map(crate::tls::Certified::load)
        .transpose()?;
    if let Some(certified) = &certified {
        certified.reload_on_hangup();
    }
    let tls = certified.as_ref().map(crate::tls::Certified::acceptor);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let default_issuer = format!("{scheme}://{addr}/oauth2");
    let issuer = issuer
        .map(str::to_owned)
        .or_else(|| settings.issuer.clone());
    // The issuer is only set from the listen address on first start; an existing configuration keeps its own.
    let configured = ostiary_server::store::ConfigStore::server_config(&store)
        .await
        .map_err(|e| e.to_string())?;
    let issuer = issuer.or_else(|| configured.is_none().then(|| default_issuer.clone()));
    let config = ostiary_server::initialize(&store, issuer.as_deref(), now())
        .await
        .map_err(|e| e.to_string())?;
    bootstrap_admin(&store).await?;
    let own_store = store.clone();
    let store = Arc::new(store);
    let client = ostiary_client::Client::new(store.clone());
    let store: Arc<dyn ServerStore> = store;
    let server = Server::new(store.clone(), hooks);
    let metrics = server.metrics().clone();
    let gauges = own_store.clone();
    metrics.add_source(move |out| gauges.write_metrics(out));
    // `/metrics` goes with the portal: on the admin listener when there is one.
    let portal = axum::Router::new()
        .nest("/admin", ostiary_portal::router(server.clone(), client))
        .route(
            "/metrics",
            axum::routing::get(ostiary_server::metrics::scrape).with_state(metrics.clone()),
        );
    let mut app = ostiary_server::router(server, &config.issuer.path());
    let (admin_listener, admin_addr) = match &settings.admin_listen {
        Some(admin_listen) => {
            let listener = TcpListener::bind(admin_listen)
                .await
                .map_err(|e| format!("cannot listen on {admin_listen}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            (Some(listener), Some(addr))
        }
        None => {
            app = app.merge(portal.clone());
            (None, None)
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_admin, admin_stopped) = tokio::sync::watch::channel(false);
    watch_clock(own_store.clone(), settings.clock, admin_stopped.clone());
    if let Some(listener) = admin_listener {
        let mut stopped = admin_stopped.clone();
        serve_app(
            listener,
            tls.clone(),
            observed(portal, &metrics),
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        );
    }
    let done = serve_app(listener, tls, observed(app, &metrics), async move {
        tokio::select! {
            _ = stopped => {}
            _ = shutdown_signal() => {}
        }
        let _ = stop_admin.send(true);
    });
    Ok(Running {
        addr,
        admin_addr,
        issuer: config.issuer_url(),
        store: own_store,
        stop,
        done,
    })
}

/// Seconds a node's clock may be off the database's before it is warned about: well within the
/// 30 s leeway of token checks and the 60 s of a code.
const CLOCK_WARNING: f64 = 5.0;

/// Compares this node's clock with PostgreSQL's each minute, until `stopped` turns true, after
/// the comparison [`open_store`] made before serving: `/metrics` shows it, and the node reads the
/// database's time unless `clock` says to read its own.
fn watch_clock(
    store: ostiary_store::Store,
    clock: ClockSource,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    if store.engine() != ostiary_store::Engine::Postgres {
        return;
    }
    let follow = clock == ClockSource::Database;
    tell_clock(store.clock_ahead(), follow);
    tokio::spawn(async move {
        loop {
            let minute = tokio::time::sleep(std::time::Duration::from_secs(60));
            tokio::select! {
                _ = minute => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            tell_clock(store.measure_clock(follow).await, follow);
        }
    });
}

/// Logs a clock found more than [`CLOCK_WARNING`] off the database's: as a warning when the
/// node reads its own.
fn tell_clock(ahead: Option<f64>, follow: bool) {
    match ahead {
        Some(ahead) if ahead.abs() > CLOCK_WARNING && follow => tracing::info!(
            ahead_seconds = ahead,
            "this node's clock is off the database's: it reads the database's time"
        ),
        Some(ahead) if ahead.abs() > CLOCK_WARNING => tracing::warn!(
            ahead_seconds = ahead,
            "this node's clock is off the database's: codes and tokens will expire early or late; run NTP"
        ),
        _ => {}
    }
}

/// `app` with every request counted, timed and given an id (see [`ostiary_server::metrics`]).
fn observed(app: axum::Router, metrics: &Arc<ostiary_server::metrics::Metrics>) -> axum::Router {
    app.layer(ostiary_server::metrics::TrackLayer(metrics.clone()))
}

/// Serves `app` on `listener` — over TLS when `tls` is given — until `shutdown` completes.
pub fn serve_app(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let served = match tls {
            Some(acceptor) => {
                // axum knows the peer of TCP connections only: each TLS connection's router
                // gets it as the same `ConnectInfo` extension.
                let make = tower::service_fn(
                    move |incoming: axum::serve::IncomingStream<'_, crate::tls::TlsListener>| {
                        let peer = axum::extract::ConnectInfo(*incoming.remote_addr());
                        let app = app.clone().layer(axum::Extension(peer));
                        async move { Ok::<_, std::convert::Infallible>(app) }
                    },
                );
                match crate::tls::TlsListener::new(listener, acceptor) {
                    Ok(listener) => {
                        axum::serve(listener, make)
                            .with_graceful_shutdown(shutdown)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            None => {
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "a listener stopped");
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Creates the `admin` user when there is none. Its password comes from
/// `OSTIARY_BOOTSTRAP_ADMIN_PASSWORD`, or is generated and printed this once.
async fn bootstrap_admin(store: &ostiary_store::Store) -> Result<(), String> {
    if store
        .user("admin")
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(());
    }
    let (password, generated) = match std::env::var("OSTIARY_BOOTSTRAP_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (ostiary_server::issue::random_token()[..20].to_owned(), true),
    };
    let hash = ostiary_server::password::hash_async(password.clone()).await?;
    let mut claims = serde_json::Map::new();
    claims.insert("name".into(), "Administrator".into());
    claims.insert("ostiary_role".into(), "admin".into());
    let user = User {
        username: "admin".into(),
        claims,
        enabled: true,
    };
    match store.create_user(&user, &hash).await {
        Ok(()) | Err(ostiary_server::store::StoreError::Conflict) => {}
        Err(e) => return Err(e.to_string()),
    }
    if generated {
        eprintln!(
            "ostiary: created the administrator \"admin\" with the one-time password: {password}"
        );
        eprintln!(
            "ostiary: change it with `ostiary admin user set-password admin --password-stdin`"
        );
    } else {
        eprintln!(
            "ostiary: created the administrator \"admin\" (password from OSTIARY_BOOTSTRAP_ADMIN_PASSWORD)"
        );
    }
    Ok(())
}

/// `ostiary serve`, with `hooks` (the built-in ones, unless a program embeds Ostiary).
pub async fn run(options: ServeOptions, hooks: Hooks) -> Result<String, String> {
    let mut settings = options.common.resolve()?;
    if options.admin_listen.is_some() {
        settings.admin_listen = options.admin_listen.clone();
    }
    if let (Some(certificate), Some(key)) = (options.tls_certificate, options.tls_key) {
        settings.tls = Some(crate::tls::TlsFiles { certificate, key });
    }
    if let Some(clock) = options.clock {
        settings.clock = clock;
    }
    let listen = options
        .listen
        .or(settings.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let running = start_with_hooks(&settings, &listen, options.issuer.as_deref(), hooks).await?;
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!(
        "ostiary: authorization server listening on {scheme}://{} (issuer {})",
        running.addr, running.issuer
    );
    eprintln!(
        "ostiary: discovery at {}/.well-known/openid-configuration",
        running.issuer
    );
    let portal = running.admin_addr.unwrap_or(running.addr);
    eprintln!(
        "ostiary: management portal at {scheme}://{portal}/admin (admin API under /admin/api)"
    );
    running.done.await.map_err(|e| e.to_string())?;
    Ok(String::new())
}
