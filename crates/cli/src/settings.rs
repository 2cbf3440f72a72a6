//! Where a command finds its data: flags, then `OSTIARY_*` environment variables, then the TOML
//! config file (`--config`), then defaults. Every command that touches data takes these options.

use std::path::{Path, PathBuf};

use clap::Args;
use ostiary_store::{MasterKey, Store};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Args)]
pub struct CommonOptions {
    /// TOML file with the same keys as these options (data_dir, database, listen, issuer, clock).
    #[arg(long, env = "OSTIARY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory of the SQLite database and the master key.
    #[arg(long, env = "OSTIARY_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default: DATA_DIR/ostiary.db) or postgres://…
    #[arg(long, env = "OSTIARY_DATABASE", global = true)]
    pub database: Option<String>,
}

/// The config file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
    pub listen: Option<String>,
    pub issuer: Option<String>,
    /// The portal and admin API on a listener of their own (else under `/admin` of `listen`).
    pub admin_listen: Option<String>,
    /// HTTPS: the certificate (chain, PEM) and its key; both or neither.
    pub tls_certificate: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub clock: Option<ClockSource>,
}

/// The time a node on PostgreSQL reads for every expiry (on SQLite there is one machine, and its
/// clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClockSource {
    /// The database's, measured at start and each minute: nodes agree on when a code or token
    /// ends even when their own clocks drift apart.
    #[default]
    Database,
    /// The node's own system clock, kept in step with the others' by NTP.
    System,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database: String,
    pub listen: Option<String>,
    pub issuer: Option<String>,
    pub admin_listen: Option<String>,
    pub tls: Option<crate::tls::TlsFiles>,
    pub clock: ClockSource,
}

impl CommonOptions {
    pub fn resolve(&self) -> Result<Settings, String> {
        let file = match &self.config {
            None => FileSettings::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| {
                    format!("{}: {}", path.display(), e.to_string().replace('\n', " "))
                })?
            }
        };
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("ostiary-data"));
        let database = self
            .database
            .clone()
            .or(file.database)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("ostiary.db").display()));
        Ok(Settings {
            data_dir,
            database,
            listen: file.listen,
            issuer: file.issuer,
            admin_listen: file.admin_listen,
            tls: match (file.tls_certificate, file.tls_key) {
                (Some(certificate), Some(key)) => Some(crate::tls::TlsFiles { certificate, key }),
                (None, None) => None,
                _ => return Err("tls_certificate and tls_key go together".into()),
            },
            clock: file.clock.unwrap_or_default(),
        })
    }
}

/// The master key: `OSTIARY_MASTER_KEY`, else `DATA_DIR/master.key`, created on first start.
pub fn master_key(data_dir: &Path) -> Result<MasterKey, String> {
    if let Ok(text) = std::env::var("OSTIARY_MASTER_KEY") {
        return MasterKey::from_text(&text).map_err(|e| format!("OSTIARY_MASTER_KEY: {e}"));
    }
    let path = data_dir.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_text(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = MasterKey::generate_text();
            write_private(&path, &text)?;
            eprintln!(
                "ostiary: created the master key {} (keep it: it seals the keys and secrets in the database)",
                path.display()
            );
            MasterKey::from_text(&text)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes a file only its owner can read.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Opens the store the settings name, creating the data directory for SQLite.
pub async fn open_store(settings: &Settings) -> Result<Store, String> {
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|e| format!("{}: {e}", settings.data_dir.display()))?;
    let master = master_key(&settings.data_dir)?;
    let store = Store::open(&settings.database, master).await?;
    // On PostgreSQL the commands date what they write by the database's clock too, as the nodes do.
    store
        .measure_clock(settings.clock == ClockSource::Database)
        .await;
    Ok(store)
}

pub use ostiary_jose::clock::now;
