//! `authorization_code` (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6): the exchange side. Codes are
//! single use; a replayed code revokes every token issued from it (RFC 6749 §4.1.2).

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_core::{GrantType, Scopes};

use crate::config::{ClientDescription, ServerConfig};
use crate::error::{ServerError, ServerResult};
use crate::hooks::{Context, Credential};
use crate::issue::{
    IdTokenFacts, Issue, Spends, refresh_allowed, session_of, stored_properties, token_hash,
};
use crate::params::Params;
use crate::properties::scope_map;
use crate::store::Redeemable;

pub async fn grant(ctx: &Context<'_>, params: &Params, now: i64) -> ServerResult<Issue> {
    let (server, config, client) = (ctx.server, ctx.config, ctx.client);
    super::ensure_allowed(config, client, GrantType::AuthorizationCode)?;
    let hash = token_hash(params.require("code")?);
    // The code is spent with the tokens' commit (`Issue::spends`), once every check has passed:
    // a failed attempt (another client, a wrong verifier) does not burn it for its owner.
    let record = match server.store().code(&hash).await? {
        Redeemable::Fresh(record) => record,
        Redeemable::Spent(record) => {
            let grant_id = record.grant_id;
            return Err(Spends::Code { hash, grant_id }
                .replayed(server, client)
                .await);
        }
        Redeemable::Missing => return Err(ServerError::invalid_grant("unknown code")),
    };
    if record.client_id != client.client_id {
        return Err(ServerError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(ServerError::invalid_grant("the code has expired"));
    }
    if params.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(ServerError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    check_pkce(
        config,
        client,
        record.code_challenge.as_deref(),
        record.code_challenge_method.as_deref(),
        params.get("code_verifier"),
    )?;
    let scope = Scopes::parse(&record.scope).unwrap_or_default();
    let properties = stored_properties(&record.extra);
    // SECURITY: a user disabled or removed after the code was issued gets no tokens from it. The
    // claims stay those of the sign-in: only whether the user may still sign in is asked again.
    let active = server
        .hooks()
        .validate_user
        .validate_user(
            ctx,
            &record.username,
            Credential::Established,
            &mut scope_map(config, &scope),
            &mut properties.clone(),
        )
        .await?;
    if !active {
        return Err(ServerError::invalid_grant("the user is disabled or gone"));
    }
    let session = session_of(&record.extra);
    let id_token = scope.contains("openid").then(|| IdTokenFacts {
        nonce: record.nonce.clone(),
        auth_time: Some(record.auth_time),
        sid: session.clone(),
    });
    let refresh = refresh_allowed(config, client, &scope);
    Ok(Issue {
        username: Some(record.username),
        scope,
        grant_id: Some(record.grant_id.clone()),
        refresh,
        id_token,
        session,
        properties,
        spends: Some(Spends::Code {
            hash,
            grant_id: record.grant_id,
        }),
        ..Default::default()
    })
}

/// RFC 7636 §4.6, with the server's enforcement options.
fn check_pkce(
    config: &ServerConfig,
    client: &ClientDescription,
    challenge: Option<&str>,
    method: Option<&str>,
    verifier: Option<&str>,
) -> ServerResult<()> {
    let required = if client.is_confidential() {
        config.enforce_pkce_confidential_clients
    } else {
        config.enforce_pkce_public_clients
    };
    let Some(challenge) = challenge else {
        if required {
            return Err(ServerError::invalid_grant(
                "PKCE is required for this client",
            ));
        }
        if verifier.is_some() {
            // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
            return Err(ServerError::invalid_grant(
                "code_verifier without a code_challenge",
            ));
        }
        return Ok(());
    };
    let verifier =
        verifier.ok_or_else(|| ServerError::invalid_grant("code_verifier is required"))?;
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return Err(ServerError::invalid_grant("malformed code_verifier"));
    }
    if method != Some("S256") {
        return Err(ServerError::invalid_grant(
            "unsupported code_challenge_method",
        ));
    }
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes())
        .map_err(|_| ServerError::invalid_grant("code_verifier does not match"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 §4.1: 43 to 128 unreserved characters. A verifier outside that is refused even
    /// when its hash matches the challenge (the client that made it is broken or hostile).
    #[test]
    fn a_malformed_verifier_is_refused_even_when_it_matches() {
        let config = ServerConfig::default();
        let client = ClientDescription::default();
        let s256 = |v: &str| URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, v.as_bytes()));
        let check = |verifier: &str| {
            check_pkce(
                &config,
                &client,
                Some(&s256(verifier)),
                Some("S256"),
                Some(verifier),
            )
        };
        for good in ["a".repeat(43), "~._-".repeat(32), "Z9".repeat(30)] {
            assert!(check(&good).is_ok(), "{good}");
        }
        for bad in [
            "a".repeat(42),
            "a".repeat(129),
            format!("{}+", "a".repeat(42)),
            format!("{}/", "a".repeat(42)),
            format!("{} ", "a".repeat(42)),
            format!("{}é", "a".repeat(42)),
        ] {
            let refused = check(&bad).unwrap_err().to_string();
            assert!(
                refused.contains("InvalidGrant") && refused.contains("malformed code_verifier"),
                "{bad}: {refused}"
            );
        }
        let missing = check_pkce(
            &config,
            &client,
            Some(&s256(&"a".repeat(43))),
            Some("S256"),
            None,
        );
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("code_verifier is required")
        );
        let wrong = check_pkce(
            &config,
            &client,
            Some(&s256(&"a".repeat(43))),
            Some("S256"),
            Some(&"b".repeat(43)),
        );
        assert!(wrong.is_err());
    }
}
