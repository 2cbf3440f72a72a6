//! Secrets at rest: AES-256-GCM under the deployment's master key, bound to what they protect by
//! the associated data, so that a sealed value copied to another row does not open there.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The master key (32 bytes) that seals private keys and recoverable client secrets.
pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

const VERSION: &str = "v1.";

impl MasterKey {
    pub fn new(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != 32 {
            return Err(format!("the master key is 32 bytes, not {}", bytes.len()));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| "bad master key".to_string())?;
        Ok(MasterKey(LessSafeKey::new(key)))
    }

    /// Reads the base64url text form (as in `OSTIARY_MASTER_KEY` or `master.key`).
    pub fn from_text(text: &str) -> Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim().trim_end_matches('='))
            .map_err(|_| "the master key is not base64url".to_string())?;
        Self::new(&bytes)
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
        let tag = self
            .0
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
        let body = sealed
            .strip_prefix(VERSION)
            .ok_or("unknown sealing version")?;
        let mut bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| "sealed value is not base64url")?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err("sealed value is too short".into());
        }
        let nonce =
            Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).map_err(|_| "bad nonce")?;
        let plain = self
            .0
            .open_in_place(
                nonce,
                Aad::from(context.as_bytes()),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| {
                "sealed value does not open with this master key (wrong key or tampered data)"
                    .to_string()
            })?;
        Ok(plain.to_vec())
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
}
