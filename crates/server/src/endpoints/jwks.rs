//! `GET /jwks`: the public half of the server's key ring (current and previous keys).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ServerResult;
use crate::state::Server;

pub async fn get(State(server): State<Server>) -> ServerResult<Response> {
    let keys = server.keys().await?;
    let mut response = Json(keys.public_set()).into_response();
    // Short, so that rotation reaches clients quickly.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}
