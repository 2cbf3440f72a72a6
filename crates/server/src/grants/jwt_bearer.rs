//! `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523 §2.1): the client presents a JWT,
//! signed by itself or by an issuer the configuration trusts, whose `sub` is the user it acts for.
//! The assertion is checked like a client assertion (signature, audience, expiry, one-time `jti`
//! per issuer), except that `sub` names a user of this server.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{ClaimChecks, DecodeOptions, JwkSet, SigAlg};

use super::{Subject, run_hooks};
use crate::client_auth::{ASSERTION_LEEWAY, audience_is_us, unverified_claims};
use crate::client_keys::{Signer, decode_signed_by, fetched};
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
    // The assertion's issuer: the client itself, or an identity provider the server trusts.
    let claimed = unverified_claims(assertion)
        .and_then(|c| c.get("iss").and_then(|v| v.as_str()).map(str::to_owned));
    let trusted = config
        .trusted_issuers
        .iter()
        .find(|t| claimed.as_deref() == Some(t.issuer.as_str()) && t.issuer != client.client_id);
    let no_encryption = JwkSet::default();
    let (issuer, decoded) = match trusted {
        None => {
            let signer = if client.token_endpoint_auth_method == AuthMethod::ClientSecretJwt {
                Signer::Secret
            } else {
                Signer::PublicKeys
            };
            let opts = DecodeOptions {
                sig_algs: Some(match client.token_endpoint_auth_signing_alg {
                    Some(alg) => vec![alg],
                    None => SigAlg::ALL.to_vec(),
                }),
                ..Default::default()
            };
            let decoded = decode_signed_by(
                server,
                config,
                client,
                signer,
                assertion,
                &no_encryption,
                &opts,
            )
            .await?;
            (client.client_id.clone(), decoded)
        }
        Some(trusted) => {
            // SECURITY: public-key signatures only: no shared secret with another issuer.
            let opts = DecodeOptions {
                sig_algs: Some(
                    SigAlg::ALL
                        .iter()
                        .copied()
                        .filter(|a| !a.name().starts_with("HS"))
                        .collect(),
                ),
                ..Default::default()
            };
            let decoded = match (&trusted.jwks, &trusted.jwks_uri) {
                (Some(inline), _) => {
                    let keys = inline
                        .as_object()
                        .and_then(|o| JwkSet::from_object(o.clone()).ok())
                        .unwrap_or_default();
                    ostiary_jose::decode(assertion, &no_encryption, &keys, &opts)
                }
                (None, Some(uri)) => {
                    let keys = fetched(server, config, uri, false).await;
                    match ostiary_jose::decode(assertion, &no_encryption, &keys, &opts) {
                        Ok(d) => Ok(d),
                        // The issuer may have rotated its keys: look again, once.
                        Err(_) => {
                            let keys = fetched(server, config, uri, true).await;
                            ostiary_jose::decode(assertion, &no_encryption, &keys, &opts)
                        }
                    }
                }
                (None, None) => Err(ostiary_jose::JoseError::NoKey {
                    what: "the trusted issuer has no keys".into(),
                }),
            };
            (trusted.issuer.clone(), decoded)
        }
    };
    let decoded = decoded.map_err(|e| invalid(e.to_string()))?;
    ClaimChecks {
        issuer: Some(issuer.clone()),
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
            &format!("{issuer}:{jti}"),
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
    // The issuer vouches for the user with its signature; the hook still decides.
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
