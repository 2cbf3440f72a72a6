//! Request objects (OpenID Connect Core §6, RFC 9101): the authorization request as a JWT, by
//! value (`request`) or by reference (`request_uri`), signed by the client with its key or secret
//! and optionally encrypted to the server's key. Its parameters win over the query's.

use ostiary_core::ErrorCode;
use ostiary_jose::{DecodeOptions, SigAlg};
use serde_json::Value;

use crate::client_keys::{self, Signer};
use crate::config::{ClientDescription, ServerConfig};
use crate::error::ServerResult;
use crate::params::Params;
use crate::state::Server;

/// Why a request object was refused: `invalid_request_object` or `invalid_request_uri`.
#[derive(Debug)]
pub struct Refused {
    pub error: ErrorCode,
    pub description: String,
}

fn refused(error: ErrorCode, description: impl Into<String>) -> Refused {
    Refused {
        error,
        description: description.into(),
    }
}

/// Replaces `params` by the request object's parameters over the query's, when the request
/// carries one. `client` is the client the query names.
pub async fn resolve(
    server: &Server,
    config: &ServerConfig,
    client: Option<&ClientDescription>,
    params: &mut Params,
) -> ServerResult<Result<(), Refused>> {
    let jwt = match (params.get("request"), params.get("request_uri")) {
        (None, None) => return Ok(Ok(())),
        (Some(_), Some(_)) => {
            return Ok(Err(refused(
                ErrorCode::InvalidRequest,
                "request and request_uri cannot both be used",
            )));
        }
        (Some(value), None) => value.to_owned(),
        (None, Some(uri)) => match crate::fetch::fetch(uri, config.fetch_private_addresses).await {
            Ok(body) => String::from_utf8_lossy(&body).trim().to_owned(),
            Err(e) => {
                return Ok(Err(refused(
                    ErrorCode::InvalidRequestUri,
                    format!("request_uri: {e}"),
                )));
            }
        },
    };
    let Some(client) = client else {
        return Ok(Err(refused(
            ErrorCode::InvalidRequest,
            "client_id must be sent beside the request object",
        )));
    };
    let invalid = |why: String| refused(ErrorCode::InvalidRequestObject, why);
    // SECURITY: signed by the client; a request object the client did not sign proves nothing.
    let opts = DecodeOptions {
        sig_algs: Some(match client.request_object_signing_alg {
            Some(alg) => vec![alg],
            None => SigAlg::ALL.to_vec(),
        }),
        ..Default::default()
    };
    let decrypt_with = server.keys().await?.private_set();
    let decoded = client_keys::decode_signed_by(
        server,
        config,
        client,
        Signer::Either,
        &jwt,
        &decrypt_with,
        &opts,
    )
    .await?;
    let decoded = match decoded {
        Ok(d) => d,
        Err(e) => return Ok(Err(invalid(format!("request object: {e}")))),
    };
    let claims = decoded.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("client_id").is_some_and(|id| id != client.client_id) {
        return Ok(Err(invalid(
            "the request object's client_id is not the query's".into(),
        )));
    }
    if text("iss").is_some_and(|iss| iss != client.client_id) {
        return Ok(Err(invalid(
            "the request object's iss is not the client".into(),
        )));
    }
    let issuer = config.issuer_url();
    let for_us = match claims.get("aud") {
        None => true,
        Some(Value::String(aud)) => *aud == issuer,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(issuer.as_str())),
        Some(_) => false,
    };
    if !for_us {
        return Ok(Err(invalid(
            "the request object's aud is not this server".into(),
        )));
    }
    let checks = ostiary_jose::ClaimChecks {
        leeway: 60,
        ..Default::default()
    };
    if let Err(e) = checks.check_claims(&claims) {
        return Ok(Err(invalid(format!("request object: {e}"))));
    }
    for (name, value) in claims {
        // JWT claims of the object itself are not authorization parameters.
        if matches!(
            name.as_str(),
            "iss" | "aud" | "exp" | "iat" | "nbf" | "jti" | "request" | "request_uri"
        ) {
            continue;
        }
        let text = match value {
            Value::String(s) => s,
            Value::Null => continue,
            other => other.to_string(),
        };
        params.insert(&name, text);
    }
    params.remove("request");
    params.remove("request_uri");
    Ok(Ok(()))
}
