//! `refresh_token` (RFC 6749 §6) with rotation: each use returns a new refresh token of the same
//! family, and a refresh token used twice revokes its whole family (RFC 9700 §4.14.2).

use ostiary_core::{ErrorCode, GrantType, Scopes};

use crate::client_auth::unauthorized;
use crate::error::{ServerError, ServerResult};
use crate::hooks::{Context, Credential};
use crate::issue::{IdTokenFacts, Issue, Spends, session_of, stored_properties, token_hash};
use crate::params::Params;
use crate::properties::scope_map;
use crate::store::TokenKind;

pub async fn grant(ctx: &Context<'_>, params: &Params, now: i64) -> ServerResult<Issue> {
    let (server, config, client) = (ctx.server, ctx.config, ctx.client);
    super::ensure_allowed(config, client, GrantType::RefreshToken)?;
    if !client.is_confidential() && !config.allow_public_client_refresh {
        return Err(unauthorized(
            "public clients may not refresh on this server",
        ));
    }
    let hash = token_hash(params.require("refresh_token")?);
    let invalid = || ServerError::invalid_grant("the refresh token is invalid, expired or revoked");
    // Check before redeeming, so that another client cannot burn someone else's token.
    let record = server
        .store()
        .token(&hash)
        .await?
        .filter(|t| t.kind == TokenKind::Refresh)
        .ok_or_else(invalid)?;
    if record.client_id != client.client_id {
        return Err(invalid());
    }
    if record.revoked || record.expires_at <= now {
        return Err(invalid());
    }
    // Every check that can fail on bad input comes before the token is spent (no partial write).
    let granted = Scopes::parse(&record.scope).unwrap_or_default();
    let scope = match params.get("scope") {
        None => granted,
        Some(text) => {
            let asked = Scopes::parse(text)
                .ok_or_else(|| ServerError::oauth(ErrorCode::InvalidScope, "malformed scope"))?;
            if !asked.is_subset_of(&granted) {
                return Err(ServerError::oauth(
                    ErrorCode::InvalidScope,
                    "a refresh cannot widen the scope",
                ));
            }
            asked
        }
    };
    let mut properties = stored_properties(&record.extra);
    if let Some(username) = &record.username {
        // The user must still be allowed in; the hook refreshes their claims on the way.
        let mut scopes = scope_map(config, &scope);
        let active = server
            .hooks()
            .validate_user
            .validate_user(
                ctx,
                username,
                Credential::Established,
                &mut scopes,
                &mut properties,
            )
            .await?;
        if !active {
            server.store().revoke_family(&record.family).await?;
            return Err(ServerError::invalid_grant("the user is disabled or gone"));
        }
    }
    let id_token = (record.username.is_some() && scope.contains("openid"))
        .then(|| IdTokenFacts::remembered(&record.extra));
    Ok(Issue {
        username: record.username,
        scope,
        family: Some(record.family.clone()),
        // Families from before this was recorded began no later than this token.
        family_began: Some(
            record
                .extra
                .get(crate::issue::FAMILY_BEGAN)
                .and_then(|v| v.as_i64())
                .unwrap_or(record.issued_at),
        ),
        grant_id: record.grant_id,
        refresh: true,
        id_token,
        session: session_of(&record.extra),
        properties,
        // Spent with the new pair's commit; used before, it revokes the family.
        spends: Some(Spends::RefreshToken {
            hash,
            family: record.family,
        }),
    })
}
