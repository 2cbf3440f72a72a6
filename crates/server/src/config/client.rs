//! Client descriptions: one per client or resource server, in the RFC 7591 / OpenID Connect
//! Dynamic Registration vocabulary, and the checks a description must pass.

use ostiary_core::{AuthMethod, GrantType};
use ostiary_jose::{EncAlg, KeyAlg, SigAlg};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The kind of a client description.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    Public,
    #[default]
    Confidential,
    /// A resource server: authenticates to introspect, gets no tokens for itself beyond that.
    Resource,
}

/// A client description: one per client or resource server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientDescription {
    pub client_id: String,
    pub client_type: ClientType,
    /// The administrative name (the reference's Name); `client_name` is what users see.
    pub name: String,
    pub description: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    pub token_endpoint_auth_signing_alg: Option<SigAlg>,
    pub launch_url: Option<String>,
    pub client_name: Option<String>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub contacts: Vec<String>,
    pub default_max_age: Option<u64>,
    pub default_scope: Option<String>,
    /// The client's public keys, inline (a JWK Set object).
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    /// The client's X.509 certificate (PEM), whose public key is the client's key.
    pub x509_certificate: Option<String>,
    pub id_token_signed_response_alg: Option<SigAlg>,
    pub id_token_encrypted_response_alg: Option<KeyAlg>,
    pub id_token_encrypted_response_enc: Option<EncAlg>,
    pub userinfo_signed_response_alg: Option<SigAlg>,
    pub userinfo_encrypted_response_alg: Option<KeyAlg>,
    pub userinfo_encrypted_response_enc: Option<EncAlg>,
    pub request_object_signing_alg: Option<SigAlg>,
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    /// Where the server posts a logout token when the user's session ends (OpenID Connect
    /// Back-Channel Logout 1.0); fetched under the same address rules as `jwks_uri`.
    pub backchannel_logout_uri: Option<String>,
    /// Accepted for the metadata's sake: logout tokens always carry `sid`.
    pub backchannel_logout_session_required: bool,
    pub post_logout_redirect_uris: Vec<String>,
    /// Seconds since the epoch.
    pub client_id_issued_at: i64,
    /// 0: never.
    pub client_secret_expires_at: i64,
    /// The client registered itself (RFC 7591): nobody has vetted its redirect URIs, so its
    /// authorization errors wait on a page for the user instead of redirecting at once. An
    /// administrator who trusts the client turns it off.
    pub dynamically_registered: bool,
    /// Members this server does not interpret, kept as registered.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for ClientDescription {
    fn default() -> Self {
        ClientDescription {
            client_id: String::new(),
            client_type: ClientType::Confidential,
            name: String::new(),
            description: String::new(),
            redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            token_endpoint_auth_signing_alg: None,
            launch_url: None,
            client_name: None,
            logo_uri: None,
            client_uri: None,
            policy_uri: None,
            tos_uri: None,
            contacts: Vec::new(),
            default_max_age: None,
            default_scope: None,
            jwks: None,
            jwks_uri: None,
            x509_certificate: None,
            id_token_signed_response_alg: None,
            id_token_encrypted_response_alg: None,
            id_token_encrypted_response_enc: None,
            userinfo_signed_response_alg: None,
            userinfo_encrypted_response_alg: None,
            userinfo_encrypted_response_enc: None,
            request_object_signing_alg: None,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: false,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            post_logout_redirect_uris: Vec::new(),
            client_id_issued_at: 0,
            client_secret_expires_at: 0,
            dynamically_registered: false,
            extra: Map::new(),
        }
    }
}

impl ClientDescription {
    /// Checks a description before it is saved: RFC 7591 §2 consistency rules.
    pub fn validate(&self) -> Result<(), String> {
        for uri in &self.redirect_uris {
            let parsed = url_parts(uri)
                .ok_or_else(|| format!("redirect URI \"{uri}\" is not an absolute URI"))?;
            if uri.contains('#') {
                return Err(format!("redirect URI \"{uri}\" has a fragment"));
            }
            let _ = parsed;
        }
        if self.client_type == ClientType::Public
            && self.token_endpoint_auth_method != AuthMethod::None
        {
            return Err("a public client authenticates with \"none\"".into());
        }
        if self.client_type != ClientType::Public
            && self.token_endpoint_auth_method == AuthMethod::None
        {
            return Err(
                "a confidential client or resource server needs an authentication method".into(),
            );
        }
        let key_sources = [
            self.jwks.is_some(),
            self.jwks_uri.is_some(),
            self.x509_certificate.is_some(),
        ];
        match key_sources.iter().filter(|s| **s).count() {
            0 if self.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt => {
                return Err(
                    "private_key_jwt needs the client's public keys: jwks, jwks_uri or x509_certificate"
                        .into(),
                );
            }
            0 | 1 => {}
            _ => {
                return Err(
                    "give the client's keys one way: jwks, jwks_uri or x509_certificate".into(),
                );
            }
        }
        if let Some(pem) = &self.x509_certificate {
            ostiary_jose::Jwk::from_pem(pem, None)
                .ok()
                .filter(|k| k.x5c.is_some())
                .ok_or("x509_certificate must be a PEM certificate")?;
        }
        if let Some(uri) = &self.jwks_uri
            && !uri.starts_with("https://")
            && !uri.starts_with("http://")
        {
            return Err(format!("jwks_uri \"{uri}\" is not an http(s) URL"));
        }
        // Back-Channel Logout §2.2: an absolute URI without a fragment.
        if let Some(uri) = &self.backchannel_logout_uri
            && (!(uri.starts_with("https://") || uri.starts_with("http://")) || uri.contains('#'))
        {
            return Err(format!(
                "backchannel_logout_uri \"{uri}\" is not an http(s) URL without a fragment"
            ));
        }
        if let Some(jwks) = &self.jwks {
            let set =
                ostiary_jose::JwkSet::from_object(jwks.as_object().cloned().unwrap_or_default())
                    .map_err(|e| format!("jwks: {e}"))?;
            if set.keys.iter().any(|k| k.is_private()) {
                return Err("jwks must hold public keys only".into());
            }
        }
        if self.grant_types.contains(&GrantType::AuthorizationCode)
            && self.redirect_uris.is_empty()
            && self.client_type != ClientType::Resource
        {
            return Err("the authorization_code grant needs at least one redirect URI".into());
        }
        Ok(())
    }

    /// The client's public keys, for private_key_jwt and JWT bearer assertions.
    pub fn public_keys(&self) -> ostiary_jose::JwkSet {
        self.jwks
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|o| ostiary_jose::JwkSet::from_object(o.clone()).ok())
            .unwrap_or_default()
    }

    pub fn is_confidential(&self) -> bool {
        self.client_type != ClientType::Public
    }

    pub fn display_name(&self) -> &str {
        self.client_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(if self.name.is_empty() {
                &self.client_id
            } else {
                &self.name
            })
    }
}

/// `scheme://…` with a non-empty scheme: enough to tell an absolute URI from a relative one.
fn url_parts(uri: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = uri.split_once(':')?;
    let valid_scheme = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (valid_scheme && !rest.is_empty()).then_some((scheme, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_descriptions_are_checked() {
        let mut client = ClientDescription {
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Default::default()
        };
        assert!(client.validate().is_ok());
        client.redirect_uris = vec!["/relative".into()];
        assert!(client.validate().is_err());
        client.redirect_uris = vec!["https://app.example/cb#frag".into()];
        assert!(client.validate().is_err());
        let public = ClientDescription {
            client_type: ClientType::Public,
            grant_types: vec![],
            ..Default::default()
        };
        assert!(
            public.validate().is_err(),
            "public clients use auth method none"
        );
        // A client's key set holds public keys: a private key there is a leak, refused.
        let key = ostiary_jose::Jwk::generate(ostiary_jose::Algorithm::Sig(SigAlg::ES256)).unwrap();
        let set = |jwk: &ostiary_jose::Jwk| Some(serde_json::json!({ "keys": [jwk.to_value()] }));
        let mut with_keys = ClientDescription {
            redirect_uris: vec!["https://app.example/cb".into()],
            jwks: set(&key),
            ..Default::default()
        };
        assert_eq!(
            with_keys.validate(),
            Err("jwks must hold public keys only".into())
        );
        with_keys.jwks = set(&key.to_public().unwrap());
        assert!(with_keys.validate().is_ok());
    }
}
