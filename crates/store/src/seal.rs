//! Secrets at rest: AES-256-GCM under the deployment's master key, bound to what they protect by
//! the associated data, so that a sealed value copied to another row does not open there.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The master key ring: 32-byte keys, the first of which seals; every one of them opens. A new
/// key goes first, [`Store::reseal`](crate::Store::reseal) moves every sealed value to it, and
/// then the old keys can go (docs/operations.md#master-key-rotation).
pub struct MasterKey(Vec<LessSafeKey>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({} keys, redacted)", self.0.len())
    }
}

const VERSION: &str = "v1.";

impl MasterKey {
    pub fn new(bytes: &[u8]) -> Result<Self, String> {
        Ok(MasterKey(vec![Self::key(bytes)?]))
    }

    fn key(bytes: &[u8]) -> Result<LessSafeKey, String> {
        if bytes.len() != 32 {
            return Err(format!("the master key is 32 bytes, not {}", bytes.len()));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| "bad master key".to_string())?;
        Ok(LessSafeKey::new(key))
    }

    /// Reads the base64url text form (as in `OSTIARY_MASTER_KEY` or `master.key`): one key, or
    /// several separated by commas or line breaks, the sealing key first.
    pub fn from_text(text: &str) -> Result<Self, String> {
        let keys = Self::texts(text)
            .enumerate()
            .map(|(n, text)| {
                let bytes = URL_SAFE_NO_PAD
                    .decode(text.trim_end_matches('='))
                    .map_err(|_| format!("key {} is not base64url", n + 1))?;
                Self::key(&bytes).map_err(|e| format!("key {}: {e}", n + 1))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if keys.is_empty() {
            return Err("no master key in the text".into());
        }
        Ok(MasterKey(keys))
    }

    /// The keys of a text form, as text, the sealing key first.
    pub fn texts(text: &str) -> impl Iterator<Item = &str> {
        text.split([',', '\n'])
            .map(str::trim)
            .filter(|key| !key.is_empty())
    }

    /// A new random key, as text.
    pub fn generate_text() -> String {
        let mut bytes = [0u8; 32];
        // SystemRandom only fails when the OS has no randomness; nothing safe can go on then.
        if SystemRandom::new().fill(&mut bytes).is_err() {
            panic!("no system randomness");
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        if SystemRandom::new().fill(&mut nonce).is_err() {
            panic!("no system randomness");
        }
        let mut buf = plaintext.to_vec();
        let tag = self.0[0]
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        out.extend_from_slice(tag.as_ref());
        format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out))
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, String> {
        self.open_by_key(context, sealed).map(|(plain, _)| plain)
    }

    /// `sealed` sealed again under the sealing key, or `None` when it is sealed under it already.
    pub fn reseal(&self, context: &str, sealed: &str) -> Result<Option<String>, String> {
        Ok(match self.open_by_key(context, sealed)? {
            (_, 0) => None,
            (plain, _) => Some(self.seal(context, &plain)),
        })
    }

    /// The plaintext, and the place in the ring of the key that opened it.
    fn open_by_key(&self, context: &str, sealed: &str) -> Result<(Vec<u8>, usize), String> {
        let body = sealed
            .strip_prefix(VERSION)
            .ok_or("unknown sealing version")?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| "sealed value is not base64url")?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err("sealed value is too short".into());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        // The tag tells a wrong key from the right one; a ring holds few keys.
        for (n, key) in self.0.iter().enumerate() {
            let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce")?;
            let mut buf = ciphertext.to_vec();
            if let Ok(plain) = key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf) {
                return Ok((plain.to_vec(), n));
            }
        }
        Err("sealed value does not open with the master key (wrong key or tampered data)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = MasterKey::from_text(&MasterKey::generate_text()).unwrap();
        let sealed = key.seal("client_secret:abc", b"s3cret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(key.open("client_secret:abc", &sealed).unwrap(), b"s3cret");
        assert!(key.open("client_secret:xyz", &sealed).is_err());
        let other = MasterKey::from_text(&MasterKey::generate_text()).unwrap();
        assert!(other.open("client_secret:abc", &sealed).is_err());
        assert!(MasterKey::from_text("short").is_err());
    }

    #[test]
    fn a_ring_seals_with_its_first_key_and_opens_with_any() {
        let (old, new) = (MasterKey::generate_text(), MasterKey::generate_text());
        let before = MasterKey::from_text(&old).unwrap();
        let ring = MasterKey::from_text(&format!("{new}, {old}\n")).unwrap();
        assert_eq!(format!("{ring:?}"), "MasterKey(2 keys, redacted)");
        let sealed_before = before.seal("ctx", b"secret");
        assert_eq!(ring.open("ctx", &sealed_before).unwrap(), b"secret");
        let moved = ring.reseal("ctx", &sealed_before).unwrap().unwrap();
        assert_eq!(
            ring.reseal("ctx", &moved).unwrap(),
            None,
            "sealed under the first key already"
        );
        let after = MasterKey::from_text(&new).unwrap();
        assert_eq!(after.open("ctx", &moved).unwrap(), b"secret");
        assert!(
            before.open("ctx", &moved).is_err(),
            "sealed under the new key only"
        );
        assert!(ring.reseal("other", &moved).is_err());
        assert!(MasterKey::from_text(" , \n").is_err());
        assert!(
            MasterKey::from_text(&format!("{new},short"))
                .unwrap_err()
                .contains("key 2")
        );
    }
}
