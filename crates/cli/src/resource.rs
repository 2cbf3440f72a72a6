//! `ostiary resource validate`: the resource server library's validator from a shell, for
//! operators debugging a token (on stdin).

use std::sync::Arc;

use clap::{Args, Subcommand};
use ostiary_client::Client;
use ostiary_resource::{ResourceServer, TokenCheck, Validator, ValidatorConfig};
use serde_json::json;

use crate::admin::read_stdin;
use crate::settings::{CommonOptions, open_store};

#[derive(Debug, Args)]
pub struct ResourceOptions {
    #[command(flatten)]
    pub common: CommonOptions,
    #[command(subcommand)]
    pub command: ResourceCommand,
}

#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Validate an access token from stdin: a JWT with the issuer's published keys, or — with
    /// `--app` — as that stored resource server configuration would (decrypting what was
    /// encrypted to it; introspecting what is not a JWT).
    Validate {
        #[arg(long, required_unless_present = "app", conflicts_with = "app")]
        issuer: Option<String>,
        /// A client configuration of type resource server (`ostiary client config …`).
        #[arg(long, alias = "introspect")]
        app: Option<String>,
        /// The audience the token must name (with `--app`: its client id unless given).
        #[arg(long)]
        audience: Option<String>,
        /// Scopes the token must grant (space-separated).
        #[arg(long)]
        scope: Option<String>,
        /// The header `typ` a JWT must carry (RFC 9068 §4); `any` for issuers that type their
        /// access tokens `JWT` (Keycloak does).
        #[arg(long, default_value = "at+jwt")]
        token_type: String,
    },
}

pub async fn run(options: ResourceOptions) -> Result<String, String> {
    let ResourceCommand::Validate {
        issuer,
        app,
        audience,
        scope,
        token_type,
    } = options.command;
    let token = read_stdin()?.trim().to_owned();
    let token_type = (token_type != "any").then_some(token_type);
    let check: Box<dyn TokenCheck> = match (issuer, app) {
        (Some(issuer), _) => {
            let mut config = ValidatorConfig::discover(&issuer, audience.as_deref()).await?;
            config.token_type = token_type;
            Box::new(Validator::new(config))
        }
        (None, Some(app)) => {
            let settings = options.common.resolve()?;
            let client = Client::new(Arc::new(open_store(&settings).await?));
            let mut resource = ResourceServer::load(&client, &app).await?;
            if audience.is_some() {
                resource = resource.with_audience(audience.as_deref());
            }
            Box::new(resource.configure(|config| config.token_type = token_type))
        }
        (None, None) => return Err("--issuer or --app is needed".into()),
    };
    let scopes: Vec<&str> = scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    // The RFC 6750 error is the one line an operator sees (`invalid_token: …`).
    let validated = check
        .check(&token, &scopes)
        .await
        .map_err(|e| e.to_string())?;
    let security = &validated.security;
    Ok(json!({
        "claims": validated.claims,
        "security": {
            "sigalg": security.sigalg.map(|a| a.name()),
            "keyalg": security.keyalg.map(|a| a.name()),
            "encalg": security.encalg.map(|a| a.name()),
        },
    })
    .to_string())
}
