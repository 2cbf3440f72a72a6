//! The management portal (`pages`) and the admin JSON API (`api`) for every configuration item.
//! `admin` is the one implementation behind them and `ostiary admin`: each operation checked,
//! applied and audited.

pub mod admin;
pub mod api;
mod form;
mod openapi;
pub mod pages;
pub mod relying;

pub use admin::{Admin, AdminError, AdminResult, TokensOf};

/// The portal's pages and, under `/api`, the admin JSON API, for `/admin`: they manage `server`'s
/// store (and reach its metrics and fetched client keys), and the server descriptions and client
/// configurations of the client runtime `client`.
pub fn router(server: ostiary_server::Server, client: ostiary_client::Client) -> axum::Router {
    // A service, not a nested router, so that the API's own fallback answers under /api.
    pages::router(server.clone(), client.clone()).nest_service("/api", api::router(server, client))
}
