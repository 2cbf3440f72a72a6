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

/// The portal's pages and, under `/api`, the admin JSON API: for `/admin`. `client` is the
/// client runtime whose server descriptions and client configurations they manage.
pub fn router(
    store: std::sync::Arc<dyn ostiary_server::store::ServerStore>,
    client: ostiary_client::Client,
    metrics: std::sync::Arc<ostiary_server::metrics::Metrics>,
) -> axum::Router {
    // A service, not a nested router, so that the API's own fallback answers under /api.
    pages::router(store.clone(), client.clone(), metrics)
        .nest_service("/api", api::router(store, client))
}
