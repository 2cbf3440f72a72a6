//! Sign/verify per JWS algorithm and encrypt/decrypt per JWE algorithm pair, on a typical set of
//! ID token claims. `bench/jose.sh` runs these pinned to one core next to `openssl speed` and
//! writes the comparison to bench/README.md.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ostiary_jose::{
    Algorithm, DecodeOptions, EncAlg, EncodeOptions, Jwk, JwkSet, KeyAlg, SigAlg, decode, encode,
};
use serde_json::{Map, Value, json};

fn claims() -> Map<String, Value> {
    json!({
        "iss": "https://as.example.com/oauth2", "sub": "248289761001", "aud": "s6BhdRkqt3",
        "nonce": "n-0S6_WzA2Mj", "exp": 1_900_000_000, "iat": 1_800_000_000, "auth_time": 1_800_000_000,
        "name": "Jane Doe", "email": "janedoe@example.com", "email_verified": true,
    })
    .as_object()
    .cloned()
    .unwrap()
}

fn public_or_secret(key: &Jwk) -> JwkSet {
    JwkSet::from(key.to_public().unwrap_or_else(|| key.clone()))
}

fn jws(c: &mut Criterion) {
    let claims = claims();
    let mut sign = c.benchmark_group("sign");
    let keys: Vec<(SigAlg, Jwk)> = SigAlg::ALL
        .iter()
        .map(|a| (*a, Jwk::generate(Algorithm::Sig(*a)).unwrap()))
        .collect();
    for (alg, key) in &keys {
        let signer = JwkSet::from(key.clone());
        let opts = EncodeOptions {
            sig_alg: Some(*alg),
            ..Default::default()
        };
        sign.bench_function(BenchmarkId::from_parameter(alg), |b| {
            b.iter(|| encode(&claims, &opts, &signer, None).unwrap())
        });
    }
    sign.finish();
    let mut verify = c.benchmark_group("verify");
    for (alg, key) in &keys {
        let opts = EncodeOptions {
            sig_alg: Some(*alg),
            ..Default::default()
        };
        let token = encode(&claims, &opts, &JwkSet::from(key.clone()), None).unwrap();
        let public = public_or_secret(key);
        let none = JwkSet::default();
        let dopts = DecodeOptions::default();
        verify.bench_function(BenchmarkId::from_parameter(alg), |b| {
            b.iter(|| decode(&token, &none, &public, &dopts).unwrap())
        });
    }
    verify.finish();
}

fn jwe(c: &mut Criterion) {
    let claims = claims();
    let rsa = Jwk::generate_rsa(2048, Algorithm::Key(KeyAlg::RsaOaep)).map(|mut k| {
        k.alg = None;
        k
    });
    let rsa = rsa.unwrap();
    let mut encrypt = c.benchmark_group("encrypt");
    let mut tokens = Vec::new();
    for key_alg in KeyAlg::ALL {
        for enc in EncAlg::ALL {
            let key = match key_alg {
                KeyAlg::Rsa1_5 | KeyAlg::RsaOaep | KeyAlg::RsaOaep256 => rsa.clone(),
                KeyAlg::Dir => Jwk::generate(Algorithm::Enc(*enc)).unwrap(),
                other => Jwk::generate(Algorithm::Key(*other)).unwrap(),
            };
            let recipient = public_or_secret(&key);
            let opts = EncodeOptions {
                key_alg: Some(*key_alg),
                enc: Some(*enc),
                allow_rsa1_5: true,
                ..Default::default()
            };
            let id = format!("{key_alg}+{enc}");
            encrypt.bench_function(&id, |b| {
                b.iter(|| encode(&claims, &opts, &JwkSet::default(), Some(&recipient)).unwrap())
            });
            tokens.push((
                id,
                encode(&claims, &opts, &JwkSet::default(), Some(&recipient)).unwrap(),
                key,
            ));
        }
    }
    encrypt.finish();
    let mut decrypt = c.benchmark_group("decrypt");
    let dopts = DecodeOptions {
        allow_unsigned: true,
        allow_rsa1_5: true,
        ..Default::default()
    };
    for (id, token, key) in &tokens {
        let keys = JwkSet::from(key.clone());
        let none = JwkSet::default();
        decrypt.bench_function(id, |b| {
            b.iter(|| decode(token, &keys, &none, &dopts).unwrap())
        });
    }
    decrypt.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = jws, jwe }
criterion_main!(benches);
