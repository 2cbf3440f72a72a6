//! Dynamic Registration and Save (RFC 7591), Save and Update Registration (RFC 7592), and
//! rotation of the client's own keys.

use ostiary_core::GrantType;
use serde_json::{Map, Value};

use crate::auth::now;
use crate::error::{ClientError, ClientResult};
use crate::{Client, ClientConfiguration, ClientKind, http};

impl Client {
    /// Dynamic Registration and Save (RFC 7591): registers `metadata` at the server of `issuer`
    /// and saves the configuration of `app` with what the server issued.
    pub async fn register(
        &self,
        app: &str,
        issuer: &str,
        mut metadata: Map<String, Value>,
        initial_access_token: Option<&str>,
    ) -> ClientResult<ClientConfiguration> {
        let server = self.server(issuer).await?;
        let endpoint = server
            .metadata
            .registration_endpoint
            .as_deref()
            .ok_or_else(|| ClientError::Config(format!("{issuer} offers no registration")))?;
        http::check_url(endpoint)?;
        // A client that signs (private_key_jwt) or has the server encrypt to it gets keys of its
        // own, registered as `jwks`.
        let text = |name: &str| {
            metadata
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let mut algs: Vec<ostiary_jose::Algorithm> = Vec::new();
        if text("token_endpoint_auth_method").as_deref() == Some("private_key_jwt") {
            let alg = text("token_endpoint_auth_signing_alg").unwrap_or_else(|| "RS256".into());
            algs.push(
                alg.parse()
                    .map_err(|_| ClientError::Config(format!("unknown algorithm {alg}")))?,
            );
        }
        for member in [
            "id_token_encrypted_response_alg",
            "userinfo_encrypted_response_alg",
        ] {
            if let Some(alg) = text(member).filter(|a| a != "dir" && !a.starts_with('A')) {
                let alg: ostiary_jose::Algorithm = alg
                    .parse()
                    .map_err(|_| ClientError::Config(format!("unknown algorithm {alg}")))?;
                if !algs.contains(&alg) {
                    algs.push(alg);
                }
            }
        }
        let keys = if !algs.is_empty() && !metadata.contains_key("jwks") {
            let ring = ostiary_jose::KeyRing::generate(&algs, now())
                .map_err(|e| ClientError::Config(e.to_string()))?;
            metadata.insert("jwks".into(), ring.public_set().to_value());
            Some(ring)
        } else {
            None
        };
        let mut request = http::client_for(&server)?.post(endpoint).json(&metadata);
        if let Some(token) = initial_access_token {
            request = request.bearer_auth(token);
        }
        let registered = http::json(request).await?;
        let mut config = configuration_from(app, issuer, &registered)?;
        config.keys = keys;
        self.store.save_configuration(&config).await?;
        Ok(config)
    }

    /// Save and Update Registration (RFC 7592 §2.2): sends the configuration's metadata to the
    /// registration's management URL and keeps what the server answers.
    pub async fn update_registration(&self, app: &str) -> ClientResult<ClientConfiguration> {
        let (config, server) = self.app(app).await?;
        let (Some(uri), Some(token)) = (
            config.registration_client_uri.clone(),
            config.registration_access_token.clone(),
        ) else {
            return Err(ClientError::Config(format!(
                "{app} was not registered dynamically"
            )));
        };
        http::check_url(&uri)?;
        let mut metadata = config.metadata.clone();
        for member in [
            "registration_access_token",
            "registration_client_uri",
            "client_secret_expires_at",
            "client_id_issued_at",
        ] {
            metadata.remove(member);
        }
        let mut set = |name: &str, value: Option<Value>| match value {
            Some(v) => {
                metadata.insert(name.to_owned(), v);
            }
            None => {
                metadata.remove(name);
            }
        };
        set("client_id", Some(config.client_id.clone().into()));
        set("client_name", config.client_name.clone().map(Value::from));
        set(
            "redirect_uris",
            config.redirect_uri.clone().map(|u| Value::from(vec![u])),
        );
        set(
            "post_logout_redirect_uris",
            config
                .post_logout_redirect_uri
                .clone()
                .map(|u| Value::from(vec![u])),
        );
        set(
            "frontchannel_logout_uri",
            config.frontchannel_logout_uri.clone().map(Value::from),
        );
        set(
            "backchannel_logout_uri",
            config.backchannel_logout_uri.clone().map(Value::from),
        );
        set("jwks", config.public_keys().map(|k| k.to_value()));
        let request = http::client_for(&server)?
            .put(&uri)
            .bearer_auth(&token)
            .json(&metadata);
        let answered = http::json(request).await?;
        let mut updated = configuration_from(app, &config.issuer, &answered)?;
        // What the server does not send back again stays as it was.
        updated.client_secret = updated.client_secret.or(config.client_secret);
        updated.registration_access_token = updated.registration_access_token.or(Some(token));
        updated.registration_client_uri = updated.registration_client_uri.or(Some(uri));
        updated.keys = config.keys;
        updated.x509 = config.x509;
        updated.kind = config.kind;
        self.store.save_configuration(&updated).await?;
        Ok(updated)
    }

    /// Rotates the client's own keys (new ones sign from now on, old ones still decrypt) and,
    /// for a dynamically registered client, tells the server the new public keys.
    pub async fn rotate_keys(&self, app: &str) -> ClientResult<Vec<String>> {
        let (mut config, _) = self.app(app).await?;
        let ring = config
            .keys
            .as_mut()
            .ok_or_else(|| ClientError::Config(format!("{app} has no keys of its own")))?;
        let fresh = ring
            // 0: the new keys sign at once: the server learns them in this very call (or fetches
            // the jwks_uri again on their unknown kid).
            .rotate(now(), 0)
            .map_err(|e| ClientError::Config(e.to_string()))?;
        self.store.save_configuration(&config).await?;
        if config.registration_client_uri.is_some() {
            self.update_registration(app).await?;
        }
        Ok(fresh)
    }
}

/// A client configuration from a registration response.
fn configuration_from(
    app: &str,
    issuer: &str,
    registered: &Value,
) -> ClientResult<ClientConfiguration> {
    let obj = registered
        .as_object()
        .ok_or_else(|| ClientError::InvalidResponse("registration: not a JSON object".into()))?;
    let text = |name: &str| obj.get(name).and_then(Value::as_str).map(str::to_owned);
    let client_id = text("client_id")
        .ok_or_else(|| ClientError::InvalidResponse("registration: no client_id".into()))?;
    let method = obj
        .get("token_endpoint_auth_method")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| ClientError::InvalidResponse(format!("token_endpoint_auth_method: {e}")))?
        .unwrap_or_default();
    let grant_types = obj
        .get("grant_types")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .unwrap_or_default()
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode]);
    let kind = if method == ostiary_core::AuthMethod::None {
        ClientKind::Public
    } else {
        ClientKind::Confidential
    };
    Ok(ClientConfiguration {
        app: app.to_owned(),
        issuer: issuer.to_owned(),
        kind,
        client_id,
        client_secret: text("client_secret"),
        redirect_uri: obj
            .get("redirect_uris")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned),
        post_logout_redirect_uri: obj
            .get("post_logout_redirect_uris")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_owned),
        frontchannel_logout_uri: text("frontchannel_logout_uri"),
        backchannel_logout_uri: text("backchannel_logout_uri"),
        grant_types,
        token_endpoint_auth_method: method,
        token_endpoint_auth_signing_alg: text("token_endpoint_auth_signing_alg")
            .and_then(|a| a.parse().ok()),
        default_scope: text("scope"),
        default_max_age: obj.get("default_max_age").and_then(Value::as_u64),
        client_name: text("client_name"),
        logo_uri: text("logo_uri"),
        client_uri: text("client_uri"),
        policy_uri: text("policy_uri"),
        tos_uri: text("tos_uri"),
        keys: None,
        x509: None,
        registration_client_uri: text("registration_client_uri"),
        registration_access_token: text("registration_access_token"),
        metadata: obj.clone(),
    })
}
