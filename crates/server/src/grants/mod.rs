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
use crate::hooks::{Context, Credential};
use crate::properties::{Properties, scope_map, scope_string};

/// Who a grant without pages acts for.
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    User {
        username: &'a str,
        credential: Credential<'a>,
    },
    /// The client itself (client credentials).
    Client,
}

/// The hooks of a grant without pages, in the reference's order: `before_authenticate`,
/// `validate_user` or `validate_client`, the server's fill-ins, `after_authenticate`. Returns the
/// scope to grant and the properties to issue with.
pub async fn run_hooks(
    ctx: &Context<'_>,
    scope: &Scopes,
    mut properties: Properties,
    subject: Subject<'_>,
    now: i64,
) -> ServerResult<(Scopes, Properties)> {
    let hooks = ctx.server.hooks();
    let mut scopes = scope_map(ctx.config, scope);
    properties.require_claims(&scopes, None);
    hooks
        .authenticate
        .before_authenticate(ctx, &mut scopes, &mut properties)
        .await?;
    let (valid, sub) = match subject {
        Subject::User {
            username,
            credential,
        } => {
            let valid = hooks
                .validate_user
                .validate_user(ctx, username, credential, &mut scopes, &mut properties)
                .await?;
            (valid, username)
        }
        Subject::Client => {
            let valid = hooks
                .validate_user
                .validate_client(ctx, &mut scopes, &mut properties)
                .await?;
            (valid, ctx.client.client_id.as_str())
        }
    };
    if !valid {
        return Err(match subject {
            Subject::User {
                credential: Credential::Password(_),
                ..
            } => ServerError::invalid_grant("wrong username or password"),
            Subject::User { .. } => ServerError::invalid_grant("the user may not sign in"),
            Subject::Client => unauthorized("the client may not have tokens for itself"),
        });
    }
    let exp = now + ctx.config.intervals.access_token as i64;
    properties.fill_missing(ctx.config, sub, &ctx.client.client_id, exp);
    hooks
        .authenticate
        .after_authenticate(ctx, &mut scopes, &mut properties)
        .await?;
    let scope = Scopes::parse(&scope_string(&scopes)).unwrap_or_default();
    Ok((scope, properties))
}

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
