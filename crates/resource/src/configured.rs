//! A resource server set up as the reference sets one up: a server description and a client
//! configuration of type resource server, stored by `ostiary client` (or the portal). From them
//! come the issuer's keys, the resource server's own keys and secret (for encrypted tokens), its
//! audience, and its credentials for introspection; the userinfo endpoint gives the user's claims
//! (the reference's "resource server calls the userinfo endpoint" variation).

use std::sync::Arc;

use async_trait::async_trait;
use ostiary_client::{Client, ClientConfiguration, ServerDescription};
use serde_json::{Map, Value};

use crate::bearer::BearerError;
use crate::check::TokenCheck;
use crate::introspection::{IntrospectionConfig, Introspector};
use crate::validator::{KeySource, Validated, Validator, ValidatorConfig};

/// Everything a resource server checks tokens with, from its stored configuration.
#[derive(Debug)]
pub struct ResourceServer {
    /// Local validation of JWT access tokens; the audience is the resource server's client id.
    pub validator: Arc<Validator>,
    /// Introspection, when the server has the endpoint.
    pub introspector: Option<Arc<Introspector>>,
    userinfo_endpoint: Option<String>,
    http: reqwest::Client,
}

impl ResourceServer {
    /// From a server description and the resource server's client configuration.
    pub fn from_configuration(
        server: &ServerDescription,
        client: &ClientConfiguration,
    ) -> Result<Self, String> {
        let http = ostiary_client::http::client_for(server).map_err(|e| e.to_string())?;
        let keys = match &server.metadata.jwks_uri {
            Some(uri) => KeySource::Uri(uri.clone()),
            None => KeySource::Static(server.keys()),
        };
        let mut config = ValidatorConfig::new(&server.issuer, keys);
        config.audience = Some(client.client_id.clone());
        config.decrypt_with = client.private_keys()?.unwrap_or_default();
        config.client_secret = client.client_secret.clone();
        let introspector = server
            .metadata
            .introspection_endpoint
            .as_ref()
            .map(|endpoint| {
                let config = IntrospectionConfig::for_client(endpoint, client.clone());
                Arc::new(Introspector::with_http(config, http.clone()))
            });
        Ok(ResourceServer {
            validator: Arc::new(Validator::with_http(config, http.clone())),
            introspector,
            userinfo_endpoint: server.metadata.userinfo_endpoint.clone(),
            http,
        })
    }

    /// Requires `audience` in JWT access tokens instead of the client id (none: any audience).
    pub fn with_audience(self, audience: Option<&str>) -> Self {
        self.configure(|config| config.audience = audience.map(str::to_owned))
    }

    /// The JWT validator's configuration changed by `change` (a `token_type`, say).
    pub fn configure(mut self, change: impl FnOnce(&mut ValidatorConfig)) -> Self {
        let mut config = self.validator.config().clone();
        change(&mut config);
        self.validator = Arc::new(Validator::with_http(config, self.http.clone()));
        self
    }

    /// From the configuration stored under the application name `app`.
    pub async fn load(client: &Client, app: &str) -> Result<Self, String> {
        let (config, server) = client.app(app).await.map_err(|e| e.to_string())?;
        ResourceServer::from_configuration(&server, &config)
    }

    /// The claims of the user `token` was issued for, from the userinfo endpoint (OpenID Connect
    /// Core §5.3): JSON, or a JWT signed by the issuer (and perhaps encrypted to whichever client
    /// the token belongs to — then unreadable here). The answer carries no scopes: check the token
    /// first.
    pub async fn userinfo(&self, token: &str) -> Result<Map<String, Value>, BearerError> {
        let endpoint = self.userinfo_endpoint.as_deref().ok_or_else(|| {
            BearerError::Unavailable("the issuer has no userinfo endpoint".into())
        })?;
        let unavailable = |e: String| {
            tracing::warn!(error = %e, "userinfo failed");
            BearerError::Unavailable("the user's claims cannot be had now".into())
        };
        let response = self
            .http
            .get(endpoint)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(BearerError::InvalidToken("the token is not active".into()));
        }
        if status == reqwest::StatusCode::FORBIDDEN {
            return Err(BearerError::InsufficientScope {
                scope: "openid".into(),
            });
        }
        if !status.is_success() {
            return Err(unavailable(format!("userinfo answered {status}")));
        }
        let is_jwt = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/jwt"));
        let body = response
            .text()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !is_jwt {
            return serde_json::from_str(&body).map_err(|e| unavailable(e.to_string()));
        }
        let decoded = self.validator.open(body.trim()).await?;
        if decoded.claims.get("iss").and_then(Value::as_str)
            != Some(self.validator.config().issuer.as_str())
        {
            return Err(unavailable("a userinfo JWT from another issuer".into()));
        }
        Ok(decoded.claims)
    }
}

/// A JWT-shaped token is validated locally; any other is introspected (when possible).
#[async_trait]
impl TokenCheck for ResourceServer {
    async fn check(&self, token: &str, scopes: &[&str]) -> Result<Validated, BearerError> {
        match (&self.introspector, token.split('.').count()) {
            (_, 3 | 5) | (None, _) => self.validator.validate(token, scopes).await,
            (Some(introspector), _) => introspector.validate(token, scopes).await,
        }
    }
}
