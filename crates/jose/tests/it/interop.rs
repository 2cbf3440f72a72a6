//! Cross-implementation tests against python `jwcrypto` (an independent JOSE implementation),
//! run through `interop/jose/oracle.py`. The test command installs it into `.venv`; when it is
//! missing these tests fail and say how to install it.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ostiary_jose::{
    Algorithm, Curve, DecodeOptions, EncodeOptions, Jwk, JwkSet, KeyAlg, SigAlg, decode, encode,
};
use serde_json::{Value, json};

use crate::support::{all_jwe_pairs, claims, encryption_key, signing_key};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn oracle(mode: &str, input: Value) -> Value {
    let python = std::env::var_os("OSTIARY_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run `scripts/test` (or `python3 -m venv .venv && .venv/bin/pip install -r interop/jose/requirements.txt`)",
        python.display()
    );
    let mut child = Command::new(&python)
        .arg(workspace().join("interop/jose/oracle.py"))
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the jwcrypto oracle");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "oracle {mode} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("oracle prints JSON")
}

/// A token protection to test in both directions.
struct Case {
    name: String,
    sign: Option<(SigAlg, Jwk)>,
    encrypt: Option<(KeyAlg, ostiary_jose::EncAlg, Jwk)>,
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = SigAlg::ALL
        .iter()
        .map(|a| Case {
            name: a.to_string(),
            sign: Some((*a, signing_key(*a))),
            encrypt: None,
        })
        .collect();
    for (key_alg, enc) in all_jwe_pairs() {
        cases.push(Case {
            name: format!("{key_alg}+{enc}"),
            sign: None,
            encrypt: Some((key_alg, enc, encryption_key(key_alg, enc))),
        });
    }
    let x25519 = Jwk::generate_ec(Curve::P384, Algorithm::Key(KeyAlg::EcdhEsA192Kw)).unwrap();
    cases.push(Case {
        name: "ECDH-ES+A192KW on P-384".into(),
        sign: None,
        encrypt: Some((KeyAlg::EcdhEsA192Kw, ostiary_jose::EncAlg::A192Gcm, x25519)),
    });
    for (sig, key_alg, enc) in [
        (
            SigAlg::PS384,
            KeyAlg::RsaOaep256,
            ostiary_jose::EncAlg::A256Gcm,
        ),
        (
            SigAlg::ES512,
            KeyAlg::EcdhEsA256Kw,
            ostiary_jose::EncAlg::A256CbcHs512,
        ),
        (
            SigAlg::EdDSA,
            KeyAlg::A128GcmKw,
            ostiary_jose::EncAlg::A128CbcHs256,
        ),
        (SigAlg::HS384, KeyAlg::Dir, ostiary_jose::EncAlg::A192Gcm),
    ] {
        cases.push(Case {
            name: format!("{sig} in {key_alg}+{enc}"),
            sign: Some((sig, signing_key(sig))),
            encrypt: Some((key_alg, enc, encryption_key(key_alg, enc))),
        });
    }
    cases
}

/// Every private key of the cases, once each.
fn all_private_keys(cases: &[Case]) -> Value {
    let mut seen = std::collections::HashSet::new();
    let keys: Vec<Value> = cases
        .iter()
        .flat_map(|c| {
            c.sign
                .iter()
                .map(|s| &s.1)
                .chain(c.encrypt.iter().map(|e| &e.2))
        })
        .filter(|k| seen.insert(k.kid.clone()))
        .map(Jwk::to_value)
        .collect();
    json!({ "keys": keys })
}

fn public(key: &Jwk) -> Jwk {
    key.to_public().unwrap_or_else(|| key.clone())
}

#[test]
fn tokens_ostiary_makes_are_read_by_jwcrypto() {
    let cases = cases();
    let c =
        claims(json!({"iss": "https://ostiary.example", "sub": "alice", "aud": ["rs"], "n": 42}));
    let tokens: Vec<String> = cases
        .iter()
        .map(|case| {
            let opts = EncodeOptions {
                sig_alg: case.sign.as_ref().map(|s| s.0),
                key_alg: case.encrypt.as_ref().map(|e| e.0),
                enc: case.encrypt.as_ref().map(|e| e.1),
                allow_rsa1_5: true,
                ..Default::default()
            };
            let signer = case
                .sign
                .as_ref()
                .map(|s| JwkSet::from(s.1.clone()))
                .unwrap_or_default();
            let recipient = case.encrypt.as_ref().map(|e| JwkSet::from(public(&e.2)));
            encode(&c, &opts, &signer, recipient.as_ref()).unwrap()
        })
        .collect();
    let out = oracle(
        "decode",
        json!({ "jwks": all_private_keys(&cases), "tokens": tokens }),
    );
    assert_eq!(
        out["jwks_errors"].as_array().map(Vec::len),
        Some(0),
        "{}",
        out["jwks_errors"]
    );
    for (case, result) in cases.iter().zip(out["results"].as_array().unwrap()) {
        assert_eq!(result["ok"], true, "{}: {}", case.name, result["error"]);
        let payload: Value = serde_json::from_str(result["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload, Value::Object(c.clone()), "{}", case.name);
    }
}

#[test]
fn tokens_jwcrypto_makes_are_read_by_ostiary() {
    let cases = cases();
    let payload = json!({"iss": "https://jwcrypto.example", "sub": "bob", "scope": "openid"});
    let jobs: Vec<Value> = cases
        .iter()
        .map(|case| {
            json!({
                "payload": payload.to_string(),
                "sign": case.sign.as_ref().map(|(alg, key)| json!({"alg": alg.name(), "jwk": key.to_value()})),
                "encrypt": case.encrypt.as_ref().map(|(alg, enc, key)| json!({"alg": alg.name(), "enc": enc.name(), "jwk": public(key).to_value()})),
            })
        })
        .collect();
    let out = oracle("encode", json!({ "jobs": jobs }));
    for (case, token) in cases.iter().zip(out["tokens"].as_array().unwrap()) {
        let token = token
            .as_str()
            .unwrap_or_else(|| panic!("{}: jwcrypto made no token: {}", case.name, out["errors"]));
        let decrypt_with = case
            .encrypt
            .as_ref()
            .map(|e| JwkSet::from(e.2.clone()))
            .unwrap_or_default();
        let verify_with = case
            .sign
            .as_ref()
            .map(|s| JwkSet::from(public(&s.1)))
            .unwrap_or_default();
        let opts = DecodeOptions {
            allow_unsigned: case.sign.is_none(),
            allow_rsa1_5: true,
            ..Default::default()
        };
        let decoded = decode(token, &decrypt_with, &verify_with, &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(Value::Object(decoded.claims), payload, "{}", case.name);
        assert_eq!(decoded.security.sigalg, case.sign.as_ref().map(|s| s.0));
        assert_eq!(decoded.security.keyalg, case.encrypt.as_ref().map(|e| e.0));
    }
}

#[test]
fn keys_jwcrypto_makes_parse_with_the_same_thumbprints() {
    let specs = json!({"specs": [
        {"kty": "RSA", "size": 2048}, {"kty": "EC", "crv": "P-256"}, {"kty": "EC", "crv": "P-384"},
        {"kty": "EC", "crv": "P-521"}, {"kty": "OKP", "crv": "Ed25519"}, {"kty": "OKP", "crv": "X25519"},
        {"kty": "oct", "size": 256},
    ]});
    let out = oracle("keygen", specs);
    for value in out["keys"].as_array().unwrap() {
        let key = Jwk::from_object(value.as_object().unwrap().clone()).unwrap();
        assert!(key.is_private());
        assert_eq!(
            key.kid.as_deref(),
            Some(key.thumbprint().as_str()),
            "{}",
            key.kty()
        );
    }
}
