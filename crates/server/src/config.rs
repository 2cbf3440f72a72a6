//! The configuration items the authorization server keeps: the server configuration (one per
//! instance), client descriptions and users. Field names and defaults follow the reference's
//! server configuration tabs (General, Scopes, Intervals, JWT Settings, Customization) and the
//! RFC 7591 / OpenID Connect Dynamic Registration vocabulary for clients.

use ostiary_core::GrantType;
use ostiary_jose::{EncAlg, KeyAlg, SigAlg};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod client;
pub use client::{ClientDescription, ClientType};

/// The issuer endpoint: `http(s)://host[:port][/prefix]/oauth2`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerEndpoint {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default)]
    pub tls: bool,
}

/// `value` as a `T`; an error names the member at fault (`intervals.access_token: invalid
/// type…`), so that forms can mark the field and registration can say which metadata is wrong.
pub fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })
}

impl Default for IssuerEndpoint {
    fn default() -> Self {
        IssuerEndpoint {
            host: "127.0.0.1".into(),
            port: Some(8080),
            prefix: None,
            tls: false,
        }
    }
}

impl IssuerEndpoint {
    /// The issuer URL, without a trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let prefix = self
            .prefix
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty());
        match prefix {
            Some(p) => format!("{scheme}://{}{port}/{p}/oauth2", self.host),
            None => format!("{scheme}://{}{port}/oauth2", self.host),
        }
    }

    /// The path the endpoints are served under (`/oauth2` or `/prefix/oauth2`).
    pub fn path(&self) -> String {
        match self
            .prefix
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
        {
            Some(p) => format!("/{p}/oauth2"),
            None => "/oauth2".into(),
        }
    }

    /// Reads an issuer URL (`http://127.0.0.1:8080/oauth2`, `https://id.example.com/auth/oauth2`).
    pub fn from_url(url: &str) -> Option<Self> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.trim_end_matches('/');
        let prefix = path.strip_suffix("oauth2")?.trim_end_matches('/');
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h.to_owned(), Some(p.parse().ok()?))
            }
            _ => (authority.to_owned(), None),
        };
        if host.is_empty() {
            return None;
        }
        Some(IssuerEndpoint {
            host,
            port,
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            tls,
        })
    }
}

/// When the token endpoint returns a refresh token with an access token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenPolicy {
    /// Whenever the client may use the refresh_token grant.
    #[default]
    IfClientAllowsRefresh,
    /// Only when the `offline_access` scope was granted.
    IfOfflineAccess,
    /// With every access token issued to a user (never for client_credentials).
    Always,
    Never,
}

/// Format of the access tokens the server issues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenFormat {
    /// A random handle, looked up at introspection.
    #[default]
    Opaque,
    /// A JWT (RFC 9068 profile) signed, and optionally encrypted, per the JWT settings.
    Jwt,
}

/// Dynamic client registration (issue 5): open, protected by an initial access token, or off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    Open,
    Token,
    #[default]
    Off,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeDescription {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// Token lifetimes, in seconds (the reference's Intervals tab), and how long a rotated key is
/// published before it signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Intervals {
    pub access_token: u64,
    pub authorization_code: u64,
    /// A refresh token's life: each rotation gives the new one this long, so a family that goes
    /// unused this long ends (the inactivity limit).
    pub refresh_token: u64,
    /// A refresh token family's whole life from its first token, however often it is rotated
    /// (Keycloak's "session max"). 0: no limit.
    pub refresh_token_family: u64,
    /// 0: sessions are not terminated automatically.
    pub session: u64,
    /// 0: client secrets do not expire.
    pub client_secret: u64,
    /// A rotated server key is published this long before it signs, so that by then every node
    /// (whose caches live 2 s) and every verifier (the JWKS may be cached 60 s) holds it. 0: it
    /// signs at once.
    pub key_publication: u64,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            access_token: 3600,
            authorization_code: 60,
            refresh_token: 86400,
            refresh_token_family: 0,
            session: 86400,
            client_secret: 0,
            key_publication: 90,
        }
    }
}

/// Where the server's keys come from, and the algorithms its JWTs use (the JWT Settings tab).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// `None`: generated key sets. `Some`: X.509 credentials (PEM files of a certificate and its key).
    pub x509: Option<X509Credentials>,
    /// Signing algorithm of JWTs the server makes (ID tokens, JWT access tokens).
    pub signing_alg: Option<SigAlg>,
    /// Key management and content encryption algorithms, to encrypt JWTs (both or neither).
    pub key_alg: Option<KeyAlg>,
    pub enc_alg: Option<EncAlg>,
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            x509: None,
            signing_alg: Some(SigAlg::RS256),
            key_alg: None,
            enc_alg: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X509Credentials {
    /// PEM file of the server's certificate.
    pub certificate_file: String,
    /// PEM file of its private key, encrypted (PKCS#8) or not.
    pub private_key_file: String,
    /// File holding the private key's password, when it is encrypted.
    #[serde(default)]
    pub private_key_password_file: Option<String>,
}

/// The Customization tab: which hooks the binary uses. Rust users replace hooks in code instead.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Customization {
    /// A directory whose templates override the built-in login and consent pages.
    pub templates_dir: Option<String>,
}

/// The server configuration: at most one per instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub issuer: IssuerEndpoint,
    pub description: String,
    /// Require `aud` in authorization requests.
    pub audience_required: bool,
    pub support_user_session: bool,
    /// Let public clients use refresh tokens without a secret.
    pub allow_public_client_refresh: bool,
    pub enforce_pkce_public_clients: bool,
    pub enforce_pkce_confidential_clients: bool,
    pub frontchannel_logout: bool,
    pub frontchannel_logout_sid: bool,
    pub return_refresh_token: RefreshTokenPolicy,
    pub grant_types: Vec<GrantType>,
    pub service_documentation: Option<String>,
    pub op_policy_uri: Option<String>,
    pub op_tos_uri: Option<String>,
    pub scopes: Vec<ScopeDescription>,
    /// Ignore unsupported scopes instead of refusing the request.
    pub allow_unsupported_scope: bool,
    /// Scope used when neither the request nor the client gives one.
    pub default_scope: String,
    pub intervals: Intervals,
    pub jwt: JwtSettings,
    pub access_token_format: AccessTokenFormat,
    /// JWT access tokens issued to a client for itself (no user, no refresh token, no grant to
    /// revoke them with) are not stored: the signature is their record, as Keycloak's are. The
    /// token endpoint then writes nothing for them; introspection reads the token, revocation
    /// stores a revoked row for it, and admin listings do not show them. Off: every token is a
    /// row, as with opaque tokens.
    pub self_contained_client_tokens: bool,
    pub customization: Customization,
    pub registration: Registration,
    /// Redirect the authorization errors of clients that registered themselves at once, as
    /// every other client's. Off (the default), they wait on a page for the user: nobody vetted
    /// those redirect URIs, and RFC 9700 §4.11.2 asks a server to redirect automatically only to
    /// URIs it trusts (an administrator can vet one client by clearing its
    /// `dynamically_registered`).
    pub trust_registered_redirect_uris: bool,
    /// Let the server fetch client-named URLs (`request_uri`, `jwks_uri`) on loopback and private
    /// addresses, and over plain HTTP on loopback. Off: such URLs could reach internal services.
    pub fetch_private_addresses: bool,
    /// Issuers whose signed assertions the JWT bearer grant accepts for a user (RFC 7523 §3,
    /// "the JWT MUST contain an iss"): another identity provider this server trusts.
    pub trusted_issuers: Vec<TrustedIssuer>,
    pub rate_limits: RateLimits,
    /// Reverse proxies (addresses or CIDR blocks) whose `Forwarded` / `X-Forwarded-For` name
    /// the client's address. Empty: the peer of the connection is the client.
    pub trusted_proxies: Vec<String>,
}

/// Requests allowed per client address or client (0: no limit); beyond them the server answers
/// 429 with `Retry-After`. Counted by each node in its own memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Token requests per minute from one client.
    pub token_per_client: u32,
    /// Token requests per minute from one address.
    pub token_per_address: u32,
    /// Dynamic registrations per minute from one address.
    pub registration_per_address: u32,
    /// Failed client authentications (token, introspection, revocation) from one address
    /// within five minutes, after which that address must wait: secrets cannot be guessed.
    pub client_auth_failures_per_address: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            token_per_client: 0,
            token_per_address: 0,
            registration_per_address: 30,
            client_auth_failures_per_address: 30,
        }
    }
}

/// An address or a CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressBlock {
    network: std::net::IpAddr,
    prefix: u8,
}

impl std::str::FromStr for AddressBlock {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("\"{text}\" is not an address or CIDR block");
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let network: std::net::IpAddr = address.trim().parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(AddressBlock { network, prefix })
    }
}

impl AddressBlock {
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        // An IPv4 peer on an IPv6 socket arrives as ::ffff:a.b.c.d.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        let prefix = u32::from(self.prefix);
        match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// An assertion issuer trusted by the JWT bearer grant, with its public keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    pub issuer: String,
    /// Its public keys inline (a JWK Set object) …
    #[serde(default)]
    pub jwks: Option<Value>,
    /// … or where to fetch them.
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let scope = |name: &str, description: &str| ScopeDescription {
            name: name.into(),
            description: description.into(),
        };
        ServerConfig {
            issuer: IssuerEndpoint::default(),
            description: String::new(),
            audience_required: false,
            support_user_session: true,
            allow_public_client_refresh: false,
            enforce_pkce_public_clients: true,
            enforce_pkce_confidential_clients: false,
            frontchannel_logout: true,
            frontchannel_logout_sid: true,
            return_refresh_token: RefreshTokenPolicy::default(),
            grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::Password,
                GrantType::ClientCredentials,
                GrantType::RefreshToken,
                GrantType::JwtBearer,
            ],
            service_documentation: None,
            op_policy_uri: None,
            op_tos_uri: None,
            scopes: vec![
                scope("openid", "Sign you in"),
                scope("profile", "Your name and profile"),
                scope("email", "Your email address"),
                scope("address", "Your postal address"),
                scope("phone", "Your phone number"),
                scope("offline_access", "Access while you are away"),
            ],
            allow_unsupported_scope: false,
            default_scope: String::new(),
            intervals: Intervals::default(),
            jwt: JwtSettings::default(),
            access_token_format: AccessTokenFormat::Opaque,
            self_contained_client_tokens: false,
            customization: Customization::default(),
            registration: Registration::Off,
            trust_registered_redirect_uris: false,
            fetch_private_addresses: false,
            trusted_issuers: Vec::new(),
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// The trusted proxies, parsed (those that do not parse were refused by [`Self::validate`]).
    pub fn proxy_blocks(&self) -> Vec<AddressBlock> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Checks what serde cannot: consistent algorithm pairs and a usable issuer.
    pub fn validate(&self) -> Result<(), String> {
        if self.issuer.host.is_empty() || self.issuer.host.contains(['/', ' ', '?', '#']) {
            return Err("issuer.host must be a host name or address".into());
        }
        if self.jwt.key_alg.is_some() != self.jwt.enc_alg.is_some() {
            return Err("jwt.key_alg and jwt.enc_alg go together".into());
        }
        if self.grant_types.is_empty() {
            return Err("grant_types needs at least one grant type".into());
        }
        if self.access_token_format == AccessTokenFormat::Jwt
            && self.jwt.signing_alg.is_none()
            && self.jwt.enc_alg.is_none()
        {
            return Err("JWT access tokens need jwt.signing_alg, jwt.enc_alg or both".into());
        }
        if self.self_contained_client_tokens
            && (self.access_token_format != AccessTokenFormat::Jwt
                || self.jwt.signing_alg.is_none()
                || self.jwt.enc_alg.is_some())
        {
            // Introspection must read the token: it cannot open one encrypted to another party.
            return Err(
                "self_contained_client_tokens needs access_token_format = \"jwt\", \
                 jwt.signing_alg and no jwt.enc_alg"
                    .into(),
            );
        }
        for proxy in &self.trusted_proxies {
            proxy
                .parse::<AddressBlock>()
                .map_err(|why| format!("trusted_proxies: {why}"))?;
        }
        for trusted in &self.trusted_issuers {
            if trusted.issuer.is_empty() || trusted.jwks.is_some() == trusted.jwks_uri.is_some() {
                return Err(format!(
                    "trusted issuer \"{}\" needs a name and either jwks or jwks_uri",
                    trusted.issuer
                ));
            }
        }
        if let Some(bad) = self
            .scopes
            .iter()
            .find(|s| ostiary_core::Scopes::parse(&s.name).is_none_or(|p| p.iter().count() != 1))
        {
            return Err(format!(
                "scope name \"{}\" is not a single scope token",
                bad.name
            ));
        }
        Ok(())
    }

    pub fn issuer_url(&self) -> String {
        self.issuer.url()
    }

    /// How long a user session lasts, in seconds; an interval of 0 means until the browser
    /// forgets it, which a server has to count as some years.
    pub fn session_lifetime(&self) -> i64 {
        match self.intervals.session {
            0 => 10 * 365 * 86_400,
            n => n as i64,
        }
    }

    pub fn supports_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.name == scope)
    }
}

/// A user of the built-in user validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    /// Claims released by scope: `name`, `email`, `email_verified`, … (`sub` is the username).
    #[serde(default)]
    pub claims: Map<String, Value>,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_urls_round_trip() {
        for url in [
            "http://127.0.0.1:8080/oauth2",
            "https://id.example.com/oauth2",
            "https://id.example.com:8443/auth/oauth2",
        ] {
            let endpoint = IssuerEndpoint::from_url(url).unwrap();
            assert_eq!(endpoint.url(), url);
        }
        assert_eq!(
            IssuerEndpoint::from_url("https://id.example.com/auth/oauth2")
                .unwrap()
                .path(),
            "/auth/oauth2"
        );
        assert!(IssuerEndpoint::from_url("https://id.example.com/other").is_none());
        assert!(IssuerEndpoint::from_url("ftp://x/oauth2").is_none());
    }

    #[test]
    fn defaults_are_the_references() {
        let config = ServerConfig::default();
        assert_eq!(
            config.intervals,
            Intervals {
                access_token: 3600,
                authorization_code: 60,
                refresh_token: 86400,
                refresh_token_family: 0,
                session: 86400,
                client_secret: 0,
                key_publication: 90,
            }
        );
        assert!(config.validate().is_ok());
        let toml_like: ServerConfig =
            serde_json::from_str(r#"{"intervals":{"access_token":60}}"#).unwrap();
        assert_eq!(toml_like.intervals.refresh_token, 86400);
        assert!(serde_json::from_str::<ServerConfig>(r#"{"unknown_option":1}"#).is_err());
    }

    /// Introspection reads a self-contained token, so it must be a JWT the server can open.
    #[test]
    fn self_contained_client_tokens_need_signed_jwt_access_tokens() {
        let mut config = ServerConfig {
            self_contained_client_tokens: true,
            ..ServerConfig::default()
        };
        let refused = |config: &ServerConfig| {
            config
                .validate()
                .is_err_and(|why| why.contains("self_contained_client_tokens"))
        };
        assert!(refused(&config), "opaque tokens");
        config.access_token_format = AccessTokenFormat::Jwt;
        config.jwt.signing_alg = Some(SigAlg::ES256);
        assert_eq!(config.validate(), Ok(()));
        config.jwt.key_alg = Some(ostiary_jose::KeyAlg::A256Kw);
        config.jwt.enc_alg = Some(ostiary_jose::EncAlg::A256Gcm);
        assert!(refused(&config), "encrypted tokens");
    }
}
