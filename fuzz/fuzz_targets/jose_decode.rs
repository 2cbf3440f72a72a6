//! The JOSE decoder: any text as a compact JWS/JWE (with keys of every family to verify and to
//! decrypt with), as a header, as a JWK and as a JWK Set. Errors are fine; panics are not.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ostiary_jose::{Algorithm, DecodeOptions, Jwk, JwkSet, KeyAlg, SigAlg};

static KEYS: LazyLock<JwkSet> = LazyLock::new(|| {
    let algorithms = [
        Algorithm::Sig(SigAlg::RS256),
        Algorithm::Sig(SigAlg::ES256),
        Algorithm::Sig(SigAlg::EdDSA),
        Algorithm::Sig(SigAlg::HS256),
        Algorithm::Key(KeyAlg::RsaOaep),
        Algorithm::Key(KeyAlg::EcdhEs),
    ];
    JwkSet::new(
        algorithms
            .into_iter()
            .map(|a| Jwk::generate(a).unwrap())
            .collect(),
    )
});
static PUBLIC: LazyLock<JwkSet> = LazyLock::new(|| KEYS.public());

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ostiary_jose::insecure_peek_header(text);
    let _ = ostiary_jose::decode(text, &KEYS, &PUBLIC, &DecodeOptions::default());
    let unsigned = DecodeOptions {
        allow_unsigned: true,
        ..DecodeOptions::default()
    };
    let _ = ostiary_jose::decode(text, &KEYS, &PUBLIC, &unsigned);
    let _ = Jwk::from_json(text);
    let _ = JwkSet::from_json(text);
});
