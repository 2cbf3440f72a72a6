//! Client registration: RFC 7591 / OpenID Connect Dynamic Registration metadata turned into a
//! checked client description, for the `/register` endpoint and `ostiary admin client create`
//! alike, and the registration response.

use ostiary_core::{AuthMethod, GrantType};
use serde_json::{Map, Value};

use crate::config::{ClientDescription, ClientType, ServerConfig};

/// Why metadata was refused (RFC 7591 §3.2.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("{0}")]
    RedirectUri(String),
    #[error("{0}")]
    Metadata(String),
}

impl MetadataError {
    pub fn code(&self) -> &'static str {
        match self {
            MetadataError::RedirectUri(_) => "invalid_redirect_uri",
            MetadataError::Metadata(_) => "invalid_client_metadata",
        }
    }
}

/// Members only an administrator sets: Ostiary's own fields and what the server assigns.
const ADMIN_ONLY: &[&str] = &[
    "client_type",
    "name",
    "description",
    "launch_url",
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
    "dynamically_registered",
];

/// Who is registering: an administrator may set Ostiary's own fields and the client id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registrant {
    Admin,
    Dynamic,
}

/// A client description from registration metadata, every field checked.
pub fn client_from_metadata(
    config: &ServerConfig,
    mut metadata: Map<String, Value>,
    registrant: Registrant,
    now: i64,
) -> Result<ClientDescription, MetadataError> {
    let bad = |why: String| MetadataError::Metadata(why);
    if registrant == Registrant::Dynamic {
        metadata.retain(|name, _| !ADMIN_ONLY.contains(&name.as_str()));
    }
    let explicit_type = metadata.contains_key("client_type");
    let public = metadata.get("client_type").and_then(Value::as_str) == Some("public");
    if public && !metadata.contains_key("token_endpoint_auth_method") {
        metadata.insert("token_endpoint_auth_method".into(), "none".into());
    }
    // OpenID Connect Registration §2: when response_types is absent, the default is code and so
    // the default grant is authorization_code; keep the two consistent when only one is sent.
    if metadata.contains_key("grant_types") && !metadata.contains_key("response_types") {
        let grants: Vec<&str> = metadata["grant_types"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut types = Vec::new();
        if grants.contains(&"authorization_code") {
            types.push("code");
        }
        if grants.contains(&"implicit") {
            types.extend(["id_token", "id_token token"]);
        }
        metadata.insert("response_types".into(), types.into());
    }
    let given_id = metadata
        .get("client_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut client: ClientDescription =
        crate::config::from_json(Value::Object(metadata)).map_err(bad)?;
    if !explicit_type {
        client.client_type = if client.token_endpoint_auth_method == AuthMethod::None {
            ClientType::Public
        } else {
            ClientType::Confidential
        };
    }
    if client.name.is_empty() {
        client.name = client.client_name.clone().unwrap_or_default();
    }
    client.client_id = given_id.unwrap_or_else(crate::issue::new_client_id);
    client.client_id_issued_at = now;
    if registrant == Registrant::Dynamic {
        client.dynamically_registered = true;
    }
    client.client_secret_expires_at =
        match (client.is_confidential(), config.intervals.client_secret) {
            (false, _) | (_, 0) => 0,
            (true, n) => now + n as i64,
        };
    check(&client)?;
    Ok(client)
}

/// The registration rules beyond [`ClientDescription::validate`]: redirect URIs fit the kind of
/// application, grant and response types agree, and keys come one way.
pub fn check(client: &ClientDescription) -> Result<(), MetadataError> {
    let native = client.extra.get("application_type").and_then(Value::as_str) == Some("native");
    for uri in &client.redirect_uris {
        check_redirect_uri(uri, native)
            .map_err(|why| MetadataError::RedirectUri(format!("redirect_uris: {why}")))?;
    }
    for uri in &client.post_logout_redirect_uris {
        check_redirect_uri(uri, native)
            .map_err(|why| MetadataError::Metadata(format!("post_logout_redirect_uris: {why}")))?;
    }
    let has = |g: GrantType| client.grant_types.contains(&g);
    for response_type in &client.response_types {
        let parts: Vec<&str> = response_type.split(' ').collect();
        if parts
            .iter()
            .any(|p| !matches!(*p, "code" | "token" | "id_token"))
        {
            return Err(MetadataError::Metadata(format!(
                "response type \"{response_type}\" is not supported"
            )));
        }
        if parts.contains(&"code") && !has(GrantType::AuthorizationCode) {
            return Err(MetadataError::Metadata(format!(
                "response type \"{response_type}\" needs the authorization_code grant"
            )));
        }
        if (parts.contains(&"token") || parts.contains(&"id_token")) && !has(GrantType::Implicit) {
            return Err(MetadataError::Metadata(format!(
                "response type \"{response_type}\" needs the implicit grant"
            )));
        }
    }
    if has(GrantType::AuthorizationCode)
        && !client.response_types.iter().any(|r| r.contains("code"))
    {
        return Err(MetadataError::Metadata(
            "the authorization_code grant needs a response type with code".into(),
        ));
    }
    if client.id_token_encrypted_response_enc.is_some()
        && client.id_token_encrypted_response_alg.is_none()
    {
        return Err(MetadataError::Metadata(
            "id_token_encrypted_response_enc needs id_token_encrypted_response_alg".into(),
        ));
    }
    if client.userinfo_encrypted_response_enc.is_some()
        && client.userinfo_encrypted_response_alg.is_none()
    {
        return Err(MetadataError::Metadata(
            "userinfo_encrypted_response_enc needs userinfo_encrypted_response_alg".into(),
        ));
    }
    client.validate().map_err(MetadataError::Metadata)
}

/// RFC 8252 and OpenID Connect Registration §2: web clients use https (http on loopback for
/// development); native ones may use loopback http or a private-use scheme (`com.example.app:/cb`).
/// Never a fragment.
fn check_redirect_uri(uri: &str, native: bool) -> Result<(), String> {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(format!("\"{uri}\" is not an absolute URI"));
    };
    if uri.contains('#') {
        return Err(format!("\"{uri}\" has a fragment"));
    }
    // SECURITY: no user information (`https://app.example@evil.example/`) and no wildcards:
    // what a person reads as the host must be the host (RFC 9700 §4.1.1, §2.1).
    if uri.contains('*') {
        return Err(format!("\"{uri}\" has a wildcard"));
    }
    let authority = rest
        .strip_prefix("//")
        .map(|r| r.split(['/', '?']).next().unwrap_or_default());
    if authority.is_some_and(|a| a.contains('@')) {
        return Err(format!("\"{uri}\" has user information"));
    }
    let host = authority.map(|authority| match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    });
    let loopback = matches!(host, Some("localhost" | "127.0.0.1" | "::1"));
    match scheme.to_ascii_lowercase().as_str() {
        "https" if host.is_some_and(|h| !h.is_empty()) => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!("\"{uri}\" must use https outside loopback")),
        "https" => Err(format!("\"{uri}\" has no host")),
        private if native && private.contains('.') => Ok(()),
        _ if native => Err(format!(
            "\"{uri}\": a native app's own scheme is a reverse domain name (com.example.app:/cb)"
        )),
        _ => Err(format!("\"{uri}\" must use https")),
    }
}

/// The registration response (RFC 7591 §3.2.1): the metadata as registered, and the credentials.
pub fn response(
    client: &ClientDescription,
    secret: Option<&str>,
    registration: Option<(&str, &str)>,
) -> Value {
    let mut body = serde_json::to_value(client).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        // Absent metadata is left out, not sent as null (clients check the types they get).
        obj.retain(|_, v| !v.is_null());
        obj.remove("client_secret_expires_at");
        // Ostiary's own, not registration metadata.
        obj.remove("dynamically_registered");
        if let Some(secret) = secret {
            obj.insert("client_secret".into(), secret.into());
        }
        if client.is_confidential() || secret.is_some() {
            obj.insert(
                "client_secret_expires_at".into(),
                client.client_secret_expires_at.into(),
            );
        }
        if let Some((token, uri)) = registration {
            obj.insert("registration_access_token".into(), token.into());
            obj.insert("registration_client_uri".into(), uri.into());
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn register(metadata: Value) -> Result<ClientDescription, MetadataError> {
        client_from_metadata(
            &ServerConfig::default(),
            metadata.as_object().unwrap().clone(),
            Registrant::Dynamic,
            1000,
        )
    }

    #[test]
    fn the_response_leaves_absent_metadata_out() {
        let client = register(json!({"redirect_uris": ["https://app.example/cb"]})).unwrap();
        let body = response(&client, Some("s"), Some(("t", "https://as/register/x")));
        let obj = body.as_object().unwrap();
        assert!(obj.values().all(|v| !v.is_null()), "{body}");
        assert!(!obj.contains_key("default_max_age"));
        assert_eq!(body["client_secret"], "s");
        assert_eq!(body["registration_access_token"], "t");
    }

    #[test]
    fn redirect_uris_follow_the_kind_of_application() {
        let ok = |uri: &str, native: bool| check_redirect_uri(uri, native).is_ok();
        assert!(ok("https://app.example/cb", false));
        assert!(ok("http://127.0.0.1:8080/cb", false));
        assert!(ok("http://[::1]/cb", true));
        assert!(ok("com.example.app:/cb", true));
        assert!(!ok("http://app.example/cb", false));
        assert!(!ok("https://app.example/cb#frag", false));
        assert!(
            !ok("myapp:/cb", true),
            "a private scheme is a reverse domain name"
        );
        assert!(!ok("com.example.app:/cb", false), "web clients use https");
        assert!(!ok("https:///cb", false));
        assert!(!ok("http://localhost.evil.example/cb", false));
        assert!(!ok("https://app.example@evil.example/cb", false));
        assert!(!ok("http://localhost@evil.example/cb", false));
        assert!(!ok("https://a@b@evil.example/cb", false));
        assert!(!ok("https://*.app.example/cb", false));
        assert!(!ok("https://app.example/*", false));
        assert!(!ok("relative/cb", false));
    }

    #[test]
    fn metadata_is_checked_and_defaults_follow_the_auth_method() {
        let client =
            register(json!({"redirect_uris": ["https://app.example/cb"], "client_name": "App"}))
                .unwrap();
        assert_eq!(client.client_type, ClientType::Confidential);
        assert_eq!(client.name, "App");
        assert_eq!(client.client_id.len(), 32);
        let public = register(json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"})).unwrap();
        assert_eq!(public.client_type, ClientType::Public);
        assert_eq!(public.client_secret_expires_at, 0);
        // A registrant cannot make itself a resource server or choose its id.
        let sneaky = register(json!({"redirect_uris": ["https://app.example/cb"], "client_type": "resource", "client_id": "admin"})).unwrap();
        assert_eq!(sneaky.client_type, ClientType::Confidential);
        assert_ne!(sneaky.client_id, "admin");

        let refused = |m: Value| register(m).unwrap_err();
        for bad in [
            "http://app.example/cb",
            // Loopback only in appearance: the host is what follows the `@`.
            "http://localhost@evil.example/cb",
            "http://127.0.0.1@evil.example/cb",
            "JavaScript:alert(1)",
            "jAvAsCrIpT://app.example/%0Aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https://app.example/cb#fragment",
        ] {
            assert_eq!(
                refused(json!({"redirect_uris": [bad]})).code(),
                "invalid_redirect_uri",
                "{bad}"
            );
        }
        // A native app's loopback URIs may use http.
        for native in [
            "http://127.0.0.1/cb",
            "http://[::1]:8000/cb",
            "http://localhost:7/cb",
        ] {
            assert!(
                register(json!({"redirect_uris": [native], "token_endpoint_auth_method": "none"}))
                    .is_ok(),
                "{native}"
            );
        }
        for bad in [
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["authorization_code"], "response_types": ["id_token"]}),
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["code"], "grant_types": ["implicit"]}),
            json!({"redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "none"}),
            json!({"redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "XS999"}),
            json!({"redirect_uris": ["https://a.example/cb"], "jwks": {"keys": []}, "jwks_uri": "https://a.example/jwks"}),
            json!({"redirect_uris": ["https://a.example/cb"], "userinfo_encrypted_response_enc": "A128GCM"}),
            json!({"redirect_uris": ["https://a.example/cb"], "post_logout_redirect_uris": ["http://a.example/bye"]}),
            json!({"redirect_uris": "https://a.example/cb"}),
            json!({"grant_types": ["authorization_code"]}),
        ] {
            assert_eq!(
                refused(bad.clone()).code(),
                "invalid_client_metadata",
                "{bad}"
            );
        }
    }
}
