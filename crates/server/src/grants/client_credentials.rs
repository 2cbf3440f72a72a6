//! `client_credentials` (RFC 6749 §4.4): a confidential client acting for itself. No refresh
//! token (§4.4.3) and no ID token; the `ValidateUser` hook's `validate_client` has the last word.

use ostiary_core::GrantType;

use super::{Subject, run_hooks};
use crate::client_auth::unauthorized;
use crate::error::ServerResult;
use crate::hooks::Context;
use crate::issue::Issue;
use crate::params::Params;
use crate::properties::Properties;

pub async fn grant(ctx: &Context<'_>, params: &Params, now: i64) -> ServerResult<Issue> {
    super::ensure_allowed(ctx.config, ctx.client, GrantType::ClientCredentials)?;
    if !ctx.client.is_confidential() {
        return Err(unauthorized("public clients cannot use client_credentials"));
    }
    let scope = super::resolve_scope(ctx.config, ctx.client, params.get("scope"))?;
    let properties = Properties::new(ctx.client, params);
    let (scope, properties) = run_hooks(ctx, &scope, properties, Subject::Client, now).await?;
    Ok(Issue {
        scope,
        properties,
        ..Default::default()
    })
}
