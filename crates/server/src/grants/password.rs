//! `password` (RFC 6749 §4.3): the resource owner's credentials, checked by the `ValidateUser` hook.

use ostiary_core::{ErrorCode, GrantType};

use super::{Subject, run_hooks};
use crate::error::{ServerError, ServerResult};
use crate::hooks::{Context, Credential};
use crate::issue::{Issue, refresh_allowed};
use crate::metrics::LoginRealm;
use crate::params::Params;
use crate::properties::Properties;

/// `address`: the key the client's address is counted under ([`crate::ratelimit::Caller::key`]).
pub async fn grant(
    ctx: &Context<'_>,
    params: &Params,
    address: &str,
    now: i64,
) -> ServerResult<Issue> {
    super::ensure_allowed(ctx.config, ctx.client, GrantType::Password)?;
    let username = params.require("username")?;
    let password = params.require("password")?;
    let scope = super::resolve_scope(ctx.config, ctx.client, params.get("scope"))?;
    let subject = Subject::User {
        username,
        credential: Credential::Password(password),
    };
    let properties = Properties::new(ctx.client, params);
    // SECURITY: the same brute-force limits per user as the login form (RFC 9700 §2.4 and
    // §4.16), not the one per address: a client's backend signs in all of its users.
    let sign_in = ctx.server.login_limiter().sign_in(username, address);
    // One user's password checks take turns: parallel guesses cannot all pass the limit.
    let _turn = sign_in.turn().await;
    if let Some(wait) = sign_in.blocked() {
        ctx.server.metrics().login_failed(LoginRealm::User);
        return Err(crate::ratelimit::too_many(wait));
    }
    let (scope, properties) = match run_hooks(ctx, &scope, properties, subject, now).await {
        Ok(checked) => checked,
        Err(e) => {
            if matches!(&e, ServerError::OAuth { error, .. } if error.error == ErrorCode::InvalidGrant)
            {
                sign_in.failed();
                ctx.server.metrics().login_failed(LoginRealm::User);
            }
            return Err(e);
        }
    };
    sign_in.succeeded();
    let refresh = refresh_allowed(ctx.config, ctx.client, &scope);
    Ok(Issue {
        username: Some(username.to_owned()),
        scope,
        refresh,
        properties,
        ..Default::default()
    })
}
