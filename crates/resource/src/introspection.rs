//! Token introspection (RFC 7662) for opaque tokens, with the resource server's own client
//! authentication and a bounded cache keyed by the token's hash: an active answer is reused until
//! the token's `exp` or `max_ttl`, whichever comes first; an inactive one for `inactive_ttl`.

use std::time::Duration;

use crate::bearer::BearerError;
use crate::cache::{TokenCache, ttl_until};
use crate::validator::Validated;
use ostiary_client::{ClientConfiguration, ClientKind, add_client_authentication};
use ostiary_core::AuthMethod;
use ostiary_jose::Security;
use serde_json::{Map, Value};

/// Where and as whom to introspect.
#[derive(Clone, Debug)]
pub struct IntrospectionConfig {
    pub endpoint: String,
    /// The resource server as a client of the authorization server: its id and how it
    /// authenticates (any method of `ostiary-client`: secret, client_secret_jwt, private_key_jwt).
    pub client: ClientConfiguration,
    /// The longest an active answer is reused.
    pub max_ttl: Duration,
    /// How long an inactive answer is reused (so that a flood of bad tokens costs one call each).
    pub inactive_ttl: Duration,
    /// The most answers kept.
    pub capacity: usize,
}

impl IntrospectionConfig {
    /// Introspection at `endpoint` as `client_id`, authenticated with HTTP Basic.
    pub fn new(endpoint: &str, client_id: &str, client_secret: &str) -> Self {
        let client = ClientConfiguration {
            app: client_id.to_owned(),
            kind: ClientKind::Resource,
            client_id: client_id.to_owned(),
            client_secret: Some(client_secret.to_owned()),
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            ..Default::default()
        };
        IntrospectionConfig::for_client(endpoint, client)
    }

    /// Introspection at `endpoint` as the client `client` describes.
    pub fn for_client(endpoint: &str, client: ClientConfiguration) -> Self {
        IntrospectionConfig {
            endpoint: endpoint.to_owned(),
            client,
            max_ttl: Duration::from_secs(60),
            inactive_ttl: Duration::from_secs(5),
            capacity: 10_000,
        }
    }
}

type Answer = Option<Map<String, Value>>;

/// Introspects tokens at the authorization server, remembering the answers for a while.
#[derive(Debug)]
pub struct Introspector {
    config: IntrospectionConfig,
    cache: TokenCache<Answer>,
    http: reqwest::Client,
}

impl Introspector {
    pub fn new(config: IntrospectionConfig) -> Self {
        Introspector::with_http(config, crate::validator::http_client())
    }

    /// An introspector that calls the server with `http`.
    pub fn with_http(config: IntrospectionConfig, http: reqwest::Client) -> Self {
        Introspector {
            cache: TokenCache::new(config.capacity),
            config,
            http,
        }
    }

    /// The token's claims when the server says it is active and it grants `scopes`.
    pub async fn validate(&self, token: &str, scopes: &[&str]) -> Result<Validated, BearerError> {
        let key = TokenCache::<Answer>::key(token);
        let answer = match self.cache.get(&key) {
            Some(answer) => answer,
            None => {
                let answer = self.ask(token).await?;
                let ttl = match &answer {
                    None => self.config.inactive_ttl,
                    Some(claims) => ttl_until(
                        claims.get("exp").and_then(Value::as_i64),
                        self.config.max_ttl,
                    ),
                };
                self.cache.insert(key, ttl, answer.clone());
                answer
            }
        };
        let claims =
            answer.ok_or_else(|| BearerError::InvalidToken("the token is not active".into()))?;
        let validated = Validated {
            claims,
            security: Security::default(),
        };
        validated.require(scopes)?;
        Ok(validated)
    }

    async fn ask(&self, token: &str) -> Result<Answer, BearerError> {
        let unavailable = |e: String| {
            tracing::warn!(error = %e, "introspection failed");
            BearerError::Unavailable("the token cannot be checked now".into())
        };
        let mut form = vec![("token".to_owned(), token.to_owned())];
        let request = self.http.post(&self.config.endpoint);
        let request = add_client_authentication(
            request,
            &mut form,
            &self.config.client,
            &self.config.endpoint,
        )
        .map_err(|e| unavailable(e.to_string()))?;
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!(
                "introspection answered {}",
                response.status()
            )));
        }
        let body: Map<String, Value> = response
            .json()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        Ok((body.get("active") == Some(&Value::Bool(true))).then_some(body))
    }
}
