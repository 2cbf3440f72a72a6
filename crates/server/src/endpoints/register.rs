//! `POST /register` (RFC 7591, OpenID Connect Dynamic Registration 1.0) and
//! `GET|PUT|DELETE /register/{client_id}` (RFC 7592), as the configuration's `registration`
//! allows: open, with an initial access token, or off.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::ErrorCode;
use serde_json::{Map, Value, json};

use crate::config::{Registration, ServerConfig};
use crate::error::{ServerError, ServerResult};
use crate::issue::{random_token, token_hash};
use crate::ratelimit::Caller;
use crate::registration::{self, MetadataError, Registrant};
use crate::state::Server;
use crate::store::{StoreError, TokenKind, TokenRecord};

/// How long an initial access token made by `ostiary admin registration-token create` lasts,
/// unless told otherwise.
pub const INITIAL_TOKEN_LIFETIME: i64 = 86_400;

/// A registration access token never expires by itself: it goes with its client.
const FOREVER: i64 = i64::MAX / 2;

fn metadata_error(e: MetadataError) -> Response {
    let body = json!({ "error": e.code(), "error_description": e.to_string() });
    super::token::no_store((StatusCode::BAD_REQUEST, Json(body)))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The token record behind the request's bearer token, when it is a live one of `kind`.
async fn token_of(
    server: &Server,
    headers: &HeaderMap,
    kind: TokenKind,
    now: i64,
) -> ServerResult<Option<TokenRecord>> {
    let Some(token) = bearer(headers) else {
        return Ok(None);
    };
    let record = server.store().token(&token_hash(token)).await?;
    Ok(record.filter(|t| t.kind == kind && !t.revoked && t.expires_at > now))
}

fn invalid_token() -> ServerError {
    ServerError::bearer(
        ErrorCode::InvalidToken,
        "the access token is invalid, expired or revoked",
    )
}

fn parse_metadata(body: &Bytes) -> Result<Map<String, Value>, MetadataError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(MetadataError::Metadata(
            "the body must be a JSON object of client metadata".into(),
        )),
    }
}

/// Saves a registration token of `kind` (for `client_id`, or none) until `expires_at`; returns
/// its value.
async fn new_token(
    store: &dyn crate::store::ServerStore,
    kind: TokenKind,
    client_id: &str,
    expires_at: i64,
    now: i64,
) -> ServerResult<String> {
    let token = random_token();
    store
        .insert_token(&TokenRecord {
            hash: token_hash(&token),
            kind,
            client_id: client_id.to_owned(),
            username: None,
            scope: String::new(),
            family: random_token(),
            grant_id: None,
            jti: random_token(),
            audience: Vec::new(),
            issued_at: now,
            expires_at,
            revoked: false,
            extra: Map::new(),
        })
        .await?;
    Ok(token)
}

/// Makes an initial access token (RFC 7591 §3) good for `lifetime` seconds; returns its value.
pub async fn new_initial_token(
    store: &dyn crate::store::ServerStore,
    lifetime: i64,
    now: i64,
) -> ServerResult<String> {
    new_token(store, TokenKind::InitialAccess, "", now + lifetime, now).await
}

fn client_uri(config: &ServerConfig, client_id: &str) -> String {
    format!("{}/register/{client_id}", config.issuer_url())
}

pub async fn register(
    State(server): State<Server>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    server
        .limits()
        .admit(config.rate_limits.registration_per_address, || {
            format!("register:{}", caller.key())
        })?;
    match config.registration {
        Registration::Off => return Ok(StatusCode::NOT_FOUND.into_response()),
        Registration::Open => {}
        Registration::Token => {
            if token_of(&server, &headers, TokenKind::InitialAccess, now)
                .await?
                .is_none()
            {
                return Err(invalid_token());
            }
        }
    }
    let metadata = match parse_metadata(&body) {
        Ok(m) => m,
        Err(e) => return Ok(metadata_error(e)),
    };
    let client =
        match registration::client_from_metadata(&config, metadata, Registrant::Dynamic, now) {
            Ok(c) => c,
            Err(e) => return Ok(metadata_error(e)),
        };
    let secret = client.is_confidential().then(random_token);
    server
        .store()
        .create_client(&client, secret.as_deref())
        .await?;
    let token = new_token(
        server.store(),
        TokenKind::Registration,
        &client.client_id,
        FOREVER,
        now,
    )
    .await?;
    tracing::info!(client_id = %client.client_id, "client registered dynamically");
    let uri = client_uri(&config, &client.client_id);
    let body = registration::response(&client, secret.as_deref(), Some((&token, &uri)));
    Ok(super::token::no_store((StatusCode::CREATED, Json(body))))
}

/// The client a registration access token manages, when it is the one in the path.
async fn managed(
    server: &Server,
    headers: &HeaderMap,
    client_id: &str,
    now: i64,
) -> ServerResult<crate::config::ClientDescription> {
    let record = token_of(server, headers, TokenKind::Registration, now)
        .await?
        .filter(|t| t.client_id == client_id)
        .ok_or_else(invalid_token)?;
    server
        .store()
        .client(&record.client_id)
        .await?
        .ok_or_else(invalid_token)
}

pub async fn read(
    State(server): State<Server>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let client = managed(&server, &headers, &client_id, now).await?;
    let uri = client_uri(&config, &client.client_id);
    let token = bearer(&headers).unwrap_or_default();
    let body = registration::response(&client, None, Some((token, &uri)));
    Ok(super::token::no_store(Json(body)))
}

/// RFC 7592 §2.2: the request holds the whole new registration, with `client_id`; a
/// `client_secret`, if sent, must be the current one. The secret itself does not change.
pub async fn update(
    State(server): State<Server>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    body: Bytes,
) -> ServerResult<Response> {
    let now = super::now();
    let config = server.config().await?;
    let current = managed(&server, &headers, &client_id, now).await?;
    let mut metadata = match parse_metadata(&body) {
        Ok(m) => m,
        Err(e) => return Ok(metadata_error(e)),
    };
    if metadata.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
        return Ok(metadata_error(MetadataError::Metadata(
            "the body's client_id must be the client's".into(),
        )));
    }
    if let Some(secret) = metadata.get("client_secret").and_then(Value::as_str)
        && !server
            .store()
            .check_client_secret(&client_id, secret)
            .await?
    {
        return Ok(metadata_error(MetadataError::Metadata(
            "client_secret is not the client's".into(),
        )));
    }
    for member in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        metadata.remove(member);
    }
    let mut client =
        match registration::client_from_metadata(&config, metadata, Registrant::Dynamic, now) {
            Ok(c) => c,
            Err(e) => return Ok(metadata_error(e)),
        };
    if client.client_type != current.client_type {
        return Ok(metadata_error(MetadataError::Metadata(
            "a registration cannot switch between public and confidential".into(),
        )));
    }
    // What the server assigned stays as it was.
    client.client_id = current.client_id.clone();
    client.client_id_issued_at = current.client_id_issued_at;
    client.client_secret_expires_at = current.client_secret_expires_at;
    client.name = current.name.clone();
    client.description = current.description.clone();
    client.launch_url = current.launch_url.clone();
    if !server.store().update_client(&client).await? {
        return Err(invalid_token());
    }
    let uri = client_uri(&config, &client.client_id);
    let token = bearer(&headers).unwrap_or_default();
    let body = registration::response(&client, None, Some((token, &uri)));
    Ok(super::token::no_store(Json(body)))
}

pub async fn delete(
    State(server): State<Server>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> ServerResult<Response> {
    let now = super::now();
    let client = managed(&server, &headers, &client_id, now).await?;
    // Its tokens go with it, the registration access token included.
    server
        .store()
        .revoke_client_tokens(&client.client_id)
        .await?;
    match server.store().delete_client(&client.client_id).await {
        Ok(_) => {}
        Err(StoreError::Conflict) => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!(client_id = %client.client_id, "client deleted its registration");
    Ok(StatusCode::NO_CONTENT.into_response())
}
