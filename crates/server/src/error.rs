//! The one place where failures become HTTP responses. Protocol errors carry their RFC code;
//! internal failures never reach the wire as anything but `server_error` or
//! `temporarily_unavailable`, and are logged here.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ostiary_core::{ErrorCode, ErrorResponse};

use crate::hooks::HookError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A protocol error for the client, with the challenge to send when there is one.
    #[error("{error:?}")]
    OAuth {
        error: ErrorResponse,
        challenge: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No bearer token at all (RFC 6750 §3.1): 401 with a bare challenge, no error code.
    #[error("no bearer token")]
    MissingBearer,
    /// The deployment is misconfigured (no keys for an algorithm in use, …).
    #[error("configuration: {0}")]
    Config(String),
    /// A customization hook failed.
    #[error("hook: {0}")]
    Hook(String),
    /// Over a rate limit: 429, retry after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after: u64 },
}

impl From<HookError> for ServerError {
    fn from(e: HookError) -> Self {
        match e {
            HookError::Denied(why) => ServerError::oauth(ErrorCode::AccessDenied, why),
            HookError::Store(e) => ServerError::Store(e),
            HookError::Busy { retry_after } => ServerError::RateLimited { retry_after },
            HookError::Failed(why) => ServerError::Hook(why),
        }
    }
}

impl ServerError {
    pub fn oauth(code: ErrorCode, description: impl Into<String>) -> Self {
        ServerError::OAuth {
            error: ErrorResponse::with_description(code, description.into()),
            challenge: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::oauth(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::oauth(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_client`; with Basic credentials the 401 says how to authenticate (RFC 6749 §5.2).
    pub fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        ServerError::OAuth {
            error: ErrorResponse::with_description(ErrorCode::InvalidClient, description.into()),
            challenge: basic.then(|| "Basic realm=\"ostiary\"".to_owned()),
        }
    }

    /// An RFC 6750 bearer token error, with its `WWW-Authenticate` challenge.
    pub fn bearer(code: ErrorCode, description: &str) -> Self {
        let challenge = match code {
            ErrorCode::InvalidRequest | ErrorCode::InvalidToken | ErrorCode::InsufficientScope => {
                format!(
                    "Bearer realm=\"ostiary\", error=\"{}\", error_description=\"{}\"",
                    code_str(code),
                    description.replace('"', "'")
                )
            }
            _ => "Bearer realm=\"ostiary\"".to_owned(),
        };
        ServerError::OAuth {
            error: ErrorResponse::with_description(code, description.to_owned()),
            challenge: Some(challenge),
        }
    }
}

fn code_str(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        if let ServerError::RateLimited { retry_after } = self {
            let body = ErrorResponse::with_description(
                ErrorCode::TemporarilyUnavailable,
                format!("too many requests: retry in {retry_after} seconds"),
            );
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return response;
        }
        if matches!(self, ServerError::MissingBearer) {
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ostiary\""),
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return response;
        }
        let unavailable = matches!(self, ServerError::Store(StoreError::Unavailable(_)));
        let (body, challenge) = match self {
            // Answered above.
            ServerError::MissingBearer | ServerError::RateLimited { .. } => {
                (ErrorResponse::new(ErrorCode::InvalidRequest), None)
            }
            ServerError::OAuth { error, challenge } => (error, challenge),
            ServerError::Store(StoreError::Unavailable(reason)) => {
                tracing::error!(%reason, "storage unavailable");
                (
                    ErrorResponse::with_description(
                        ErrorCode::TemporarilyUnavailable,
                        "storage is unavailable, retry later",
                    ),
                    None,
                )
            }
            ServerError::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                (ErrorResponse::new(ErrorCode::ServerError), None)
            }
            ServerError::Hook(reason) => {
                tracing::error!(%reason, "customization hook failed");
                (ErrorResponse::new(ErrorCode::ServerError), None)
            }
            ServerError::Config(reason) => {
                tracing::error!(%reason, "server misconfiguration");
                (
                    ErrorResponse::with_description(
                        ErrorCode::ServerError,
                        "the server is misconfigured",
                    ),
                    None,
                )
            }
        };
        let status = StatusCode::from_u16(body.error.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if unavailable {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(STORAGE_RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// What a `503` for lost storage tells clients to wait: a database outage rarely ends sooner, and
/// a node answers at once (or after the pool's 3 s wait) while it lasts.
pub const STORAGE_RETRY_AFTER_SECONDS: u32 = 5;

pub type ServerResult<T> = Result<T, ServerError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A hook with too much work already (password checks queued) answers like a rate limit.
    #[test]
    fn a_busy_hook_is_429_with_retry_after() {
        let response = ServerError::from(HookError::Busy { retry_after: 1 }).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
