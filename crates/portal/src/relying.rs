//! The client side of administration: server descriptions and client configurations of the
//! client runtime (`ostiary-client`), each change audited like the server's items.

use ostiary_client::{Client, ClientConfiguration, ClientError, ServerDescription};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::admin::{Admin, AdminError, AdminResult};

impl From<ClientError> for AdminError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unknown { .. } => AdminError::NotFound(e.to_string()),
            ClientError::Store(why) => AdminError::Failed(why),
            // The other party's refusal or silence, and bad input, are the administrator's to fix.
            ClientError::Refused(ref refused) => AdminError::Invalid(format!(
                "the server refused: {}",
                serde_json::to_string(refused).unwrap_or_default()
            )),
            other => AdminError::Invalid(other.to_string()),
        }
    }
}

/// A server description as listed: the description and how many client configurations use it.
#[derive(Clone, Debug, Serialize)]
pub struct ServerSummary {
    pub issuer: String,
    pub configurations: usize,
    pub registration: bool,
    pub jwks_fetched_at: i64,
}

/// A configuration as shown: secrets and private keys left out, the public keys in.
pub fn redacted(config: &ClientConfiguration) -> Value {
    let mut value = serde_json::to_value(config).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        for secret in ["client_secret", "registration_access_token"] {
            if object.get(secret).is_some_and(|v| !v.is_null()) {
                object.insert(secret.into(), "(set)".into());
            }
        }
        object.remove("keys");
        if let Some(public) = config.public_keys() {
            object.insert("jwks".into(), public.to_value());
        }
    }
    value
}

impl Admin<'_> {
    pub async fn server_descriptions(&self, client: &Client) -> AdminResult<Vec<ServerSummary>> {
        let configurations = client.store().configurations().await?;
        let servers = client.store().servers().await?;
        Ok(servers
            .into_iter()
            .map(|s| ServerSummary {
                configurations: configurations
                    .iter()
                    .filter(|c| c.issuer == s.issuer)
                    .count(),
                registration: s.metadata.registration_endpoint.is_some(),
                jwks_fetched_at: s.jwks_fetched_at,
                issuer: s.issuer,
            })
            .collect())
    }

    pub async fn server_description(
        &self,
        client: &Client,
        issuer: &str,
    ) -> AdminResult<ServerDescription> {
        Ok(client.server(issuer).await?)
    }

    /// Discover and Save.
    pub async fn discover_server(
        &self,
        client: &Client,
        issuer: &str,
        ca_file: Option<&str>,
    ) -> AdminResult<ServerDescription> {
        let server = client.discover(issuer, ca_file).await?;
        self.audit("server_description.discover", &server.issuer, json!({}))
            .await?;
        Ok(server)
    }

    /// Manual creation: a description entered by hand (its `issuer` and `metadata.issuer` agree).
    pub async fn save_server_description(
        &self,
        client: &Client,
        server: ServerDescription,
    ) -> AdminResult<ServerDescription> {
        if server.issuer.is_empty() || server.metadata.issuer != server.issuer {
            return Err(AdminError::Invalid(
                "issuer and metadata.issuer must be the same URL".into(),
            ));
        }
        client.store().save_server(&server).await?;
        self.audit("server_description.save", &server.issuer, json!({}))
            .await?;
        Ok(server)
    }

    /// UpdateJWKS: the server's keys, fetched again.
    pub async fn refresh_server_keys(&self, client: &Client, issuer: &str) -> AdminResult<Value> {
        let keys = client.refresh_jwks(issuer).await?;
        let kids: Vec<Option<String>> = keys.keys.iter().map(|k| k.kid.clone()).collect();
        self.audit(
            "server_description.refresh_jwks",
            issuer,
            json!({ "kids": kids }),
        )
        .await?;
        Ok(keys.to_value())
    }

    pub async fn client_configurations(
        &self,
        client: &Client,
        issuer: Option<&str>,
    ) -> AdminResult<Vec<ClientConfiguration>> {
        let mut all = client.store().configurations().await?;
        all.retain(|c| issuer.is_none_or(|i| c.issuer == i));
        Ok(all)
    }

    pub async fn client_configuration(
        &self,
        client: &Client,
        app: &str,
    ) -> AdminResult<ClientConfiguration> {
        Ok(client.app(app).await?.0)
    }

    /// Dynamic Registration and Save.
    pub async fn register_configuration(
        &self,
        client: &Client,
        app: &str,
        issuer: &str,
        metadata: Map<String, Value>,
        initial_access_token: Option<&str>,
    ) -> AdminResult<ClientConfiguration> {
        check_app_name(app)?;
        let config = client
            .register(app, issuer, metadata, initial_access_token)
            .await?;
        self.audit(
            "client_configuration.register",
            app,
            json!({ "issuer": issuer, "client_id": config.client_id }),
        )
        .await?;
        Ok(config)
    }

    /// Saves a configuration made elsewhere (new or changed); `Save and Update Registration`
    /// when `update_registration` is set and the client registered dynamically.
    pub async fn save_configuration(
        &self,
        client: &Client,
        config: ClientConfiguration,
        update_registration: bool,
    ) -> AdminResult<ClientConfiguration> {
        check_app_name(&config.app)?;
        client.create_configuration(&config).await?;
        let saved = if update_registration {
            client.update_registration(&config.app).await?
        } else {
            config
        };
        self.audit(
            "client_configuration.save",
            &saved.app,
            json!({ "issuer": saved.issuer, "update_registration": update_registration }),
        )
        .await?;
        Ok(saved)
    }

    /// New keys for the client (registered at the server when it registered dynamically).
    pub async fn rotate_configuration_keys(
        &self,
        client: &Client,
        app: &str,
    ) -> AdminResult<Vec<String>> {
        let kids = client.rotate_keys(app).await?;
        self.audit(
            "client_configuration.rotate_keys",
            app,
            json!({ "new_keys": kids }),
        )
        .await?;
        Ok(kids)
    }
}

fn check_app_name(app: &str) -> AdminResult<()> {
    if app.is_empty() || app.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(AdminError::Invalid(
            "app: an application name is one word without slashes".into(),
        ));
    }
    Ok(())
}
