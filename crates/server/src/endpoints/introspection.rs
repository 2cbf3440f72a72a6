//! `POST /introspection` (RFC 7662): for authenticated confidential clients and resource servers.
//! Anything unknown, expired or revoked is `{"active": false}`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::client_auth::{self, unauthorized};
use crate::error::ServerResult;
use crate::issue::{self_contained_token, stored_properties, subject, token_hash};
use crate::params::Params;
use crate::properties::Properties;
use crate::ratelimit::Caller;
use crate::state::Server;

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
    if !client.is_confidential() {
        return Err(unauthorized("public clients cannot introspect"));
    }
    let token = params.require("token")?;
    // A stored token, else a self-contained one (which has a row only once revoked).
    let found = match server.store().token(&token_hash(token)).await? {
        Some(t) => {
            let properties = stored_properties(&t.extra);
            let subject = subject(&properties, t.username.as_deref().unwrap_or(&t.client_id));
            Some((t, subject, properties))
        }
        None => self_contained_token(&server, &config, token, now)
            .await?
            .map(|found| (found.record, found.subject, Properties::default())),
    };
    let Some((t, subject, properties)) =
        found.filter(|(t, ..)| t.kind.is_oauth_token() && !t.revoked && t.expires_at > now)
    else {
        return Ok(super::token::no_store(Json(json!({ "active": false }))));
    };
    let mut body = Map::new();
    body.insert("active".into(), true.into());
    body.insert("scope".into(), t.scope.clone().into());
    body.insert("client_id".into(), t.client_id.clone().into());
    if let Some(user) = &t.username {
        body.insert("username".into(), user.clone().into());
    }
    body.insert(
        "token_type".into(),
        if t.kind == crate::store::TokenKind::Access {
            "Bearer"
        } else {
            "refresh_token"
        }
        .into(),
    );
    body.insert("exp".into(), t.expires_at.into());
    body.insert("iat".into(), t.issued_at.into());
    body.insert("nbf".into(), t.issued_at.into());
    body.insert("sub".into(), subject.into());
    body.insert("aud".into(), json!(t.audience));
    body.insert("iss".into(), config.issuer_url().into());
    body.insert("jti".into(), t.jti.clone().into());
    if let Some(auth_time) = t.extra.get("auth_time") {
        body.insert("auth_time".into(), auth_time.clone());
    }
    // Claims a hook asked introspection to carry; the base members above stay as they are.
    for (name, value) in properties.release(&properties.introspection_claims) {
        body.entry(name).or_insert(value);
    }
    Ok(super::token::no_store(Json(Value::Object(body))))
}
