//! Issuing tokens: access tokens (opaque or JWT per the configuration), refresh tokens and ID
//! tokens, each recorded in the store by hash.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_core::{GrantType, Scopes};
use ostiary_jose::{EncodeOptions, JwkSet, SigAlg};
use serde_json::{Map, Value, json};

use crate::config::{AccessTokenFormat, ClientDescription, RefreshTokenPolicy, ServerConfig, User};
use crate::error::{ServerError, ServerResult};
use crate::state::Server;
use crate::store::{TokenKind, TokenRecord};

/// 256 random bits, base64url: tokens, codes, secrets and ids.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // Without system randomness nothing secure can be issued; aws-lc never fails here in practice.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a token, base64url: the key it is stored under.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// What a grant decided to issue.
#[derive(Debug, Default)]
pub struct Issue {
    pub username: Option<String>,
    pub scope: Scopes,
    /// The refresh token family to continue (refresh grant), or a new one.
    pub family: Option<String>,
    pub grant_id: Option<String>,
    pub refresh: bool,
    pub id_token: Option<IdTokenFacts>,
}

#[derive(Debug, Default)]
pub struct IdTokenFacts {
    pub nonce: Option<String>,
    pub auth_time: Option<i64>,
    /// The user session's public id (`sid`, for front-channel logout).
    pub sid: Option<String>,
    /// The `claims` request parameter (OpenID Connect Core §5.5), as sent.
    pub claims: Option<Value>,
}

/// Whether a grant for a user may return a refresh token, per the server's policy.
pub fn refresh_allowed(config: &ServerConfig, client: &ClientDescription, scope: &Scopes) -> bool {
    let refresh_grant = config.grant_types.contains(&GrantType::RefreshToken)
        && client.grant_types.contains(&GrantType::RefreshToken);
    if !client.is_confidential() && !config.allow_public_client_refresh {
        return false;
    }
    match config.return_refresh_token {
        RefreshTokenPolicy::Never => false,
        RefreshTokenPolicy::Always => true,
        RefreshTokenPolicy::IfClientAllowsRefresh => refresh_grant,
        RefreshTokenPolicy::IfOfflineAccess => refresh_grant && scope.contains("offline_access"),
    }
}

/// The standard claims of OpenID Connect Core §5.1, in the order of §5.4's scopes: `sub`, then
/// `profile`'s, `email`'s, `address` and `phone`'s.
pub const STANDARD_CLAIMS: &[&str] = &[
    "sub",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
    "email",
    "email_verified",
    "address",
    "phone_number",
    "phone_number_verified",
];

/// The claims the `profile` scope releases.
pub const PROFILE_CLAIMS: &[&str] = STANDARD_CLAIMS.split_at(15).0.split_at(1).1;

/// Claims of `user` released for `scope` (OpenID Connect Core §5.4), with `sub`.
pub fn user_claims(user: &User, scope: &Scopes) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("sub".into(), user.username.clone().into());
    let mut release = |names: &[&str]| {
        for name in names {
            if let Some(v) = user.claims.get(*name) {
                out.insert((*name).to_owned(), v.clone());
            }
        }
    };
    if scope.contains("profile") {
        release(PROFILE_CLAIMS);
    }
    if scope.contains("email") {
        release(&["email", "email_verified"]);
    }
    if scope.contains("address") {
        release(&["address"]);
    }
    if scope.contains("phone") {
        release(&["phone_number", "phone_number_verified"]);
    }
    out
}

/// Issues the tokens and builds the token response (RFC 6749 §5.1).
pub async fn issue(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    grant: Issue,
    now: i64,
) -> ServerResult<Value> {
    let issuer = config.issuer_url();
    let lifetime = config.intervals.access_token as i64;
    let expires_at = now + lifetime;
    let jti = random_token();
    let family = grant.family.clone().unwrap_or_else(random_token);
    let subject = grant
        .username
        .clone()
        .unwrap_or_else(|| client.client_id.clone());
    let audience = vec![client.client_id.clone()];

    let access_token = match config.access_token_format {
        AccessTokenFormat::Opaque => random_token(),
        AccessTokenFormat::Jwt => {
            let mut claims = Map::new();
            claims.insert("iss".into(), issuer.clone().into());
            claims.insert("sub".into(), subject.clone().into());
            claims.insert("aud".into(), json!(audience));
            claims.insert("exp".into(), expires_at.into());
            claims.insert("iat".into(), now.into());
            claims.insert("jti".into(), jti.clone().into());
            claims.insert("client_id".into(), client.client_id.clone().into());
            claims.insert("scope".into(), grant.scope.to_string().into());
            if let Some(user) = &grant.username {
                claims.insert("username".into(), user.clone().into());
            }
            // Signed, encrypted to the client, or both, per the JWT settings.
            let encrypt = config.jwt.key_alg.zip(config.jwt.enc_alg);
            sign_and_encrypt(
                server,
                &claims,
                config.jwt.signing_alg,
                "at+jwt",
                encrypt,
                client,
            )
            .await?
        }
    };
    let record = |hash: String, kind: TokenKind, expires_at: i64, jti: String| TokenRecord {
        hash,
        kind,
        client_id: client.client_id.clone(),
        username: grant.username.clone(),
        scope: grant.scope.to_string(),
        family: family.clone(),
        grant_id: grant.grant_id.clone(),
        jti,
        audience: audience.clone(),
        issued_at: now,
        expires_at,
        revoked: false,
        extra: session_facts(grant.id_token.as_ref()),
    };
    server
        .store()
        .insert_token(&record(
            token_hash(&access_token),
            TokenKind::Access,
            expires_at,
            jti,
        ))
        .await?;

    let mut response = Map::new();
    response.insert("access_token".into(), access_token.clone().into());
    response.insert("token_type".into(), "Bearer".into());
    response.insert("expires_in".into(), lifetime.into());
    response.insert("scope".into(), grant.scope.to_string().into());

    if grant.refresh {
        let refresh = random_token();
        let refresh_expires = now + config.intervals.refresh_token as i64;
        server
            .store()
            .insert_token(&record(
                token_hash(&refresh),
                TokenKind::Refresh,
                refresh_expires,
                random_token(),
            ))
            .await?;
        response.insert("refresh_token".into(), refresh.into());
    }

    if let (Some(facts), Some(username)) = (&grant.id_token, &grant.username) {
        let user = server
            .store()
            .user(username)
            .await?
            .ok_or_else(|| ServerError::invalid_grant("the user no longer exists"))?;
        let id_token = id_token(
            server,
            config,
            client,
            &user,
            &grant.scope,
            facts,
            Some(&access_token),
            None,
            now,
        )
        .await?;
        response.insert("id_token".into(), id_token.into());
    }
    Ok(Value::Object(response))
}

/// What tokens remember of the sign-in, so that refreshed ID tokens keep `auth_time` and `sid`.
fn session_facts(facts: Option<&IdTokenFacts>) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(f) = facts {
        if let Some(t) = f.auth_time {
            extra.insert("auth_time".into(), t.into());
        }
        if let Some(sid) = &f.sid {
            extra.insert("sid".into(), sid.clone().into());
        }
        if let Some(claims) = &f.claims {
            extra.insert("claims".into(), claims.clone());
        }
    }
    extra
}

/// Adds the claims a `claims` request asked for under `target` (`id_token` or `userinfo`) that
/// the user has, beyond what the scopes release.
pub fn add_requested_claims(
    out: &mut Map<String, Value>,
    user: &User,
    request: Option<&Value>,
    target: &str,
) {
    let Some(asked) = request
        .and_then(|r| r.get(target))
        .and_then(Value::as_object)
    else {
        return;
    };
    for name in asked.keys() {
        if let Some(value) = user.claims.get(name) {
            out.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
}

/// An ID token (OpenID Connect Core §2, §3.1.3.6).
#[allow(clippy::too_many_arguments)]
pub async fn id_token(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    user: &User,
    scope: &Scopes,
    facts: &IdTokenFacts,
    access_token: Option<&str>,
    code: Option<&str>,
    now: i64,
) -> ServerResult<String> {
    let sig_alg = client
        .id_token_signed_response_alg
        .or(config.jwt.signing_alg)
        .unwrap_or(SigAlg::RS256);
    let mut claims = user_claims(user, scope);
    add_requested_claims(&mut claims, user, facts.claims.as_ref(), "id_token");
    claims.insert("iss".into(), config.issuer_url().into());
    claims.insert("aud".into(), client.client_id.clone().into());
    claims.insert(
        "exp".into(),
        (now + config.intervals.access_token as i64).into(),
    );
    claims.insert("iat".into(), now.into());
    if let Some(t) = facts.auth_time {
        claims.insert("auth_time".into(), t.into());
    }
    // One audience, so azp equals it; sent anyway, as several relying party libraries expect it.
    claims.insert("azp".into(), client.client_id.clone().into());
    claims.insert("amr".into(), json!(["pwd"]));
    if let Some(sid) = &facts.sid {
        claims.insert("sid".into(), sid.clone().into());
    }
    if let Some(n) = &facts.nonce {
        claims.insert("nonce".into(), n.clone().into());
    }
    if let Some(token) = access_token {
        claims.insert("at_hash".into(), left_half_hash(sig_alg, token).into());
    }
    if let Some(code) = code {
        claims.insert("c_hash".into(), left_half_hash(sig_alg, code).into());
    }
    let encrypt = client
        .id_token_encrypted_response_alg
        .zip(client.id_token_encrypted_response_enc);
    sign_and_encrypt(server, &claims, Some(sig_alg), "JWT", encrypt, client).await
}

/// `at_hash` / `c_hash`: the left half of the hash that goes with the signing algorithm.
pub fn left_half_hash(alg: SigAlg, value: &str) -> String {
    let algorithm = match alg.name().get(2..) {
        Some("384") => &digest::SHA384,
        Some("512") => &digest::SHA512,
        _ if alg == SigAlg::EdDSA => &digest::SHA512,
        _ => &digest::SHA256,
    };
    let hash = digest::digest(algorithm, value.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.as_ref()[..hash.as_ref().len() / 2])
}

/// OpenID Connect Core §10.2: a symmetric encryption key is the left-truncated SHA-2 hash of the
/// client secret, SHA-256 up to 256 bits, SHA-384 up to 384, SHA-512 beyond.
pub fn secret_derived_key(secret: &str, len: usize) -> Vec<u8> {
    let algorithm = match len {
        0..=32 => &digest::SHA256,
        33..=48 => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest::digest(algorithm, secret.as_bytes()).as_ref()[..len.min(64)].to_vec()
}

/// Signs with the server's current key for `sig_alg` and, when asked, encrypts to the client's key.
pub async fn sign_and_encrypt(
    server: &Server,
    claims: &Map<String, Value>,
    sig_alg: Option<SigAlg>,
    typ: &str,
    encrypt: Option<(ostiary_jose::KeyAlg, ostiary_jose::EncAlg)>,
    client: &ClientDescription,
) -> ServerResult<String> {
    let signer = match sig_alg {
        Some(alg) => server.signing_keys(alg).await?,
        None => JwkSet::default(),
    };
    let recipient: Option<JwkSet> = match encrypt {
        None => None,
        Some((key_alg, enc))
            if key_alg == ostiary_jose::KeyAlg::Dir || key_alg.name().starts_with('A') =>
        {
            let secret = server
                .store()
                .client_secret(&client.client_id)
                .await?
                .ok_or_else(|| {
                    ServerError::Config(format!(
                        "client {} has no secret to encrypt with",
                        client.client_id
                    ))
                })?;
            let len = match key_alg.name().get(1..4) {
                Some("128") => 16,
                Some("192") => 24,
                Some("256") => 32,
                _ => enc.key_len(),
            };
            let key = secret_derived_key(&secret, len);
            Some(JwkSet::from(
                ostiary_jose::Jwk::symmetric(&key)
                    .map_err(|e| ServerError::Config(e.to_string()))?,
            ))
        }
        Some(_) => Some(client.public_keys()),
    };
    let opts = EncodeOptions {
        sig_alg,
        key_alg: encrypt.map(|e| e.0),
        enc: encrypt.map(|e| e.1),
        typ: Some(typ.to_owned()),
        ..Default::default()
    };
    ostiary_jose::encode(claims, &opts, &signer, recipient.as_ref())
        .map_err(|e| ServerError::Config(format!("cannot make a JWT: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_claims_are_the_fourteen_of_openid_connect_core_5_4() {
        assert_eq!(PROFILE_CLAIMS.len(), 14);
        assert_eq!(
            (PROFILE_CLAIMS[0], PROFILE_CLAIMS[13]),
            ("name", "updated_at")
        );
    }

    #[test]
    fn symmetric_keys_derive_from_the_secret_by_length() {
        assert_eq!(secret_derived_key("s", 16).len(), 16);
        assert_eq!(
            secret_derived_key("s", 48),
            digest::digest(&digest::SHA384, b"s").as_ref().to_vec()
        );
        assert_eq!(
            secret_derived_key("s", 64),
            digest::digest(&digest::SHA512, b"s").as_ref().to_vec()
        );
    }
}
