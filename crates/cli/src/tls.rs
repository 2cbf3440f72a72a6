//! HTTPS for the listeners: a certificate chain and key from PEM files (rustls on aws-lc-rs),
//! reloaded on SIGHUP; a listener that hands axum TLS streams, handshaking off the accept loop;
//! and a self-signed certificate for loopback (the demo).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::server::TlsStream;

/// A certificate (chain, PEM) and its private key (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// The acceptor for `files`: HTTP/1.1 over TLS 1.2 or 1.3.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    Ok(Certified::load(files)?.acceptor())
}

/// The certificate and key in use, read again from their files by [`Certified::reload`] (on
/// SIGHUP): new connections get the new certificate, open ones keep theirs.
#[derive(Debug)]
pub struct Certified {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certified {
    pub fn load(files: &TlsFiles) -> Result<Arc<Certified>, String> {
        Ok(Arc::new(Certified {
            files: files.clone(),
            current: RwLock::new(Arc::new(read_pair(files)?)),
        }))
    }

    pub fn acceptor(self: &Arc<Self>) -> TlsAcceptor {
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }

    /// Reads the files again; on any error the certificate in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = read_pair(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// Reloads on every SIGHUP, for as long as the process runs.
    pub fn reload_on_hangup(self: &Arc<Self>) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                return;
            };
            let certified = self.clone();
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    match certified.reload() {
                        Ok(()) => tracing::info!(
                            certificate = %certified.files.certificate.display(),
                            "TLS certificate reloaded"
                        ),
                        Err(e) => tracing::error!(
                            error = %e,
                            "TLS certificate not reloaded: the one in use stays"
                        ),
                    }
                }
            });
        }
    }
}

impl ResolvesServerCert for Certified {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The chain and key of `files`, checked to belong together.
fn read_pair(files: &TlsFiles) -> Result<CertifiedKey, String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let chain = CertificateDer::pem_slice_iter(&read(&files.certificate)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", files.certificate.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", files.certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
        .map_err(|e| format!("{}: {e}", files.key.display()))?;
    let provider = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider();
    CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| format!("the certificate and key do not go together: {e}"))
}

/// A TCP listener whose connections are TLS: what `axum::serve` is given instead of the TCP one.
/// Handshakes run in tasks of their own, so that a slow or silent client delays no other.
pub struct TlsListener {
    handshaken: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// How long a client has to finish its handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let (ready, handshaken) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    // The server stopped: release the port.
                    () = ready.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, ready) = (acceptor.clone(), ready.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = ready.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            handshaken,
            local_addr,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task has ended (it never does while this receiver lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// A self-signed certificate for `127.0.0.1` and `localhost` (ECDSA P-256), written to `dir` as
/// `certificate.pem` and `key.pem` (readable by its owner only) unless they are there already.
pub fn self_signed(dir: &Path) -> Result<TlsFiles, String> {
    let files = TlsFiles {
        certificate: dir.join("certificate.pem"),
        key: dir.join("key.pem"),
    };
    if files.certificate.exists() && files.key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    std::fs::write(&files.certificate, made.cert.pem())
        .map_err(|e| format!("{}: {e}", files.certificate.display()))?;
    crate::settings::write_private(&files.key, &made.signing_key.serialize_pem())?;
    Ok(files)
}
