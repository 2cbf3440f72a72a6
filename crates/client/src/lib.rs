//! The client (relying party) runtime: server descriptions and discovery, client configurations
//! and dynamic registration, the grants and calls of the reference's client API, and the token
//! store. Everything persists through [`store::RpStore`], which `ostiary-store` implements.
//!
//! ```ignore
//! let client = Client::new(store);
//! client.discover("https://as.example/oauth2", None).await?;
//! client.register("billing", "https://as.example/oauth2", metadata, None).await?;
//! let tokens = client.client_credentials("billing", Some("reports")).await?;
//! ```

pub mod auth;
pub mod authorization;
pub mod config;
pub mod error;
pub mod http;
pub mod id_token;
pub mod registration;
pub mod store;
pub mod web;

use std::sync::Arc;

use ostiary_core::{GrantType, ProviderMetadata};
use ostiary_jose::JwkSet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use auth::add_client_authentication;
use auth::now;
pub use config::{ClientConfiguration, ClientKind, ServerDescription};
pub use error::{ClientError, ClientResult};
use id_token::IdTokenError;
use store::RpStore;
pub use store::StoredTokens;

/// A token response (RFC 6749 §5.1), with any other members the server added.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The session name the command line keeps its tokens under.
pub const CLI_SESSION: &str = "cli";

/// The client runtime over a store. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    store: Arc<dyn RpStore>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(store: Arc<dyn RpStore>) -> Self {
        Client { store }
    }

    pub fn store(&self) -> &dyn RpStore {
        self.store.as_ref()
    }

    /// The server description of `issuer`.
    pub async fn server(&self, issuer: &str) -> ClientResult<ServerDescription> {
        self.store
            .server(issuer)
            .await?
            .ok_or_else(|| ClientError::Unknown {
                what: "server",
                name: issuer.to_owned(),
            })
    }

    /// The client configuration of `app`, and its server description.
    pub async fn app(&self, app: &str) -> ClientResult<(ClientConfiguration, ServerDescription)> {
        let config = self
            .store
            .configuration(app)
            .await?
            .ok_or_else(|| ClientError::Unknown {
                what: "application",
                name: app.to_owned(),
            })?;
        let server = self.server(&config.issuer).await?;
        Ok((config, server))
    }

    /// Discover and Save: reads the server's metadata (OpenID Connect Discovery 1.0, or RFC 8414
    /// when the server has no OpenID document), checks that it names `issuer`, fetches its keys
    /// and saves the description.
    pub async fn discover(
        &self,
        issuer: &str,
        ca_file: Option<&str>,
    ) -> ClientResult<ServerDescription> {
        let issuer = issuer.trim_end_matches('/');
        http::check_url(issuer)?;
        let mut server = ServerDescription {
            issuer: issuer.to_owned(),
            ca_file: ca_file.map(str::to_owned),
            ..Default::default()
        };
        let client = http::client_for(&server)?;
        let openid = format!("{issuer}/.well-known/openid-configuration");
        let document = match http::json(client.get(&openid)).await {
            Ok(doc) => doc,
            Err(ClientError::Http(_)) => {
                // RFC 8414 §3: the well-known path goes before the issuer's path.
                let url = http::check_url(issuer)?;
                let oauth = format!(
                    "{}://{}/.well-known/oauth-authorization-server{}",
                    url.scheme(),
                    url.host_str().unwrap_or_default().to_owned()
                        + &url.port().map(|p| format!(":{p}")).unwrap_or_default(),
                    url.path().trim_end_matches('/')
                );
                http::json(client.get(&oauth)).await?
            }
            Err(e) => return Err(e),
        };
        let metadata: ProviderMetadata = serde_json::from_value(document)
            .map_err(|e| ClientError::InvalidResponse(format!("metadata: {e}")))?;
        if metadata.issuer != issuer {
            return Err(ClientError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: metadata.issuer,
            });
        }
        server.metadata = metadata;
        if server.metadata.jwks_uri.is_some() {
            let keys = self.fetch_jwks(&server).await?;
            server.jwks = Some(keys.to_value());
            server.jwks_fetched_at = now();
        }
        self.store.save_server(&server).await?;
        Ok(server)
    }

    async fn fetch_jwks(&self, server: &ServerDescription) -> ClientResult<JwkSet> {
        let uri = server.metadata.jwks_uri.as_deref().ok_or_else(|| {
            ClientError::Config(format!("{} publishes no jwks_uri", server.issuer))
        })?;
        http::check_url(uri)?;
        let body = http::json(http::client_for(server)?.get(uri)).await?;
        let keys = body
            .as_object()
            .and_then(|o| JwkSet::from_object(o.clone()).ok())
            .ok_or_else(|| ClientError::InvalidResponse("jwks_uri: not a JWK Set".into()))?;
        Ok(keys.public())
    }

    /// UpdateJWKS: fetches the server's keys again and saves them.
    pub async fn refresh_jwks(&self, issuer: &str) -> ClientResult<JwkSet> {
        let mut server = self.server(issuer).await?;
        let keys = self.fetch_jwks(&server).await?;
        server.jwks = Some(keys.to_value());
        server.jwks_fetched_at = now();
        self.store.save_server(&server).await?;
        Ok(keys)
    }

    /// Saves a configuration made elsewhere (client id and secret issued by an administrator).
    pub async fn create_configuration(&self, config: &ClientConfiguration) -> ClientResult<()> {
        self.server(&config.issuer).await?;
        if config.client_id.is_empty() {
            return Err(ClientError::Config("client_id is missing".into()));
        }
        self.store.save_configuration(config).await
    }

    /// Sends a form to one of the server's endpoints with the client's authentication.
    async fn call(
        &self,
        config: &ClientConfiguration,
        server: &ServerDescription,
        endpoint: &str,
        mut form: Vec<(String, String)>,
    ) -> ClientResult<reqwest::RequestBuilder> {
        http::check_url(endpoint)?;
        let request = http::client_for(server)?.post(endpoint);
        let request = add_client_authentication(request, &mut form, config, endpoint)?;
        Ok(request.form(&form))
    }

    async fn token_request(
        &self,
        app: &str,
        session: Option<&str>,
        form: Vec<(String, String)>,
    ) -> ClientResult<TokenResponse> {
        let (config, server) = self.app(app).await?;
        let endpoint = server.metadata.token_endpoint.clone().ok_or_else(|| {
            ClientError::Config(format!("{} has no token endpoint", server.issuer))
        })?;
        let request = self.call(&config, &server, &endpoint, form).await?;
        let body = http::json(request).await?;
        let tokens: TokenResponse = serde_json::from_value(body)
            .map_err(|e| ClientError::InvalidResponse(format!("token response: {e}")))?;
        if !tokens.token_type.eq_ignore_ascii_case("bearer") {
            return Err(ClientError::InvalidResponse(format!(
                "token_type {} is not Bearer",
                tokens.token_type
            )));
        }
        if let Some(session) = session {
            self.keep(app, session, &tokens, None, None).await?;
        }
        Ok(tokens)
    }

    /// Stores `tokens` for `app` and `session`, replacing what was there and keeping from it what
    /// a refresh does not return again.
    async fn keep(
        &self,
        app: &str,
        session: &str,
        tokens: &TokenResponse,
        previous: Option<&StoredTokens>,
        id_token_claims: Option<Map<String, Value>>,
    ) -> ClientResult<()> {
        let stored = StoredTokens {
            access_token: tokens.access_token.clone(),
            token_type: tokens.token_type.clone(),
            expires_at: tokens.expires_in.map(|s| now() + s),
            refresh_token: tokens
                .refresh_token
                .clone()
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            id_token: tokens
                .id_token
                .clone()
                .or_else(|| previous.and_then(|p| p.id_token.clone())),
            scope: tokens
                .scope
                .clone()
                .or_else(|| previous.and_then(|p| p.scope.clone())),
            id_token_claims: id_token_claims
                .or_else(|| previous.and_then(|p| p.id_token_claims.clone())),
        };
        self.keep_stored(app, session, &stored).await
    }

    /// Keeps `stored` while it is usable: until the access token expires, or with a refresh token
    /// for 30 days more.
    async fn keep_stored(
        &self,
        app: &str,
        session: &str,
        stored: &StoredTokens,
    ) -> ClientResult<()> {
        let now = now();
        let keep_until = match (stored.expires_at, &stored.refresh_token) {
            (at, Some(_)) => at.unwrap_or(now) + 30 * 86_400,
            (Some(at), None) => at,
            (None, None) => now + 3600,
        };
        self.store
            .save_tokens(app, session, stored, keep_until)
            .await
    }

    /// GetAccessTokenClient: the client credentials grant; the tokens are kept for `session`.
    pub async fn client_credentials(
        &self,
        app: &str,
        scope: Option<&str>,
        session: Option<&str>,
    ) -> ClientResult<TokenResponse> {
        let mut form = vec![(
            "grant_type".to_owned(),
            GrantType::ClientCredentials.as_str().to_owned(),
        )];
        self.add_scope(app, scope, &mut form).await?;
        self.token_request(app, session, form).await
    }

    /// GetAccessTokenPassword: the resource owner password grant.
    pub async fn password_grant(
        &self,
        app: &str,
        username: &str,
        password: &str,
        scope: Option<&str>,
        session: Option<&str>,
    ) -> ClientResult<TokenResponse> {
        let mut form = vec![
            (
                "grant_type".to_owned(),
                GrantType::Password.as_str().to_owned(),
            ),
            ("username".to_owned(), username.to_owned()),
            ("password".to_owned(), password.to_owned()),
        ];
        self.add_scope(app, scope, &mut form).await?;
        self.token_request(app, session, form).await
    }

    async fn add_scope(
        &self,
        app: &str,
        scope: Option<&str>,
        form: &mut Vec<(String, String)>,
    ) -> ClientResult<()> {
        let default = match scope {
            Some(_) => None,
            None => self.app(app).await?.0.default_scope,
        };
        if let Some(scope) = scope.map(str::to_owned).or(default) {
            form.push(("scope".to_owned(), scope));
        }
        Ok(())
    }

    /// Refreshes the tokens of `app` and `session` with their refresh token, and keeps the new ones.
    pub async fn refresh(&self, app: &str, session: &str) -> ClientResult<TokenResponse> {
        let stored = self
            .store
            .tokens(app, session, now())
            .await?
            .ok_or_else(|| ClientError::Unknown {
                what: "session",
                name: session.to_owned(),
            })?;
        let refresh_token = stored
            .refresh_token
            .clone()
            .ok_or_else(|| ClientError::Config("there is no refresh token".into()))?;
        let form = vec![
            (
                "grant_type".to_owned(),
                GrantType::RefreshToken.as_str().to_owned(),
            ),
            ("refresh_token".to_owned(), refresh_token),
        ];
        let tokens = self.token_request(app, None, form).await?;
        let claims = match &tokens.id_token {
            Some(id_token) => Some(
                self.refreshed_id_token(app, id_token, &tokens, &stored)
                    .await?,
            ),
            None => None,
        };
        self.keep(app, session, &tokens, Some(&stored), claims)
            .await?;
        Ok(tokens)
    }

    /// An ID token from a refresh (OpenID Connect Core §12.2): valid as any ID token, and about
    /// the same user, from the same sign-in, as the session's first one. Its claims.
    async fn refreshed_id_token(
        &self,
        app: &str,
        id_token: &str,
        tokens: &TokenResponse,
        stored: &StoredTokens,
    ) -> ClientResult<Map<String, Value>> {
        let (config, server) = self.app(app).await?;
        let expected = id_token::Expected {
            access_token: Some(&tokens.access_token),
            now: now(),
            ..Default::default()
        };
        let claims = self
            .validate_id_token(&config, &server, id_token, &expected)
            .await?;
        if let Some(first) = &stored.id_token_claims {
            for name in ["iss", "sub", "auth_time"] {
                if first.get(name).is_some() && claims.get(name) != first.get(name) {
                    return Err(IdTokenError::ChangedOnRefresh(name).into());
                }
            }
        }
        Ok(claims)
    }

    /// IsAuthorized: the session's tokens when they cover `scope` (every scope in it); an expired
    /// access token is refreshed first when a refresh token is there.
    pub async fn is_authorized(
        &self,
        app: &str,
        session: &str,
        scope: Option<&str>,
    ) -> ClientResult<Option<StoredTokens>> {
        let now = now();
        let Some(mut stored) = self.store.tokens(app, session, now).await? else {
            return Ok(None);
        };
        if stored.expires_at.is_some_and(|at| at <= now) {
            if stored.refresh_token.is_none() {
                self.store.delete_tokens(app, session).await?;
                return Ok(None);
            }
            match self.refresh(app, session).await {
                Ok(_) => {}
                Err(ClientError::Refused(_)) => {
                    self.store.delete_tokens(app, session).await?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
            stored = match self.store.tokens(app, session, now).await? {
                Some(s) => s,
                None => return Ok(None),
            };
        }
        let granted: Vec<&str> = stored
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .collect();
        let covered = scope
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .all(|s| granted.contains(&s));
        Ok(covered.then_some(stored))
    }

    /// RemoveAccessToken: forgets the session's tokens here (see [`Client::revoke_token`] to end
    /// them at the server).
    pub async fn remove_tokens(&self, app: &str, session: &str) -> ClientResult<bool> {
        self.store.delete_tokens(app, session).await
    }

    /// Token introspection (RFC 7662).
    pub async fn introspect(&self, app: &str, token: &str) -> ClientResult<Value> {
        let (config, server) = self.app(app).await?;
        let endpoint = server
            .metadata
            .introspection_endpoint
            .clone()
            .ok_or_else(|| {
                ClientError::Config(format!("{} has no introspection endpoint", server.issuer))
            })?;
        let form = vec![("token".to_owned(), token.to_owned())];
        http::json(self.call(&config, &server, &endpoint, form).await?).await
    }

    /// Token revocation (RFC 7009).
    pub async fn revoke_token(&self, app: &str, token: &str) -> ClientResult<()> {
        let (config, server) = self.app(app).await?;
        let endpoint = server.metadata.revocation_endpoint.clone().ok_or_else(|| {
            ClientError::Config(format!("{} has no revocation endpoint", server.issuer))
        })?;
        let form = vec![("token".to_owned(), token.to_owned())];
        http::expect_success(self.call(&config, &server, &endpoint, form).await?).await
    }

    /// The userinfo endpoint (OpenID Connect Core §5.3) with `access_token` in the header.
    pub async fn userinfo(
        &self,
        app: &str,
        access_token: &str,
    ) -> ClientResult<Map<String, Value>> {
        let (config, server) = self.app(app).await?;
        let endpoint = server.metadata.userinfo_endpoint.clone().ok_or_else(|| {
            ClientError::Config(format!("{} has no userinfo endpoint", server.issuer))
        })?;
        http::check_url(&endpoint)?;
        let request = http::client_for(&server)?
            .get(&endpoint)
            .bearer_auth(access_token);
        let claims = match http::json_or_jwt(request).await? {
            http::Body::Json(value) => value,
            // OpenID Connect Core §5.3.2: signed by the server and/or encrypted to the client.
            http::Body::Jwt(jwt) => {
                let decrypt_with = config.decryption_keys(&jwt).map_err(ClientError::Config)?;
                let opts = ostiary_jose::DecodeOptions {
                    // Encrypted-only responses are signed by nobody; accepted only when decrypted.
                    allow_unsigned: !decrypt_with.keys.is_empty() && jwt.split('.').count() == 5,
                    ..Default::default()
                };
                let decode = |keys: &JwkSet| ostiary_jose::decode(&jwt, &decrypt_with, keys, &opts);
                let decoded = match decode(&server.keys()) {
                    Ok(d) => d,
                    Err(_) if server.metadata.jwks_uri.is_some() => {
                        decode(&self.refresh_jwks(&server.issuer).await?)
                            .map_err(|e| ClientError::InvalidResponse(format!("userinfo: {e}")))?
                    }
                    Err(e) => return Err(ClientError::InvalidResponse(format!("userinfo: {e}"))),
                };
                let issuer = decoded.claims.get("iss").and_then(Value::as_str);
                if decoded.security.sigalg.is_some() && issuer != Some(server.issuer.as_str()) {
                    return Err(ClientError::InvalidResponse(
                        "userinfo: iss is not the server".into(),
                    ));
                }
                Value::Object(decoded.claims)
            }
        };
        match claims {
            Value::Object(claims) if claims.get("sub").is_some_and(Value::is_string) => Ok(claims),
            _ => Err(ClientError::InvalidResponse(
                "userinfo: not a JSON object with a sub".into(),
            )),
        }
    }
}

/// Where [`add_access_token`] puts the token (RFC 6750 §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenPlacement {
    /// `Authorization: Bearer …`, the one every resource server must accept.
    #[default]
    Header,
    /// `access_token` in a form body.
    Body,
    /// `access_token` in the query (discouraged; for servers that need it).
    Query,
}

/// AddAccessToken: attaches `token` to a request for a resource server.
pub fn add_access_token(
    request: reqwest::RequestBuilder,
    token: &str,
    placement: TokenPlacement,
) -> reqwest::RequestBuilder {
    match placement {
        TokenPlacement::Header => request.bearer_auth(token),
        TokenPlacement::Body => request.form(&[("access_token", token)]),
        TokenPlacement::Query => request.query(&[("access_token", token)]),
    }
}

impl Client {
    /// Ends a session: its tokens are revoked at the server (refresh token first, which ends
    /// the access token with it on most servers) and forgotten here.
    pub async fn end_session(&self, app: &str, session: &str) -> ClientResult<()> {
        if let Some(stored) = self.store.tokens(app, session, now()).await? {
            let (_, server) = self.app(app).await?;
            if server.metadata.revocation_endpoint.is_some() {
                if let Some(refresh) = &stored.refresh_token {
                    self.revoke_token(app, refresh).await?;
                }
                self.revoke_token(app, &stored.access_token).await?;
            }
        }
        self.store.delete_tokens(app, session).await?;
        Ok(())
    }
}
