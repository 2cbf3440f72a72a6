//! `ostiary resource validate`: the resource server library's validator from a shell, for
//! operators debugging a token (on stdin).

use clap::{Args, Subcommand};
use serde_json::json;

use crate::admin::read_stdin;

#[derive(Debug, Args)]
pub struct ResourceOptions {
    #[command(subcommand)]
    pub command: ResourceCommand,
}

#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Validate a JWT access token from stdin with the issuer's published keys.
    Validate {
        #[arg(long)]
        issuer: String,
        /// The audience the token must name.
        #[arg(long)]
        audience: Option<String>,
        /// Scopes the token must grant (space-separated).
        #[arg(long)]
        scope: Option<String>,
    },
}

pub async fn run(options: ResourceOptions) -> Result<String, String> {
    let ResourceCommand::Validate {
        issuer,
        audience,
        scope,
    } = options.command;
    let token = read_stdin()?.trim().to_owned();
    let validator = ostiary_resource::Validator::discover(&issuer, audience.as_deref()).await?;
    let scopes: Vec<&str> = scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    // The RFC 6750 error is the one line an operator sees (`invalid_token: …`).
    let validated = validator
        .validate(&token, &scopes)
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
