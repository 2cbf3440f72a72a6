//! A sample protected JSON API for the loopback load test of `bench/resource.sh`:
//! `protected_route MODE PORT` serves `POST /api/reports` (scope `reports:read`, the token in the
//! header or a form body) and the same answer unprotected at `POST /floor`, and prints on its first
//! line a token the route accepts. MODE: `RS256` or `ES256` (a JWT validated locally with static
//! keys, the signature checked on every request), `RS256-cached`/`ES256-cached` (the same through
//! the verified-token cache, the default), or `introspection` (an opaque token, introspected once
//! at a stand-in endpoint served by this process, then answered from the cache).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use ostiary_jose::{Algorithm, EncodeOptions, Jwk, JwkSet, SigAlg};
use ostiary_resource::{
    Claims, IntrospectionConfig, Introspector, KeySource, Methods, Protected, TokenCheck,
    Validator, ValidatorConfig, guard,
};
use serde_json::{Value, json};

const ISSUER: &str = "https://as.example/oauth2";

fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "svc", "aud": "api", "client_id": "svc",
        "scope": "reports:read reports:write", "exp": 4_000_000_000_i64, "iat": 1_700_000_000,
        "jti": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    })
}

/// A JWT signed with a new key of `alg`, and a validator holding that key that checks the
/// signature on every request, or once (`cached`: the verified-token cache).
fn jwt_check(alg: SigAlg, cached: bool) -> (String, Arc<dyn TokenCheck>) {
    let keys = JwkSet::from(Jwk::generate(Algorithm::Sig(alg)).unwrap());
    let opts = EncodeOptions {
        sig_alg: Some(alg),
        typ: Some("at+jwt".into()),
        ..Default::default()
    };
    let token = ostiary_jose::encode(claims().as_object().unwrap(), &opts, &keys, None).unwrap();
    let mut config = ValidatorConfig::new(ISSUER, KeySource::Static(keys));
    config.audience = Some("api".into());
    if !cached {
        config.cache_ttl = Duration::ZERO;
    }
    (token, Arc::new(Validator::new(config)))
}

/// An opaque token, and an introspector whose endpoint answers it as active.
async fn introspection_check() -> (String, Arc<dyn TokenCheck>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/introspection", listener.local_addr().unwrap());
    let answer = || async {
        let mut active = claims();
        active["active"] = true.into();
        Json(active)
    };
    let stand_in = axum::Router::new().route("/introspection", post(answer));
    tokio::spawn(async move { axum::serve(listener, stand_in).await });
    let mut config = IntrospectionConfig::new(&endpoint, "api", "api-secret");
    config.max_ttl = Duration::from_secs(3600);
    let token = "2YotnFZFEjr1zCsicMWpAA-opaque-access-token".to_owned();
    (token, Arc::new(Introspector::new(config)))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "ES256".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(18600);
    // One thread: the load test pins this process to one core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (token, check) = match mode.as_str() {
            "introspection" => introspection_check().await,
            alg => {
                let (alg, cached) = match alg.strip_suffix("-cached") {
                    Some(alg) => (alg, true),
                    None => (alg, false),
                };
                jwt_check(alg.parse().expect("RS256, ES256 or introspection"), cached)
            }
        };
        let mut protected = Protected::new(check);
        protected.methods = Methods {
            header: true,
            body: true,
            query: false,
        };
        let scopes: &'static [&'static str] = &["reports:read"];
        let reports = |claims: Option<Claims>| async move {
            let sub = claims.map(|Claims(token)| token.claims["sub"].clone());
            Json(json!({"reports": [{"id": 1, "title": "Q3"}], "for": sub}))
        };
        let app = axum::Router::new()
            .route(
                "/api/reports",
                post(reports).layer(axum::middleware::from_fn_with_state(
                    (protected, scopes),
                    guard,
                )),
            )
            .route("/floor", post(reports));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        println!("{token}");
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.unwrap();
    });
}
