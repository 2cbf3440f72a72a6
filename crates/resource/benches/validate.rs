//! Access token validations per second: a JWT access token (RS256, ES256) through
//! `Validator::validate` with its keys cached — extraction left out, claim and scope checks in —
//! with and without the verified-token cache, and an opaque token through
//! `Introspector::validate` answered from its cache.
//! `bench/resource.sh` runs this pinned to one core next to `openssl speed`'s raw verify rate.

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use ostiary_jose::{Algorithm, EncodeOptions, Jwk, JwkSet, SigAlg};
use ostiary_resource::{IntrospectionConfig, Introspector, KeySource, Validator, ValidatorConfig};
use serde_json::json;

fn validate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
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
        // Every validation checks the signature; then the same through the verified-token cache.
        let uncached = Validator::new(ValidatorConfig {
            cache_ttl: std::time::Duration::ZERO,
            ..config.clone()
        });
        let cached = Validator::new(config);
        for (name, validator) in [
            (alg.name().to_owned(), uncached),
            (format!("{alg}-cached"), cached),
        ] {
            runtime
                .block_on(validator.validate(&token, &["reports:read"]))
                .unwrap();
            group.bench_function(&name, |b| {
                b.iter(|| {
                    runtime
                        .block_on(validator.validate(&token, &["reports:read"]))
                        .unwrap()
                })
            });
        }
    }
    // Introspection answered from the cache: the stand-in endpoint is asked once, before timing.
    let (token, introspector) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/introspection", listener.local_addr().unwrap());
        let active = || async {
            axum::Json(json!({
                "active": true, "sub": "svc", "client_id": "svc", "scope": "reports:read",
                "exp": 4_000_000_000_i64,
            }))
        };
        let stand_in = axum::Router::new().route("/introspection", axum::routing::post(active));
        tokio::spawn(async move { axum::serve(listener, stand_in).await });
        let mut config = IntrospectionConfig::new(&endpoint, "api", "api-secret");
        config.max_ttl = std::time::Duration::from_secs(3600);
        let introspector = Introspector::new(config);
        let token = "2YotnFZFEjr1zCsicMWpAA-opaque-access-token";
        introspector
            .validate(token, &["reports:read"])
            .await
            .unwrap();
        (token, introspector)
    });
    group.bench_function("introspection-cached", |b| {
        b.iter(|| {
            runtime
                .block_on(introspector.validate(token, &["reports:read"]))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
