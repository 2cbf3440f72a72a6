//! `POST /token` (RFC 6749 §3.2): authenticate the client, run the grant, issue.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ostiary_core::{ErrorCode, GrantType};

use crate::error::{ServerError, ServerResult};
use crate::grants;
use crate::hooks::Context;
use crate::params::Params;
use crate::ratelimit::Caller;
use crate::state::Server;
use crate::{client_auth, issue};

pub async fn post(
    State(server): State<Server>,
    caller: Caller,
    headers: HeaderMap,
    params: Params,
) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let grant_type: GrantType = params
        .require("grant_type")?
        .parse()
        .map_err(|()| ServerError::oauth(ErrorCode::UnsupportedGrantType, "unknown grant_type"))?;
    let (limits, counters) = (&config.rate_limits, server.limits());
    counters.admit(limits.token_per_address, || caller.key())?;
    let client =
        client_auth::authenticate(&server, &config, &caller, &headers, &params, now).await?;
    counters.admit(limits.token_per_client, || {
        format!("client:{}", client.client_id)
    })?;
    let ctx = Context {
        server: &server,
        config: &config,
        client: &client,
    };
    let grant = match grant_type {
        GrantType::ClientCredentials => {
            grants::client_credentials::grant(&ctx, &params, now).await?
        }
        GrantType::Password => grants::password::grant(&ctx, &params, &caller.key(), now).await?,
        GrantType::RefreshToken => grants::refresh_token::grant(&ctx, &params, now).await?,
        GrantType::JwtBearer => grants::jwt_bearer::grant(&ctx, &params, now).await?,
        GrantType::AuthorizationCode => {
            grants::authorization_code::grant(&ctx, &params, now).await?
        }
        GrantType::Implicit => {
            return Err(ServerError::oauth(
                ErrorCode::UnsupportedGrantType,
                "implicit is not a token endpoint grant",
            ));
        }
    };
    let body = issue::issue(&server, &config, &client, grant, now).await?;
    server.metrics().token_issued(grant_type);
    Ok(no_store(Json(body)))
}

/// RFC 6749 §5.1: token responses are not cached.
pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
