//! `TokenGenerator`: the access token's form (the reference's Generate token class). Whatever it
//! returns, the server records the token by hash, so introspection and revocation work the same
//! (but a JWT that is a self-contained client token: see `ServerConfig::self_contained_client_tokens`).

use async_trait::async_trait;
use ostiary_jose::SigAlg;
use serde_json::{Map, Value};

use super::{Context, HookError, HookResult};
use crate::config::{AccessTokenFormat, ClientDescription, ClientType};
use crate::properties::Properties;

/// The access token about to be issued: the claims a JWT of it carries at least (`iss`, `sub`,
/// `aud`, `exp`, `iat`, `jti`, `client_id`, `scope`, and `username` for a user).
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub claims: Map<String, Value>,
}

#[async_trait]
pub trait TokenGenerator: Send + Sync {
    /// The token's value. May add members to the token response through `properties.response`.
    async fn generate_access_token(
        &self,
        ctx: &Context<'_>,
        token: &AccessToken,
        properties: &mut Properties,
    ) -> HookResult<String>;

    /// Whether the tokens are JWTs; the server then refuses a value that is not a compact JWS or
    /// JWE, rather than hand resource servers a token they cannot read.
    fn is_jwt(&self, config: &crate::config::ServerConfig) -> bool;
}

/// 240 random bits after the issue time ([`sortable_token`](crate::issue::sortable_token)): a
/// reference only the server can resolve.
#[derive(Debug, Default)]
pub struct OpaqueTokens;

#[async_trait]
impl TokenGenerator for OpaqueTokens {
    async fn generate_access_token(
        &self,
        _ctx: &Context<'_>,
        _token: &AccessToken,
        _properties: &mut Properties,
    ) -> HookResult<String> {
        Ok(crate::issue::sortable_token())
    }

    fn is_jwt(&self, _config: &crate::config::ServerConfig) -> bool {
        false
    }
}

/// A JWT (RFC 9068 `at+jwt`) signed and/or encrypted per the JWT settings, with the claims
/// `properties.jwt_claims` asks for and the header parameters of `properties.jwt_header_claims`.
#[derive(Debug, Default)]
pub struct JwtTokens;

#[async_trait]
impl TokenGenerator for JwtTokens {
    async fn generate_access_token(
        &self,
        ctx: &Context<'_>,
        token: &AccessToken,
        properties: &mut Properties,
    ) -> HookResult<String> {
        let mut claims = properties.release(&properties.jwt_claims);
        // The base claims win over anything a hook released under the same name.
        claims.extend(token.claims.clone());
        let jwt = &ctx.config.jwt;
        let encrypt = jwt.key_alg.zip(jwt.enc_alg);
        let resource = match encrypt {
            Some(_) => audience_resource_server(ctx, &claims).await?,
            None => None,
        };
        let recipient = Context {
            client: resource.as_ref().unwrap_or(ctx.client),
            ..*ctx
        };
        create_jwt(
            &recipient,
            &claims,
            properties,
            jwt.signing_alg,
            encrypt,
            "at+jwt",
        )
        .await
    }

    fn is_jwt(&self, _config: &crate::config::ServerConfig) -> bool {
        true
    }
}

/// The resource server an access token is for, when its audience names exactly one client
/// description of type resource: an encrypted token is for that server to read (RFC 9068 §6), so
/// it is encrypted to its keys. Any other token is encrypted to the client that gets it.
async fn audience_resource_server(
    ctx: &Context<'_>,
    claims: &Map<String, Value>,
) -> HookResult<Option<ClientDescription>> {
    let audience = match claims.get("aud") {
        Some(Value::String(one)) => one.as_str(),
        Some(Value::Array(list)) if list.len() == 1 => list[0].as_str().unwrap_or_default(),
        _ => return Ok(None),
    };
    if audience == ctx.client.client_id {
        return Ok(None);
    }
    let described = ctx
        .server
        .store()
        .client(audience)
        .await
        .map_err(|e| HookError::Failed(e.to_string()))?;
    Ok(described.filter(|c| c.client_type == ClientType::Resource))
}

/// The default: opaque or JWT, as the server configuration's access token format says.
#[derive(Debug, Default)]
pub struct ConfiguredTokens;

#[async_trait]
impl TokenGenerator for ConfiguredTokens {
    async fn generate_access_token(
        &self,
        ctx: &Context<'_>,
        token: &AccessToken,
        properties: &mut Properties,
    ) -> HookResult<String> {
        match ctx.config.access_token_format {
            AccessTokenFormat::Opaque => {
                OpaqueTokens
                    .generate_access_token(ctx, token, properties)
                    .await
            }
            AccessTokenFormat::Jwt => {
                JwtTokens
                    .generate_access_token(ctx, token, properties)
                    .await
            }
        }
    }

    fn is_jwt(&self, config: &crate::config::ServerConfig) -> bool {
        config.access_token_format == AccessTokenFormat::Jwt
    }
}

/// Makes a JWT of `claims` the way the server makes its own (the reference's CreateJWT): signed
/// with the server's current key for `sig_alg`, encrypted to the client when `encrypt` is set,
/// with the extra header parameters `properties.jwt_header_claims` names.
pub async fn create_jwt(
    ctx: &Context<'_>,
    claims: &Map<String, Value>,
    properties: &Properties,
    sig_alg: Option<SigAlg>,
    encrypt: Option<(ostiary_jose::KeyAlg, ostiary_jose::EncAlg)>,
    typ: &str,
) -> HookResult<String> {
    crate::issue::sign_and_encrypt(
        ctx.server,
        ctx.config,
        claims,
        properties.jwt_header(claims),
        sig_alg,
        typ,
        encrypt,
        ctx.client,
    )
    .await
    .map_err(|e| HookError::Failed(e.to_string()))
}
