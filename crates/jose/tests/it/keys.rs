//! Keys: generation, PEM/DER/X.509 loading, thumbprints, public halves and key sets.

use ostiary_jose::{
    Algorithm, Curve, DecodeOptions, EncodeOptions, JoseError, Jwk, JwkSet, KeyOp, SigAlg, decode,
    encode,
};
use serde_json::json;

use crate::support::claims;

fn data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn pem(name: &str) -> Jwk {
    Jwk::from_pem(&data(name), Some(b"ostiary-test")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Signs with `private` and verifies with `public`.
fn sign_verify(private: &Jwk, public: &Jwk, alg: SigAlg) {
    let opts = EncodeOptions {
        sig_alg: Some(alg),
        ..Default::default()
    };
    let token = encode(
        &claims(json!({"sub": "x"})),
        &opts,
        &JwkSet::from(private.clone()),
        None,
    )
    .unwrap();
    let decoded = decode(
        &token,
        &JwkSet::default(),
        &JwkSet::from(public.clone()),
        &DecodeOptions::default(),
    );
    assert!(decoded.is_ok(), "{alg}: {decoded:?}");
}

#[test]
fn generated_keys_have_thumbprint_kids_and_pinned_algorithms() {
    for name in [
        "HS256",
        "RS256",
        "PS512",
        "ES384",
        "ES512",
        "EdDSA",
        "RSA-OAEP-256",
        "A192KW",
        "A256GCMKW",
        "ECDH-ES+A128KW",
        "A128CBC-HS256",
    ] {
        let alg: Algorithm = name.parse().unwrap();
        let key = Jwk::generate(alg).unwrap();
        assert_eq!(
            key.kid.as_deref(),
            Some(key.thumbprint().as_str()),
            "{name}"
        );
        let expected_alg = if matches!(alg, Algorithm::Enc(_)) {
            "dir"
        } else {
            name
        };
        assert_eq!(key.alg.as_deref(), Some(expected_alg));
        assert!(key.is_private());
        let reparsed = Jwk::from_json(&key.to_value().to_string()).unwrap();
        assert_eq!(reparsed, key);
    }
    assert!(
        Jwk::generate("dir".parse().unwrap()).is_err(),
        "a dir key needs an enc to size it"
    );
    let rsa3072 = Jwk::generate_rsa(3072, Algorithm::Sig(SigAlg::RS256)).unwrap();
    assert_eq!(rsa3072.rsa_bits(), Some(3072));
    sign_verify(&rsa3072, &rsa3072.to_public().unwrap(), SigAlg::RS256);
}

#[test]
fn a_key_is_used_only_for_what_it_is_pinned_to() {
    let key = Jwk::generate(Algorithm::Sig(SigAlg::ES256)).unwrap();
    assert!(key.fits("ES256", KeyOp::Sign));
    assert!(!key.fits("ES384", KeyOp::Sign));
    assert!(!key.fits("ECDH-ES", KeyOp::Decrypt), "use=sig");
    let public = key.to_public().unwrap();
    assert!(public.fits("ES256", KeyOp::Verify) && !public.fits("ES256", KeyOp::Sign));
    let mut ops = Jwk::generate(Algorithm::Sig(SigAlg::EdDSA)).unwrap();
    ops.key_ops = Some(vec!["verify".into()]);
    assert!(!ops.fits("EdDSA", KeyOp::Sign) && ops.fits("EdDSA", KeyOp::Verify));
}

#[test]
fn rsa_keys_load_from_every_pem_form_and_agree() {
    let pkcs8 = pem("rsa-pkcs8.pem");
    let pkcs1 = pem("rsa-pkcs1.pem");
    let encrypted = pem("rsa-encrypted.pem");
    let public = pem("rsa-public.pem");
    let public_pkcs1 = pem("rsa-public-pkcs1.pem");
    let cert = pem("rsa-cert.pem");
    assert!(pkcs8.is_private() && pkcs1.is_private() && encrypted.is_private());
    assert!(!public.is_private() && !cert.is_private());
    let thumbprint = pkcs8.thumbprint();
    for key in [&pkcs1, &encrypted, &public, &public_pkcs1, &cert] {
        assert_eq!(key.thumbprint(), thumbprint);
    }
    assert_eq!(pkcs8, pkcs1);
    sign_verify(&encrypted, &cert, SigAlg::PS256);
    sign_verify(&pkcs1, &public_pkcs1, SigAlg::RS512);
}

#[test]
fn certificates_give_x5c_and_x5t_s256() {
    use base64::Engine as _;
    let cert = pem("rsa-cert.pem");
    let x5c = cert.x5c.clone().unwrap();
    assert_eq!(x5c.len(), 1);
    let der = base64::engine::general_purpose::STANDARD
        .decode(&x5c[0])
        .unwrap();
    let body: String = data("rsa-cert.pem")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap(),
        der
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    assert_eq!(
        cert.x5t_s256.as_deref(),
        Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(digest)
                .as_str()
        )
    );
    let value = cert.to_value();
    assert_eq!(value["x5c"][0], x5c[0]);
    assert!(value.get("x5t#S256").is_some());
    let ec_cert = pem("ec-p256-cert.pem");
    assert_eq!(ec_cert.curve(), Some(Curve::P256));
    sign_verify(&pem("ec-p256-sec1.pem"), &ec_cert, SigAlg::ES256);
}

#[test]
fn a_private_key_can_carry_its_certificate() {
    let key = Jwk::from_pem_with_certificate(&data("rsa-pkcs8.pem"), &data("rsa-cert.pem"), None)
        .unwrap();
    assert!(key.is_private());
    assert_eq!(key.x5c, pem("rsa-cert.pem").x5c);
    assert!(
        key.to_public().unwrap().x5t_s256.is_some(),
        "the public half keeps x5c and x5t#S256"
    );
    let mismatch =
        Jwk::from_pem_with_certificate(&data("ec-p256-pkcs8.pem"), &data("rsa-cert.pem"), None);
    assert!(matches!(mismatch, Err(JoseError::InvalidKey(_))));
}

#[test]
fn ec_and_ed25519_keys_load_from_pem() {
    let pkcs8 = pem("ec-p256-pkcs8.pem");
    assert_eq!(pkcs8, pem("ec-p256-sec1.pem"));
    assert_eq!(pkcs8, pem("ec-p256-encrypted.pem"));
    let p521 = pem("ec-p521-pkcs8.pem");
    assert_eq!(p521.curve(), Some(Curve::P521));
    sign_verify(&p521, &p521.to_public().unwrap(), SigAlg::ES512);
    let ed = pem("ed25519-pkcs8.pem");
    let ed_public = pem("ed25519-public.pem");
    assert_eq!(ed.thumbprint(), ed_public.thumbprint());
    sign_verify(&ed, &ed_public, SigAlg::EdDSA);
}

#[test]
fn bad_pem_input_gives_an_error_not_a_panic() {
    let encrypted = data("rsa-encrypted.pem");
    assert!(matches!(
        Jwk::from_pem(&encrypted, None),
        Err(JoseError::Pem(_))
    ));
    assert!(matches!(
        Jwk::from_pem(&encrypted, Some(b"wrong")),
        Err(JoseError::Pem(_))
    ));
    let truncated = data("rsa-pkcs8.pem");
    let cut = truncated
        .lines()
        .take(5)
        .chain(truncated.lines().last())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(Jwk::from_pem(&cut, None).is_err());
    for junk in [
        "",
        "hello",
        "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----",
        "-----BEGIN FOO-----\nAAAA\n-----END FOO-----",
        "-----BEGIN PRIVATE KEY-----\nAAAA",
    ] {
        assert!(Jwk::from_pem(junk, None).is_err(), "{junk}");
    }
}

#[test]
fn bad_jwks_input_gives_an_error_not_a_panic() {
    for junk in [
        "",
        "{}",
        r#"{"keys": {}}"#,
        r#"{"keys": [1]}"#,
        r#"{"keys": [{"kty": "RSA"}]}"#,
        r#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}"#,
        r#"{"keys": [{"kty": "EC", "crv": "P-999", "x": "AA", "y": "AA"}]}"#,
        r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "!!"}]}"#,
        r#"{"keys": [{"kty": "oct", "k": ""}]}"#,
        r#"{"keys": [{"kty": "XYZ"}]}"#,
        r#"{"keys": [{"kty": "oct", "k": "AAAA", "kid": 5}]}"#,
        r#"{"keys": [{"kty": "oct", "k": "AAAA", "k": "BBBB"}]}"#,
    ] {
        assert!(JwkSet::from_json(junk).is_err(), "{junk}");
    }
    // A P-256 point that is not on the curve.
    let mut key = Jwk::generate(Algorithm::Sig(SigAlg::ES256))
        .unwrap()
        .to_public()
        .unwrap()
        .to_value();
    key["y"] = key["x"].clone();
    assert!(Jwk::from_json(&key.to_string()).is_err());
    // An RSA private key whose CRT parameters do not belong to it.
    let mut rsa = crate::support::RSA_SIG.to_value();
    rsa["qi"] = rsa["dp"].clone();
    assert!(Jwk::from_json(&rsa.to_string()).is_err());
}

#[test]
fn the_public_set_never_holds_private_or_symmetric_keys() {
    let keys = JwkSet::new(vec![
        crate::support::RSA_SIG.clone(),
        Jwk::generate(Algorithm::Sig(SigAlg::ES256)).unwrap(),
        Jwk::generate(Algorithm::Sig(SigAlg::HS256)).unwrap(),
        Jwk::generate(Algorithm::Sig(SigAlg::EdDSA)).unwrap(),
    ]);
    let public = keys.public();
    assert_eq!(public.len(), 3);
    let text = public.to_json();
    for private_member in [
        "\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\"", "\"k\"",
    ] {
        assert!(!text.contains(private_member), "{private_member} leaked");
    }
    assert_eq!(JwkSet::from_json(&text).unwrap(), public);
}

#[test]
fn without_a_kid_verification_needs_exactly_one_fitting_key() {
    let a = Jwk::generate(Algorithm::Sig(SigAlg::HS256)).unwrap();
    let b = Jwk::generate(Algorithm::Sig(SigAlg::HS256)).unwrap();
    let mut header = ostiary_jose::Header::new();
    header.insert("alg".into(), "HS256".into());
    let token = ostiary_jose::sign_jws(&header, b"{}", &a).unwrap();
    let one = JwkSet::from(a.clone());
    assert!(decode(&token, &JwkSet::default(), &one, &DecodeOptions::default()).is_ok());
    let two = JwkSet::new(vec![a, b]);
    assert_eq!(
        decode(&token, &JwkSet::default(), &two, &DecodeOptions::default()).unwrap_err(),
        JoseError::AmbiguousKey
    );
}

#[test]
fn client_secret_keys_are_truncated_sha2_hashes_as_long_as_the_algorithm_needs() {
    use aws_lc_rs::digest::{SHA256, SHA384, SHA512, digest};
    use ostiary_jose::{EncAlg, KeyAlg};
    let bytes = |key_alg, enc| {
        let key = Jwk::from_client_secret("s3cret", key_alg, enc).unwrap();
        let k = key.to_value()["k"].as_str().unwrap().to_owned();
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, k).unwrap()
    };
    let hash = |alg, len: usize| digest(alg, b"s3cret").as_ref()[..len].to_vec();
    assert_eq!(
        bytes(KeyAlg::A128Kw, EncAlg::A256CbcHs512),
        hash(&SHA256, 16)
    );
    assert_eq!(bytes(KeyAlg::A256GcmKw, EncAlg::A128Gcm), hash(&SHA256, 32));
    assert_eq!(bytes(KeyAlg::Dir, EncAlg::A128Gcm), hash(&SHA256, 16));
    assert_eq!(bytes(KeyAlg::Dir, EncAlg::A192CbcHs384), hash(&SHA384, 48));
    assert_eq!(bytes(KeyAlg::Dir, EncAlg::A256CbcHs512), hash(&SHA512, 64));
    assert!(Jwk::from_client_secret("s3cret", KeyAlg::RsaOaep, EncAlg::A128Gcm).is_none());
    assert!(Jwk::from_client_secret("s3cret", KeyAlg::EcdhEsA128Kw, EncAlg::A128Gcm).is_none());
}
