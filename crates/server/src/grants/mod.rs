//! One module per `grant_type` (RFC 6749 §4, RFC 7523 §2.1). Each checks its own parameters and
//! returns what to issue; [`crate::issue`] does the issuing. No HTTP types here.

pub mod authorization_code;
pub mod client_credentials;
pub mod jwt_bearer;
pub mod password;
pub mod refresh_token;

use ostiary_core::{ErrorCode, GrantType, Scopes};

use crate::client_auth::unauthorized;
use crate::config::{ClientDescription, ServerConfig};
use crate::error::{ServerError, ServerResult};

/// The grant must be enabled on the server and allowed for the client.
pub fn ensure_allowed(
    config: &ServerConfig,
    client: &ClientDescription,
    grant: GrantType,
) -> ServerResult<()> {
    if !config.grant_types.contains(&grant) {
        return Err(ServerError::oauth(
            ErrorCode::UnsupportedGrantType,
            format!("{grant} is not enabled on this server"),
        ));
    }
    if !client.grant_types.contains(&grant) {
        return Err(unauthorized(&format!("the client may not use {grant}")));
    }
    Ok(())
}

/// The scope to grant (the reference's rules): the request's, else the client's default, else the
/// server's default. Unsupported scopes are refused, or dropped when the server allows them.
pub fn resolve_scope(
    config: &ServerConfig,
    client: &ClientDescription,
    requested: Option<&str>,
) -> ServerResult<Scopes> {
    let text = requested
        .or(client.default_scope.as_deref().filter(|s| !s.is_empty()))
        .unwrap_or(&config.default_scope);
    let mut scopes = Scopes::parse(text)
        .ok_or_else(|| ServerError::oauth(ErrorCode::InvalidScope, "malformed scope"))?;
    let unsupported = scopes
        .iter()
        .find(|s| !config.supports_scope(s))
        .map(str::to_owned);
    if let Some(unsupported) = unsupported {
        if !config.allow_unsupported_scope {
            return Err(ServerError::oauth(
                ErrorCode::InvalidScope,
                format!("scope \"{unsupported}\" is not supported"),
            ));
        }
        scopes.retain(|s| config.supports_scope(s));
    }
    Ok(scopes)
}
