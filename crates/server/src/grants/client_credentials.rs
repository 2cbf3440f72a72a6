//! `client_credentials` (RFC 6749 §4.4): a confidential client acting for itself. No refresh
//! token (§4.4.3) and no ID token.

use ostiary_core::GrantType;

use crate::client_auth::unauthorized;
use crate::config::{ClientDescription, ServerConfig};
use crate::error::ServerResult;
use crate::issue::Issue;
use crate::params::Params;

pub fn grant(
    config: &ServerConfig,
    client: &ClientDescription,
    params: &Params,
) -> ServerResult<Issue> {
    super::ensure_allowed(config, client, GrantType::ClientCredentials)?;
    if !client.is_confidential() {
        return Err(unauthorized("public clients cannot use client_credentials"));
    }
    let scope = super::resolve_scope(config, client, params.get("scope"))?;
    Ok(Issue {
        scope,
        ..Default::default()
    })
}
