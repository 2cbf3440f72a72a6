//! ID token validation (OpenID Connect Core §3.1.3.7, §3.2.2.11, §3.3.2.12): the reference's
//! ValidateIDToken. Every failure is its own [`IdTokenError`], so that an application can tell a
//! replay from a mix-up from a clock problem.

#[cfg(test)]
use ostiary_jose::SigAlg;
use ostiary_jose::{DecodeOptions, JoseError, JwkSet, left_half_hash};
use serde_json::{Map, Value};

use crate::config::{ClientConfiguration, ServerDescription};

/// Clock skew tolerated on `exp`, `iat` and `auth_time`.
pub const LEEWAY: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is not a valid JWT: {0}")]
    Malformed(String),
    #[error("the ID token is not signed")]
    Unsigned,
    #[error("the ID token's signature does not verify")]
    BadSignature,
    #[error("the ID token was issued by {0}")]
    WrongIssuer(String),
    #[error("the ID token is not for this client")]
    WrongAudience,
    #[error("the ID token's azp is not this client")]
    WrongAuthorizedParty,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is issued in the future")]
    IssuedInFuture,
    #[error("the ID token's nonce is not the request's")]
    WrongNonce,
    #[error("the ID token's at_hash does not match the access token")]
    AccessTokenHash,
    #[error("the ID token's c_hash does not match the code")]
    CodeHash,
    #[error("the sign-in is older than max_age")]
    TooOld,
    #[error("the ID token lacks {0}")]
    Missing(&'static str),
    #[error("the refreshed ID token's {0} differs from the sign-in's")]
    ChangedOnRefresh(&'static str),
    #[error("the token is not a logout token (no back-channel logout event)")]
    NotALogoutToken,
    #[error("a logout token must not carry a nonce")]
    NonceInLogoutToken,
}

/// What the validation compares against, beyond the client and the server.
#[derive(Clone, Debug, Default)]
pub struct Expected<'a> {
    /// The request's `nonce`: required to match when given.
    pub nonce: Option<&'a str>,
    /// The request's `max_age`: then `auth_time` must be present and recent enough.
    pub max_age: Option<u64>,
    /// The access token returned with the ID token (`at_hash` is checked when present, and
    /// required for implicit `id_token token`).
    pub access_token: Option<&'a str>,
    pub access_token_hash_required: bool,
    /// The code returned with the ID token in a hybrid response (`c_hash` required).
    pub code: Option<&'a str>,
    /// Seconds since the epoch.
    pub now: i64,
}

/// Validates `token` from `server` for `config`, with `keys` the server's public keys (and
/// `decrypt_with` the client's private keys, for an encrypted ID token). Returns its claims.
pub fn validate(
    token: &str,
    config: &ClientConfiguration,
    server: &ServerDescription,
    keys: &JwkSet,
    decrypt_with: &JwkSet,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    let (claims, alg) = signed_for_us(token, config, server, keys, decrypt_with, expected.now)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &'static str| number(&claims, name);
    text("sub").ok_or(IdTokenError::Missing("sub"))?;
    if let Some(nonce) = expected.nonce
        && text("nonce") != Some(nonce)
    {
        return Err(IdTokenError::WrongNonce);
    }
    if let Some(max_age) = expected.max_age {
        let auth_time = number("auth_time")?.ok_or(IdTokenError::Missing("auth_time"))?;
        if expected.now - auth_time > max_age as i64 + LEEWAY {
            return Err(IdTokenError::TooOld);
        }
    }
    match (expected.access_token, text("at_hash")) {
        (Some(token), Some(hash)) if left_half_hash(alg, token) != hash => {
            return Err(IdTokenError::AccessTokenHash);
        }
        (Some(_), None) if expected.access_token_hash_required => {
            return Err(IdTokenError::Missing("at_hash"));
        }
        _ => {}
    }
    if let Some(code) = expected.code {
        match text("c_hash") {
            Some(hash) if left_half_hash(alg, code) == hash => {}
            Some(_) => return Err(IdTokenError::CodeHash),
            None => return Err(IdTokenError::Missing("c_hash")),
        }
    }
    Ok(claims)
}

/// The checks ID tokens and logout tokens share: signed by the server (and perhaps encrypted to
/// the client), issued by it to this client, not expired, not issued in the future. The claims
/// and the signature algorithm.
fn signed_for_us(
    token: &str,
    config: &ClientConfiguration,
    server: &ServerDescription,
    keys: &JwkSet,
    decrypt_with: &JwkSet,
    now: i64,
) -> Result<(Map<String, Value>, ostiary_jose::SigAlg), IdTokenError> {
    let decoded = ostiary_jose::decode(token, decrypt_with, keys, &DecodeOptions::default())
        .map_err(|e| match e {
            JoseError::Unsigned => IdTokenError::Unsigned,
            JoseError::BadSignature | JoseError::NoKey { .. } | JoseError::AmbiguousKey => {
                IdTokenError::BadSignature
            }
            other => IdTokenError::Malformed(other.to_string()),
        })?;
    let alg = decoded.security.sigalg.ok_or(IdTokenError::Unsigned)?;
    let claims = decoded.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let issuer = text("iss").ok_or(IdTokenError::Missing("iss"))?;
    if issuer != server.issuer {
        return Err(IdTokenError::WrongIssuer(issuer.to_owned()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(IdTokenError::Missing("aud")),
    };
    if !audiences.contains(&config.client_id.as_str()) {
        return Err(IdTokenError::WrongAudience);
    }
    match text("azp") {
        Some(azp) if azp != config.client_id => return Err(IdTokenError::WrongAuthorizedParty),
        None if audiences.len() > 1 => return Err(IdTokenError::Missing("azp")),
        _ => {}
    }
    let exp = number(&claims, "exp")?.ok_or(IdTokenError::Missing("exp"))?;
    if now > exp + LEEWAY {
        return Err(IdTokenError::Expired);
    }
    let iat = number(&claims, "iat")?.ok_or(IdTokenError::Missing("iat"))?;
    if iat > now + LEEWAY {
        return Err(IdTokenError::IssuedInFuture);
    }
    Ok((claims, alg))
}

fn number(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, IdTokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or(IdTokenError::Malformed(format!("{name} is not a number"))),
    }
}

/// The member of `events` that makes a JWT a logout token (Back-Channel Logout §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Whom a logout token signs out: the server's session `sid`, or every session of `sub`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutToken {
    pub sid: Option<String>,
    pub sub: Option<String>,
}

/// Validates a logout token (OpenID Connect Back-Channel Logout 1.0 §2.6): checked as an ID token
/// is, and it names a session or a subject, carries the back-channel logout event (an ID token
/// does not) and no nonce.
pub fn validate_logout(
    token: &str,
    config: &ClientConfiguration,
    server: &ServerDescription,
    keys: &JwkSet,
    decrypt_with: &JwkSet,
    now: i64,
) -> Result<LogoutToken, IdTokenError> {
    let (claims, _) = signed_for_us(token, config, server, keys, decrypt_with, now)?;
    let event = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        return Err(IdTokenError::NotALogoutToken);
    }
    if claims.contains_key("nonce") {
        return Err(IdTokenError::NonceInLogoutToken);
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let logout = LogoutToken {
        sid: text("sid"),
        sub: text("sub"),
    };
    if logout.sid.is_none() && logout.sub.is_none() {
        return Err(IdTokenError::Missing("sid or sub"));
    }
    Ok(logout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ostiary_jose::{Algorithm, EncodeOptions, Jwk};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    struct Setup {
        keys: JwkSet,
        config: ClientConfiguration,
        server: ServerDescription,
    }

    fn setup() -> Setup {
        Setup {
            keys: JwkSet::from(Jwk::generate(Algorithm::Sig(SigAlg::ES256)).unwrap()),
            config: ClientConfiguration {
                client_id: "app".into(),
                ..Default::default()
            },
            server: ServerDescription {
                issuer: "https://as.example".into(),
                ..Default::default()
            },
        }
    }

    fn good() -> Value {
        json!({"iss": "https://as.example", "sub": "alice", "aud": "app", "exp": NOW + 300,
               "iat": NOW, "nonce": "n-1", "auth_time": NOW - 10})
    }

    fn sign(claims: &Value, keys: &JwkSet) -> String {
        let opts = EncodeOptions {
            sig_alg: Some(SigAlg::ES256),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, keys, None).unwrap()
    }

    fn check(
        s: &Setup,
        token: &str,
        expected: Expected<'_>,
    ) -> Result<Map<String, Value>, IdTokenError> {
        validate(
            token,
            &s.config,
            &s.server,
            &s.keys.public(),
            &JwkSet::default(),
            &expected,
        )
    }

    fn expected() -> Expected<'static> {
        Expected {
            nonce: Some("n-1"),
            now: NOW,
            ..Default::default()
        }
    }

    #[test]
    fn a_good_id_token_gives_its_claims() {
        let s = setup();
        let claims = check(&s, &sign(&good(), &s.keys), expected()).unwrap();
        assert_eq!(claims["sub"], "alice");
        let with_hashes = {
            let mut c = good();
            c["at_hash"] = json!(left_half_hash(SigAlg::ES256, "the-access-token"));
            c["c_hash"] = json!(left_half_hash(SigAlg::ES256, "the-code"));
            c
        };
        let both = Expected {
            access_token: Some("the-access-token"),
            access_token_hash_required: true,
            code: Some("the-code"),
            max_age: Some(60),
            ..expected()
        };
        assert!(check(&s, &sign(&with_hashes, &s.keys), both).is_ok());
    }

    #[test]
    fn every_defect_has_its_own_error() {
        let s = setup();
        let changed = |f: &dyn Fn(&mut Value)| {
            let mut c = good();
            f(&mut c);
            sign(&c, &s.keys)
        };
        let cases: Vec<(String, Expected<'static>, IdTokenError)> = vec![
            (
                changed(&|c| c["iss"] = json!("https://evil.example")),
                expected(),
                IdTokenError::WrongIssuer("https://evil.example".into()),
            ),
            (
                changed(&|c| c["aud"] = json!("other")),
                expected(),
                IdTokenError::WrongAudience,
            ),
            (
                changed(&|c| c["aud"] = json!(["app", "other"])),
                expected(),
                IdTokenError::Missing("azp"),
            ),
            (
                changed(&|c| {
                    c["aud"] = json!(["app", "other"]);
                    c["azp"] = json!("other");
                }),
                expected(),
                IdTokenError::WrongAuthorizedParty,
            ),
            (
                changed(&|c| c["exp"] = json!(NOW - 3600)),
                expected(),
                IdTokenError::Expired,
            ),
            (
                changed(&|c| c["iat"] = json!(NOW + 3600)),
                expected(),
                IdTokenError::IssuedInFuture,
            ),
            (
                changed(&|c| c["nonce"] = json!("replayed")),
                expected(),
                IdTokenError::WrongNonce,
            ),
            (
                changed(&|c| {
                    c.as_object_mut().unwrap().remove("nonce");
                }),
                expected(),
                IdTokenError::WrongNonce,
            ),
            (
                changed(&|c| c["auth_time"] = json!(NOW - 3600)),
                Expected {
                    max_age: Some(60),
                    ..expected()
                },
                IdTokenError::TooOld,
            ),
            (
                changed(&|c| c["at_hash"] = json!("AAAA")),
                Expected {
                    access_token: Some("t"),
                    ..expected()
                },
                IdTokenError::AccessTokenHash,
            ),
            (
                sign(&good(), &s.keys),
                Expected {
                    access_token: Some("t"),
                    access_token_hash_required: true,
                    ..expected()
                },
                IdTokenError::Missing("at_hash"),
            ),
            (
                sign(&good(), &s.keys),
                Expected {
                    code: Some("c"),
                    ..expected()
                },
                IdTokenError::Missing("c_hash"),
            ),
            (
                changed(&|c| {
                    c.as_object_mut().unwrap().remove("sub");
                }),
                expected(),
                IdTokenError::Missing("sub"),
            ),
            (
                changed(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
                expected(),
                IdTokenError::Missing("iss"),
            ),
            (
                changed(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
                expected(),
                IdTokenError::Missing("aud"),
            ),
            (
                changed(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
                expected(),
                IdTokenError::Missing("exp"),
            ),
            (
                changed(&|c| {
                    c.as_object_mut().unwrap().remove("iat");
                }),
                expected(),
                IdTokenError::Missing("iat"),
            ),
            (
                sign(
                    &good(),
                    &JwkSet::from(Jwk::generate(Algorithm::Sig(SigAlg::ES256)).unwrap()),
                ),
                expected(),
                IdTokenError::BadSignature,
            ),
        ];
        for (token, expected, error) in cases {
            assert_eq!(check(&s, &token, expected), Err(error.clone()), "{error}");
        }
        let unsigned = {
            let opts = EncodeOptions {
                allow_unsigned: true,
                ..Default::default()
            };
            ostiary_jose::encode(good().as_object().unwrap(), &opts, &JwkSet::default(), None)
                .unwrap()
        };
        assert_eq!(
            check(&s, &unsigned, expected()),
            Err(IdTokenError::Unsigned)
        );
        assert!(matches!(
            check(&s, "not.a.jwt", expected()),
            Err(IdTokenError::Malformed(_))
        ));
    }

    /// Back-Channel Logout §2.6: every defect of a logout token is refused, and an ID token is
    /// not a logout token.
    #[test]
    fn logout_tokens_are_checked_as_the_specification_lists() {
        let s = setup();
        let event = json!({ BACKCHANNEL_LOGOUT_EVENT: {} });
        let good = json!({"iss": "https://as.example", "aud": "app", "iat": NOW, "exp": NOW + 120,
                          "jti": "j-1", "sid": "s-1", "events": event});
        let logout = |token: &str| {
            let keys = s.keys.public();
            validate_logout(token, &s.config, &s.server, &keys, &JwkSet::default(), NOW)
        };
        let named = logout(&sign(&good, &s.keys)).unwrap();
        assert_eq!(named.sid.as_deref(), Some("s-1"));
        let changed = |f: &dyn Fn(&mut Value)| {
            let mut c = good.clone();
            f(&mut c);
            sign(&c, &s.keys)
        };
        let by_subject = changed(&|c| {
            c.as_object_mut().unwrap().remove("sid");
            c["sub"] = json!("alice");
        });
        assert_eq!(logout(&by_subject).unwrap().sub.as_deref(), Some("alice"));
        let other_key = JwkSet::from(Jwk::generate(Algorithm::Sig(SigAlg::ES256)).unwrap());
        let cases = [
            (
                changed(&|c| c["nonce"] = json!("n")),
                IdTokenError::NonceInLogoutToken,
            ),
            (
                changed(&|c| {
                    c.as_object_mut().unwrap().remove("events");
                }),
                IdTokenError::NotALogoutToken,
            ),
            (
                changed(&|c| c["events"] = json!({ BACKCHANNEL_LOGOUT_EVENT: "yes" })),
                IdTokenError::NotALogoutToken,
            ),
            (
                changed(&|c| c["events"] = json!({"http://other.example/event": {}})),
                IdTokenError::NotALogoutToken,
            ),
            (
                changed(&|c| {
                    c.as_object_mut().unwrap().remove("sid");
                }),
                IdTokenError::Missing("sid or sub"),
            ),
            (
                changed(&|c| c["iss"] = json!("https://evil.example")),
                IdTokenError::WrongIssuer("https://evil.example".into()),
            ),
            (
                changed(&|c| c["aud"] = json!("other")),
                IdTokenError::WrongAudience,
            ),
            (
                changed(&|c| c["exp"] = json!(NOW - 3600)),
                IdTokenError::Expired,
            ),
            (sign(&good, &other_key), IdTokenError::BadSignature),
            // An ID token of the same server and client.
            (
                sign(
                    &json!({"iss": "https://as.example", "aud": "app", "iat": NOW,
                          "exp": NOW + 120, "sub": "alice", "sid": "s-1"}),
                    &s.keys,
                ),
                IdTokenError::NotALogoutToken,
            ),
        ];
        for (token, error) in cases {
            assert_eq!(logout(&token), Err(error.clone()), "{error}");
        }
        let unsigned = {
            let opts = EncodeOptions {
                allow_unsigned: true,
                ..Default::default()
            };
            ostiary_jose::encode(good.as_object().unwrap(), &opts, &JwkSet::default(), None)
                .unwrap()
        };
        assert_eq!(logout(&unsigned), Err(IdTokenError::Unsigned));
    }
}
