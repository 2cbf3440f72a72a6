//! The published examples of RFC 7515 Appendix A, RFC 7516 Appendix A, RFC 7520, RFC 7638 §3.1 and
//! RFC 8037 Appendix A, for every algorithm Ostiary implements.

use ostiary_jose::{
    DecodeOptions, JoseError, Jwk, JwkSet, decode, open, sign_jws, verify_detached,
};

use crate::vectors::{rfc7515, rfc7516, rfc7520, rfc7638, rfc8037};

fn key(json: &str) -> Jwk {
    Jwk::from_json(json).expect("published key parses")
}

/// Verifies a published JWS and returns its payload as text.
fn verify(key_json: &str, compact: &str) -> String {
    let keys = JwkSet::from(key(key_json));
    let (payload, security, _, _) = open(
        compact,
        &JwkSet::default(),
        &keys,
        &DecodeOptions::default(),
    )
    .expect("verifies");
    assert!(security.sigalg.is_some());
    String::from_utf8(payload).unwrap()
}

/// Decrypts a published JWE (encrypted, not signed: allowed explicitly here).
fn decrypt(key_json: &str, compact: &str, rsa1_5: bool) -> Result<String, JoseError> {
    let keys = JwkSet::from(key(key_json));
    let opts = DecodeOptions {
        allow_unsigned: true,
        allow_rsa1_5: rsa1_5,
        ..Default::default()
    };
    let (payload, security, _, _) = open(compact, &keys, &JwkSet::default(), &opts)?;
    assert!(security.keyalg.is_some() && security.encalg.is_some() && security.sigalg.is_none());
    Ok(String::from_utf8(payload).unwrap())
}

#[test]
fn rfc7515_appendix_a_signatures_verify() {
    assert_eq!(
        verify(rfc7515::a1::KEY, rfc7515::a1::COMPACT),
        rfc7515::a1::PAYLOAD
    );
    assert_eq!(
        verify(rfc7515::a2::KEY, rfc7515::a2::COMPACT),
        rfc7515::a2::PAYLOAD
    );
    assert_eq!(
        verify(rfc7515::a3::KEY, rfc7515::a3::COMPACT),
        rfc7515::a3::PAYLOAD
    );
    assert_eq!(
        verify(rfc7515::a4::KEY, rfc7515::a4::COMPACT),
        rfc7515::a4::PAYLOAD
    );
}

#[test]
fn rfc7516_appendix_a_tokens_decrypt() {
    assert_eq!(
        decrypt(rfc7516::a1::KEY, rfc7516::a1::COMPACT, false).unwrap(),
        rfc7516::a1::PAYLOAD
    );
    assert_eq!(
        decrypt(rfc7516::a2::KEY, rfc7516::a2::COMPACT, true).unwrap(),
        rfc7516::a2::PAYLOAD
    );
    assert_eq!(
        decrypt(rfc7516::a3::KEY, rfc7516::a3::COMPACT, false).unwrap(),
        rfc7516::a3::PAYLOAD
    );
}

#[test]
fn rfc7516_a2_rsa1_5_is_refused_unless_enabled() {
    assert_eq!(
        decrypt(rfc7516::a2::KEY, rfc7516::a2::COMPACT, false),
        Err(JoseError::AlgorithmNotAllowed("RSA1_5".into()))
    );
}

#[test]
fn rfc7520_section4_signatures_verify() {
    use rfc7520::*;
    for (k, compact, payload) in [
        (s4_1::KEY, s4_1::COMPACT, s4_1::PAYLOAD),
        (s4_2::KEY, s4_2::COMPACT, s4_2::PAYLOAD),
        (s4_3::KEY, s4_3::COMPACT, s4_3::PAYLOAD),
        (s4_4::KEY, s4_4::COMPACT, s4_4::PAYLOAD),
    ] {
        assert_eq!(verify(k, compact), payload, "{compact:.40}");
    }
}

#[test]
fn rfc7520_deterministic_signatures_are_reproduced_byte_for_byte() {
    use rfc7520::*;
    for (k, compact, payload) in [
        (s4_1::KEY, s4_1::COMPACT, s4_1::PAYLOAD),
        (s4_4::KEY, s4_4::COMPACT, s4_4::PAYLOAD),
    ] {
        let header = ostiary_jose::insecure_peek_header(compact).unwrap();
        assert_eq!(
            sign_jws(&header, payload.as_bytes(), &key(k)).unwrap(),
            compact
        );
    }
}

#[test]
fn rfc7520_4_5_detached_content_verifies() {
    use rfc7520::s4_5;
    let keys = JwkSet::from(key(s4_5::KEY));
    assert!(verify_detached(s4_5::COMPACT, s4_5::PAYLOAD.as_bytes(), &keys, &[]).is_ok());
    assert_eq!(
        verify_detached(s4_5::COMPACT, b"another payload", &keys, &[]),
        Err(JoseError::BadSignature)
    );
}

#[test]
fn rfc7520_section5_tokens_decrypt() {
    use rfc7520::*;
    for (k, compact, payload, rsa1_5) in [
        (s5_1::KEY, s5_1::COMPACT, s5_1::PAYLOAD, true),
        (s5_2::KEY, s5_2::COMPACT, s5_2::PAYLOAD, false),
        (s5_4::KEY, s5_4::COMPACT, s5_4::PAYLOAD, false),
        (s5_5::KEY, s5_5::COMPACT, s5_5::PAYLOAD, false),
        (s5_6::KEY, s5_6::COMPACT, s5_6::PAYLOAD, false),
        (s5_7::KEY, s5_7::COMPACT, s5_7::PAYLOAD, false),
        (s5_8::KEY, s5_8::COMPACT, s5_8::PAYLOAD, false),
    ] {
        assert_eq!(
            decrypt(k, compact, rsa1_5).as_deref(),
            Ok(payload),
            "{compact:.40}"
        );
    }
}

#[test]
fn rfc7520_5_9_compressed_content_is_refused() {
    use rfc7520::s5_9;
    assert_eq!(
        decrypt(s5_9::KEY, s5_9::COMPACT, false),
        Err(JoseError::Compressed)
    );
}

#[test]
fn rfc7520_section6_nested_token_decrypts_then_verifies() {
    use rfc7520::s6;
    let decryption = JwkSet::from(key(s6::ENCRYPTION_KEY));
    let verification = JwkSet::from(key(s6::SIGNING_KEY).to_public().unwrap());
    let decoded = decode(
        s6::COMPACT,
        &decryption,
        &verification,
        &DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(
        serde_json::Value::Object(decoded.claims).to_string(),
        s6::PAYLOAD
    );
    assert_eq!(
        decoded.security.sigalg.map(|a| a.name()),
        Some(s6::SIGNING_ALG)
    );
    assert_eq!(decoded.security.keyalg.map(|a| a.name()), Some(s6::ALG));
    assert_eq!(decoded.security.encalg.map(|a| a.name()), Some(s6::ENC));
    // The raw header returned is the inner (signed) one, as JWTToObject does.
    assert_eq!(decoded.header["alg"], "PS256");
    assert_eq!(decoded.outer_header.unwrap()["cty"], "JWT");
    // The inner JWS verifies on its own too.
    assert_eq!(verify(s6::SIGNING_KEY, s6::INNER_JWS), s6::PAYLOAD);
}

#[test]
fn rfc7520_section3_keys_parse_and_round_trip() {
    use rfc7520::*;
    for k in [
        s3_1::KEY,
        s3_2::KEY,
        s3_3::KEY,
        s3_4::KEY,
        s3_5::KEY,
        s3_6::KEY,
    ] {
        let parsed = key(k);
        let again = Jwk::from_json(&parsed.to_value().to_string()).unwrap();
        assert_eq!(parsed, again);
        let original: serde_json::Value = serde_json::from_str(k).unwrap();
        assert_eq!(
            parsed.to_value(),
            original,
            "serialization keeps every member"
        );
    }
    assert!(!key(s3_1::KEY).is_private() && key(s3_2::KEY).is_private());
    assert_eq!(key(s3_2::KEY).to_public().unwrap(), key(s3_1::KEY));
    assert_eq!(key(s3_4::KEY).to_public().unwrap(), key(s3_3::KEY));
    assert!(
        key(s3_5::KEY).to_public().is_none(),
        "symmetric keys have no public half"
    );
}

#[test]
fn rfc7638_3_1_thumbprint() {
    assert_eq!(
        key(rfc7638::s3_1::KEY).thumbprint(),
        rfc7638::s3_1::THUMBPRINT
    );
}

#[test]
fn rfc8037_a4_ed25519_signature_is_reproduced_and_verifies() {
    assert_eq!(
        verify(rfc8037::a4::KEY, rfc8037::a4::COMPACT),
        rfc8037::a4::PAYLOAD
    );
    let header = ostiary_jose::insecure_peek_header(rfc8037::a4::COMPACT).unwrap();
    let signed = sign_jws(
        &header,
        rfc8037::a4::PAYLOAD.as_bytes(),
        &key(rfc8037::a4::KEY),
    )
    .unwrap();
    assert_eq!(signed, rfc8037::a4::COMPACT);
}
