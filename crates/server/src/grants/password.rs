//! `password` (RFC 6749 §4.3): the resource owner's credentials, checked by the `ValidateUser` hook.

use ostiary_core::GrantType;

use super::{Subject, run_hooks};
use crate::error::ServerResult;
use crate::hooks::{Context, Credential};
use crate::issue::{Issue, refresh_allowed};
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
    let (scope, properties) = run_hooks(ctx, &scope, properties, subject, now).await?;
    let refresh = refresh_allowed(ctx.config, ctx.client, &scope);
    Ok(Issue {
        username: Some(username.to_owned()),
        scope,
        refresh,
        properties,
        ..Default::default()
    })
}
