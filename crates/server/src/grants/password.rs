//! `password` (RFC 6749 §4.3): the resource owner's credentials, checked by the `ValidateUser` hook.

use ostiary_core::GrantType;

use crate::config::{ClientDescription, ServerConfig};
use crate::error::{ServerError, ServerResult};
use crate::issue::{Issue, refresh_allowed};
use crate::params::Params;
use crate::state::Server;

pub async fn grant(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    params: &Params,
) -> ServerResult<Issue> {
    super::ensure_allowed(config, client, GrantType::Password)?;
    let username = params.require("username")?;
    let password = params.require("password")?;
    let scope = super::resolve_scope(config, client, params.get("scope"))?;
    let user = server
        .hooks()
        .validate_user
        .validate_user(server.store(), username, password)
        .await?
        .ok_or_else(|| ServerError::invalid_grant("wrong username or password"))?;
    let refresh = refresh_allowed(config, client, &scope);
    Ok(Issue {
        username: Some(user.username),
        scope,
        refresh,
        ..Default::default()
    })
}
