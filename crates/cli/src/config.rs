//! `ostiary config check`: reads everything `ostiary serve` would read — the config file and the
//! `OSTIARY_*` variables, the listen addresses, the issuer, the TLS files, the master key, the
//! database and the server configuration stored in it — and says what is wrong, naming the key,
//! without serving. A SQLite database is only read; a PostgreSQL one is opened as `serve` opens it
//! (pending migrations applied).

use std::net::SocketAddr;

use clap::{Args, Subcommand};
use ostiary_server::config::IssuerEndpoint;
use ostiary_server::store::{ConfigStore as _, KeyStore as _};
use serde_json::{Value, json};

use crate::settings::{CommonOptions, master_key};

#[derive(Debug, Args)]
pub struct ConfigOptions {
    #[command(flatten)]
    pub common: CommonOptions,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration `ostiary serve` would start with; exit status 1 and the bad key
    /// when something is wrong.
    Check,
}

pub async fn run(options: ConfigOptions) -> Result<String, String> {
    let ConfigCommand::Check = options.command;
    let settings = options.common.resolve()?;
    for (key, value) in [
        ("listen", &settings.listen),
        ("admin_listen", &settings.admin_listen),
    ] {
        if let Some(address) = value {
            address
                .parse::<SocketAddr>()
                .map_err(|e| format!("{key} = \"{address}\": {e} (want IP:PORT)"))?;
        }
    }
    if let Some(issuer) = &settings.issuer {
        IssuerEndpoint::from_url(issuer).ok_or_else(|| {
            format!("issuer = \"{issuer}\": not http(s)://host[:port][/prefix]/oauth2")
        })?;
    }
    if let Some(tls) = &settings.tls {
        crate::tls::acceptor(tls).map_err(|e| format!("tls_certificate / tls_key: {e}"))?;
    }
    let sqlite_file = settings
        .database
        .strip_prefix("sqlite://")
        .map(|rest| std::path::PathBuf::from(rest.split('?').next().unwrap_or(rest)));
    let has_key = std::env::var_os("OSTIARY_MASTER_KEY").is_some()
        || settings.data_dir.join("master.key").exists();
    let mut report = json!({
        "data_dir": settings.data_dir,
        "database": if sqlite_file.is_some() { "sqlite" } else { "postgres" },
        "listen": settings.listen,
        "issuer": settings.issuer,
        "admin_listen": settings.admin_listen,
        "tls": settings.tls.is_some(),
        "clock": settings.clock,
    });
    if let Some(warning) = ostiary_store::database_warning(&settings.database) {
        report["warnings"] = json!([warning]);
    }
    if let Some(file) = &sqlite_file
        && !file.exists()
    {
        report["state"] = "new: the first `ostiary serve` creates the database and keys".into();
        return Ok(pretty(&report));
    }
    if !has_key {
        return Err(format!(
            "no master key: {} is missing and OSTIARY_MASTER_KEY is not set",
            settings.data_dir.join("master.key").display()
        ));
    }
    let master = master_key(&settings.data_dir)?;
    if let Some(file) = &sqlite_file {
        // Read-only: integrity, a schema this version knows, keys the master key opens.
        let summary = ostiary_store::check_backup(file, &master).await?;
        report["schema_version"] = summary.schema_version.into();
        if summary.schema_version < ostiary_store::SCHEMA_VERSION {
            report["state"] = "older schema: the next `ostiary serve` migrates it".into();
            return Ok(pretty(&report));
        }
    }
    let store = ostiary_store::Store::open(&settings.database, master).await?;
    let config = store
        .server_config()
        .await
        .map_err(|e| format!("server configuration: {e}"))?;
    match config {
        Some(config) => {
            config
                .validate()
                .map_err(|e| format!("stored server configuration: {e}"))?;
            report["issuer_in_use"] = config.issuer_url().into();
        }
        None => report["state"] = "no server configuration yet: `ostiary serve` makes it".into(),
    }
    let keys = store
        .key_ring()
        .await
        .map_err(|e| format!("server keys: {e}"))?;
    report["keys"] = keys.map_or(0, |ring| ring.keys().len()).into();
    Ok(pretty(&report))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
