//! Every algorithm, and every pair of them, through encode and decode.

use ostiary_jose::{
    Curve, DecodeOptions, EncodeOptions, JoseError, Jwk, JwkSet, KeyAlg, SigAlg, decode, encode,
};
use serde_json::json;

use crate::support::{all_jwe_pairs, claims, ecdh_p384, encryption_key, set, signing_key};

#[test]
fn every_signature_algorithm_signs_and_verifies() {
    let c = claims(json!({"iss": "https://as.example", "sub": "alice", "n": 1}));
    for alg in SigAlg::ALL {
        let key = signing_key(*alg);
        let opts = EncodeOptions {
            sig_alg: Some(*alg),
            ..Default::default()
        };
        let token = encode(&c, &opts, &set(&[&key]), None).unwrap();
        let verify_with = if key.is_symmetric() {
            set(&[&key])
        } else {
            set(&[&key]).public()
        };
        let decoded = decode(
            &token,
            &JwkSet::default(),
            &verify_with,
            &DecodeOptions::default(),
        )
        .unwrap();
        assert_eq!(decoded.claims, c, "{alg}");
        assert_eq!(decoded.security.sigalg, Some(*alg));
        assert_eq!(decoded.header["typ"], "JWT");
        assert_eq!(decoded.header["kid"].as_str(), key.kid.as_deref());
    }
}

#[test]
fn every_key_management_and_content_encryption_pair_round_trips() {
    let c = claims(json!({"sub": "bob", "scope": "openid profile"}));
    for (key_alg, enc) in all_jwe_pairs() {
        let key = encryption_key(key_alg, enc);
        let opts = EncodeOptions {
            key_alg: Some(key_alg),
            enc: Some(enc),
            allow_rsa1_5: true,
            ..Default::default()
        };
        let recipient = if key.is_symmetric() {
            set(&[&key])
        } else {
            set(&[&key]).public()
        };
        let token = encode(&c, &opts, &JwkSet::default(), Some(&recipient)).unwrap();
        assert_eq!(token.split('.').count(), 5);
        let dopts = DecodeOptions {
            allow_unsigned: true,
            allow_rsa1_5: true,
            ..Default::default()
        };
        let decoded = decode(&token, &set(&[&key]), &JwkSet::default(), &dopts).unwrap();
        assert_eq!(decoded.claims, c, "{key_alg} {enc}");
        assert_eq!(decoded.security.keyalg, Some(key_alg));
        assert_eq!(decoded.security.encalg, Some(enc));
        assert_eq!(decoded.security.sigalg, None);
    }
}

#[test]
fn ecdh_es_works_on_p384_p521_and_x25519() {
    let c = claims(json!({"sub": "carol"}));
    let keys = [
        ecdh_p384(KeyAlg::EcdhEs),
        Jwk::generate_ec(
            Curve::P521,
            ostiary_jose::Algorithm::Key(KeyAlg::EcdhEsA256Kw),
        )
        .unwrap(),
    ];
    for key in keys {
        let key_alg: KeyAlg = key.alg.as_deref().unwrap().parse().unwrap();
        let opts = EncodeOptions {
            key_alg: Some(key_alg),
            enc: Some(ostiary_jose::EncAlg::A256Gcm),
            ..Default::default()
        };
        let token = encode(&c, &opts, &JwkSet::default(), Some(&set(&[&key]).public())).unwrap();
        let dopts = DecodeOptions {
            allow_unsigned: true,
            ..Default::default()
        };
        assert_eq!(
            decode(&token, &set(&[&key]), &JwkSet::default(), &dopts)
                .unwrap()
                .claims,
            c
        );
    }
}

#[test]
fn nested_tokens_are_signed_then_encrypted_and_report_all_three_algorithms() {
    let c = claims(json!({"sub": "dave", "aud": ["a", "b"]}));
    for (sig_alg, key_alg, enc) in [
        (
            SigAlg::RS256,
            KeyAlg::RsaOaep256,
            ostiary_jose::EncAlg::A256Gcm,
        ),
        (
            SigAlg::ES256,
            KeyAlg::EcdhEsA128Kw,
            ostiary_jose::EncAlg::A128CbcHs256,
        ),
        (
            SigAlg::EdDSA,
            KeyAlg::A256Kw,
            ostiary_jose::EncAlg::A256CbcHs512,
        ),
        (SigAlg::HS256, KeyAlg::Dir, ostiary_jose::EncAlg::A128Gcm),
    ] {
        let signer = signing_key(sig_alg);
        let recipient = encryption_key(key_alg, enc);
        let mut custom = ostiary_jose::Header::new();
        custom.insert("co".into(), "acme".into());
        let opts = EncodeOptions {
            sig_alg: Some(sig_alg),
            key_alg: Some(key_alg),
            enc: Some(enc),
            custom,
            ..Default::default()
        };
        let public_recipient = if recipient.is_symmetric() {
            set(&[&recipient])
        } else {
            set(&[&recipient]).public()
        };
        let token = encode(&c, &opts, &set(&[&signer]), Some(&public_recipient)).unwrap();
        let verify_with = if signer.is_symmetric() {
            set(&[&signer])
        } else {
            set(&[&signer]).public()
        };
        let decoded = decode(
            &token,
            &set(&[&recipient]),
            &verify_with,
            &DecodeOptions::default(),
        )
        .unwrap();
        assert_eq!(decoded.claims, c);
        assert_eq!(decoded.security.sigalg, Some(sig_alg));
        assert_eq!(decoded.security.keyalg, Some(key_alg));
        assert_eq!(decoded.security.encalg, Some(enc));
        // Custom parameters go to the inner, signed header only.
        assert_eq!(decoded.header["co"], "acme");
        let outer = decoded.outer_header.unwrap();
        assert_eq!(outer["cty"], "JWT");
        assert!(!outer.contains_key("co"));
    }
}

#[test]
fn custom_headers_never_override_registered_ones() {
    let key = signing_key(SigAlg::ES256);
    for name in ["alg", "kid", "typ", "jku", "crit", "enc"] {
        let mut custom = ostiary_jose::Header::new();
        custom.insert(name.into(), "x".into());
        let opts = EncodeOptions {
            sig_alg: Some(SigAlg::ES256),
            custom,
            ..Default::default()
        };
        assert_eq!(
            encode(&claims(json!({})), &opts, &set(&[&key]), None),
            Err(JoseError::ReservedHeader(name.into()))
        );
    }
}

#[test]
fn jku_and_jwk_are_included_on_request() {
    let signer = signing_key(SigAlg::ES384);
    let recipient = encryption_key(KeyAlg::RsaOaep, ostiary_jose::EncAlg::A128Gcm);
    let opts = EncodeOptions {
        sig_alg: Some(SigAlg::ES384),
        key_alg: Some(KeyAlg::RsaOaep),
        enc: Some(ostiary_jose::EncAlg::A128Gcm),
        jku: Some("https://client.example/jwks".into()),
        recipient_jku: Some("https://as.example/jwks".into()),
        include_jwk: true,
        ..Default::default()
    };
    let token = encode(
        &claims(json!({"a": 1})),
        &opts,
        &set(&[&signer]),
        Some(&set(&[&recipient]).public()),
    )
    .unwrap();
    let decoded = decode(
        &token,
        &set(&[&recipient]),
        &set(&[&signer]).public(),
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(decoded.header["jku"], "https://client.example/jwks");
    let embedded = Jwk::from_object(decoded.header["jwk"].as_object().unwrap().clone()).unwrap();
    assert!(!embedded.is_private(), "only the public key is embedded");
    assert_eq!(embedded.thumbprint(), signer.thumbprint());
    let outer = decoded.outer_header.unwrap();
    assert_eq!(outer["jku"], "https://as.example/jwks");
    assert_eq!(
        Jwk::from_object(outer["jwk"].as_object().unwrap().clone())
            .unwrap()
            .thumbprint(),
        recipient.thumbprint()
    );
}

#[test]
fn an_unsigned_token_is_made_only_when_asked_for() {
    let c = claims(json!({"sub": "eve"}));
    assert_eq!(
        encode(&c, &EncodeOptions::default(), &JwkSet::default(), None),
        Err(JoseError::Unsigned)
    );
    let opts = EncodeOptions {
        allow_unsigned: true,
        ..Default::default()
    };
    let token = encode(&c, &opts, &JwkSet::default(), None).unwrap();
    assert!(token.ends_with('.'));
    assert_eq!(
        decode(
            &token,
            &JwkSet::default(),
            &JwkSet::default(),
            &DecodeOptions::default()
        )
        .unwrap_err(),
        JoseError::Unsigned
    );
    let decoded = decode(
        &token,
        &JwkSet::default(),
        &JwkSet::default(),
        &DecodeOptions {
            allow_unsigned: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(decoded.claims, c);
    assert_eq!(decoded.security, ostiary_jose::Security::default());
}
