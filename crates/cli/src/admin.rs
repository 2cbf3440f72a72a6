//! `ostiary admin …`: the authorization server's configuration items from the command line. It
//! works on the same store as a running server, which picks changes up within seconds.

use std::io::Read as _;

use clap::{Args, Subcommand};
use ostiary_server::config::{ClientDescription, ServerConfig, User};
use ostiary_server::registration::{self, Registrant};
use ostiary_server::store::{
    ClientStore as _, ConfigStore as _, StoreError, TokenStore as _, UserStore as _,
};
use ostiary_store::Store;
use serde_json::{Map, Value, json};

use crate::settings::{CommonOptions, now, open_store};

#[derive(Debug, Args)]
pub struct AdminOptions {
    #[command(flatten)]
    pub common: CommonOptions,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// The server configuration.
    #[command(subcommand, name = "server-config")]
    ServerConfig(ServerConfigCommand),
    /// Client descriptions.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Users of the built-in user validation.
    #[command(subcommand)]
    User(UserCommand),
    /// Tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Initial access tokens for dynamic registration (when `registration` is `token`).
    #[command(subcommand, name = "registration-token")]
    RegistrationToken(RegistrationTokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Print a new initial access token (shown once).
    Create {
        /// Seconds it stays usable.
        #[arg(long, default_value_t = ostiary_server::endpoints::register::INITIAL_TOKEN_LIFETIME as u64)]
        expires_in: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServerConfigCommand {
    /// Print the configuration as JSON.
    Show,
    /// Set options by dotted path: `intervals.access_token=600 access_token_format=jwt`.
    Set { assignments: Vec<String> },
    /// Add new keys that sign and encrypt from now on; the old ones still verify and decrypt.
    RotateKeys,
    /// Stop publishing and accepting replaced keys older than --older-than seconds (default: all).
    RetireKeys {
        #[arg(long, default_value_t = 0)]
        older_than: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Read client metadata (RFC 7591 names plus client_type, name, description, …) as JSON on
    /// stdin; print the registration response, with the secret, shown this once.
    Create,
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Merge the JSON on stdin over the client's description.
    Update {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    Delete {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Issue a new secret (printed once); the old one stops working.
    RegenerateSecret {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    Create {
        username: String,
        /// Read the password from stdin (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Claims as a JSON object: {"name": …, "email": …}.
        #[arg(long)]
        claims: Option<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        username: String,
    },
    Update {
        username: String,
        #[arg(long)]
        claims: Option<String>,
        #[arg(long)]
        enabled: Option<bool>,
    },
    Delete {
        username: String,
    },
    SetPassword {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Revoke every token of a user or of a client.
    Revoke {
        #[arg(long, conflicts_with = "client", required_unless_present = "client")]
        user: Option<String>,
        #[arg(long)]
        client: Option<String>,
    },
}

fn store_err(e: StoreError) -> String {
    e.to_string()
}

pub(crate) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

pub(crate) fn read_stdin() -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin()
        .take(1024 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| format!("stdin: {e}"))?;
    Ok(text)
}

pub(crate) fn read_json_object(what: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(&read_stdin()?) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("{what} on stdin must be a JSON object")),
        Err(e) => Err(format!("{what} on stdin: {e}")),
    }
}

pub(crate) fn read_password() -> Result<String, String> {
    let text = read_stdin()?;
    let password = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err("the password on stdin is empty".into());
    }
    Ok(password.to_owned())
}

/// A plain text table for people; `--json` gives scripts the data.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

pub async fn run(options: AdminOptions) -> Result<String, String> {
    let settings = options.common.resolve()?;
    let store = open_store(&settings).await?;
    match options.command {
        AdminCommand::ServerConfig(cmd) => server_config(&store, cmd).await,
        AdminCommand::Client(cmd) => client(&store, cmd).await,
        AdminCommand::User(cmd) => user(&store, cmd).await,
        AdminCommand::Token(TokenCommand::Revoke { user, client }) => {
            let revoked = match (user, client) {
                (Some(u), _) => store.revoke_user_tokens(&u).await,
                (None, Some(c)) => store.revoke_client_tokens(&c).await,
                (None, None) => return Err("give --user or --client".into()),
            }
            .map_err(store_err)?;
            Ok(json!({ "revoked": revoked }).to_string())
        }
        AdminCommand::RegistrationToken(RegistrationTokenCommand::Create { expires_in }) => {
            current_config(&store).await?;
            let lifetime = expires_in as i64;
            let token =
                ostiary_server::endpoints::register::new_initial_token(&store, lifetime, now())
                    .await
                    .map_err(|e| e.to_string())?;
            Ok(json!({ "initial_access_token": token, "expires_in": lifetime }).to_string())
        }
    }
}

async fn current_config(store: &Store) -> Result<ServerConfig, String> {
    ostiary_server::initialize(store, None, now())
        .await
        .map_err(|e| e.to_string())
}

async fn server_config(store: &Store, cmd: ServerConfigCommand) -> Result<String, String> {
    match cmd {
        ServerConfigCommand::Show => Ok(pretty(
            &serde_json::to_value(current_config(store).await?).map_err(|e| e.to_string())?,
        )),
        ServerConfigCommand::Set { assignments } => {
            if assignments.is_empty() {
                return Err("give KEY=VALUE assignments".into());
            }
            let mut value =
                serde_json::to_value(current_config(store).await?).map_err(|e| e.to_string())?;
            for assignment in &assignments {
                let (path, text) = assignment
                    .split_once('=')
                    .ok_or_else(|| format!("\"{assignment}\" is not KEY=VALUE"))?;
                let new =
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
                set_path(&mut value, path, new)?;
            }
            let config: ServerConfig =
                serde_json::from_value(value).map_err(|e| format!("invalid configuration: {e}"))?;
            config.validate()?;
            store.save_server_config(&config).await.map_err(store_err)?;
            ostiary_server::state::ensure_keys(store, &config, now())
                .await
                .map_err(|e| e.to_string())?;
            Ok(pretty(
                &serde_json::to_value(&config).map_err(|e| e.to_string())?,
            ))
        }
        ServerConfigCommand::RotateKeys => {
            current_config(store).await?;
            let fresh = ostiary_server::state::rotate_keys(store, now())
                .await
                .map_err(|e| e.to_string())?;
            Ok(json!({ "new_keys": fresh }).to_string())
        }
        ServerConfigCommand::RetireKeys { older_than } => {
            let before = now() - older_than as i64 + 1;
            let retired = ostiary_server::state::retire_keys(store, before, now())
                .await
                .map_err(|e| e.to_string())?;
            Ok(json!({ "retired": retired }).to_string())
        }
    }
}

/// Sets `a.b.c` in a JSON object; every step but the last must exist (typos are errors).
fn set_path(root: &mut Value, path: &str, new: Value) -> Result<(), String> {
    let mut node = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let obj = node
            .as_object_mut()
            .ok_or_else(|| format!("\"{path}\": {} is not an object", parts[..i].join(".")))?;
        if i + 1 == parts.len() {
            obj.insert((*part).to_owned(), new);
            return Ok(());
        }
        node = obj
            .get_mut(*part)
            .ok_or_else(|| format!("\"{path}\": no option \"{}\"", parts[..=i].join(".")))?;
    }
    Ok(())
}

fn client_row(c: &ClientDescription) -> Vec<String> {
    vec![
        c.client_id.clone(),
        c.name.clone(),
        serde_json::to_value(c.client_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        c.token_endpoint_auth_method.as_str().to_owned(),
        c.grant_types
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(","),
    ]
}

async fn client(store: &Store, cmd: ClientCommand) -> Result<String, String> {
    let config = current_config(store).await?;
    match cmd {
        ClientCommand::Create => {
            let metadata = read_json_object("client metadata")?;
            let client =
                registration::client_from_metadata(&config, metadata, Registrant::Admin, now())
                    .map_err(|e| format!("invalid client metadata: {e}"))?;
            let secret = client
                .is_confidential()
                .then(ostiary_server::issue::random_token);
            store
                .create_client(&client, secret.as_deref())
                .await
                .map_err(|e| match e {
                    StoreError::Conflict => {
                        format!("client \"{}\" exists already", client.client_id)
                    }
                    e => e.to_string(),
                })?;
            Ok(pretty(&registration::response(
                &client,
                secret.as_deref(),
                None,
            )))
        }
        ClientCommand::List { json } => {
            let clients = store.clients().await.map_err(store_err)?;
            if json {
                return Ok(pretty(
                    &serde_json::to_value(&clients).map_err(|e| e.to_string())?,
                ));
            }
            Ok(table(
                &["CLIENT_ID", "NAME", "TYPE", "AUTH", "GRANTS"],
                clients.iter().map(client_row).collect(),
            ))
        }
        ClientCommand::Show { client_id } => {
            let client = store
                .client(&client_id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| format!("no client \"{client_id}\""))?;
            Ok(pretty(
                &serde_json::to_value(&client).map_err(|e| e.to_string())?,
            ))
        }
        ClientCommand::Update { client_id } => {
            let client = store
                .client(&client_id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| format!("no client \"{client_id}\""))?;
            let mut value = serde_json::to_value(&client).map_err(|e| e.to_string())?;
            let changes = read_json_object("client metadata")?;
            if changes
                .get("client_id")
                .is_some_and(|v| v != &Value::String(client_id.clone()))
            {
                return Err("client_id cannot change".into());
            }
            if let Some(obj) = value.as_object_mut() {
                obj.extend(changes);
            }
            let updated: ClientDescription = serde_json::from_value(value)
                .map_err(|e| format!("invalid client metadata: {e}"))?;
            updated.validate()?;
            store.update_client(&updated).await.map_err(store_err)?;
            Ok(pretty(
                &serde_json::to_value(&updated).map_err(|e| e.to_string())?,
            ))
        }
        ClientCommand::Delete { client_id } => {
            if !store.delete_client(&client_id).await.map_err(store_err)? {
                return Err(format!("no client \"{client_id}\""));
            }
            store
                .revoke_client_tokens(&client_id)
                .await
                .map_err(store_err)?;
            Ok(json!({ "deleted": client_id }).to_string())
        }
        ClientCommand::RegenerateSecret { client_id } => {
            let client = store
                .client(&client_id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| format!("no client \"{client_id}\""))?;
            if !client.is_confidential() {
                return Err("public clients have no secret".into());
            }
            let secret = ostiary_server::issue::random_token();
            let expires = match config.intervals.client_secret {
                0 => 0,
                n => now() + n as i64,
            };
            store
                .set_client_secret(&client_id, &secret, expires)
                .await
                .map_err(store_err)?;
            Ok(pretty(
                &json!({ "client_id": client_id, "client_secret": secret, "client_secret_expires_at": expires }),
            ))
        }
    }
}

fn parse_claims(text: Option<&str>) -> Result<Option<Map<String, Value>>, String> {
    match text {
        None => Ok(None),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            _ => Err("--claims must be a JSON object".into()),
        },
    }
}

async fn user(store: &Store, cmd: UserCommand) -> Result<String, String> {
    match cmd {
        UserCommand::Create {
            username, claims, ..
        } => {
            if username.is_empty() || username.chars().any(char::is_whitespace) {
                return Err("a username has no spaces".into());
            }
            let claims = parse_claims(claims.as_deref())?.unwrap_or_default();
            let password = read_password()?;
            let hash = ostiary_server::password::hash_async(password).await?;
            let user = User {
                username: username.clone(),
                claims,
                enabled: true,
            };
            store.create_user(&user, &hash).await.map_err(|e| match e {
                StoreError::Conflict => format!("user \"{username}\" exists already"),
                e => e.to_string(),
            })?;
            Ok(pretty(
                &serde_json::to_value(&user).map_err(|e| e.to_string())?,
            ))
        }
        UserCommand::List { json } => {
            let users = store.users().await.map_err(store_err)?;
            if json {
                return Ok(pretty(
                    &serde_json::to_value(&users).map_err(|e| e.to_string())?,
                ));
            }
            let rows = users
                .iter()
                .map(|u| {
                    let email = u
                        .claims
                        .get("email")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    vec![u.username.clone(), email, u.enabled.to_string()]
                })
                .collect();
            Ok(table(&["USERNAME", "EMAIL", "ENABLED"], rows))
        }
        UserCommand::Show { username } => {
            let user = store
                .user(&username)
                .await
                .map_err(store_err)?
                .ok_or_else(|| format!("no user \"{username}\""))?;
            Ok(pretty(
                &serde_json::to_value(&user).map_err(|e| e.to_string())?,
            ))
        }
        UserCommand::Update {
            username,
            claims,
            enabled,
        } => {
            let mut user = store
                .user(&username)
                .await
                .map_err(store_err)?
                .ok_or_else(|| format!("no user \"{username}\""))?;
            if let Some(claims) = parse_claims(claims.as_deref())? {
                user.claims = claims;
            }
            if let Some(enabled) = enabled {
                user.enabled = enabled;
            }
            store.update_user(&user).await.map_err(store_err)?;
            if !user.enabled {
                store
                    .revoke_user_tokens(&username)
                    .await
                    .map_err(store_err)?;
            }
            Ok(pretty(
                &serde_json::to_value(&user).map_err(|e| e.to_string())?,
            ))
        }
        UserCommand::Delete { username } => {
            if !store.delete_user(&username).await.map_err(store_err)? {
                return Err(format!("no user \"{username}\""));
            }
            store
                .revoke_user_tokens(&username)
                .await
                .map_err(store_err)?;
            Ok(json!({ "deleted": username }).to_string())
        }
        UserCommand::SetPassword { username, .. } => {
            let password = read_password()?;
            let hash = ostiary_server::password::hash_async(password).await?;
            if !store
                .set_password_hash(&username, &hash)
                .await
                .map_err(store_err)?
            {
                return Err(format!("no user \"{username}\""));
            }
            Ok(json!({ "password_changed": username }).to_string())
        }
    }
}
