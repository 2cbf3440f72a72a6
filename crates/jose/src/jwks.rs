//! JWK Sets (RFC 7517 §5) and key selection by `kid` and algorithm.

use serde_json::{Map, Value};

use crate::encoding::json_object;
use crate::error::{JoseError, Result};
use crate::jwk::{Jwk, KeyOp};

/// A set of keys, in order of preference: when several keys fit and the token names none, the first
/// one signs or encrypts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    pub fn new(keys: Vec<Jwk>) -> Self {
        JwkSet { keys }
    }

    /// Parses `{"keys": [...]}`. A set with one unusable key is refused as a whole, so a typo in a
    /// key file is reported rather than silently skipped.
    pub fn from_json(text: &str) -> Result<Self> {
        let obj = json_object(text.as_bytes(), "JWK Set")?;
        Self::from_object(obj)
    }

    pub fn from_object(mut obj: Map<String, Value>) -> Result<Self> {
        let Some(Value::Array(items)) = obj.remove("keys") else {
            return Err(JoseError::InvalidKey(
                "a JWK Set needs a \"keys\" array".into(),
            ));
        };
        let keys = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(o) => {
                    Jwk::from_object(o).map_err(|e| JoseError::InvalidKey(format!("key {i}: {e}")))
                }
                _ => Err(JoseError::InvalidKey(format!("key {i} is not an object"))),
            })
            .collect::<Result<_>>()?;
        Ok(JwkSet { keys })
    }

    pub fn to_value(&self) -> Value {
        serde_json::json!({ "keys": self.keys.iter().map(Jwk::to_value).collect::<Vec<_>>() })
    }

    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// The public halves of the asymmetric keys: what a JWKS endpoint publishes. Symmetric keys are
    /// left out, never published.
    pub fn public(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().filter_map(Jwk::to_public).collect(),
        }
    }

    pub fn by_kid(&self, kid: &str) -> impl Iterator<Item = &Jwk> {
        self.keys
            .iter()
            .filter(move |k| k.kid.as_deref() == Some(kid))
    }

    /// The key to use for `op` with `alg`. With a `kid`, only keys of that id are considered. Without
    /// one, signing and encryption take the first fitting key; verification and decryption need
    /// exactly one fitting key, so that a token cannot pick among several.
    pub fn select(&self, kid: Option<&str>, alg: &str, op: KeyOp) -> Result<&Jwk> {
        let no_key = || JoseError::NoKey {
            what: match kid {
                Some(kid) => format!(
                    "alg \"{alg}\" with kid \"{}\"",
                    kid.chars().take(64).collect::<String>()
                ),
                None => format!("alg \"{alg}\""),
            },
        };
        if let Some(kid) = kid {
            return self
                .by_kid(kid)
                .find(|k| k.fits(alg, op))
                .ok_or_else(no_key);
        }
        let mut fitting = self.keys.iter().filter(|k| k.fits(alg, op));
        let first = fitting.next().ok_or_else(no_key)?;
        if matches!(op, KeyOp::Verify | KeyOp::Decrypt) && fitting.next().is_some() {
            return Err(JoseError::AmbiguousKey);
        }
        Ok(first)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

impl From<Jwk> for JwkSet {
    fn from(key: Jwk) -> Self {
        JwkSet { keys: vec![key] }
    }
}

impl serde::Serialize for JwkSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for JwkSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let obj = Map::<String, Value>::deserialize(d)?;
        JwkSet::from_object(obj).map_err(serde::de::Error::custom)
    }
}
