//! The client's configuration items (the reference's server descriptions and client
//! configurations), as the store keeps them.

use ostiary_core::{AuthMethod, GrantType, ProviderMetadata};
use ostiary_jose::{JwkSet, KeyRing, SigAlg};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An authorization server this client knows: its metadata from discovery (or entered by hand),
/// how to trust its TLS certificate, and its public keys as last fetched.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerDescription {
    pub issuer: String,
    pub metadata: ProviderMetadata,
    /// A PEM file of extra CA certificates to trust for this server, beside the system roots.
    pub ca_file: Option<String>,
    /// The server's public keys (a JWK Set object): fetched from `jwks_uri`, or given here when
    /// the server publishes none.
    pub jwks: Option<Value>,
    /// When `jwks` was fetched (seconds since the epoch); 0 when given by hand.
    pub jwks_fetched_at: i64,
}

impl ServerDescription {
    /// The server's public keys, as last known.
    pub fn keys(&self) -> JwkSet {
        self.jwks
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|o| JwkSet::from_object(o.clone()).ok())
            .unwrap_or_default()
    }
}

/// The kind of client (the reference's Client Type).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    #[default]
    Confidential,
    Public,
    /// A resource server: it only introspects.
    Resource,
}

/// One client of one server (the reference's client configuration), named by its application.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientConfiguration {
    /// The application name: how calls name this configuration.
    pub app: String,
    /// The server description it belongs to.
    pub issuer: String,
    pub kind: ClientKind,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The redirect endpoint (scheme, host, port and path in one URL).
    pub redirect_uri: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    /// Where the server posts logout tokens (the login layer's logout receiver takes both).
    pub backchannel_logout_uri: Option<String>,
    pub grant_types: Vec<GrantType>,
    pub token_endpoint_auth_method: AuthMethod,
    pub token_endpoint_auth_signing_alg: Option<SigAlg>,
    pub default_scope: Option<String>,
    pub default_max_age: Option<u64>,
    pub client_name: Option<String>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// The client's own keys (generated sets, with rotation), for private_key_jwt, request
    /// objects and decrypting what the server encrypts to it. Kept sealed by the store.
    pub keys: Option<KeyRing>,
    /// Or X.509 credentials (the reference's "JWT settings from X.509 credentials"): the key that
    /// signs, read from these files when needed.
    pub x509: Option<X509Credentials>,
    /// RFC 7592: the registration's management URL and token, after dynamic registration.
    pub registration_client_uri: Option<String>,
    pub registration_access_token: Option<String>,
    /// Other registered metadata, as the server returned it.
    pub metadata: Map<String, Value>,
}

/// A certificate and its private key, in PEM files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509Credentials {
    pub certificate_file: String,
    pub private_key_file: String,
    /// A file holding the private key's password, when it is encrypted.
    #[serde(default)]
    pub private_key_password_file: Option<String>,
}

impl ClientConfiguration {
    /// The client's private keys: from its X.509 credentials, else its generated key ring.
    pub fn private_keys(&self) -> Result<Option<JwkSet>, String> {
        let Some(x509) = &self.x509 else {
            return Ok(self.keys.as_ref().map(KeyRing::private_set));
        };
        let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"));
        let password = match &x509.private_key_password_file {
            Some(path) => Some(read(path)?.trim_end_matches(['\r', '\n']).to_owned()),
            None => None,
        };
        let mut key = ostiary_jose::Jwk::from_pem_with_certificate(
            &read(&x509.private_key_file)?,
            &read(&x509.certificate_file)?,
            password.as_deref().map(str::as_bytes),
        )
        .map_err(|e| format!("X.509 credentials: {e}"))?;
        let alg = self
            .token_endpoint_auth_signing_alg
            .map(|a| a.name().to_owned())
            .unwrap_or_else(|| match key.kty() {
                "EC" => "ES256".into(),
                "OKP" => "EdDSA".into(),
                _ => "RS256".into(),
            });
        key.alg = Some(alg);
        if key.kid.is_none() {
            key.kid = Some(key.thumbprint());
        }
        Ok(Some(JwkSet::from(key)))
    }

    /// The keys that open `token` when it was encrypted to this client: its private keys, and
    /// the key its secret stands for when the server used a symmetric algorithm.
    pub fn decryption_keys(&self, token: &str) -> Result<JwkSet, String> {
        let mut keys = self.private_keys()?.unwrap_or_default();
        let from_secret = self
            .client_secret
            .as_deref()
            .and_then(|secret| ostiary_jose::client_secret_key_for(token, secret));
        keys.keys.extend(from_secret);
        Ok(keys)
    }

    /// The client's public keys, as registered in `jwks` (with `x5c` for X.509 credentials).
    pub fn public_keys(&self) -> Option<JwkSet> {
        match &self.x509 {
            Some(_) => self.private_keys().ok().flatten().map(|k| k.public()),
            None => self.keys.as_ref().map(KeyRing::public_set),
        }
    }
}
