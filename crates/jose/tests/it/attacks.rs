//! Attacks and faults from shared/research/security.md §2: each must be refused with an error,
//! never accepted and never a panic.

use ostiary_jose::{
    DecodeOptions, EncAlg, EncodeOptions, JoseError, Jwk, JwkSet, KeyAlg, SigAlg, decode, encode,
    sign_jws,
};
use serde_json::json;

use crate::support::{claims, encryption_key, set, signing_key};
use crate::vectors::rfc7520;

fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_signed(
    token: &str,
    keys: &JwkSet,
) -> Result<serde_json::Map<String, serde_json::Value>, JoseError> {
    decode(token, &JwkSet::default(), keys, &DecodeOptions::default()).map(|d| d.claims)
}

fn es256_token() -> (String, JwkSet) {
    let key = signing_key(SigAlg::ES256);
    let opts = EncodeOptions {
        sig_alg: Some(SigAlg::ES256),
        ..Default::default()
    };
    (
        encode(&claims(json!({"sub": "alice"})), &opts, &set(&[&key]), None).unwrap(),
        set(&[&key]).public(),
    )
}

fn jwe_token(key_alg: KeyAlg, enc: EncAlg) -> (String, JwkSet) {
    let key = encryption_key(key_alg, enc);
    let opts = EncodeOptions {
        key_alg: Some(key_alg),
        enc: Some(enc),
        allow_rsa1_5: true,
        ..Default::default()
    };
    let public = if key.is_symmetric() {
        set(&[&key])
    } else {
        set(&[&key]).public()
    };
    (
        encode(
            &claims(json!({"sub": "alice"})),
            &opts,
            &JwkSet::default(),
            Some(&public),
        )
        .unwrap(),
        set(&[&key]),
    )
}

fn lenient() -> DecodeOptions {
    DecodeOptions {
        allow_unsigned: true,
        allow_rsa1_5: true,
        ..Default::default()
    }
}

#[test]
fn alg_none_is_refused_by_default_in_every_spelling() {
    let payload = b64(br#"{"sub":"admin"}"#);
    for alg in ["none", "None", "nOnE", "NONE"] {
        let token = format!("{}.{payload}.", b64(format!(r#"{{"alg":"{alg}"}}"#)));
        assert!(decode_signed(&token, &JwkSet::default()).is_err(), "{alg}");
    }
    let token = format!("{}.{payload}.", b64(r#"{"alg":"none"}"#));
    assert_eq!(
        decode_signed(&token, &JwkSet::default()),
        Err(JoseError::Unsigned)
    );
    // With a "signature" attached, even a caller who allows none gets an error.
    let forged = format!("{}.{payload}.{}", b64(r#"{"alg":"none"}"#), b64("sig"));
    assert!(decode(&forged, &JwkSet::default(), &JwkSet::default(), &lenient()).is_err());
}

#[test]
fn hs256_keyed_with_the_rsa_public_key_is_refused() {
    // CVE-2015-9235: sign HS256 with the bytes of the server's RSA public key, naming its kid.
    let rsa = signing_key(SigAlg::RS256);
    let public = set(&[&rsa]).public();
    let public_json = public.keys[0].to_value().to_string();
    let mut header = ostiary_jose::Header::new();
    header.insert("alg".into(), "HS256".into());
    header.insert("kid".into(), rsa.kid.clone().unwrap().into());
    for secret in [
        public_json.as_bytes().to_vec(),
        public.keys[0].to_value()["n"]
            .as_str()
            .unwrap()
            .as_bytes()
            .to_vec(),
    ] {
        let forged = sign_jws(
            &header,
            br#"{"sub":"admin"}"#,
            &Jwk::symmetric(&secret).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            decode_signed(&forged, &public),
            Err(JoseError::NoKey { .. })
        ));
    }
}

#[test]
fn unknown_kid_and_mismatched_key_types_are_refused() {
    let (token, keys) = es256_token();
    let other = set(&[&signing_key(SigAlg::ES256)]).public();
    assert!(matches!(
        decode_signed(&token, &other),
        Err(JoseError::NoKey { .. })
    ));
    // ES256 header but the kid names an RSA key.
    let rsa = signing_key(SigAlg::RS256);
    let mut header = ostiary_jose::Header::new();
    header.insert("alg".into(), "ES256".into());
    header.insert("kid".into(), rsa.kid.clone().unwrap().into());
    let forged = format!(
        "{}.{}.{}",
        b64(serde_json::to_vec(&header).unwrap()),
        b64("{}"),
        b64([1u8; 64])
    );
    assert!(matches!(
        decode_signed(&forged, &set(&[&rsa]).public()),
        Err(JoseError::NoKey { .. })
    ));
    // Hostile kids are plain lookups that find nothing.
    for kid in [
        "../../dev/null",
        "' OR 1=1--",
        &"k".repeat(10_000),
        "a\u{0}b",
    ] {
        let mut header = ostiary_jose::Header::new();
        header.insert("alg".into(), "ES256".into());
        header.insert("kid".into(), kid.into());
        let forged = format!(
            "{}.{}.{}",
            b64(serde_json::to_vec(&header).unwrap()),
            b64("{}"),
            b64([1u8; 64])
        );
        assert!(decode_signed(&forged, &keys).is_err());
    }
}

/// Keys come only from the caller's set: a key the token carries (`jwk`, `x5c`) or points to
/// (`jku`, `x5u`) is never used, and nothing is fetched (this crate does no I/O at all). An
/// attacker who signs with their own key and embeds it gets the same refusal as any unknown key.
#[test]
fn keys_a_token_carries_or_points_to_are_never_trusted() {
    let (_, trusted) = es256_token();
    let attacker = signing_key(SigAlg::ES256);
    let embedded = attacker.to_public().unwrap().to_value();
    for (name, value) in [
        ("jwk", embedded.clone()),
        ("jku", json!("http://127.0.0.1:9/jwks.json")),
        ("x5u", json!("http://127.0.0.1:9/cert.pem")),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUYmFk"])),
    ] {
        let mut header = ostiary_jose::Header::new();
        header.insert("alg".into(), "ES256".into());
        header.insert("kid".into(), attacker.kid.clone().unwrap().into());
        header.insert(name.into(), value);
        let token = sign_jws(&header, br#"{"sub":"admin"}"#, &attacker).unwrap();
        assert!(
            matches!(
                decode_signed(&token, &trusted),
                Err(JoseError::NoKey { .. })
            ),
            "{name}"
        );
        // The same token is good under the attacker's key: only the key source was refused.
        assert!(
            decode_signed(&token, &set(&[&attacker]).public()).is_ok(),
            "{name}"
        );
    }
    // Without a kid, the trusted set is searched by algorithm and its key does not verify.
    let mut header = ostiary_jose::Header::new();
    header.insert("alg".into(), "ES256".into());
    header.insert("jwk".into(), embedded);
    let token = sign_jws(&header, br#"{"sub":"admin"}"#, &attacker).unwrap();
    assert!(decode_signed(&token, &trusted).is_err());
}

#[test]
fn an_algorithm_outside_the_callers_list_is_refused() {
    let (token, keys) = es256_token();
    let opts = DecodeOptions {
        sig_algs: Some(vec![SigAlg::RS256]),
        ..Default::default()
    };
    assert_eq!(
        decode(&token, &JwkSet::default(), &keys, &opts).unwrap_err(),
        JoseError::AlgorithmNotAllowed("ES256".into())
    );
}

#[test]
fn tampering_with_any_part_of_a_jws_is_detected() {
    let (token, keys) = es256_token();
    let parts: Vec<&str> = token.split('.').collect();
    let header = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"ES256","kid":"x","typ":"JWT"}"#),
        parts[1],
        parts[2]
    );
    let payload = format!("{}.{}.{}", parts[0], b64(r#"{"sub":"admin"}"#), parts[2]);
    let mut sig = ostiary_jose_b64_decode(parts[2]);
    sig[10] ^= 1;
    let signature = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
    for bad in [header, payload, signature] {
        assert!(decode_signed(&bad, &keys).is_err());
    }
    // Psychic signature (CVE-2022-21449): r = s = 0.
    let zero = format!("{}.{}.{}", parts[0], parts[1], b64([0u8; 64]));
    assert_eq!(decode_signed(&zero, &keys), Err(JoseError::BadSignature));
    // DER-encoded or wrong-length ECDSA signatures.
    let short = format!("{}.{}.{}", parts[0], parts[1], b64(&sig[..63]));
    assert_eq!(decode_signed(&short, &keys), Err(JoseError::BadSignature));
}

fn ostiary_jose_b64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[test]
fn tampering_with_any_part_of_a_jwe_is_detected() {
    for (key_alg, enc) in [
        (KeyAlg::RsaOaep, EncAlg::A256Gcm),
        (KeyAlg::A128Kw, EncAlg::A128CbcHs256),
        (KeyAlg::EcdhEs, EncAlg::A256CbcHs512),
        (KeyAlg::A256GcmKw, EncAlg::A192Gcm),
        (KeyAlg::Dir, EncAlg::A192CbcHs384),
    ] {
        let (token, keys) = jwe_token(key_alg, enc);
        assert!(decode(&token, &keys, &JwkSet::default(), &lenient()).is_ok());
        let parts: Vec<&str> = token.split('.').collect();
        for index in 0..5 {
            let mut bytes = ostiary_jose_b64_decode(parts[index]);
            if bytes.is_empty() {
                continue; // dir and ECDH-ES have no encrypted key
            }
            let at = if index == 0 {
                bytes.len() - 3
            } else {
                bytes.len() / 2
            };
            bytes[at] ^= 0x01;
            let mut tampered: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            tampered[index] = b64(&bytes);
            let result = decode(&tampered.join("."), &keys, &JwkSet::default(), &lenient());
            assert!(
                result.is_err(),
                "{key_alg} {enc}: part {index} tampered was accepted"
            );
        }
        // Truncated tag.
        let mut short: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        short[4] = b64(&ostiary_jose_b64_decode(parts[4])[..8]);
        assert_eq!(
            decode(&short.join("."), &keys, &JwkSet::default(), &lenient()).unwrap_err(),
            JoseError::DecryptionFailed
        );
    }
}

#[test]
fn rsa1_5_is_off_unless_enabled_and_fails_uniformly() {
    let (token, keys) = jwe_token(KeyAlg::Rsa1_5, EncAlg::A128CbcHs256);
    let strict = DecodeOptions {
        allow_unsigned: true,
        ..Default::default()
    };
    assert_eq!(
        decode(&token, &keys, &JwkSet::default(), &strict).unwrap_err(),
        JoseError::AlgorithmNotAllowed("RSA1_5".into())
    );
    assert!(decode(&token, &keys, &JwkSet::default(), &lenient()).is_ok());
    // A garbled encrypted key gives the same error as a bad tag (RFC 7516 §11.5).
    let parts: Vec<&str> = token.split('.').collect();
    let garbled = format!(
        "{}.{}.{}.{}.{}",
        parts[0],
        b64([7u8; 256]),
        parts[2],
        parts[3],
        parts[4]
    );
    assert_eq!(
        decode(&garbled, &keys, &JwkSet::default(), &lenient()).unwrap_err(),
        JoseError::DecryptionFailed
    );
    // Nor does Ostiary make RSA1_5 tokens unless asked.
    let opts = EncodeOptions {
        key_alg: Some(KeyAlg::Rsa1_5),
        enc: Some(EncAlg::A128Gcm),
        ..Default::default()
    };
    assert!(
        encode(
            &claims(json!({})),
            &opts,
            &JwkSet::default(),
            Some(&keys.public())
        )
        .is_err()
    );
}

#[test]
fn ecdh_es_with_a_point_off_the_curve_is_refused() {
    let (token, keys) = jwe_token(KeyAlg::EcdhEsA128Kw, EncAlg::A128Gcm);
    let parts: Vec<&str> = token.split('.').collect();
    let mut header = ostiary_jose::insecure_peek_header(&token).unwrap();
    let epk = header.get_mut("epk").unwrap().as_object_mut().unwrap();
    // (1, 1) is not on P-256.
    let mut one = [0u8; 32];
    one[31] = 1;
    epk.insert("x".into(), b64(one).into());
    epk.insert("y".into(), b64(one).into());
    let forged = format!(
        "{}.{}.{}.{}.{}",
        b64(serde_json::to_vec(&header).unwrap()),
        parts[1],
        parts[2],
        parts[3],
        parts[4]
    );
    assert_eq!(
        decode(&forged, &keys, &JwkSet::default(), &lenient()).unwrap_err(),
        JoseError::BadHeader("epk".into())
    );
    // A point on another curve (P-384 coordinates) is refused too.
    let mut header = ostiary_jose::insecure_peek_header(&token).unwrap();
    header["epk"]["crv"] = "P-384".into();
    let forged = format!(
        "{}.{}.{}.{}.{}",
        b64(serde_json::to_vec(&header).unwrap()),
        parts[1],
        parts[2],
        parts[3],
        parts[4]
    );
    assert_eq!(
        decode(&forged, &keys, &JwkSet::default(), &lenient()).unwrap_err(),
        JoseError::BadHeader("epk".into())
    );
}

/// A correctly signed JWS that asks for a compressed (`zip`) or unencoded (`b64: false`, RFC 7797)
/// payload is refused: neither is supported, and reading it as usual would misread it.
#[test]
fn zip_and_unencoded_payloads_are_refused_even_when_signed() {
    let key = signing_key(SigAlg::ES256);
    let signed = |extra: &[(&str, serde_json::Value)]| {
        let mut header = ostiary_jose::Header::new();
        header.insert("alg".into(), "ES256".into());
        header.insert("kid".into(), key.kid.clone().unwrap().into());
        for (name, value) in extra {
            header.insert((*name).into(), value.clone());
        }
        let token = sign_jws(&header, br#"{"sub":"alice"}"#, &key).unwrap();
        decode_signed(&token, &set(&[&key]).public())
    };
    assert_eq!(
        signed(&[("zip", json!("DEF"))]),
        Err(JoseError::BadHeader("zip".into()))
    );
    assert_eq!(
        signed(&[("b64", json!(false))]),
        Err(JoseError::BadHeader("b64".into()))
    );
    // As RFC 7797 sends it, named critical: refused as well.
    assert!(signed(&[("b64", json!(false)), ("crit", json!(["b64"]))]).is_err());
    assert!(signed(&[]).is_ok(), "the same token without them verifies");
}

#[test]
fn unknown_critical_headers_are_refused() {
    let key = signing_key(SigAlg::HS256);
    for (crit, expected) in [
        (
            json!(["x-unknown"]),
            JoseError::UnknownCritical("x-unknown".into()),
        ),
        (json!([]), JoseError::BadHeader("crit".into())),
        (json!(["alg"]), JoseError::BadHeader("crit".into())),
        (json!(["absent"]), JoseError::BadHeader("crit".into())),
        (json!("x-unknown"), JoseError::BadHeader("crit".into())),
    ] {
        let mut header = ostiary_jose::Header::new();
        header.insert("alg".into(), "HS256".into());
        header.insert("crit".into(), crit);
        header.insert("x-unknown".into(), true.into());
        let token = sign_jws(&header, b"{}", &key).unwrap();
        assert_eq!(decode_signed(&token, &set(&[&key])), Err(expected));
    }
    // A caller that understands the extension accepts it.
    let mut header = ostiary_jose::Header::new();
    header.insert("alg".into(), "HS256".into());
    header.insert("crit".into(), json!(["x-unknown"]));
    header.insert("x-unknown".into(), true.into());
    let token = sign_jws(&header, b"{}", &key).unwrap();
    let opts = DecodeOptions {
        understood_crit: vec!["x-unknown".into()],
        ..Default::default()
    };
    assert!(decode(&token, &JwkSet::default(), &set(&[&key]), &opts).is_ok());
}

#[test]
fn malformed_truncated_and_oversized_input_is_refused() {
    let (token, keys) = es256_token();
    let inputs = [
        String::new(),
        ".".into(),
        "..".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        token[..token.len() - 5].to_string(),
        token.rsplit_once('.').unwrap().0.to_string(),
        format!("{token}."),
        token.replacen('.', "=.", 1),
        // A character outside the base64url alphabet (always present, unlike a '-' to swap).
        format!("{}+", &token[..token.len() - 1]),
        format!(" {token}"),
        format!("{{{token}"),
        format!("{}.{}.{}", b64("not json"), b64("{}"), b64("x")),
        format!("{}.{}.{}", b64("[1]"), b64("{}"), b64("x")),
        format!(
            "{}.{}.{}",
            b64(r#"{"alg":"ES256","alg":"none"}"#),
            b64("{}"),
            b64("x")
        ),
        format!("{}.{}.{}", b64(r#"{"alg":7}"#), b64("{}"), b64("x")),
        format!("{}.{}.{}", b64(r#"{"alg":"HS256 "}"#), b64("{}"), b64("x")),
        format!(
            "{}.{}.{}",
            b64(r#"{"alg":"ES256","zip":"DEF"}"#),
            b64("{}"),
            b64("x")
        ),
        "é.é.é".into(),
    ];
    for input in inputs {
        assert!(decode_signed(&input, &keys).is_err(), "{input:.60}");
    }
    let huge = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"ES256"}"#),
        "A".repeat(300_000),
        b64("x")
    );
    assert!(matches!(
        decode_signed(&huge, &keys),
        Err(JoseError::TooLarge { .. })
    ));
    // Claims with duplicate members are refused even under a valid signature.
    let key = signing_key(SigAlg::HS256);
    let mut header = ostiary_jose::Header::new();
    header.insert("alg".into(), "HS256".into());
    let dup = sign_jws(&header, br#"{"sub":"u","sub":"admin"}"#, &key).unwrap();
    assert!(matches!(
        decode_signed(&dup, &set(&[&key])),
        Err(JoseError::Json { .. })
    ));
}

#[test]
fn encryption_without_a_signature_is_refused_by_default() {
    let (token, keys) = jwe_token(KeyAlg::A128Kw, EncAlg::A128Gcm);
    assert_eq!(
        decode(&token, &keys, &JwkSet::default(), &DecodeOptions::default()).unwrap_err(),
        JoseError::Unsigned
    );
}

#[test]
fn a_nested_token_must_hold_a_signed_jws() {
    let key = encryption_key(KeyAlg::A256Kw, EncAlg::A256Gcm);
    let keys = set(&[&key]);
    let mut header = ostiary_jose::Header::new();
    header.insert("alg".into(), "A256KW".into());
    header.insert("enc".into(), "A256GCM".into());
    header.insert("cty".into(), "JWT".into());
    // `cty: JWT` around an unsigned inner token: refused unless unsigned tokens are allowed.
    let unsigned_inner = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(r#"{"sub":"admin"}"#)
    );
    let token = ostiary_jose::encrypt_jwe(&header, unsigned_inner.as_bytes(), &key).unwrap();
    assert_eq!(
        decode(&token, &keys, &JwkSet::default(), &DecodeOptions::default()).unwrap_err(),
        JoseError::Unsigned
    );
    // `cty: JWT` around another JWE: refused always.
    let (inner_jwe, _) = jwe_token(KeyAlg::A128Kw, EncAlg::A128Gcm);
    let token = ostiary_jose::encrypt_jwe(&header, inner_jwe.as_bytes(), &key).unwrap();
    assert!(matches!(
        decode(&token, &keys, &JwkSet::default(), &lenient()),
        Err(JoseError::Malformed(_))
    ));
    // `cty: JWT` around something that is not a token at all.
    let token = ostiary_jose::encrypt_jwe(&header, br#"{"sub":"admin"}"#, &key).unwrap();
    assert!(decode(&token, &keys, &JwkSet::default(), &lenient()).is_err());
}

#[test]
fn keys_below_the_minimum_size_are_refused() {
    // RFC 7518 §3.2: an HMAC key at least as long as the hash.
    let short = Jwk::symmetric(&[1u8; 16]).unwrap();
    let opts = EncodeOptions {
        sig_alg: Some(SigAlg::HS256),
        ..Default::default()
    };
    assert!(matches!(
        encode(&claims(json!({})), &opts, &set(&[&short]), None),
        Err(JoseError::NoKey { .. })
    ));
    // The same rule when verifying: a token MACed with a 16-byte key, genuine as it is, is not
    // accepted with that key.
    let token = {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let input = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(br#"{"sub":"x"}"#));
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[1u8; 16]);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    };
    let verified = decode(
        &token,
        &JwkSet::default(),
        &set(&[&short]),
        &DecodeOptions::default(),
    );
    assert!(
        matches!(verified, Err(JoseError::NoKey { .. })),
        "{verified:?}"
    );
    // RFC 7518 §3.3: RSA keys of 2048 bits or more (the RFC 7520 §3.3 key cut to 1024 bits).
    let mut small: serde_json::Value = serde_json::from_str(rfc7520::s3_3::KEY).unwrap();
    let n = small["n"].as_str().unwrap().to_string();
    small["n"] = n[..171].to_string().into();
    assert!(Jwk::from_json(&small.to_string()).is_err());
}
