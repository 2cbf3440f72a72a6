//! Request parameters of form-encoded endpoints (RFC 6749 §3.2): `application/x-www-form-urlencoded`
//! only, every parameter at most once (§3.1), empty values treated as absent.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;

use crate::error::ServerError;

/// The parameters of a POST form body.
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(body: &[u8]) -> Result<Self, ServerError> {
        let mut map = HashMap::new();
        for (name, value) in form_urlencoded::parse(body) {
            if map.insert(name.to_string(), value.to_string()).is_some() {
                return Err(ServerError::invalid_request(format!(
                    "parameter \"{name}\" is repeated"
                )));
            }
        }
        Ok(Params(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, ServerError> {
        self.get(name)
            .ok_or_else(|| ServerError::invalid_request(format!("missing parameter \"{name}\"")))
    }

    /// Every parameter with a value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn insert(&mut self, name: &str, value: String) {
        self.0.insert(name.to_owned(), value);
    }

    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ServerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ServerError> {
        let form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(ServerError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|_| {
            ServerError::invalid_request("the request body is too large or unreadable")
        })?;
        Params::parse(&body)
    }
}
