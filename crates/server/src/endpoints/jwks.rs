//! `GET /jwks`: the public half of the server's key ring (current and previous keys).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ServerResult;
use crate::state::Server;

pub async fn get(State(server): State<Server>) -> ServerResult<Response> {
    let body = server.jwks_body(&server.keys().await?);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            // Short, so that rotation reaches clients quickly.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=60"),
            ),
        ],
        body,
    )
        .into_response())
}
