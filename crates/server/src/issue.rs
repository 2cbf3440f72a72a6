//! Issuing tokens: access tokens (opaque or JWT per the configuration), refresh tokens and ID
//! tokens, each recorded in the store by hash (but self-contained client tokens: see
//! [`self_contained`]).

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_core::{GrantType, Scopes};
pub use ostiary_jose::left_half_hash;
use ostiary_jose::{EncodeOptions, JwkSet, SigAlg};
use serde_json::{Map, Value, json};

use crate::config::{ClientDescription, RefreshTokenPolicy, ServerConfig};
use crate::error::{ServerError, ServerResult};
use crate::hooks::{AccessToken, Context, create_jwt};
use crate::properties::{JwtHeader, Properties};
use crate::state::Server;
use crate::store::{Redeem, TokenKind, TokenRecord};

/// 256 random bits, base64url: tokens, codes, secrets and ids.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // Without system randomness nothing secure can be issued; aws-lc never fails here in practice.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new client's id: 128 random bits in hex, so that it never starts with `-` (which command
/// lines would take for an option) and needs no escaping anywhere.
pub fn new_client_id() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token whose stored key sorts by issue time: 48 bits of the time in milliseconds, then 240
/// random bits, base64url (48 characters). [`token_hash`] puts the time first in the key, so a
/// new row lands at the end of the index, as the rows of the same instants do: a commit then
/// rewrites a few index pages instead of one page per row (a random key touches a page anywhere
/// in the index, and SQLite's write-ahead log takes each changed page whole).
pub fn sortable_token() -> String {
    let mut bytes = [0u8; SORTABLE_BYTES];
    let millis = ostiary_jose::clock::now_millis().max(0) as u64;
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    SystemRandom::new()
        .fill(&mut bytes[6..])
        .expect("system randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

const SORTABLE_BYTES: usize = 36;
const SORTABLE_LEN: usize = SORTABLE_BYTES / 3 * 4;

/// The key a token is stored under: SHA-256 of the token, base64url, after its issue time (12 hex
/// digits of milliseconds) when the token says it in a shape of ours — a [`sortable_token`], or a
/// JWT with `iat`. The shape is read from the token alone, so a token's key is always the same,
/// whoever made the token; tokens of other shapes (and those issued before sortable tokens) are
/// keyed by the hash alone.
pub fn token_hash(token: &str) -> String {
    let hash = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()));
    match issued_millis(token) {
        Some(millis) => format!("{millis:012x}{hash}"),
        None => hash,
    }
}

/// When `token` says it was issued: the first 48 bits of a sortable token, a JWS's `iat`.
fn issued_millis(token: &str) -> Option<u64> {
    if token.len() == SORTABLE_LEN {
        let mut time = [0u8; 8];
        return match URL_SAFE_NO_PAD.decode_slice(&token.as_bytes()[..8], &mut time[2..]) {
            Ok(6) => Some(u64::from_be_bytes(time)),
            _ => None,
        };
    }
    #[derive(serde::Deserialize)]
    struct Issued {
        iat: u64,
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let issued: Issued = serde_json::from_slice(&payload).ok()?;
    issued.iat.checked_mul(1000)
}

/// The member of a token row's `extra` that holds when its refresh token family began.
pub const FAMILY_BEGAN: &str = "family_began";

/// What a grant decided to issue.
#[derive(Debug, Default)]
pub struct Issue {
    pub username: Option<String>,
    pub scope: Scopes,
    /// The refresh token family to continue (refresh grant), or a new one.
    pub family: Option<String>,
    /// When the family continued began (its first token's issue time).
    pub family_began: Option<i64>,
    pub grant_id: Option<String>,
    pub refresh: bool,
    pub id_token: Option<IdTokenFacts>,
    /// The login session the grant came through (its `sid`), whatever the scope: logging out of
    /// it revokes the tokens.
    pub session: Option<String>,
    /// The authorization's properties, as the hooks left them; stored with the tokens.
    pub properties: Properties,
    /// What the grant spends for the tokens: spent in the commit that stores them.
    pub spends: Option<Spends>,
}

/// A single-use item a grant spends, by the key it is stored under, with what its replay revokes.
#[derive(Debug)]
pub enum Spends {
    Code { hash: String, grant_id: String },
    RefreshToken { hash: String, family: String },
}

impl Spends {
    fn item(&self) -> Redeem<'_> {
        match self {
            Spends::Code { hash, .. } => Redeem::Code(hash),
            Spends::RefreshToken { hash, .. } => Redeem::RefreshToken(hash),
        }
    }

    /// The answer to an item presented again. SECURITY: a replayed code or refresh token may be
    /// stolen: what it bought is revoked (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
    pub async fn replayed(&self, server: &Server, client: &ClientDescription) -> ServerError {
        let client_id = &client.client_id;
        let revoked = match self {
            Spends::Code { grant_id, .. } => server.store().revoke_grant(grant_id).await,
            Spends::RefreshToken { family, .. } => server.store().revoke_family(family).await,
        };
        let revoked = match revoked {
            Ok(revoked) => revoked,
            Err(e) => return e.into(),
        };
        match self {
            Spends::Code { .. } => {
                tracing::warn!(%client_id, revoked, "authorization code replay: its tokens are revoked");
                ServerError::invalid_grant("the code was already used")
            }
            Spends::RefreshToken { .. } => {
                tracing::warn!(%client_id, revoked, "refresh token reuse: family revoked");
                ServerError::invalid_grant(
                    "the refresh token was already used; its tokens are revoked",
                )
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct IdTokenFacts {
    pub nonce: Option<String>,
    pub auth_time: Option<i64>,
    /// The user session's public id (`sid`, for front-channel logout).
    pub sid: Option<String>,
}

impl IdTokenFacts {
    /// What a token record remembers of the sign-in, for the ID tokens of a refresh.
    pub fn remembered(extra: &Map<String, Value>) -> Self {
        IdTokenFacts {
            nonce: None,
            auth_time: extra.get("auth_time").and_then(Value::as_i64),
            sid: session_of(extra),
        }
    }
}

/// The login session a stored code or token came through (its `sid`), if any.
pub fn session_of(extra: &Map<String, Value>) -> Option<String> {
    extra.get("sid").and_then(Value::as_str).map(str::to_owned)
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

/// The properties stored with a token or code, if they are readable.
pub fn stored_properties(extra: &Map<String, Value>) -> Properties {
    extra
        .get("properties")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
        .unwrap_or_default()
}

/// The `sub` an authorization's tokens carry: what the hooks set, else the user or client.
pub fn subject(properties: &Properties, fallback: &str) -> String {
    properties
        .claim("sub")
        .and_then(Value::as_str)
        .unwrap_or(fallback)
        .to_owned()
}

/// Issues the tokens and builds the token response (RFC 6749 §5.1).
pub async fn issue(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    mut grant: Issue,
    now: i64,
) -> ServerResult<Value> {
    let ctx = Context {
        server,
        config,
        client,
    };
    let lifetime = config.intervals.access_token as i64;
    let expires_at = now + lifetime;
    let jti = random_token();
    let family = grant.family.clone().unwrap_or_else(sortable_token);
    let family_began = grant.family_began.unwrap_or(now);
    let mut properties = std::mem::take(&mut grant.properties);
    let subject = subject(
        &properties,
        grant.username.as_deref().unwrap_or(&client.client_id),
    );
    // `aud` of the request (required when the configuration says so) names the resource
    // servers the token is for; without it, the token is for the client.
    let audience: Vec<String> = match properties.request.get("aud") {
        Some(aud) => aud.split(' ').map(str::to_owned).collect(),
        None => vec![client.client_id.clone()],
    };

    let mut claims = Map::new();
    claims.insert("iss".into(), config.issuer_url().into());
    claims.insert("sub".into(), subject.into());
    claims.insert("aud".into(), json!(audience));
    claims.insert("exp".into(), expires_at.into());
    claims.insert("iat".into(), now.into());
    claims.insert("jti".into(), jti.clone().into());
    claims.insert("client_id".into(), client.client_id.clone().into());
    claims.insert("scope".into(), grant.scope.to_string().into());
    if let Some(user) = &grant.username {
        claims.insert("username".into(), user.clone().into());
    }
    let generator = &server.hooks().token_generator;
    let access_token = generator
        .generate_access_token(&ctx, &AccessToken { claims }, &mut properties)
        .await?;
    if generator.is_jwt(config) && !matches!(access_token.split('.').count(), 3 | 5) {
        return Err(ServerError::Hook(
            "the token generator says JWT but returned something else".into(),
        ));
    }

    let refresh = grant.refresh.then(sortable_token);
    if !self_contained(config, generator.as_ref(), &grant, &properties) {
        let mut extra = Map::new();
        if let Some(t) = grant.id_token.as_ref().and_then(|facts| facts.auth_time) {
            extra.insert("auth_time".into(), t.into());
        }
        if let Some(sid) = &grant.session {
            extra.insert("sid".into(), sid.clone().into());
        }
        extra.insert("properties".into(), json!(properties));
        extra.insert(FAMILY_BEGAN.into(), family_began.into());
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
            extra: extra.clone(),
        };
        let access_record = record(
            token_hash(&access_token),
            TokenKind::Access,
            expires_at,
            jti,
        );
        let refresh_expires_at = match config.intervals.refresh_token_family {
            0 => now + config.intervals.refresh_token as i64,
            family => {
                (now + config.intervals.refresh_token as i64).min(family_began + family as i64)
            }
        };
        let refresh_record = refresh.as_ref().map(|refresh| {
            record(
                token_hash(refresh),
                TokenKind::Refresh,
                refresh_expires_at,
                random_token(),
            )
        });
        // Both rows, and what the grant spends, in one commit.
        let tokens: Vec<TokenRecord> = std::iter::once(access_record)
            .chain(refresh_record)
            .collect();
        match &grant.spends {
            None => server.store().insert_tokens(&tokens).await?,
            Some(item) => {
                if !server.store().redeem(item.item(), now, &tokens).await? {
                    return Err(item.replayed(server, client).await);
                }
            }
        }
    }

    let mut response = Map::new();
    response.insert("access_token".into(), access_token.clone().into());
    response.insert("token_type".into(), "Bearer".into());
    response.insert("expires_in".into(), lifetime.into());
    response.insert("scope".into(), grant.scope.to_string().into());
    if let Some(refresh) = refresh {
        response.insert("refresh_token".into(), refresh.into());
    }

    if let (Some(facts), Some(username)) = (&grant.id_token, &grant.username) {
        let id_token = id_token(
            &ctx,
            username,
            facts,
            &properties,
            Some(&access_token),
            None,
            now,
        )
        .await?;
        response.insert("id_token".into(), id_token.into());
    }
    // The hooks' response members come last and never replace the protocol's own.
    for (name, value) in properties.response {
        response.entry(name).or_insert(value);
    }
    Ok(Value::Object(response))
}

/// Whether the access token needs no row: a signed JWT of a client for itself, when the
/// configuration says so. Nothing but the token's own claims describes it (no user, no refresh
/// token, no code or grant whose replay must revoke it, no claims kept for introspection), so
/// the token is its own record, and revocation adds a row for it then.
fn self_contained(
    config: &ServerConfig,
    generator: &dyn crate::hooks::TokenGenerator,
    grant: &Issue,
    properties: &Properties,
) -> bool {
    config.self_contained_client_tokens
        && generator.is_jwt(config)
        && grant.username.is_none()
        && !grant.refresh
        && grant.spends.is_none()
        && grant.grant_id.is_none()
        && properties.introspection_claims.is_empty()
}

/// A self-contained client token (see [`self_contained`]) that is still good, as the row it
/// would have had: a JWT access token this server signed, for a client that still exists, not
/// expired. Whether a row revokes it is the caller's lookup; a token with a row is never read
/// this way.
pub async fn self_contained_token(
    server: &Server,
    config: &ServerConfig,
    token: &str,
    now: i64,
) -> ServerResult<Option<SelfContained>> {
    // A token too short for a signed JWT is skipped before any key is loaded: the unknown
    // handles introspection sees most stay cheap.
    if !config.self_contained_client_tokens || token.split('.').count() != 3 {
        return Ok(None);
    }
    let Some(OwnJwt {
        claims,
        access_token,
    }) = own_jwt(server, config, token).await?
    else {
        return Ok(None);
    };
    let live = claims
        .get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|exp| exp > now);
    // A user's token always has a row: without one it was never issued, or a restore ended it.
    let for_a_client = !claims.contains_key("username");
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let (Some(client_id), Some(subject), Some(jti), Some(issued_at), Some(expires_at)) = (
        text("client_id"),
        text("sub"),
        text("jti"),
        number("iat"),
        number("exp"),
    ) else {
        return Ok(None);
    };
    if !(access_token && live && for_a_client) {
        return Ok(None);
    }
    // A deleted client's tokens end with it.
    if server.store().client(&client_id).await?.is_none() {
        return Ok(None);
    }
    let audience = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let record = TokenRecord {
        hash: token_hash(token),
        kind: TokenKind::Access,
        client_id,
        username: None,
        scope: text("scope").unwrap_or_default(),
        family: jti.clone(),
        grant_id: None,
        jti,
        audience,
        issued_at,
        expires_at,
        revoked: false,
        extra: Map::new(),
    };
    Ok(Some(SelfContained { record, subject }))
}

/// A JWT this server signed, with one of its keys, and issued (`iss`): its claims, and whether
/// its `typ` says access token (RFC 9068). Neither its expiry nor its audience is checked.
#[derive(Debug)]
pub struct OwnJwt {
    pub claims: Map<String, Value>,
    pub access_token: bool,
}

/// `token` as an [`OwnJwt`]; `None` for anything else.
pub async fn own_jwt(
    server: &Server,
    config: &ServerConfig,
    token: &str,
) -> ServerResult<Option<OwnJwt>> {
    let keys = server.keys().await?.public_set();
    let options = ostiary_jose::DecodeOptions::default();
    let Ok(decoded) = ostiary_jose::decode(token, &JwkSet::default(), &keys, &options) else {
        return Ok(None);
    };
    let access_token = decoded
        .header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(|t| ostiary_jose::typ_matches(t, "at+jwt"));
    let claims = decoded.claims;
    let ours = claims.get("iss").and_then(Value::as_str) == Some(config.issuer_url().as_str());
    Ok(ours.then_some(OwnJwt {
        claims,
        access_token,
    }))
}

/// A self-contained token read back: its would-be row, and the `sub` it carries.
#[derive(Debug)]
pub struct SelfContained {
    pub record: TokenRecord,
    pub subject: String,
}

/// An ID token (OpenID Connect Core §2, §3.1.3.6): the claims the properties require and hold,
/// under the protocol's own.
pub async fn id_token(
    ctx: &Context<'_>,
    username: &str,
    facts: &IdTokenFacts,
    properties: &Properties,
    access_token: Option<&str>,
    code: Option<&str>,
    now: i64,
) -> ServerResult<String> {
    let (config, client) = (ctx.config, ctx.client);
    let sig_alg = client
        .id_token_signed_response_alg
        .or(config.jwt.signing_alg)
        .unwrap_or(SigAlg::RS256);
    let mut claims = properties.release(&properties.id_token_claims);
    claims.insert("iss".into(), config.issuer_url().into());
    claims.insert("sub".into(), subject(properties, username).into());
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
    Ok(create_jwt(ctx, &claims, properties, Some(sig_alg), encrypt, "JWT").await?)
}

/// Signs with the server's current key for `sig_alg` and, when asked, encrypts to the client's
/// key, with the extra header parameters of `header`.
#[allow(clippy::too_many_arguments)]
pub async fn sign_and_encrypt(
    server: &Server,
    config: &ServerConfig,
    claims: &Map<String, Value>,
    header: JwtHeader,
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
        Some((key_alg, enc)) if !key_alg.is_asymmetric() => {
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
            let key = ostiary_jose::Jwk::from_client_secret(&secret, key_alg, enc)
                .ok_or_else(|| ServerError::Config(format!("{key_alg} needs no secret")))?;
            Some(JwkSet::from(key))
        }
        Some(_) => Some(crate::client_keys::public_keys(server, config, client, false).await?),
    };
    let opts = EncodeOptions {
        sig_alg,
        key_alg: encrypt.map(|e| e.0),
        enc: encrypt.map(|e| e.1),
        typ: Some(typ.to_owned()),
        custom: header.custom,
        jku: header.jku.then(|| format!("{}/jwks", config.issuer_url())),
        include_jwk: header.jwk,
        ..Default::default()
    };
    ostiary_jose::encode(claims, &opts, &signer, recipient.as_ref())
        .map_err(|e| ServerError::Config(format!("cannot make a JWT: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes and secrets carry 256 random bits, opaque tokens 240 after their issue time, client
    /// ids 128 (RFC 6749 §10.10: odds of a guess at most 2^-128). Checked from the outside:
    /// no two of 2,000 alike, and every random bit position set in about half of them (a stuck
    /// bit, or a generator that repeats, fails; chance alone fails once in far more than 10^9).
    #[test]
    fn codes_tokens_secrets_and_client_ids_carry_at_least_128_random_bits() {
        type Make = fn() -> String;
        let decode = |t: String| URL_SAFE_NO_PAD.decode(t).unwrap();
        let hex = |t: String| {
            (0..t.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&t[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>()
        };
        let kinds: [(&str, Make, usize, bool); 3] = [
            ("random_token", random_token, 32, false),
            ("sortable_token", sortable_token, 30, false),
            ("new_client_id", new_client_id, 16, true),
        ];
        for (name, make, random_bytes, is_hex) in kinds {
            const N: usize = 2000;
            let mut seen = std::collections::HashSet::new();
            let mut ones = vec![0usize; random_bytes * 8];
            for _ in 0..N {
                let token = make();
                assert!(seen.insert(token.clone()), "{name} repeated");
                let bytes = if is_hex { hex(token) } else { decode(token) };
                let random = &bytes[bytes.len() - random_bytes..];
                for (bit, count) in ones.iter_mut().enumerate() {
                    *count += usize::from(random[bit / 8] >> (bit % 8) & 1);
                }
            }
            // Each count is Binomial(2000, 1/2): mean 1000, deviation 22.4; 850..1150 is ±6.7σ.
            for (bit, count) in ones.iter().enumerate() {
                assert!(
                    (850..1150).contains(count),
                    "{name}: bit {bit} set {count} times of {N}"
                );
            }
        }
    }

    #[test]
    fn profile_claims_are_the_fourteen_of_openid_connect_core_5_4() {
        assert_eq!(PROFILE_CLAIMS.len(), 14);
        assert_eq!(
            (PROFILE_CLAIMS[0], PROFILE_CLAIMS[13]),
            ("name", "updated_at")
        );
    }

    #[test]
    fn sortable_tokens_are_keyed_in_the_order_they_were_issued() {
        let first = sortable_token();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = sortable_token();
        assert_eq!(first.len(), 48);
        assert_ne!(first[8..], second[8..]);
        let (a, b) = (token_hash(&first), token_hash(&second));
        assert!(a < b, "{a} then {b}");
        // The time first, then the hash of the whole token.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let millis = u64::from_str_radix(&b[..12], 16).unwrap();
        assert!(now - millis < 60_000, "{millis} vs {now}");
        assert_eq!(
            &b[12..],
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, second.as_bytes()))
        );
        assert_eq!(token_hash(&second), b, "the same token, the same key");
    }

    #[test]
    fn other_tokens_are_keyed_by_their_hash_alone() {
        let plain = |t: &str| URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, t.as_bytes()));
        let old = random_token();
        assert_eq!(token_hash(&old), plain(&old));
        for odd in [
            "",
            "a.b.c",
            "a.e30.c",
            "....",
            "é",
            &"é".repeat(24),
            &"!".repeat(48),
        ] {
            assert_eq!(token_hash(odd), plain(odd), "{odd:?}");
        }
        // A JWT with `iat` is keyed by it (seconds, as milliseconds).
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iat":1700000000,"sub":"x"}"#);
        let jwt = format!("eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln");
        assert_eq!(
            token_hash(&jwt),
            format!("{:012x}{}", 1_700_000_000_000u64, plain(&jwt))
        );
    }
}
