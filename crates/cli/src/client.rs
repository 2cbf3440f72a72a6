//! `ostiary client …`: the client runtime from a shell — server descriptions, client
//! configurations and tokens, on the same store as everything else (DESIGN.md, command line).
//! Tokens obtained here are kept under the application for the session `cli`.

use std::sync::Arc;

use clap::{Args, Subcommand};
use std::path::PathBuf;

use ostiary_client::{CLI_SESSION, Client, ClientConfiguration, ClientError, ServerDescription};
use ostiary_jose::{Jwk, JwkSet};
use ostiary_portal::relying::redacted;
use ostiary_portal::{Admin, AdminError, AdminResult};
use serde_json::{Value, json};

use crate::admin::{cli_actor, pretty, read_json_object, read_password};
use crate::settings::{CommonOptions, open_store};

#[derive(Debug, Args)]
pub struct ClientOptions {
    #[command(flatten)]
    pub common: CommonOptions,
    #[command(subcommand)]
    pub command: ClientCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Server descriptions.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Client configurations.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Discover and Save: read the issuer's metadata and keys.
    Discover {
        issuer: String,
        /// PEM file of extra CA certificates to trust for this server.
        #[arg(long)]
        ca_file: Option<String>,
    },
    /// Save a description entered by hand: JSON on stdin (`issuer`, `metadata`, optional `jwks`,
    /// `ca_file`); the server's keys may come from a file instead.
    Create {
        /// A JWK Set file with the server's public keys.
        #[arg(long)]
        jwks_file: Option<std::path::PathBuf>,
        /// The server's X.509 certificate (PEM), whose key signs its tokens.
        #[arg(long)]
        certificate: Option<std::path::PathBuf>,
    },
    List,
    Show {
        issuer: String,
    },
    /// Fetch the server's keys again (UpdateJWKS).
    RefreshJwks {
        issuer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Dynamic Registration and Save: client metadata JSON on stdin.
    Register {
        app: String,
        #[arg(long)]
        server: String,
        /// An initial access token, when the server asks for one.
        #[arg(long)]
        initial_token: Option<String>,
    },
    /// Save a configuration made elsewhere: JSON on stdin with `client_id` (and `client_secret`).
    Create {
        app: String,
        #[arg(long)]
        server: String,
    },
    List,
    Show {
        app: String,
    },
    /// Save and Update Registration (RFC 7592): send the configuration's metadata to the server.
    UpdateRegistration {
        app: String,
    },
    /// New keys for the client (the server is told when the client registered dynamically).
    RotateKeys {
        app: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    ClientCredentials {
        app: String,
        #[arg(long)]
        scope: Option<String>,
    },
    /// The password grant; the password comes on stdin.
    Password {
        app: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        scope: Option<String>,
    },
    /// Refresh the tokens kept for the application's `cli` session.
    Refresh { app: String },
    Introspect {
        app: String,
        #[arg(allow_hyphen_values = true)]
        token: String,
    },
    Revoke {
        app: String,
        #[arg(allow_hyphen_values = true)]
        token: String,
    },
    Userinfo {
        app: String,
        #[arg(allow_hyphen_values = true)]
        token: String,
    },
}

fn error(e: ClientError) -> String {
    match e {
        ClientError::Refused(r) => serde_json::to_string(&r).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn to_json(value: &impl serde::Serialize) -> AdminResult<String> {
    serde_json::to_value(value)
        .map(|v| pretty(&v))
        .map_err(|e| AdminError::Failed(e.to_string()))
}

fn to_json_text(value: &impl serde::Serialize) -> Result<String, String> {
    to_json(value).map_err(|e| e.to_string())
}

pub async fn run(options: ClientOptions) -> Result<String, String> {
    let settings = options.common.resolve()?;
    let store = Arc::new(open_store(&settings).await?);
    let client = Client::new(store.clone());
    let actor = cli_actor();
    let admin = Admin {
        store: store.as_ref(),
        actor: &actor,
    };
    match options.command {
        ClientCommand::Server(cmd) => server(&admin, &client, cmd)
            .await
            .map_err(|e| e.to_string()),
        ClientCommand::Config(cmd) => config(&admin, &client, cmd)
            .await
            .map_err(|e| e.to_string()),
        ClientCommand::Token(cmd) => token(&client, cmd).await.map_err(error).and_then(|r| r),
    }
}

/// The server's public keys from a JWK Set file or a certificate, for a description by hand.
fn keys_from(
    jwks_file: Option<PathBuf>,
    certificate: Option<PathBuf>,
) -> AdminResult<Option<JwkSet>> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path)
            .map_err(|e| AdminError::Invalid(format!("{}: {e}", path.display())))
    };
    let keys = match (jwks_file, certificate) {
        (Some(path), _) => JwkSet::from_json(&read(&path)?),
        (None, Some(path)) => Jwk::from_pem(&read(&path)?, None).map(JwkSet::from),
        (None, None) => return Ok(None),
    };
    keys.map(|k| Some(k.public()))
        .map_err(|e| AdminError::Invalid(e.to_string()))
}

async fn server(admin: &Admin<'_>, client: &Client, cmd: ServerCommand) -> AdminResult<String> {
    match cmd {
        ServerCommand::Discover { issuer, ca_file } => to_json(
            &admin
                .discover_server(client, &issuer, ca_file.as_deref())
                .await?,
        ),
        ServerCommand::Create {
            jwks_file,
            certificate,
        } => {
            let given = read_json_object("server description").map_err(AdminError::Invalid)?;
            let mut server: ServerDescription = serde_json::from_value(Value::Object(given))
                .map_err(|e| AdminError::Invalid(format!("server description: {e}")))?;
            if let Some(keys) = keys_from(jwks_file, certificate)?.filter(|k| !k.keys.is_empty()) {
                server.jwks = Some(keys.to_value());
            }
            to_json(&admin.save_server_description(client, server).await?)
        }
        ServerCommand::List => to_json(&client.store().servers().await?),
        ServerCommand::Show { issuer } => {
            to_json(&admin.server_description(client, &issuer).await?)
        }
        ServerCommand::RefreshJwks { issuer } => {
            Ok(pretty(&admin.refresh_server_keys(client, &issuer).await?))
        }
    }
}

async fn config(admin: &Admin<'_>, client: &Client, cmd: ConfigCommand) -> AdminResult<String> {
    match cmd {
        ConfigCommand::Register {
            app,
            server,
            initial_token,
        } => {
            let metadata = read_json_object("client metadata").map_err(AdminError::Invalid)?;
            let config = admin
                .register_configuration(client, &app, &server, metadata, initial_token.as_deref())
                .await?;
            Ok(pretty(&redacted(&config)))
        }
        ConfigCommand::Create { app, server } => {
            let given = read_json_object("client configuration").map_err(AdminError::Invalid)?;
            let mut config: ClientConfiguration = serde_json::from_value(Value::Object(given))
                .map_err(|e| AdminError::Invalid(format!("client configuration: {e}")))?;
            config.app = app;
            config.issuer = server;
            let saved = admin.save_configuration(client, config, false).await?;
            Ok(pretty(&redacted(&saved)))
        }
        ConfigCommand::List => {
            let all = admin.client_configurations(client, None).await?;
            Ok(pretty(&Value::Array(all.iter().map(redacted).collect())))
        }
        ConfigCommand::Show { app } => Ok(pretty(&redacted(
            &admin.client_configuration(client, &app).await?,
        ))),
        ConfigCommand::UpdateRegistration { app } => {
            let config = admin.client_configuration(client, &app).await?;
            Ok(pretty(&redacted(
                &admin.save_configuration(client, config, true).await?,
            )))
        }
        ConfigCommand::RotateKeys { app } => Ok(
            json!({ "new_keys": admin.rotate_configuration_keys(client, &app).await? }).to_string(),
        ),
    }
}

async fn token(client: &Client, cmd: TokenCommand) -> Result<Result<String, String>, ClientError> {
    Ok(match cmd {
        TokenCommand::ClientCredentials { app, scope } => to_json_text(
            &client
                .client_credentials(&app, scope.as_deref(), Some(CLI_SESSION))
                .await?,
        ),
        TokenCommand::Password {
            app,
            username,
            password_stdin,
            scope,
        } => {
            if !password_stdin {
                return Ok(Err(
                    "give the password on stdin with --password-stdin".into()
                ));
            }
            let password = match read_password() {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            to_json_text(
                &client
                    .password_grant(
                        &app,
                        &username,
                        &password,
                        scope.as_deref(),
                        Some(CLI_SESSION),
                    )
                    .await?,
            )
        }
        TokenCommand::Refresh { app } => to_json_text(&client.refresh(&app, CLI_SESSION).await?),
        TokenCommand::Introspect { app, token } => {
            Ok(pretty(&client.introspect(&app, &token).await?))
        }
        TokenCommand::Revoke { app, token } => {
            client.revoke_token(&app, &token).await?;
            Ok(json!({}).to_string())
        }
        TokenCommand::Userinfo { app, token } => {
            Ok(pretty(&Value::Object(client.userinfo(&app, &token).await?)))
        }
    })
}
