//! The browser flows: authorization code (PKCE S256 by default) and implicit requests, and the
//! redirect back (the reference's GetAuthorizationCodeEndpoint, GetImplicitEndpoint and the
//! redirect-response page). Nothing is stored for the session until every check has passed.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_core::ErrorResponse;
use ostiary_jose::JwkSet;
use serde_json::{Map, Value};

use crate::auth::{now, random};
use crate::error::{ClientError, ClientResult};
use crate::id_token::{self, Expected, IdTokenError};
use crate::store::{PendingAuthorization, StoredTokens};
use crate::{Client, ClientConfiguration, ServerDescription, TokenResponse};

/// How long a browser may take between the request and the redirect back.
pub const PENDING_LIFETIME: i64 = 600;

/// PKCE (RFC 7636) for a code request: S256 with a fresh verifier unless told otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Pkce {
    #[default]
    S256,
    /// S256 of this verifier (the reference's custom verifier).
    Verifier(String),
    /// No PKCE (the reference's empty verifier), for servers that cannot take it.
    Off,
}

/// What the application asks for in an authorization request.
#[derive(Clone, Debug, Default)]
pub struct AuthorizationRequest {
    /// Scopes; the configuration's default scope when `None`.
    pub scope: Option<String>,
    pub pkce: Pkce,
    /// `query`, `fragment` or `form_post`; the response type's default when `None`.
    pub response_mode: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    /// Any other parameters, JSON-valued ones (`claims`) as JSON text.
    pub extra: Vec<(String, String)>,
    /// Where the browser goes after the redirect is handled.
    pub return_to: Option<String>,
    /// Send the request as a signed request object (RFC 9101) instead of query parameters;
    /// `Some(Some((alg, enc)))` also encrypts it to the server's key.
    pub request_object: Option<Option<(ostiary_jose::KeyAlg, ostiary_jose::EncAlg)>>,
    /// With `request_object`: publish it at `<this>/<state>` (the application serves it with
    /// [`crate::web::Login::routes`]) and send `request_uri` instead of the object itself.
    pub request_uri_base: Option<String>,
}

/// What a handled redirect gives the application.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub session: String,
    pub return_to: Option<String>,
    pub tokens: StoredTokens,
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

impl Client {
    /// The URL of an authorization code request for `session` (the reference's
    /// GetAuthorizationCodeEndpoint); the request is remembered until the browser comes back.
    pub async fn authorization_code_url(
        &self,
        app: &str,
        session: &str,
        request: AuthorizationRequest,
    ) -> ClientResult<String> {
        self.authorization_url(app, session, "code", request).await
    }

    /// The URL of an implicit request (`id_token`, or `id_token token` with `with_access_token`),
    /// answered by form_post unless the request says otherwise.
    pub async fn implicit_url(
        &self,
        app: &str,
        session: &str,
        with_access_token: bool,
        mut request: AuthorizationRequest,
    ) -> ClientResult<String> {
        request.pkce = Pkce::Off;
        request
            .response_mode
            .get_or_insert_with(|| "form_post".into());
        let response_type = if with_access_token {
            "id_token token"
        } else {
            "id_token"
        };
        self.authorization_url(app, session, response_type, request)
            .await
    }

    async fn authorization_url(
        &self,
        app: &str,
        session: &str,
        response_type: &str,
        request: AuthorizationRequest,
    ) -> ClientResult<String> {
        let (config, server) = self.app(app).await?;
        let endpoint = server
            .metadata
            .authorization_endpoint
            .clone()
            .ok_or_else(|| {
                ClientError::Config(format!("{} has no authorization endpoint", server.issuer))
            })?;
        let redirect_uri = config
            .redirect_uri
            .clone()
            .ok_or_else(|| ClientError::Config(format!("{app} has no redirect URI")))?;
        let scope = request
            .scope
            .clone()
            .or_else(|| config.default_scope.clone())
            .unwrap_or_else(|| "openid".into());
        let state = random();
        let nonce = scope.split(' ').any(|s| s == "openid").then(random);
        let code_verifier = match (&request.pkce, response_type) {
            (_, t) if !t.contains("code") => None,
            (Pkce::S256, _) => Some(random()),
            (Pkce::Verifier(v), _) => Some(v.clone()),
            (Pkce::Off, _) => None,
        };
        let max_age = request.max_age.or(config.default_max_age);
        let mut params: Vec<(String, String)> = vec![
            ("response_type".into(), response_type.into()),
            ("client_id".into(), config.client_id.clone()),
            ("redirect_uri".into(), redirect_uri.clone()),
            ("scope".into(), scope.clone()),
            ("state".into(), state.clone()),
        ];
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                params.push((name.to_owned(), value));
            }
        };
        add("nonce", nonce.clone());
        if let Some(verifier) = &code_verifier {
            add("code_challenge", Some(s256(verifier)));
            add("code_challenge_method", Some("S256".into()));
        }
        add("response_mode", request.response_mode.clone());
        add("prompt", request.prompt.clone());
        add("login_hint", request.login_hint.clone());
        add("max_age", request.max_age.map(|m| m.to_string()));
        params.extend(request.extra.iter().cloned());
        let mut published = None;
        if let Some(encrypt) = request.request_object {
            // RFC 9101 §5: the object carries the request; the query repeats what OpenID
            // Connect requires outside it.
            let object = self.request_object(app, &params, encrypt).await?;
            let by = match &request.request_uri_base {
                Some(base) => {
                    published = Some(object);
                    let uri = format!("{}/{state}", base.trim_end_matches('/'));
                    ("request_uri".to_owned(), uri)
                }
                None => ("request".to_owned(), object),
            };
            params = vec![
                ("client_id".into(), config.client_id.clone()),
                ("response_type".into(), response_type.into()),
                ("scope".into(), scope.clone()),
                by,
            ];
        }
        let mut url = crate::http::check_url(&endpoint)?;
        url.query_pairs_mut().extend_pairs(&params);
        let pending = PendingAuthorization {
            app: app.to_owned(),
            session: session.to_owned(),
            state,
            nonce,
            code_verifier,
            redirect_uri,
            response_type: response_type.to_owned(),
            max_age,
            return_to: request.return_to,
            request_object: published,
        };
        self.store()
            .save_pending(&pending, now() + PENDING_LIFETIME)
            .await?;
        Ok(url.to_string())
    }

    /// Handles the redirect back (query or form_post parameters): checks `state` and `iss`,
    /// exchanges the code, validates the ID token, and keeps the tokens for the session.
    pub async fn handle_redirect(
        &self,
        app: &str,
        params: &[(String, String)],
    ) -> ClientResult<SignedIn> {
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let now = now();
        let state = param("state").ok_or(ClientError::StateMismatch)?;
        let pending = self
            .store()
            .take_pending(state, now)
            .await?
            .filter(|p| p.app == app)
            .ok_or(ClientError::StateMismatch)?;
        let (config, server) = self.app(app).await?;
        // RFC 9207: the response names its issuer; a mix-up shows here.
        match param("iss") {
            Some(iss) if iss != server.issuer => {
                return Err(ClientError::IssuerMismatch {
                    expected: server.issuer.clone(),
                    found: iss.to_owned(),
                });
            }
            None if server
                .metadata
                .authorization_response_iss_parameter_supported =>
            {
                return Err(ClientError::IssuerMismatch {
                    expected: server.issuer.clone(),
                    found: String::new(),
                });
            }
            _ => {}
        }
        if let Some(error) = param("error") {
            let response: ErrorResponse = serde_json::from_value(serde_json::json!({
                "error": error, "error_description": param("error_description"),
            }))
            .map_err(|e| ClientError::InvalidResponse(format!("error response: {e}")))?;
            return Err(ClientError::Refused(response));
        }
        let tokens = if pending.response_type.contains("code") {
            let code = param("code")
                .ok_or_else(|| ClientError::InvalidResponse("no code in the response".into()))?;
            let mut form = vec![
                ("grant_type".to_owned(), "authorization_code".to_owned()),
                ("code".to_owned(), code.to_owned()),
                ("redirect_uri".to_owned(), pending.redirect_uri.clone()),
            ];
            if let Some(verifier) = &pending.code_verifier {
                form.push(("code_verifier".to_owned(), verifier.clone()));
            }
            self.token_request(app, None, form).await?
        } else {
            // Implicit: the tokens are in the response itself.
            TokenResponse {
                access_token: param("access_token").unwrap_or_default().to_owned(),
                token_type: param("token_type").unwrap_or("Bearer").to_owned(),
                expires_in: param("expires_in").and_then(|e| e.parse().ok()),
                refresh_token: None,
                scope: param("scope").map(str::to_owned),
                id_token: param("id_token").map(str::to_owned),
                extra: Default::default(),
            }
        };
        let openid = pending.nonce.is_some();
        let claims = match (&tokens.id_token, openid) {
            (Some(id_token), _) => {
                let access_token =
                    (!tokens.access_token.is_empty()).then_some(tokens.access_token.as_str());
                let expectations = Expected {
                    nonce: pending.nonce.as_deref(),
                    max_age: pending.max_age,
                    access_token,
                    // Implicit `id_token token` must carry at_hash (Core §3.2.2.10).
                    access_token_hash_required: pending.response_type == "id_token token",
                    code: None,
                    now,
                };
                Some(
                    self.validate_id_token(&config, &server, id_token, &expectations)
                        .await?,
                )
            }
            (None, true) => return Err(IdTokenError::Missing("id_token").into()),
            (None, false) => None,
        };
        let stored = StoredTokens {
            access_token: tokens.access_token.clone(),
            token_type: tokens.token_type.clone(),
            expires_at: tokens.expires_in.map(|s| now + s),
            refresh_token: tokens.refresh_token.clone(),
            id_token: tokens.id_token.clone(),
            scope: tokens.scope.clone(),
            id_token_claims: claims,
        };
        self.keep_stored(app, &pending.session, &stored).await?;
        Ok(SignedIn {
            session: pending.session,
            return_to: pending.return_to,
            tokens: stored,
        })
    }

    /// ValidateIDToken: checks an ID token of `config`'s server; when its signature does not
    /// verify with the keys on file, the server's keys are fetched again once (UpdateJWKS).
    pub async fn validate_id_token(
        &self,
        config: &ClientConfiguration,
        server: &ServerDescription,
        token: &str,
        expected: &Expected<'_>,
    ) -> ClientResult<serde_json::Map<String, Value>> {
        let decrypt_with = config.decryption_keys(token).map_err(ClientError::Config)?;
        let first = id_token::validate(
            token,
            config,
            server,
            &server.keys(),
            &decrypt_with,
            expected,
        );
        match first {
            Err(IdTokenError::BadSignature) if server.metadata.jwks_uri.is_some() => {
                let keys = self.refresh_jwks(&server.issuer).await?;
                Ok(id_token::validate(
                    token,
                    config,
                    server,
                    &keys,
                    &decrypt_with,
                    expected,
                )?)
            }
            other => Ok(other?),
        }
    }

    /// Back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.8): validates the logout
    /// token (fetching the server's keys again once when its signature does not verify) and
    /// ends the sessions signed in with its `sid`; how many ended. A token that names only a
    /// subject is refused: sessions are kept by the server's session.
    pub async fn backchannel_logout(&self, app: &str, logout_token: &str) -> ClientResult<u64> {
        let (config, server) = self.app(app).await?;
        let decrypt_with = config
            .decryption_keys(logout_token)
            .map_err(ClientError::Config)?;
        let now = now();
        let validate = |keys: &JwkSet| {
            id_token::validate_logout(logout_token, &config, &server, keys, &decrypt_with, now)
        };
        let logout = match validate(&server.keys()) {
            Err(IdTokenError::BadSignature) if server.metadata.jwks_uri.is_some() => {
                validate(&self.refresh_jwks(&server.issuer).await?)?
            }
            other => other?,
        };
        let sid = logout.sid.ok_or(IdTokenError::Missing("sid"))?;
        self.store().delete_tokens_of_sid(app, &sid).await
    }

    /// Userinfo for the session's tokens, checked against its ID token's `sub`.
    pub async fn session_userinfo(
        &self,
        app: &str,
        session: &str,
    ) -> ClientResult<serde_json::Map<String, Value>> {
        let stored = self
            .is_authorized(app, session, None)
            .await?
            .ok_or_else(|| ClientError::Unknown {
                what: "session",
                name: session.to_owned(),
            })?;
        let claims = self.userinfo(app, &stored.access_token).await?;
        let expected = stored
            .id_token_claims
            .as_ref()
            .and_then(|c| c.get("sub"))
            .and_then(Value::as_str);
        if expected.is_some_and(|sub| claims.get("sub").and_then(Value::as_str) != Some(sub)) {
            return Err(ClientError::SubjectMismatch);
        }
        Ok(claims)
    }
}

impl Client {
    /// A request object (RFC 9101) for `params`: signed with the client's keys (or its secret,
    /// HS256, when it has no keys) and, with `encrypt`, encrypted to the server's key.
    pub async fn request_object(
        &self,
        app: &str,
        params: &[(String, String)],
        encrypt: Option<(ostiary_jose::KeyAlg, ostiary_jose::EncAlg)>,
    ) -> ClientResult<String> {
        let (config, server) = self.app(app).await?;
        let mut claims = Map::new();
        for (name, value) in params {
            // JSON-valued parameters (claims) go in as JSON.
            let parsed = match name.as_str() {
                "claims" => serde_json::from_str(value).unwrap_or_else(|_| value.clone().into()),
                "max_age" => value
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| value.clone().into()),
                _ => Value::from(value.clone()),
            };
            claims.insert(name.clone(), parsed);
        }
        let now = now();
        claims.insert("iss".into(), config.client_id.clone().into());
        claims.insert("aud".into(), server.issuer.clone().into());
        claims.insert("client_id".into(), config.client_id.clone().into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + 300).into());
        claims.insert("jti".into(), random().into());
        let private = config.private_keys().map_err(ClientError::Config)?;
        let (keys, alg) = match (private, &config.client_secret) {
            (Some(set), _) => {
                let alg = set
                    .keys
                    .iter()
                    .filter_map(|k| k.alg.as_deref())
                    .find_map(|a| a.parse::<ostiary_jose::SigAlg>().ok())
                    .ok_or_else(|| ClientError::Config(format!("{app} has no signing key")))?;
                (set, alg)
            }
            (None, Some(secret)) => (
                JwkSet::from(
                    ostiary_jose::Jwk::symmetric(secret.as_bytes())
                        .map_err(|e| ClientError::Config(e.to_string()))?,
                ),
                ostiary_jose::SigAlg::HS256,
            ),
            (None, None) => {
                return Err(ClientError::Config(format!(
                    "{app} has no key or secret to sign with"
                )));
            }
        };
        let opts = ostiary_jose::EncodeOptions {
            sig_alg: Some(alg),
            key_alg: encrypt.map(|e| e.0),
            enc: encrypt.map(|e| e.1),
            typ: Some("oauth-authz-req+jwt".into()),
            ..Default::default()
        };
        let recipient = encrypt.map(|_| server.keys());
        ostiary_jose::encode(&claims, &opts, &keys, recipient.as_ref())
            .map_err(|e| ClientError::Config(format!("request object: {e}")))
    }
}
