//! Registered claim checks (RFC 7519 §4.1) with the care of RFC 8725: NumericDates must be integers
//! (a string, float or null is malformed, not absent), audiences are strings, and `typ` is explicit.

use serde_json::{Map, Value};

use crate::error::{JoseError, Result};
use crate::header::typ_matches;
use crate::jwt::Decoded;

/// The latest NumericDate accepted (9999-12-31T23:59:59Z): larger values are junk, not dates.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// What a token's claims must satisfy.
#[derive(Clone, Debug, Default)]
pub struct ClaimChecks {
    /// `iss` must equal this.
    pub issuer: Option<String>,
    /// `aud` (a string or an array of strings) must contain this.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway: u64,
    /// Claims that must be present.
    pub required: Vec<String>,
    /// The header `typ` the token must carry (explicit typing, RFC 8725 §3.11).
    pub typ: Option<String>,
    /// The time to check against, in seconds since the epoch; [`crate::clock::now`] when `None`.
    pub now: Option<i64>,
}

impl ClaimChecks {
    pub fn check(&self, decoded: &Decoded) -> Result<()> {
        if let Some(expected) = &self.typ {
            let actual = decoded.header.get("typ").and_then(Value::as_str);
            if !actual.is_some_and(|t| typ_matches(t, expected)) {
                return Err(JoseError::WrongType);
            }
        }
        self.check_claims(&decoded.claims)
    }

    pub fn check_claims(&self, claims: &Map<String, Value>) -> Result<()> {
        for name in &self.required {
            if !claims.contains_key(name) {
                return Err(JoseError::MissingClaim(name.clone()));
            }
        }
        let now = self.now.unwrap_or_else(crate::clock::now);
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX / 4);
        if let Some(exp) = numeric_date(claims, "exp")?
            && now > exp.saturating_add(leeway)
        {
            return Err(JoseError::Expired);
        }
        if let Some(nbf) = numeric_date(claims, "nbf")?
            && now.saturating_add(leeway) < nbf
        {
            return Err(JoseError::NotYetValid);
        }
        if let Some(iat) = numeric_date(claims, "iat")?
            && iat > now.saturating_add(leeway)
        {
            return Err(JoseError::IssuedInFuture);
        }
        if let Some(issuer) = &self.issuer {
            match claims.get("iss") {
                None => return Err(JoseError::MissingClaim("iss".into())),
                Some(Value::String(iss)) if iss == issuer => {}
                Some(Value::String(_)) => return Err(JoseError::WrongIssuer),
                Some(_) => return Err(JoseError::InvalidClaim("iss".into())),
            }
        }
        if let Some(audience) = &self.audience {
            let audiences =
                audiences(claims)?.ok_or_else(|| JoseError::MissingClaim("aud".into()))?;
            if !audiences.contains(&audience.as_str()) {
                return Err(JoseError::WrongAudience);
            }
        } else {
            audiences(claims)?;
        }
        Ok(())
    }
}

/// Reads a NumericDate claim: an integer number of seconds, or absent.
pub fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (0..=MAX_NUMERIC_DATE).contains(&v) => Ok(Some(v)),
            _ => Err(JoseError::InvalidClaim(name.to_owned())),
        },
        Some(_) => Err(JoseError::InvalidClaim(name.to_owned())),
    }
}

/// `aud` as a list: a single string or an array of strings (RFC 7519 §4.1.3).
pub fn audiences(claims: &Map<String, Value>) -> Result<Option<Vec<&str>>> {
    match claims.get("aud") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.as_str()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| JoseError::InvalidClaim("aud".into()))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(JoseError::InvalidClaim("aud".into())),
    }
}

/// `at_hash` / `c_hash` (OpenID Connect Core §3.1.3.6, §3.3.2.11): the base64url left half of
/// the hash that goes with the token's signature algorithm.
pub fn left_half_hash(alg: crate::SigAlg, value: &str) -> String {
    use aws_lc_rs::digest;
    use base64::Engine as _;
    let algorithm = match alg.name().get(2..) {
        Some("384") => &digest::SHA384,
        Some("512") => &digest::SHA512,
        _ if alg == crate::SigAlg::EdDSA => &digest::SHA512,
        _ => &digest::SHA256,
    };
    let hash = digest::digest(algorithm, value.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(&hash.as_ref()[..hash.as_ref().len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn at(now: i64) -> ClaimChecks {
        ClaimChecks {
            now: Some(now),
            leeway: 30,
            ..Default::default()
        }
    }

    #[test]
    fn expiry_and_not_before_honour_the_leeway() {
        let c = claims(json!({"exp": 1000, "nbf": 900, "iat": 900}));
        assert!(at(1029).check_claims(&c).is_ok());
        assert_eq!(at(1031).check_claims(&c), Err(JoseError::Expired));
        assert!(at(871).check_claims(&c).is_ok());
        assert_eq!(at(869).check_claims(&c), Err(JoseError::NotYetValid));
        let future = claims(json!({"iat": 2000}));
        assert_eq!(
            at(1000).check_claims(&future),
            Err(JoseError::IssuedInFuture)
        );
    }

    #[test]
    fn malformed_dates_are_errors_not_absences() {
        for bad in [
            json!("1000"),
            json!(1000.5),
            json!(null),
            json!(1e20),
            // Milliseconds, a common mistake: past year 9999 in seconds.
            json!(1_800_000_000_000_i64),
            json!(-5),
            json!(true),
        ] {
            for name in ["exp", "nbf", "iat"] {
                let c = claims(json!({ name: bad }));
                assert_eq!(
                    at(0).check_claims(&c),
                    Err(JoseError::InvalidClaim(name.into())),
                    "{name}: {bad}"
                );
            }
        }
    }

    #[test]
    fn audience_may_be_a_string_or_an_array_of_strings() {
        let checks = ClaimChecks {
            audience: Some("api".into()),
            now: Some(0),
            ..Default::default()
        };
        assert!(checks.check_claims(&claims(json!({"aud": "api"}))).is_ok());
        assert!(
            checks
                .check_claims(&claims(json!({"aud": ["x", "api"]})))
                .is_ok()
        );
        assert_eq!(
            checks.check_claims(&claims(json!({"aud": ["x"]}))),
            Err(JoseError::WrongAudience)
        );
        assert_eq!(
            checks.check_claims(&claims(json!({}))),
            Err(JoseError::MissingClaim("aud".into()))
        );
        assert_eq!(
            checks.check_claims(&claims(json!({"aud": ["api", 1]}))),
            Err(JoseError::InvalidClaim("aud".into()))
        );
    }

    #[test]
    fn issuer_and_required_claims() {
        let checks = ClaimChecks {
            issuer: Some("https://as".into()),
            required: vec!["sub".into()],
            now: Some(0),
            ..Default::default()
        };
        assert!(
            checks
                .check_claims(&claims(json!({"iss": "https://as", "sub": "u"})))
                .is_ok()
        );
        assert_eq!(
            checks.check_claims(&claims(json!({"iss": "https://evil", "sub": "u"}))),
            Err(JoseError::WrongIssuer)
        );
        assert_eq!(
            checks.check_claims(&claims(json!({"iss": "https://as"}))),
            Err(JoseError::MissingClaim("sub".into()))
        );
    }
}
