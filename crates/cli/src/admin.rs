//! `ostiary admin …`: the authorization server's configuration items from the command line. It
//! works on the same store as a running server, which picks changes up within seconds.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ostiary_portal::admin::{Role, set_path};
use ostiary_portal::{Admin, AdminError, AdminResult, TokensOf};
use ostiary_server::config::ClientDescription;
use serde_json::{Map, Value, json};

use crate::settings::{CommonOptions, open_store};

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
    /// Users' login sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Users' consents to clients.
    #[command(subcommand)]
    Grant(GrantCommand),
    /// Initial access tokens for dynamic registration (when `registration` is `token`).
    #[command(subcommand, name = "registration-token")]
    RegistrationToken(RegistrationTokenCommand),
    /// Tokens of the admin JSON API (`/admin/api`).
    #[command(subcommand, name = "api-token")]
    ApiToken(ApiTokenCommand),
    /// The audit log: who changed what, newest first (JSON).
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Write a consistent copy of the SQLite database to FILE, while the server runs. Keep the
    /// master key with it: the copy's keys and secrets are sealed with it.
    Backup { file: PathBuf },
    /// Replace the SQLite database with the backup FILE, after checking it (integrity, schema,
    /// the master key opens it). Stop the server first; the replaced database is kept beside it.
    Restore {
        file: PathBuf,
        /// Keep the backup's tokens, codes and sessions live. By default they are revoked: the
        /// backup does not know which of them were spent, rotated or revoked after it was made.
        #[arg(long)]
        keep_grants: bool,
    },
    /// End every grant the database holds (see `restore`): for a PostgreSQL database restored
    /// with pg_restore or to a point in time. Users sign in again; clients start over.
    #[command(name = "invalidate-grants")]
    InvalidateGrants,
    /// The master key ring that seals keys and secrets at rest.
    #[command(subcommand, name = "master-key")]
    MasterKey(crate::master_key::MasterKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Print a new admin API token (shown once).
    Create {
        /// Who or what holds it (the audit log's actor: `api-token:NAME`).
        name: String,
        /// `admin` (everything) or `viewer` (read only).
        #[arg(long, default_value = "admin", value_parser = ["admin", "viewer"])]
        role: String,
        /// Seconds it stays usable (default: 90 days).
        #[arg(long, default_value_t = 90 * 86_400)]
        expires_in: u32,
    },
    /// Revoke every admin API token of that name.
    Revoke { name: String },
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
    /// Add new keys, published at once, that sign after `intervals.key_publication`; the old
    /// ones sign until then, and still verify and decrypt.
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
    /// Fetch the client's jwks_uri now and show its keys (Update JWKS). Running servers fetch
    /// again within five minutes, or at the first signature their keys do not verify; the
    /// portal's button and the admin API also update the node that serves them at once.
    UpdateJwks {
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
    /// Revoke one token (`--id`, from `token list`), or every token of a user or of a client.
    Revoke {
        #[arg(long, conflicts_with_all = ["client", "id"], required_unless_present_any = ["client", "id"])]
        user: Option<String>,
        #[arg(long, conflicts_with = "id")]
        client: Option<String>,
        #[arg(long)]
        id: Option<String>,
    },
    /// Access and refresh tokens of a user and/or a client, newest first (JSON; ids, never tokens).
    List {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        client: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Active login sessions (JSON), of one user with `--user`.
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// End a login session by its id (`sid`), with the tokens issued through it; its clients
    /// that registered a back-channel logout URI are told.
    Revoke { sid: String },
}

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Consents users gave clients (JSON), of one user with `--user`.
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Forget a user's consent to a client.
    Revoke { username: String, client_id: String },
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

/// Who acts from a shell, for the audit log: `cli:` and the login name.
pub(crate) fn cli_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub async fn run(options: AdminOptions) -> Result<String, String> {
    let settings = options.common.resolve()?;
    let command = match options.command {
        AdminCommand::Restore { file, keep_grants } => {
            // Before opening the store: opening would create and migrate the database it replaces.
            return restore(&settings, &file, keep_grants).await;
        }
        // Each opens the store with the key ring it needs.
        AdminCommand::MasterKey(command) => {
            return crate::master_key::run(&settings, command).await;
        }
        command => command,
    };
    let store = open_store(&settings).await?;
    let actor = cli_actor();
    let admin = Admin {
        store: &store,
        actor: &actor,
    };
    let done = match command {
        AdminCommand::Backup { file } => store
            .backup_to(&file)
            .await
            .map_err(AdminError::Failed)
            .map(|()| {
                json!({ "backup": file, "master_key": "keep master.key (or OSTIARY_MASTER_KEY) with it" })
                    .to_string()
            }),
        AdminCommand::Restore { .. } | AdminCommand::MasterKey(_) => Err(AdminError::Failed(
            "this command runs before the store opens".into(),
        )),
        AdminCommand::InvalidateGrants => store
            .invalidate_grants()
            .await
            .map_err(AdminError::Failed)
            .and_then(|ended| to_json(&json!({ "invalidated": ended }))),
        AdminCommand::ServerConfig(cmd) => server_config(&admin, cmd).await,
        AdminCommand::Client(cmd) => client(&admin, cmd).await,
        AdminCommand::User(cmd) => user(&admin, cmd).await,
        AdminCommand::Token(TokenCommand::Revoke { id: Some(id), .. }) => admin
            .revoke_token(&id)
            .await
            .map(|()| json!({ "revoked": 1 }).to_string()),
        AdminCommand::Token(TokenCommand::Revoke { user, client, .. }) => {
            let of = match (&user, &client) {
                (Some(u), _) => TokensOf::User(u),
                (None, Some(c)) => TokensOf::Client(c),
                (None, None) => return Err("give --user, --client or --id".into()),
            };
            let revoked = admin.revoke_tokens(of).await;
            revoked.map(|n| json!({ "revoked": n }).to_string())
        }
        AdminCommand::Token(TokenCommand::List {
            user,
            client,
            limit,
        }) => admin
            .find_tokens(user.as_deref(), client.as_deref(), limit)
            .await
            .map(|found| pretty(&Value::Array(found))),
        AdminCommand::Session(SessionCommand::List { user }) => admin
            .sessions(user.as_deref())
            .await
            .map(|found| pretty(&Value::Array(found))),
        AdminCommand::Session(SessionCommand::Revoke { sid }) => {
            end_session(&admin, &store, &sid).await
        }
        AdminCommand::Grant(GrantCommand::List { user }) => admin
            .grants(user.as_deref())
            .await
            .and_then(|found| to_json(&found)),
        AdminCommand::Grant(GrantCommand::Revoke {
            username,
            client_id,
        }) => admin.revoke_grant(&username, &client_id).await.map(|()| {
            json!({ "revoked": {"username": username, "client_id": client_id} }).to_string()
        }),
        AdminCommand::RegistrationToken(RegistrationTokenCommand::Create { expires_in }) => {
            let lifetime = expires_in as i64;
            let token = admin.create_registration_token(lifetime).await;
            token.map(|t| json!({ "initial_access_token": t, "expires_in": lifetime }).to_string())
        }
        AdminCommand::ApiToken(ApiTokenCommand::Create {
            name,
            role,
            expires_in,
        }) => {
            let role = Role::parse(&role).unwrap_or(Role::Viewer);
            let lifetime = i64::from(expires_in);
            let token = admin.create_api_token(&name, role, lifetime).await;
            token.map(|t| {
                json!({ "name": name, "role": role, "token": t, "expires_in": lifetime })
                    .to_string()
            })
        }
        AdminCommand::ApiToken(ApiTokenCommand::Revoke { name }) => {
            let revoked = admin.revoke_api_tokens(&name).await;
            revoked.map(|n| json!({ "revoked": n }).to_string())
        }
        AdminCommand::Audit { limit } => admin.audit_log(limit).await.and_then(|log| to_json(&log)),
    };
    done.map_err(|e| e.to_string())
}

/// Ends the session `sid` and tells its clients by back-channel logout, as a running server
/// does, waiting for their answers: how many took the logout token, and how many were not
/// reached (each waited on for at most the fetcher's 5 s).
async fn end_session(
    admin: &Admin<'_>,
    store: &ostiary_store::Store,
    sid: &str,
) -> AdminResult<String> {
    admin.end_session(sid).await?;
    let store: std::sync::Arc<dyn ostiary_server::store::ServerStore> =
        std::sync::Arc::new(store.clone());
    let server = ostiary_server::Server::new(store, Default::default());
    let (mut told, mut missed) = (0, 0);
    for delivery in ostiary_portal::admin::tell_clients(&server, sid).await {
        match delivery.await {
            Ok(true) => told += 1,
            _ => missed += 1,
        }
    }
    Ok(json!({ "ended": sid, "clients_told": told, "clients_not_reached": missed }).to_string())
}

fn to_json(item: &impl serde::Serialize) -> AdminResult<String> {
    serde_json::to_value(item)
        .map(|v| pretty(&v))
        .map_err(|e| AdminError::Failed(e.to_string()))
}

async fn server_config(admin: &Admin<'_>, cmd: ServerConfigCommand) -> AdminResult<String> {
    match cmd {
        ServerConfigCommand::Show => to_json(&admin.server_config().await?),
        ServerConfigCommand::Set { assignments } => {
            if assignments.is_empty() {
                return Err(AdminError::Invalid("give KEY=VALUE assignments".into()));
            }
            let config = admin
                .update_server_config(|value| {
                    for assignment in &assignments {
                        let (path, text) = assignment.split_once('=').ok_or_else(|| {
                            AdminError::Invalid(format!("\"{assignment}\" is not KEY=VALUE"))
                        })?;
                        let new = serde_json::from_str(text)
                            .unwrap_or_else(|_| Value::String(text.to_owned()));
                        set_path(value, path, new)?;
                    }
                    Ok(())
                })
                .await?;
            to_json(&config)
        }
        ServerConfigCommand::RotateKeys => {
            Ok(json!({ "new_keys": admin.rotate_keys().await? }).to_string())
        }
        ServerConfigCommand::RetireKeys { older_than } => {
            Ok(json!({ "retired": admin.retire_keys(older_than).await? }).to_string())
        }
    }
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

async fn client(admin: &Admin<'_>, cmd: ClientCommand) -> AdminResult<String> {
    match cmd {
        ClientCommand::Create => {
            let metadata = read_json_object("client metadata").map_err(AdminError::Invalid)?;
            Ok(pretty(&admin.create_client(metadata).await?))
        }
        ClientCommand::List { json } => {
            let clients = admin.clients().await?;
            if json {
                return to_json(&clients);
            }
            Ok(table(
                &["CLIENT_ID", "NAME", "TYPE", "AUTH", "GRANTS"],
                clients.iter().map(client_row).collect(),
            ))
        }
        ClientCommand::Show { client_id } => to_json(&admin.client(&client_id).await?),
        ClientCommand::Update { client_id } => {
            let changes = read_json_object("client metadata").map_err(AdminError::Invalid)?;
            to_json(&admin.update_client(&client_id, changes).await?)
        }
        ClientCommand::Delete { client_id } => {
            admin.delete_client(&client_id).await?;
            Ok(json!({ "deleted": client_id }).to_string())
        }
        ClientCommand::RegenerateSecret { client_id } => {
            Ok(pretty(&admin.regenerate_secret(&client_id).await?))
        }
        ClientCommand::UpdateJwks { client_id } => {
            let (uri, keys) = admin.update_client_jwks(&client_id).await?;
            Ok(pretty(&json!({ "jwks_uri": uri, "jwks": keys })))
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

async fn user(admin: &Admin<'_>, cmd: UserCommand) -> AdminResult<String> {
    let claims_of =
        |text: Option<String>| parse_claims(text.as_deref()).map_err(AdminError::Invalid);
    match cmd {
        UserCommand::Create {
            username, claims, ..
        } => {
            let claims = claims_of(claims)?.unwrap_or_default();
            let password = read_password().map_err(AdminError::Invalid)?;
            to_json(&admin.create_user(&username, password, claims).await?)
        }
        UserCommand::List { json } => {
            let users = admin.users().await?;
            if json {
                return to_json(&users);
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
        UserCommand::Show { username } => to_json(&admin.user(&username).await?),
        UserCommand::Update {
            username,
            claims,
            enabled,
        } => to_json(
            &admin
                .update_user(&username, claims_of(claims)?, enabled)
                .await?,
        ),
        UserCommand::Delete { username } => {
            admin.delete_user(&username).await?;
            Ok(json!({ "deleted": username }).to_string())
        }
        UserCommand::SetPassword { username, .. } => {
            let password = read_password().map_err(AdminError::Invalid)?;
            admin.set_password(&username, password).await?;
            Ok(json!({ "password_changed": username }).to_string())
        }
    }
}

async fn restore(
    settings: &crate::settings::Settings,
    backup: &Path,
    keep_grants: bool,
) -> Result<String, String> {
    let database = settings
        .database
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .ok_or(
            "restore is for the SQLite default; PostgreSQL has pg_restore (docs/postgresql.md)",
        )?;
    if std::env::var_os("OSTIARY_MASTER_KEY").is_none()
        && !settings.data_dir.join("master.key").exists()
    {
        return Err(format!(
            "no master key in {}: put the master.key the backup was made with there first",
            settings.data_dir.display()
        ));
    }
    let master = crate::settings::master_key(&settings.data_dir)?;
    let restored = ostiary_store::restore(backup, Path::new(database), master, keep_grants).await?;
    let summary = restored.summary;
    Ok(json!({
        "restored": backup,
        "schema_version": summary.schema_version,
        "clients": summary.clients,
        "users": summary.users,
        "tokens": summary.tokens,
        "invalidated": restored.invalidated,
        "previous_database_kept_as": restored.kept,
    })
    .to_string())
}
