//! The reference's *key pair of sets*: a private set and its public half, one current key per
//! algorithm in use, with rotation. Rotation adds a new key per algorithm and makes it current; the
//! keys it replaces stay in both sets (to verify and decrypt what they made) until retired.

use serde::{Deserialize, Serialize};

use crate::alg::Algorithm;
use crate::error::{JoseError, Result};
use crate::jwk::Jwk;
use crate::jwks::JwkSet;

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Signs and encrypts new tokens.
    Current,
    /// Replaced by a newer key; still verifies and decrypts.
    Previous,
    /// No longer used nor published.
    Retired,
}

/// One key of a ring, with its history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RingKey {
    pub key: Jwk,
    pub state: KeyState,
    /// Seconds since the epoch.
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// When a current key starts to sign (seconds since the epoch); `None`: at once. A rotated
    /// key is published ahead of it, so that every node and verifier holds it by then, and the
    /// key it replaces signs until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signs_from: Option<i64>,
}

/// A private key set and its public half, with rotation history. Serializes to JSON for storage
/// (private material included: the store seals it).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl KeyRing {
    /// A ring with one new key for each of `algs`.
    pub fn generate(algs: &[Algorithm], now: i64) -> Result<Self> {
        let mut ring = KeyRing::default();
        for alg in algs {
            ring.keys.push(RingKey {
                key: Jwk::generate(*alg)?,
                state: KeyState::Current,
                created_at: now,
                retired_at: None,
                signs_from: None,
            });
        }
        Ok(ring)
    }

    /// A ring over keys made elsewhere (a PEM file, an X.509 certificate): all current, and not
    /// rotatable when they carry a certificate.
    pub fn from_keys(keys: Vec<Jwk>, now: i64) -> Self {
        KeyRing {
            keys: keys
                .into_iter()
                .map(|key| RingKey {
                    key,
                    state: KeyState::Current,
                    created_at: now,
                    retired_at: None,
                    signs_from: None,
                })
                .collect(),
        }
    }

    /// Adds a new key for every algorithm that has a current key, makes it current, and moves the
    /// replaced keys to `Previous`; the new keys sign `ahead` seconds from `now` (published from
    /// now on), the replaced ones until then. Returns the new keys' ids.
    pub fn rotate(&mut self, now: i64, ahead: u64) -> Result<Vec<String>> {
        if self
            .keys
            .iter()
            .any(|k| k.state == KeyState::Current && k.key.x5c.is_some())
        {
            return Err(JoseError::InvalidKey(
                "keys from an X.509 certificate cannot be rotated: install a new certificate"
                    .into(),
            ));
        }
        let mut fresh = Vec::new();
        for entry in self
            .keys
            .iter_mut()
            .filter(|k| k.state == KeyState::Current)
        {
            let alg: Algorithm = entry
                .key
                .alg
                .as_deref()
                .ok_or_else(|| {
                    JoseError::InvalidKey("a key without \"alg\" cannot be rotated".into())
                })?
                .parse()?;
            let new_key = match (alg, entry.key.kty(), entry.key.curve()) {
                (_, "RSA", _) => {
                    let bits = entry.key.rsa_bits().unwrap_or(2048).max(2048);
                    Jwk::generate_rsa(bits, alg)?
                }
                (_, "EC", Some(curve)) => Jwk::generate_ec(curve, alg)?,
                _ => Jwk::generate(alg)?,
            };
            entry.state = KeyState::Previous;
            fresh.push(RingKey {
                key: new_key,
                state: KeyState::Current,
                created_at: now,
                retired_at: None,
                signs_from: (ahead > 0).then(|| now.saturating_add_unsigned(ahead)),
            });
        }
        let ids = fresh.iter().filter_map(|k| k.key.kid.clone()).collect();
        // New keys go first: signing and encryption take the first fitting key.
        fresh.append(&mut self.keys);
        self.keys = fresh;
        Ok(ids)
    }

    /// Makes `key` the current key of its algorithm (an operator's key, e.g. from X.509
    /// credentials); the key it replaces stays as `Previous`. Installing the current key again
    /// changes nothing. Returns whether the ring changed.
    pub fn install(&mut self, key: Jwk, now: i64) -> Result<bool> {
        let alg = key
            .alg
            .clone()
            .ok_or_else(|| JoseError::InvalidKey("a key to install needs \"alg\"".into()))?;
        let thumbprint = key.thumbprint();
        if self
            .current(&alg)
            .is_some_and(|k| k.thumbprint() == thumbprint && k.x5t_s256 == key.x5t_s256)
        {
            return Ok(false);
        }
        for entry in self
            .keys
            .iter_mut()
            .filter(|k| k.state == KeyState::Current && k.key.alg.as_deref() == Some(alg.as_str()))
        {
            entry.state = KeyState::Previous;
        }
        self.keys.insert(
            0,
            RingKey {
                key,
                state: KeyState::Current,
                created_at: now,
                retired_at: None,
                signs_from: None,
            },
        );
        Ok(true)
    }

    /// Adds the keys of `other` (for algorithms newly in use).
    pub fn merge(&mut self, mut other: KeyRing) {
        self.keys.append(&mut other.keys);
    }

    /// Retires the previous keys created before `before` (all of them with `i64::MAX`).
    pub fn retire_previous(&mut self, before: i64, now: i64) -> usize {
        let mut count = 0;
        for entry in self
            .keys
            .iter_mut()
            .filter(|k| k.state == KeyState::Previous && k.created_at < before)
        {
            entry.state = KeyState::Retired;
            entry.retired_at = Some(now);
            count += 1;
        }
        count
    }

    /// The private keys to sign with at `now`, in the order to try (signing takes the first
    /// fitting key): the current keys that sign by then, the replaced ones (which sign until
    /// their successors do), then the keys still published ahead.
    pub fn signing_set(&self, now: i64) -> JwkSet {
        let mut keys: Vec<&RingKey> = self
            .keys
            .iter()
            .filter(|k| k.state != KeyState::Retired)
            .collect();
        keys.sort_by_key(|k| match k.state {
            KeyState::Current if k.signs_from.is_none_or(|from| from <= now) => 0,
            KeyState::Previous => 1,
            _ => 2,
        });
        JwkSet::new(keys.into_iter().map(|k| k.key.clone()).collect())
    }

    /// The usable private keys, current ones first (those still published ahead among them):
    /// to verify and decrypt with, and to sign with when nothing is rotated ahead.
    pub fn private_set(&self) -> JwkSet {
        self.signing_set(i64::MAX)
    }

    /// What the JWKS endpoint publishes: the public halves of every key not retired.
    pub fn public_set(&self) -> JwkSet {
        self.private_set().public()
    }

    pub fn current(&self, alg: &str) -> Option<&Jwk> {
        self.keys
            .iter()
            .find(|k| k.state == KeyState::Current && k.key.alg.as_deref() == Some(alg))
            .map(|k| &k.key)
    }

    pub fn keys(&self) -> &[RingKey] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::{EncAlg, KeyAlg, SigAlg};
    use crate::jwt::{DecodeOptions, EncodeOptions, decode, encode};
    use serde_json::json;

    #[test]
    fn an_installed_key_becomes_current_once() {
        let mut ring = KeyRing::generate(&[Algorithm::Sig(SigAlg::RS256)], 1).unwrap();
        let generated = ring.current("RS256").unwrap().kid.clone();
        let operator = Jwk::generate(Algorithm::Sig(SigAlg::RS256)).unwrap();
        assert!(ring.install(operator.clone(), 2).unwrap());
        assert_eq!(ring.current("RS256").unwrap().kid, operator.kid);
        assert!(
            !ring.install(operator, 3).unwrap(),
            "the same key again changes nothing"
        );
        assert_eq!(
            ring.public_set().keys.len(),
            2,
            "the replaced key still verifies"
        );
        assert!(ring.public_set().keys.iter().any(|k| k.kid == generated));
        let mut no_alg = Jwk::generate(Algorithm::Sig(SigAlg::RS256)).unwrap();
        no_alg.alg = None;
        assert!(ring.install(no_alg, 4).is_err());
    }

    #[test]
    fn rotation_keeps_old_keys_usable_until_retired() {
        let algs = [
            Algorithm::Sig(SigAlg::ES256),
            Algorithm::Key(KeyAlg::EcdhEsA128Kw),
        ];
        let mut ring = KeyRing::generate(&algs, 100).unwrap();
        let claims = json!({"sub": "alice"}).as_object().cloned().unwrap();
        let signed = EncodeOptions {
            sig_alg: Some(SigAlg::ES256),
            ..Default::default()
        };
        let encrypted = EncodeOptions {
            key_alg: Some(KeyAlg::EcdhEsA128Kw),
            enc: Some(EncAlg::A128Gcm),
            allow_unsigned: true,
            ..Default::default()
        };
        let old_signed = encode(&claims, &signed, &ring.private_set(), None).unwrap();
        let old_encrypted = encode(
            &claims,
            &encrypted,
            &JwkSet::default(),
            Some(&ring.public_set()),
        )
        .unwrap();
        let old_kid = ring.current("ES256").unwrap().kid.clone();

        let fresh = ring.rotate(200, 0).unwrap();
        assert_eq!(fresh.len(), 2);
        assert_ne!(ring.current("ES256").unwrap().kid, old_kid);
        assert_eq!(ring.public_set().len(), 4);
        let lenient = DecodeOptions {
            allow_unsigned: true,
            ..Default::default()
        };
        assert!(
            decode(
                &old_signed,
                &ring.private_set(),
                &ring.public_set(),
                &lenient
            )
            .is_ok()
        );
        assert!(
            decode(
                &old_encrypted,
                &ring.private_set(),
                &ring.public_set(),
                &lenient
            )
            .is_ok()
        );
        let new_signed = encode(&claims, &signed, &ring.private_set(), None).unwrap();
        let header = crate::jwt::insecure_peek_header(&new_signed).unwrap();
        assert_eq!(header["kid"].as_str(), fresh.first().map(String::as_str));

        assert_eq!(ring.retire_previous(i64::MAX, 300), 2);
        assert_eq!(ring.public_set().len(), 2);
        assert!(
            decode(
                &old_signed,
                &ring.private_set(),
                &ring.public_set(),
                &lenient
            )
            .is_err()
        );
        assert!(
            decode(
                &old_encrypted,
                &ring.private_set(),
                &ring.public_set(),
                &lenient
            )
            .is_err()
        );

        let stored = serde_json::to_string(&ring).unwrap();
        let restored: KeyRing = serde_json::from_str(&stored).unwrap();
        assert_eq!(restored.private_set(), ring.private_set());
    }

    #[test]
    fn a_key_rotated_ahead_is_published_at_once_and_signs_from_its_time() {
        let mut ring = KeyRing::generate(&[Algorithm::Sig(SigAlg::ES256)], 100).unwrap();
        let old = ring.current("ES256").unwrap().kid.clone();
        let fresh = ring.rotate(200, 60).unwrap();
        assert!(
            ring.public_set()
                .keys
                .iter()
                .any(|k| k.kid.as_ref() == fresh.first())
        );
        let claims = json!({"sub": "alice"}).as_object().cloned().unwrap();
        let signed = EncodeOptions {
            sig_alg: Some(SigAlg::ES256),
            ..Default::default()
        };
        let signer_at = |ring: &KeyRing, now| {
            let token = encode(&claims, &signed, &ring.signing_set(now), None).unwrap();
            let header = crate::jwt::insecure_peek_header(&token).unwrap();
            header["kid"].as_str().map(str::to_owned)
        };
        assert_eq!(signer_at(&ring, 200), old, "the replaced key signs on");
        assert_eq!(signer_at(&ring, 259), old);
        assert_eq!(signer_at(&ring, 260), fresh.first().cloned());
        let stored = serde_json::to_string(&ring).unwrap();
        let restored: KeyRing = serde_json::from_str(&stored).unwrap();
        assert_eq!(signer_at(&restored, 259), old, "the time is stored");
        assert_eq!(signer_at(&restored, 260), fresh.first().cloned());
    }
}
