//! `GET|POST /userinfo` (OpenID Connect Core §5.3), a protected resource (RFC 6750): the bearer
//! token comes in the Authorization header, a form body, or the query — exactly one of them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::Response;
use ostiary_core::{ErrorCode, Scopes};

use crate::error::{ServerError, ServerResult};
use crate::issue::{stored_properties, subject, token_hash};
use crate::params::Params;
use crate::properties::JwtHeader;
use crate::state::Server;
use crate::store::TokenKind;

pub async fn get(
    State(server): State<Server>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ServerResult<Response> {
    let from_query = query_token(query.as_deref())?;
    respond(&server, bearer(&headers, from_query, None)?).await
}

pub async fn post(
    State(server): State<Server>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ServerResult<Response> {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let from_body = if form {
        Params::parse(&body)?.get("access_token").map(str::to_owned)
    } else {
        None
    };
    respond(
        &server,
        bearer(&headers, query_token(query.as_deref())?, from_body)?,
    )
    .await
}

fn query_token(query: Option<&str>) -> ServerResult<Option<String>> {
    match query {
        None => Ok(None),
        Some(q) => Ok(Params::parse(q.as_bytes())?
            .get("access_token")
            .map(str::to_owned)),
    }
}

/// RFC 6750 §2: one method only; none at all is a 401 without an error code.
fn bearer(
    headers: &HeaderMap,
    from_query: Option<String>,
    from_body: Option<String>,
) -> ServerResult<String> {
    let from_header = match headers.get(AUTHORIZATION) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or_default();
            match text.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    Some(token.trim().to_owned())
                }
                _ => {
                    return Err(ServerError::bearer(
                        ErrorCode::InvalidRequest,
                        "malformed Authorization header",
                    ));
                }
            }
        }
    };
    let mut found = [from_header, from_body, from_query].into_iter().flatten();
    let token = found.next().ok_or(ServerError::MissingBearer)?;
    if found.next().is_some() {
        return Err(ServerError::bearer(
            ErrorCode::InvalidRequest,
            "the access token was sent more than one way",
        ));
    }
    Ok(token)
}

async fn respond(server: &Server, token: String) -> ServerResult<Response> {
    let now = super::now();
    let invalid = || {
        ServerError::bearer(
            ErrorCode::InvalidToken,
            "the access token is invalid, expired or revoked",
        )
    };
    let record = server
        .store()
        .token(&token_hash(&token))
        .await?
        .ok_or_else(invalid)?;
    if record.kind != TokenKind::Access || record.revoked || record.expires_at <= now {
        return Err(invalid());
    }
    let scope = Scopes::parse(&record.scope).unwrap_or_default();
    if !scope.contains("openid") {
        return Err(ServerError::bearer(
            ErrorCode::InsufficientScope,
            "userinfo needs the openid scope",
        ));
    }
    let username = record.username.as_deref().ok_or_else(|| {
        ServerError::bearer(ErrorCode::InvalidToken, "the token acts for no user")
    })?;
    // The claims the sign-in's hooks set, as its scopes and `claims` request release them.
    let properties = stored_properties(&record.extra);
    let mut claims = properties.release(&properties.userinfo_claims);
    claims.insert("sub".into(), subject(&properties, username).into());
    // OpenID Connect Core §5.3.2: signed and/or encrypted when the client registered so.
    let client = server.store().client(&record.client_id).await?;
    let signed = client.as_ref().and_then(|c| c.userinfo_signed_response_alg);
    let encrypted = client.as_ref().and_then(|c| {
        c.userinfo_encrypted_response_alg
            .zip(c.userinfo_encrypted_response_enc)
    });
    if let (Some(client), true) = (client.as_ref(), signed.is_some() || encrypted.is_some()) {
        let config = server.config().await?;
        claims.insert("iss".into(), config.issuer_url().into());
        claims.insert("aud".into(), client.client_id.clone().into());
        let jwt = crate::issue::sign_and_encrypt(
            server,
            &config,
            &claims,
            JwtHeader::default(),
            signed,
            "JWT",
            encrypted,
            client,
        )
        .await?;
        let mut response = super::token::no_store(jwt);
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/jwt"),
        );
        return Ok(response);
    }
    Ok(super::token::no_store(Json(claims)))
}
