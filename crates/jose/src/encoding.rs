//! Strict base64url (RFC 7515 §2: no padding, URL-safe alphabet, canonical trailing bits) and strict
//! JSON (objects with duplicate member names are refused rather than silently last-wins).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{JoseError, Result};

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url; `part` names what was decoded for the error message.
pub fn b64_decode(text: &str, part: &'static str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JoseError::Base64(part))
}

/// Parses a JSON object, refusing duplicate member names at any depth (RFC 7515 §4, RFC 7519 §4).
pub fn json_object(bytes: &[u8], part: &'static str) -> Result<Map<String, Value>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de
        .deserialize_any(StrictVisitor)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| JoseError::Json {
            part,
            reason: e.to_string(),
        })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JoseError::Json {
            part,
            reason: "not a JSON object".into(),
        }),
    }
}

struct StrictVisitor;

struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> std::result::Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(value) = access.next_value()?;
            if map.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format_args!(
                    "duplicate member \"{key}\""
                )));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert!(json_object(br#"{"alg":"RS256","alg":"none"}"#, "header").is_err());
        assert!(json_object(br#"{"a":{"sub":"u","sub":"admin"}}"#, "claims").is_err());
        assert!(json_object(br#"{"a":[{"x":1,"x":2}]}"#, "claims").is_err());
        assert!(json_object(br#"{"a":1,"b":[1,2.5,"x",null,true]}"#, "claims").is_ok());
    }

    #[test]
    fn only_objects_without_trailing_data_are_accepted() {
        assert!(json_object(b"[1]", "claims").is_err());
        assert!(json_object(b"{} {}", "claims").is_err());
        assert!(json_object(b"\xef\xbb\xbf{}", "claims").is_err());
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64_decode("AQAB", "x").unwrap(), vec![1, 0, 1]);
        assert!(b64_decode("AQAB=", "x").is_err());
        assert!(b64_decode("a+b/", "x").is_err());
        assert!(b64_decode("AQ B", "x").is_err());
        // Non-canonical trailing bits ("AR" decodes to the same byte as "AQ" in lax decoders).
        assert!(b64_decode("AR", "x").is_err());
    }
}
