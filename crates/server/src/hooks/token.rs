//! `TokenGenerator`: the access token's form (the reference's Generate token class). Whatever it
//! returns, the server records the token by hash, so introspection and revocation work the same.

use async_trait::async_trait;
use ostiary_jose::SigAlg;
use serde_json::{Map, Value};

use super::{Context, HookError, HookResult};
use crate::config::AccessTokenFormat;
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

/// 256 random bits: a reference only the server can resolve.
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
        Ok(crate::issue::random_token())
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
        create_jwt(
            ctx,
            &claims,
            properties,
            jwt.signing_alg,
            jwt.key_alg.zip(jwt.enc_alg),
            "at+jwt",
        )
        .await
    }

    fn is_jwt(&self, _config: &crate::config::ServerConfig) -> bool {
        true
    }
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
