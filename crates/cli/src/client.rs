//! `ostiary client …`: the client runtime from a shell — server descriptions, client
//! configurations and tokens, on the same store as everything else (DESIGN.md, command line).
//! Tokens obtained here are kept under the application for the session `cli`.

use std::sync::Arc;

use clap::{Args, Subcommand};
use ostiary_client::{CLI_SESSION, Client, ClientConfiguration, ClientError};
use serde_json::{Value, json};

use crate::admin::{pretty, read_json_object, read_password};
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

fn to_json(value: &impl serde::Serialize) -> Result<String, String> {
    Ok(pretty(
        &serde_json::to_value(value).map_err(|e| e.to_string())?,
    ))
}

/// A configuration as `show` prints it: secrets and private keys left out.
fn redacted(config: &ClientConfiguration) -> Value {
    let mut value = serde_json::to_value(config).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        for secret in ["client_secret", "registration_access_token"] {
            if obj.get(secret).is_some_and(|v| !v.is_null()) {
                obj.insert(secret.into(), "(set)".into());
            }
        }
        obj.remove("keys");
        obj.remove("metadata");
        if let Some(public) = config.public_keys() {
            obj.insert("jwks".into(), public.to_value());
        }
    }
    value
}

pub async fn run(options: ClientOptions) -> Result<String, String> {
    let settings = options.common.resolve()?;
    let store = open_store(&settings).await?;
    let client = Client::new(Arc::new(store));
    match options.command {
        ClientCommand::Server(cmd) => server(&client, cmd).await,
        ClientCommand::Config(cmd) => config(&client, cmd).await,
        ClientCommand::Token(cmd) => token(&client, cmd).await,
    }
    .map_err(error)
    .and_then(|r| r)
}

async fn server(
    client: &Client,
    cmd: ServerCommand,
) -> Result<Result<String, String>, ClientError> {
    Ok(match cmd {
        ServerCommand::Discover { issuer, ca_file } => {
            to_json(&client.discover(&issuer, ca_file.as_deref()).await?)
        }
        ServerCommand::Create {
            jwks_file,
            certificate,
        } => {
            let given = match read_json_object("server description") {
                Ok(m) => m,
                Err(e) => return Ok(Err(e)),
            };
            let mut server: ostiary_client::ServerDescription =
                match serde_json::from_value(Value::Object(given)) {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(format!("server description: {e}"))),
                };
            if server.issuer.is_empty() || server.metadata.issuer != server.issuer {
                return Ok(Err("issuer and metadata.issuer must be the same URL".into()));
            }
            let keys = match (jwks_file, certificate) {
                (Some(path), _) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|text| {
                        ostiary_jose::JwkSet::from_json(&text).map_err(|e| e.to_string())
                    }),
                (None, Some(path)) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|pem| {
                        ostiary_jose::Jwk::from_pem(&pem, None).map_err(|e| e.to_string())
                    })
                    .map(ostiary_jose::JwkSet::from),
                (None, None) => Ok(server.keys()),
            };
            match keys {
                Ok(keys) if !keys.keys.is_empty() => server.jwks = Some(keys.public().to_value()),
                Ok(_) => {}
                Err(e) => return Ok(Err(e)),
            }
            client.store().save_server(&server).await?;
            to_json(&server)
        }
        ServerCommand::List => to_json(&client.store().servers().await?),
        ServerCommand::Show { issuer } => to_json(&client.server(&issuer).await?),
        ServerCommand::RefreshJwks { issuer } => {
            Ok(pretty(&client.refresh_jwks(&issuer).await?.to_value()))
        }
    })
}

async fn config(
    client: &Client,
    cmd: ConfigCommand,
) -> Result<Result<String, String>, ClientError> {
    Ok(match cmd {
        ConfigCommand::Register {
            app,
            server,
            initial_token,
        } => {
            let metadata = match read_json_object("client metadata") {
                Ok(m) => m,
                Err(e) => return Ok(Err(e)),
            };
            let config = client
                .register(&app, &server, metadata, initial_token.as_deref())
                .await?;
            Ok(pretty(&redacted(&config)))
        }
        ConfigCommand::Create { app, server } => {
            let given = match read_json_object("client configuration") {
                Ok(m) => m,
                Err(e) => return Ok(Err(e)),
            };
            let mut config: ClientConfiguration = match serde_json::from_value(Value::Object(given))
            {
                Ok(c) => c,
                Err(e) => return Ok(Err(format!("client configuration: {e}"))),
            };
            config.app = app;
            config.issuer = server;
            client.create_configuration(&config).await?;
            Ok(pretty(&redacted(&config)))
        }
        ConfigCommand::List => {
            let all: Vec<Value> = client
                .store()
                .configurations()
                .await?
                .iter()
                .map(redacted)
                .collect();
            Ok(pretty(&Value::Array(all)))
        }
        ConfigCommand::Show { app } => Ok(pretty(&redacted(&client.app(&app).await?.0))),
        ConfigCommand::UpdateRegistration { app } => {
            Ok(pretty(&redacted(&client.update_registration(&app).await?)))
        }
        ConfigCommand::RotateKeys { app } => {
            Ok(json!({ "new_keys": client.rotate_keys(&app).await? }).to_string())
        }
    })
}

async fn token(client: &Client, cmd: TokenCommand) -> Result<Result<String, String>, ClientError> {
    Ok(match cmd {
        TokenCommand::ClientCredentials { app, scope } => to_json(
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
            to_json(
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
        TokenCommand::Refresh { app } => to_json(&client.refresh(&app, CLI_SESSION).await?),
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
