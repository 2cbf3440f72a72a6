//! HTTP endpoints: extract, call the flow, respond. The router mounts them under the issuer path.

pub mod authorize;
pub mod discovery;
pub mod health;
pub mod interaction;
pub mod introspection;
pub mod jwks;
pub mod login;
pub mod logout;
pub mod register;
pub mod revocation;
pub mod token;
pub mod userinfo;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::state::Server;

/// Largest request body accepted by the form endpoints (RFC 8725 §3.15: bound input early).
pub const MAX_BODY: usize = 64 * 1024;

pub use ostiary_jose::clock::now;

/// The server's routes under `issuer_path` (e.g. `/oauth2`), plus `/healthz`, `/readyz` and the
/// RFC 8414 well-known URL at the root.
pub fn router(server: Server, issuer_path: &str) -> Router {
    let oauth = Router::new()
        .route("/authorize", get(authorize::get).post(authorize::post))
        .route("/login", post(login::login))
        .route("/consent", post(login::consent))
        .route("/token", post(token::post))
        .route("/introspection", post(introspection::post))
        .route("/revocation", post(revocation::post))
        .route("/userinfo", get(userinfo::get).post(userinfo::post))
        .route("/jwks", get(jwks::get))
        .route("/logout", get(logout::get).post(logout::post))
        .route("/register", post(register::register))
        .route(
            "/register/{client_id}",
            get(register::read)
                .put(register::update)
                .delete(register::delete),
        )
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::oauth_authorization_server),
        );
    Router::new()
        .nest(issuer_path, oauth)
        .route(
            &format!("/.well-known/oauth-authorization-server{issuer_path}"),
            get(discovery::oauth_authorization_server),
        )
        .route(
            &format!("/.well-known/openid-configuration{issuer_path}"),
            get(discovery::openid_configuration),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(server)
}
