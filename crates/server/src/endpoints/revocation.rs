//! `POST /revocation` (RFC 7009). Revoking a refresh token revokes its family (the access tokens
//! issued with it included); an access token is revoked alone. Unknown tokens, and tokens of
//! other clients, get 200 and change nothing (§2.2), so the endpoint reveals nothing. A
//! self-contained client token is revoked by storing a revoked row for it.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use ostiary_core::ErrorCode;

use crate::client_auth;
use crate::error::{ServerError, ServerResult};
use crate::issue::{self_contained_token, token_hash};
use crate::params::Params;
use crate::ratelimit::Caller;
use crate::state::Server;
use crate::store::{StoreError, TokenKind, TokenRecord};

pub async fn post(
    State(server): State<Server>,
    caller: Caller,
    headers: HeaderMap,
    params: Params,
) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let client =
        client_auth::authenticate(&server, &config, &caller, &headers, &params, now).await?;
    let token = params.require("token")?;
    match params.get("token_type_hint") {
        None | Some("access_token") | Some("refresh_token") => {}
        Some(_) => {
            return Err(ServerError::oauth(
                ErrorCode::UnsupportedTokenType,
                "token_type_hint is access_token or refresh_token",
            ));
        }
    }
    let hash = token_hash(token);
    if let Some(record) = server.store().token(&hash).await? {
        if record.client_id == client.client_id {
            match record.kind {
                TokenKind::Refresh => {
                    server.store().revoke_family(&record.family).await?;
                }
                TokenKind::Access => {
                    server.store().revoke_token(&hash).await?;
                }
                // Registration and admin tokens are not OAuth tokens: managed elsewhere.
                TokenKind::Registration
                | TokenKind::InitialAccess
                | TokenKind::AdminApi
                | TokenKind::AdminSession => {}
            }
        } else {
            tracing::warn!(client_id = %client.client_id, "revocation of another client's token ignored");
        }
    } else if let Some(found) = self_contained_token(&server, &config, token, now).await? {
        // A self-contained token gets its row now, revoked: the row outlives it, as lookups
        // come first.
        if found.record.client_id == client.client_id {
            let revoked = TokenRecord {
                revoked: true,
                ..found.record
            };
            match server.store().insert_token(&revoked).await {
                // Conflict: a revocation at the same moment stored it first.
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        } else {
            tracing::warn!(client_id = %client.client_id, "revocation of another client's token ignored");
        }
    }
    Ok(super::token::no_store(()))
}
