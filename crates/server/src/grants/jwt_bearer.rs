//! `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): the client presents a JWT it
//! signed, whose `sub` is the user it acts for. The assertion is checked like a client assertion
//! (signature with the client's key or secret, audience, expiry, one-time `jti`), except that `sub`
//! names a user of this server.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{ClaimChecks, DecodeOptions, JwkSet, SigAlg};

use super::{Subject, run_hooks};
use crate::client_auth::{ASSERTION_LEEWAY, audience_is_us};
use crate::client_keys::{Signer, decode_signed_by};
use crate::error::{ServerError, ServerResult};
use crate::hooks::{Context, Credential};
use crate::issue::Issue;
use crate::params::Params;
use crate::properties::Properties;

pub async fn grant(ctx: &Context<'_>, params: &Params, now: i64) -> ServerResult<Issue> {
    let (server, config, client) = (ctx.server, ctx.config, ctx.client);
    super::ensure_allowed(config, client, GrantType::JwtBearer)?;
    let assertion = params.require("assertion")?;
    let invalid = |why: String| ServerError::invalid_grant(format!("assertion: {why}"));
    let signer = if client.token_endpoint_auth_method == AuthMethod::ClientSecretJwt {
        Signer::Secret
    } else {
        Signer::PublicKeys
    };
    let allowed: Vec<SigAlg> = match client.token_endpoint_auth_signing_alg {
        Some(alg) => vec![alg],
        None => SigAlg::ALL.to_vec(),
    };
    let opts = DecodeOptions {
        sig_algs: Some(allowed),
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
    .await?
    .map_err(|e| invalid(e.to_string()))?;
    ClaimChecks {
        issuer: Some(client.client_id.clone()),
        leeway: ASSERTION_LEEWAY,
        required: vec!["sub".into(), "aud".into(), "exp".into(), "jti".into()],
        now: Some(now),
        ..Default::default()
    }
    .check(&decoded)
    .map_err(|e| invalid(e.to_string()))?;
    audience_is_us(&decoded.claims, config).map_err(invalid)?;
    let exp = ostiary_jose::numeric_date(&decoded.claims, "exp")
        .ok()
        .flatten()
        .unwrap_or(now);
    let jti = decoded
        .claims
        .get("jti")
        .and_then(|v| v.as_str())
        .ok_or_else(|| invalid("jti must be a string".into()))?;
    if !server
        .store()
        .consume_jti(
            &format!("{}:{jti}", client.client_id),
            exp + ASSERTION_LEEWAY as i64,
            now,
        )
        .await?
    {
        return Err(invalid("jti was used before (replay)".into()));
    }
    let username = decoded
        .claims
        .get("sub")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let scope = super::resolve_scope(config, client, params.get("scope"))?;
    // The client vouches for the user with its signature; the hook still decides.
    let subject = Subject::User {
        username,
        credential: Credential::Established,
    };
    let properties = Properties::new(client, params);
    let (scope, properties) = run_hooks(ctx, &scope, properties, subject, now)
        .await
        .map_err(|e| match e {
            ServerError::OAuth { .. } => invalid("sub is not a user who may sign in".into()),
            other => other,
        })?;
    Ok(Issue {
        username: Some(username.to_owned()),
        scope,
        properties,
        ..Default::default()
    })
}
