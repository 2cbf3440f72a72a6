//! The smallest resource server: one route that needs a JWT access token of `ISSUER` granting
//! `reports:read`, checked with the issuer's published keys (no other endpoint of the server used).
//!
//! ```sh
//! cargo run -p ostiary --example resource_server -- http://127.0.0.1:9000/oauth2 127.0.0.1:8081
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/reports
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use ostiary_resource::{Claims, Protected, Validator, guard};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let issuer = args.next().ok_or("usage: resource_server ISSUER [ADDR]")?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8081".into());
    // Any audience: tokens name the client they were issued to.
    let validator = Arc::new(Validator::discover(&issuer, None).await?);
    let reports: &'static [&'static str] = &["reports:read"];
    let app = Router::new().route(
        "/reports",
        get(|Claims(token): Claims| async move { Json(token.claims) }).layer(
            axum::middleware::from_fn_with_state((Protected::new(validator), reports), guard),
        ),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
