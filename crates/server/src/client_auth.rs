//! Client authentication at the token, introspection and revocation endpoints: RFC 6749 §2.3
//! (client_secret_basic, client_secret_post), RFC 7523 §2.2 with OpenID Connect Core §9
//! (client_secret_jwt, private_key_jwt) and public clients (`none`). A client must use the one
//! method it registered.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use ostiary_core::grant::JWT_BEARER_ASSERTION_TYPE;
use ostiary_core::{AuthMethod, ErrorCode};
use ostiary_jose::{ClaimChecks, DecodeOptions, JwkSet, SigAlg};

use crate::client_keys::{Signer, decode_signed_by};
use crate::config::{ClientDescription, ServerConfig};
use crate::error::{ServerError, ServerResult};
use crate::params::Params;
use crate::ratelimit::{Caller, too_many};
use crate::state::Server;

/// Leeway on assertion times, in seconds.
pub const ASSERTION_LEEWAY: u64 = 30;
/// Longest lifetime accepted for a client assertion, in seconds: an hour, what common clients
/// (Authlib, for one) use by default.
const MAX_ASSERTION_LIFETIME: i64 = 3600 + ASSERTION_LEEWAY as i64;

/// The credentials a request presented, before they are checked.
#[derive(Debug)]
pub enum Presented<'a> {
    Basic { id: String, secret: String },
    Post { id: &'a str, secret: &'a str },
    Assertion { assertion: &'a str },
    None { id: &'a str },
}

fn url_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// What the request presented: one method of client authentication, or `invalid_request` /
/// `invalid_client` when it presented several or a malformed one.
pub fn presented<'a>(headers: &HeaderMap, params: &'a Params) -> ServerResult<Presented<'a>> {
    let basic = match headers.get(AUTHORIZATION) {
        None => None,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ServerError::invalid_client("malformed Authorization header", true))?;
            let (scheme, credentials) = text.split_once(' ').unwrap_or((text, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(ServerError::invalid_client(
                    "only Basic credentials are accepted here",
                    true,
                ));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ServerError::invalid_client("malformed Basic credentials", true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| ServerError::invalid_client("malformed Basic credentials", true))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
            Some((url_decode(id), url_decode(secret)))
        }
    };
    let secret = params.get("client_secret");
    let assertion = params.get("client_assertion");
    let methods = usize::from(basic.is_some())
        + usize::from(secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(ServerError::invalid_request(
            "more than one client authentication method",
        ));
    }
    if let Some((id, secret)) = basic {
        if params.get("client_id").is_some_and(|p| p != id) {
            return Err(ServerError::invalid_client(
                "client_id does not match the credentials",
                true,
            ));
        }
        return Ok(Presented::Basic { id, secret });
    }
    if let Some(secret) = secret {
        let id = params.require("client_id")?;
        return Ok(Presented::Post { id, secret });
    }
    if let Some(assertion) = assertion {
        if params.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION_TYPE) {
            return Err(ServerError::invalid_request(
                "client_assertion_type must be the JWT bearer assertion type",
            ));
        }
        return Ok(Presented::Assertion { assertion });
    }
    match params.get("client_id") {
        Some(id) => Ok(Presented::None { id }),
        None => Err(ServerError::invalid_client(
            "client authentication is required",
            true,
        )),
    }
}

/// Authenticates the calling client; `invalid_client` on any failure. An address that failed
/// too often lately (`rate_limits.client_auth_failures_per_address`) waits first.
pub async fn authenticate(
    server: &Server,
    config: &ServerConfig,
    caller: &Caller,
    headers: &HeaderMap,
    params: &Params,
    now: i64,
) -> ServerResult<ClientDescription> {
    let limit = config.rate_limits.client_auth_failures_per_address;
    if limit == 0 {
        return check(server, config, headers, params, now).await;
    }
    let failures = &server.limits().client_auth_failures;
    let key = caller.key();
    if let Some(wait) = failures.blocked(&key, limit) {
        return Err(too_many(wait));
    }
    let checked = check(server, config, headers, params, now).await;
    if let Err(ServerError::OAuth { error, .. }) = &checked
        && error.error == ErrorCode::InvalidClient
    {
        failures.fail_escalating(&key, limit);
    }
    checked
}

async fn check(
    server: &Server,
    config: &ServerConfig,
    headers: &HeaderMap,
    params: &Params,
    now: i64,
) -> ServerResult<ClientDescription> {
    let presented = presented(headers, params)?;
    let basic = matches!(presented, Presented::Basic { .. });
    let (client_id, method) = match &presented {
        Presented::Basic { id, .. } => (id.clone(), AuthMethod::ClientSecretBasic),
        Presented::Post { id, .. } => ((*id).to_owned(), AuthMethod::ClientSecretPost),
        Presented::None { id } => ((*id).to_owned(), AuthMethod::None),
        Presented::Assertion { assertion } => {
            // The issuer names the client; the signature is checked below with that client's key.
            let unverified = ostiary_jose::insecure_peek_header(assertion).ok();
            let claims = unverified_claims(assertion);
            let iss = claims
                .as_ref()
                .and_then(|c| c.get("iss"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let id = iss.ok_or_else(|| {
                ServerError::invalid_client("the client assertion has no issuer", false)
            })?;
            let alg = unverified
                .as_ref()
                .and_then(|h| h.get("alg"))
                .and_then(|a| a.as_str())
                .unwrap_or_default();
            let method = if alg.starts_with("HS") {
                AuthMethod::ClientSecretJwt
            } else {
                AuthMethod::PrivateKeyJwt
            };
            (id, method)
        }
    };
    if params.get("client_id").is_some_and(|p| p != client_id) {
        return Err(ServerError::invalid_client(
            "client_id does not match the credentials",
            basic,
        ));
    }
    let fail = |why: &str| ServerError::invalid_client(why.to_owned(), basic);
    let Some(client) = server.store().client(&client_id).await? else {
        return Err(fail("unknown client or wrong credentials"));
    };
    if client.token_endpoint_auth_method != method {
        return Err(fail("the client registered another authentication method"));
    }
    if method != AuthMethod::None
        && client.client_secret_expires_at != 0
        && now > client.client_secret_expires_at
    {
        return Err(fail("the client secret has expired"));
    }
    match presented {
        Presented::Basic { secret, .. } => {
            check_secret(server, &client.client_id, &secret, basic).await?
        }
        Presented::Post { secret, .. } => {
            check_secret(server, &client.client_id, secret, basic).await?
        }
        Presented::None { .. } => {}
        Presented::Assertion { assertion } => {
            let signer = match method {
                AuthMethod::ClientSecretJwt => Signer::Secret,
                _ => Signer::PublicKeys,
            };
            let allowed = allowed_assertion_algs(&client, method);
            verify_assertion(server, config, assertion, &client, signer, &allowed, now)
                .await
                .map_err(|why| fail(&why))?;
        }
    }
    Ok(client)
}

async fn check_secret(
    server: &Server,
    client_id: &str,
    secret: &str,
    basic: bool,
) -> ServerResult<()> {
    if server
        .store()
        .check_client_secret(client_id, secret)
        .await?
    {
        Ok(())
    } else {
        Err(ServerError::invalid_client(
            "unknown client or wrong credentials",
            basic,
        ))
    }
}

fn allowed_assertion_algs(client: &ClientDescription, method: AuthMethod) -> Vec<SigAlg> {
    if let Some(alg) = client.token_endpoint_auth_signing_alg {
        return vec![alg];
    }
    SigAlg::ALL
        .iter()
        .copied()
        .filter(|a| a.name().starts_with("HS") == (method == AuthMethod::ClientSecretJwt))
        .collect()
}

pub(crate) fn unverified_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Verifies a JWT client assertion (RFC 7523 §3): signature, `iss` = `sub` = client, `aud` our
/// issuer or token endpoint, `exp` present and near, `jti` never seen before.
pub async fn verify_assertion(
    server: &Server,
    config: &ServerConfig,
    assertion: &str,
    client: &ClientDescription,
    signer: Signer,
    allowed: &[SigAlg],
    now: i64,
) -> Result<(), String> {
    let client_id = client.client_id.as_str();
    let opts = DecodeOptions {
        sig_algs: Some(allowed.to_vec()),
        ..Default::default()
    };
    let no_encryption = JwkSet::default();
    let decoded = decode_signed_by(
        server,
        config,
        client,
        signer,
        assertion,
        &no_encryption,
        &opts,
    )
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("client assertion: {e}"))?;
    let checks = ClaimChecks {
        issuer: Some(client_id.to_owned()),
        leeway: ASSERTION_LEEWAY,
        required: vec!["sub".into(), "aud".into(), "exp".into(), "jti".into()],
        now: Some(now),
        ..Default::default()
    };
    checks
        .check(&decoded)
        .map_err(|e| format!("client assertion: {e}"))?;
    if decoded.claims.get("sub").and_then(|v| v.as_str()) != Some(client_id) {
        return Err("client assertion: sub must be the client_id".into());
    }
    audience_is_us(&decoded.claims, config)?;
    let exp = ostiary_jose::numeric_date(&decoded.claims, "exp")
        .ok()
        .flatten()
        .unwrap_or(0);
    if exp - now > MAX_ASSERTION_LIFETIME {
        return Err("client assertion: lives too long (exp more than an hour ahead)".into());
    }
    let jti = decoded
        .claims
        .get("jti")
        .and_then(|v| v.as_str())
        .ok_or("client assertion: jti must be a string")?;
    let fresh = server
        .store()
        .consume_jti(
            &format!("{client_id}:{jti}"),
            exp + ASSERTION_LEEWAY as i64,
            now,
        )
        .await
        .map_err(|e| e.to_string())?;
    if !fresh {
        return Err("client assertion: jti was used before (replay)".into());
    }
    Ok(())
}

/// `aud` must name this server: its issuer, or its token endpoint (accepted for compatibility).
pub fn audience_is_us(
    claims: &serde_json::Map<String, serde_json::Value>,
    config: &ServerConfig,
) -> Result<(), String> {
    let issuer = config.issuer_url();
    let token_endpoint = format!("{issuer}/token");
    let audiences = ostiary_jose::audiences(claims)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    if audiences
        .iter()
        .any(|a| *a == issuer || *a == token_endpoint)
    {
        Ok(())
    } else {
        Err("assertion audience is not this server".into())
    }
}

/// An error for a client that may not use what it asked for.
pub fn unauthorized(description: &str) -> ServerError {
    ServerError::oauth(ErrorCode::UnauthorizedClient, description)
}
