//! The HTTP side of every call: one reqwest client per trust setting, TLS required outside
//! loopback (DESIGN.md, security defaults), bounded time, and answers read as JSON or as the
//! OAuth error they carry.

use std::time::Duration;

use ostiary_core::ErrorResponse;
use serde_json::Value;

use crate::config::ServerDescription;
use crate::error::{ClientError, ClientResult};

/// Longest a call to a server may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// An HTTP client that trusts the system roots and, when given, the CA file of `server`.
pub fn client_for(server: &ServerDescription) -> ClientResult<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        // Redirects would carry credentials to wherever the server points: none are followed.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &server.ca_file {
        let pem =
            std::fs::read(path).map_err(|e| ClientError::Config(format!("CA file {path}: {e}")))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ClientError::Config(format!("CA file {path}: {e}")))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| ClientError::Config(e.to_string()))
}

/// Refuses plain HTTP except to loopback hosts.
pub fn check_url(url: &str) -> ClientResult<reqwest::Url> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| ClientError::Config(format!("\"{url}\" is not a URL")))?;
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(ClientError::Config(format!(
            "\"{url}\" must use https (plain http is for loopback only)"
        ))),
    }
}

/// Sends `request` and reads a JSON object; an OAuth error body becomes [`ClientError::Refused`].
pub async fn json(request: reqwest::RequestBuilder) -> ClientResult<Value> {
    let response = request
        .send()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    read_json(response).await
}

async fn read_json(response: reqwest::Response) -> ClientResult<Value> {
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    if !status.is_success() {
        if let Ok(error) = serde_json::from_str::<ErrorResponse>(&text) {
            return Err(ClientError::Refused(error));
        }
        return Err(ClientError::Http(format!(
            "{status}: {}",
            text.chars().take(200).collect::<String>()
        )));
    }
    serde_json::from_str(&text).map_err(|e| ClientError::InvalidResponse(e.to_string()))
}

/// A response body: JSON, or a JWT (`application/jwt`).
#[derive(Debug)]
pub enum Body {
    Json(Value),
    Jwt(String),
}

/// Sends `request` and reads JSON or, when the server answers `application/jwt`, the token.
pub async fn json_or_jwt(request: reqwest::RequestBuilder) -> ClientResult<Body> {
    let response = request
        .send()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let jwt = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/jwt"));
    if !jwt || !response.status().is_success() {
        return read_json(response).await.map(Body::Json);
    }
    let text = response
        .text()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    Ok(Body::Jwt(text.trim().to_owned()))
}

/// Sends `request` and expects success with any body (revocation, deletion).
pub async fn expect_success(request: reqwest::RequestBuilder) -> ClientResult<()> {
    let response = request
        .send()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorResponse>(&text) {
        Ok(error) => Err(ClientError::Refused(error)),
        Err(_) => Err(ClientError::Http(status.to_string())),
    }
}
