//! decode(encode(x)) == x for random claims and every algorithm and algorithm pair.

use std::sync::LazyLock;

use ostiary_jose::{
    DecodeOptions, EncAlg, EncodeOptions, Jwk, JwkSet, KeyAlg, SigAlg, decode, encode,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::support::{all_jwe_pairs, encryption_key, signing_key};

/// One way of protecting a token, with the keys it needs.
struct Case {
    opts: EncodeOptions,
    signer: Option<Jwk>,
    recipient: Option<Jwk>,
}

static CASES: LazyLock<Vec<Case>> = LazyLock::new(|| {
    let mut cases: Vec<Case> = SigAlg::ALL
        .iter()
        .map(|alg| Case {
            opts: EncodeOptions {
                sig_alg: Some(*alg),
                ..Default::default()
            },
            signer: Some(signing_key(*alg)),
            recipient: None,
        })
        .collect();
    for (key_alg, enc) in all_jwe_pairs() {
        // Encrypted only, and nested under a signature algorithm that rotates with the pair.
        let sig_alg = SigAlg::ALL[cases.len() % SigAlg::ALL.len()];
        let recipient = encryption_key(key_alg, enc);
        let opts = EncodeOptions {
            key_alg: Some(key_alg),
            enc: Some(enc),
            allow_rsa1_5: true,
            ..Default::default()
        };
        cases.push(Case {
            opts: opts.clone(),
            signer: None,
            recipient: Some(recipient.clone()),
        });
        cases.push(Case {
            opts: EncodeOptions {
                sig_alg: Some(sig_alg),
                ..opts
            },
            signer: Some(signing_key(sig_alg)),
            recipient: Some(recipient),
        });
    }
    cases
});

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
    ]
}

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    let value = leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map("[a-zA-Z_:/.]{1,12}", value, 0..8)
        .prop_map(|m| m.into_iter().collect())
}

fn public_or_secret(key: &Jwk) -> JwkSet {
    JwkSet::from(key.to_public().unwrap_or_else(|| key.clone()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_the_identity(claims in claims(), index in 0usize..1000) {
        let case = &CASES[index % CASES.len()];
        let signer = case.signer.clone().map(JwkSet::from).unwrap_or_default();
        let recipient = case.recipient.as_ref().map(public_or_secret);
        let token = encode(&claims, &case.opts, &signer, recipient.as_ref()).unwrap();
        let verify_with = case.signer.as_ref().map(public_or_secret).unwrap_or_default();
        let decrypt_with = case.recipient.clone().map(JwkSet::from).unwrap_or_default();
        let opts = DecodeOptions { allow_unsigned: case.signer.is_none(), allow_rsa1_5: true, ..Default::default() };
        let decoded = decode(&token, &decrypt_with, &verify_with, &opts).unwrap();
        prop_assert_eq!(decoded.claims, claims);
        prop_assert_eq!(decoded.security.sigalg, case.opts.sig_alg);
        prop_assert_eq!(decoded.security.keyalg, case.opts.key_alg);
        prop_assert_eq!(decoded.security.encalg, case.opts.enc);
    }

    #[test]
    fn arbitrary_text_never_panics_the_decoder(text in ".{0,200}", dots in prop::collection::vec(0usize..200, 0..5)) {
        let mut token = text;
        for d in dots {
            let at = token.char_indices().nth(d).map(|(i, _)| i).unwrap_or(token.len());
            token.insert(at, '.');
        }
        let keys = JwkSet::from(signing_key(SigAlg::HS256));
        let opts = DecodeOptions { allow_unsigned: true, allow_rsa1_5: true, ..Default::default() };
        prop_assert!(decode(&token, &keys, &keys, &opts).is_err());
    }
}

#[test]
fn every_pair_is_covered() {
    assert_eq!(
        CASES.len(),
        SigAlg::ALL.len() + 2 * KeyAlg::ALL.len() * EncAlg::ALL.len()
    );
}
