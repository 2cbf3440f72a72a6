//! Keys shared by the tests. RSA generation is the slow part, so each kind of key is made once.

use std::sync::LazyLock;

use ostiary_jose::{Algorithm, Curve, EncAlg, Jwk, JwkSet, KeyAlg, SigAlg};
use serde_json::{Map, Value};

pub static RSA_SIG: LazyLock<Jwk> =
    LazyLock::new(|| unpinned(Jwk::generate_rsa(2048, Algorithm::Sig(SigAlg::RS256)).unwrap()));
pub static RSA_ENC: LazyLock<Jwk> =
    LazyLock::new(|| unpinned(Jwk::generate_rsa(2048, Algorithm::Key(KeyAlg::RsaOaep)).unwrap()));

/// The same key without `alg`, so that one RSA key serves every RSA algorithm in a test.
fn unpinned(mut key: Jwk) -> Jwk {
    key.alg = None;
    key
}

/// A private key that fits `alg`.
pub fn signing_key(alg: SigAlg) -> Jwk {
    match alg {
        SigAlg::RS256
        | SigAlg::RS384
        | SigAlg::RS512
        | SigAlg::PS256
        | SigAlg::PS384
        | SigAlg::PS512 => RSA_SIG.clone(),
        other => Jwk::generate(Algorithm::Sig(other)).unwrap(),
    }
}

/// A private (or symmetric) key that a token for `alg`/`enc` is encrypted to.
pub fn encryption_key(alg: KeyAlg, enc: EncAlg) -> Jwk {
    match alg {
        KeyAlg::Rsa1_5 | KeyAlg::RsaOaep | KeyAlg::RsaOaep256 => RSA_ENC.clone(),
        KeyAlg::Dir => Jwk::generate(Algorithm::Enc(enc)).unwrap(),
        other => Jwk::generate(Algorithm::Key(other)).unwrap(),
    }
}

/// A P-384 key for ECDH-ES, to cover a curve other than the default P-256.
pub fn ecdh_p384(alg: KeyAlg) -> Jwk {
    Jwk::generate_ec(Curve::P384, Algorithm::Key(alg)).unwrap()
}

pub fn claims(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

pub fn set(keys: &[&Jwk]) -> JwkSet {
    JwkSet::new(keys.iter().map(|k| (*k).clone()).collect())
}

/// Every key management × content encryption pair.
pub fn all_jwe_pairs() -> Vec<(KeyAlg, EncAlg)> {
    KeyAlg::ALL
        .iter()
        .flat_map(|k| EncAlg::ALL.iter().map(move |e| (*k, *e)))
        .collect()
}
