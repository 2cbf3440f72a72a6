//! `password` (RFC 6749 §4.3): the resource owner's credentials, checked by the `ValidateUser` hook.

use ostiary_core::{ErrorCode, GrantType};

use super::{Subject, run_hooks};
use crate::error::{ServerError, ServerResult};
use crate::hooks::{Context, Credential};
use crate::issue::{Issue, refresh_allowed};
use crate::metrics::LoginRealm;
use crate::params::Params;
use crate::properties::Properties;

pub async fn grant(ctx: &Context<'_>, params: &Params, now: i64) -> ServerResult<Issue> {
    super::ensure_allowed(ctx.config, ctx.client, GrantType::Password)?;
    let username = params.require("username")?;
    let password = params.require("password")?;
    let scope = super::resolve_scope(ctx.config, ctx.client, params.get("scope"))?;
    let subject = Subject::User {
        username,
        credential: Credential::Password(password),
    };
    let properties = Properties::new(ctx.client, params);
    // SECURITY: the same brute-force limit per user as the login form (RFC 9700 §2.4 and §4.16).
    let limiter = ctx.server.login_limiter();
    let user_key = format!("user:{username}");
    // One user's password checks take turns: parallel guesses cannot all pass the limit.
    let _turn = limiter.turn(&user_key).await;
    if let Some(wait) = limiter.blocked(&user_key, crate::ratelimit::PER_USER) {
        ctx.server.metrics().login_failed(LoginRealm::User);
        return Err(crate::ratelimit::too_many(wait));
    }
    let (scope, properties) = match run_hooks(ctx, &scope, properties, subject, now).await {
        Ok(checked) => checked,
        Err(e) => {
            if matches!(&e, ServerError::OAuth { error, .. } if error.error == ErrorCode::InvalidGrant)
            {
                limiter.fail(&user_key);
                ctx.server.metrics().login_failed(LoginRealm::User);
            }
            return Err(e);
        }
    };
    limiter.reset(&user_key);
    let refresh = refresh_allowed(ctx.config, ctx.client, &scope);
    Ok(Issue {
        username: Some(username.to_owned()),
        scope,
        refresh,
        properties,
        ..Default::default()
    })
}
