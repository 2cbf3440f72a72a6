//! JOSE headers: the registered parameter names, `crit` processing (RFC 7515 §4.1.11) and the
//! split of a compact serialization into its parts.

use serde_json::{Map, Value};

use crate::encoding::{b64_decode, json_object};
use crate::error::{JoseError, Result};

/// A JOSE header as read or written: the raw JSON object.
pub type Header = Map<String, Value>;

/// Header parameters registered by RFC 7515, 7516, 7518 and 7797. Custom parameters may not use
/// these names, and `crit` may not list them.
pub const REGISTERED: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc",
    "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c", "b64",
];

/// Upper bound on a token's length, unless the caller sets another (RFC 8725 §3.15: bound input
/// before doing any work on it).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 256 * 1024;

/// The base64url segments of a compact serialization: 3 for a JWS, 5 for a JWE.
pub(crate) fn split_compact(token: &str, max_len: usize) -> Result<Vec<&str>> {
    if token.len() > max_len {
        return Err(JoseError::TooLarge {
            len: token.len(),
            max: max_len,
        });
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(JoseError::Malformed(
            "only base64url characters and dots may appear in a compact token",
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 | 5 => Ok(parts),
        _ => Err(JoseError::Malformed(
            "a compact token has 3 (JWS) or 5 (JWE) parts",
        )),
    }
}

pub(crate) fn decode_header(segment: &str) -> Result<Header> {
    if segment.is_empty() {
        return Err(JoseError::Malformed("empty protected header"));
    }
    json_object(&b64_decode(segment, "header")?, "header")
}

pub(crate) fn str_param<'a>(header: &'a Header, name: &str) -> Result<Option<&'a str>> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JoseError::BadHeader(name.to_owned())),
    }
}

pub(crate) fn required_str<'a>(header: &'a Header, name: &str) -> Result<&'a str> {
    str_param(header, name)?.ok_or_else(|| JoseError::BadHeader(name.to_owned()))
}

/// RFC 7515 §4.1.11: `crit` is a non-empty array of names that are present, not registered, and
/// understood by the caller; anything else makes the token invalid.
pub(crate) fn check_crit(header: &Header, understood: &[String]) -> Result<()> {
    let Some(crit) = header.get("crit") else {
        return Ok(());
    };
    let names = crit
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| JoseError::BadHeader("crit".into()))?;
    for name in names {
        let name = name
            .as_str()
            .ok_or_else(|| JoseError::BadHeader("crit".into()))?;
        if REGISTERED.contains(&name) || !header.contains_key(name) {
            return Err(JoseError::BadHeader("crit".into()));
        }
        if !understood.iter().any(|u| u == name) {
            return Err(JoseError::UnknownCritical(name.chars().take(40).collect()));
        }
    }
    Ok(())
}

/// RFC 7515 §4.1.9 and RFC 8725 §3.11: `typ` compared case-insensitively, with or without the
/// `application/` prefix.
pub fn typ_matches(actual: &str, expected: &str) -> bool {
    let strip = |t: &str| {
        let lower = t.to_ascii_lowercase();
        lower
            .strip_prefix("application/")
            .map(str::to_owned)
            .unwrap_or(lower)
    };
    strip(actual) == strip(expected)
}
