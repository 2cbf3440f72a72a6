//! `/healthz` (the process answers) and `/readyz` (the store answers too).

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::Server;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(server): State<Server>) -> (StatusCode, &'static str) {
    match server.store().server_config().await {
        Ok(Some(_)) => (StatusCode::OK, "ready"),
        Ok(None) => (StatusCode::SERVICE_UNAVAILABLE, "not configured"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable"),
    }
}
