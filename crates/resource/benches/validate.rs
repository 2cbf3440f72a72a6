//! Access token validations per second: a JWT access token (RS256, ES256) through
//! `Validator::validate` with its keys cached — extraction left out, claim and scope checks in.
//! `bench/resource.sh` runs this pinned to one core next to `openssl speed`'s raw verify rate.

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use ostiary_jose::{Algorithm, EncodeOptions, Jwk, JwkSet, SigAlg};
use ostiary_resource::{KeySource, Validator, ValidatorConfig};
use serde_json::json;

fn validate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("validate");
    for alg in [SigAlg::RS256, SigAlg::ES256] {
        let key = Jwk::generate(Algorithm::Sig(alg)).unwrap();
        let keys = JwkSet::from(key);
        let claims = json!({
            "iss": "https://as.example/oauth2", "sub": "svc", "aud": "api", "client_id": "svc",
            "scope": "reports:read reports:write", "exp": 4_000_000_000_i64, "iat": 1_700_000_000,
            "jti": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        });
        let opts = EncodeOptions {
            sig_alg: Some(alg),
            typ: Some("at+jwt".into()),
            ..Default::default()
        };
        let token = ostiary_jose::encode(claims.as_object().unwrap(), &opts, &keys, None).unwrap();
        let mut config = ValidatorConfig::new("https://as.example/oauth2", KeySource::Static(keys));
        config.audience = Some("api".into());
        let validator = Validator::new(config);
        runtime
            .block_on(validator.validate(&token, &["reports:read"]))
            .unwrap();
        group.bench_function(alg.name(), |b| {
            b.iter(|| {
                runtime
                    .block_on(validator.validate(&token, &["reports:read"]))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
