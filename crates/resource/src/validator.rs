//! JWT access token validation (the reference's ValidateJWT): decrypt when encrypted, verify with
//! the issuer's keys — cached, fetched again on an unknown key at most every `min_refetch` — and
//! check `iss`, `aud`, `exp`/`nbf` and scopes. Unsigned tokens are refused unless allowed.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use ostiary_jose::{ClaimChecks, DecodeOptions, Decoded, JoseError, JwkSet, Security, SigAlg};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use crate::bearer::BearerError;
use crate::cache::{TokenCache, ttl_until};

/// Where the issuer's public keys come from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// Given once (a file, a certificate, a set in the configuration).
    Static(JwkSet),
    /// Fetched from the issuer's `jwks_uri`.
    Uri(String),
}

/// What a validator checks.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
    pub issuer: String,
    /// The audience the tokens must name, when the resource server has one.
    pub audience: Option<String>,
    pub keys: KeySource,
    /// The resource server's private keys, for encrypted tokens.
    pub decrypt_with: JwkSet,
    /// The resource server's client secret, for tokens encrypted to it with a symmetric algorithm.
    pub client_secret: Option<String>,
    /// Accept tokens that are not signed (the reference does; Ostiary does not by default).
    pub allow_unsigned: bool,
    /// Signature algorithms accepted (all but `none` when `None`).
    pub algorithms: Option<Vec<SigAlg>>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway: u64,
    /// The header `typ` tokens must carry: `at+jwt` (RFC 9068 §4), so that an ID token or any
    /// other JWT of the same issuer and audience is not taken for an access token. `None`: any,
    /// for issuers that type their access tokens `JWT` (Keycloak does).
    pub token_type: Option<String>,
    /// The least time between two fetches of the issuer's keys.
    pub min_refetch: Duration,
    /// How long a verified token is remembered, so that its next uses skip the signature check
    /// (never past its `exp`; forgotten when the issuer's keys change). Zero: never.
    pub cache_ttl: Duration,
    /// The most verified tokens remembered.
    pub cache_capacity: usize,
}

impl ValidatorConfig {
    pub fn new(issuer: &str, keys: KeySource) -> Self {
        ValidatorConfig {
            issuer: issuer.to_owned(),
            audience: None,
            keys,
            decrypt_with: JwkSet::default(),
            client_secret: None,
            allow_unsigned: false,
            algorithms: None,
            leeway: 30,
            token_type: Some("at+jwt".to_owned()),
            min_refetch: Duration::from_secs(10),
            cache_ttl: Duration::from_secs(60),
            cache_capacity: 10_000,
        }
    }

    /// The configuration for `issuer` from its discovery document alone: its keys by
    /// `jwks_uri`, the defaults otherwise.
    pub async fn discover(issuer: &str, audience: Option<&str>) -> Result<Self, String> {
        let issuer = issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let metadata: Value = http_client()
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("{url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if metadata.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(format!("{url} describes another issuer"));
        }
        let jwks_uri = metadata
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{issuer} publishes no jwks_uri"))?;
        let mut config = ValidatorConfig::new(issuer, KeySource::Uri(jwks_uri.to_owned()));
        config.audience = audience.map(str::to_owned);
        Ok(config)
    }
}

/// A validated token: its claims and how it was protected.
#[derive(Clone, Debug)]
pub struct Validated {
    pub claims: Map<String, Value>,
    pub security: Security,
}

impl Validated {
    /// The token's scopes (`scope`, space-separated; or an `scp` array).
    pub fn scopes(&self) -> Vec<&str> {
        match (self.claims.get("scope"), self.claims.get("scp")) {
            (Some(Value::String(s)), _) => s.split(' ').filter(|s| !s.is_empty()).collect(),
            (_, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// `Err(InsufficientScope)` unless every scope of `required` was granted.
    pub fn require(&self, required: &[&str]) -> Result<(), BearerError> {
        let granted = self.scopes();
        if required.iter().all(|s| granted.contains(s)) {
            return Ok(());
        }
        Err(BearerError::InsufficientScope {
            scope: required.join(" "),
        })
    }
}

/// Validates JWT access tokens of one issuer. Share one per process (it holds the key cache).
#[derive(Debug)]
pub struct Validator {
    config: ValidatorConfig,
    keys: RwLock<(Option<Instant>, JwkSet)>,
    verified: TokenCache<Validated>,
    http: reqwest::Client,
}

/// The HTTP client for calls to the authorization server: bounded in time, never redirected.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

fn invalid(why: impl Into<String>) -> BearerError {
    BearerError::InvalidToken(why.into())
}

impl Validator {
    pub fn new(config: ValidatorConfig) -> Self {
        Validator::with_http(config, http_client())
    }

    /// A validator that fetches keys with `http` (say, one that trusts the issuer's private CA).
    pub fn with_http(config: ValidatorConfig, http: reqwest::Client) -> Self {
        let keys = match &config.keys {
            KeySource::Static(set) => (None, set.public()),
            KeySource::Uri(_) => (None, JwkSet::default()),
        };
        Validator {
            verified: TokenCache::new(config.cache_capacity),
            config,
            keys: RwLock::new(keys),
            http,
        }
    }

    /// A validator for `issuer` from its discovery document alone (the reference's variation
    /// that uses no endpoint of the server but its keys).
    pub async fn discover(issuer: &str, audience: Option<&str>) -> Result<Self, String> {
        let config = ValidatorConfig::discover(issuer, audience).await?;
        Ok(Validator::new(config))
    }

    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// The cached keys; fetched when never fetched, or when `refetch` and the last fetch is at
    /// least `min_refetch` old.
    async fn keys(&self, refetch: bool) -> Result<JwkSet, BearerError> {
        let KeySource::Uri(uri) = &self.config.keys else {
            return Ok(self.keys.read().await.1.clone());
        };
        {
            let cached = self.keys.read().await;
            let fresh_enough = cached
                .0
                .is_some_and(|at| !refetch || at.elapsed() < self.config.min_refetch);
            if fresh_enough {
                return Ok(cached.1.clone());
            }
        }
        let mut cached = self.keys.write().await;
        // Another task may have fetched while this one waited for the lock.
        if cached
            .0
            .is_some_and(|at| at.elapsed() < self.config.min_refetch)
        {
            return Ok(cached.1.clone());
        }
        let fetched = async {
            let body = self
                .http
                .get(uri)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            JwkSet::from_json(&body).map_err(|e| e.to_string())
        }
        .await;
        cached.0 = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                let keys = keys.public();
                if keys != cached.1 {
                    // A key may have been withdrawn: what it verified is verified again.
                    self.verified.clear();
                }
                cached.1 = keys;
            }
            // Keys fetched before stay in use; the failure is counted as a fetch all the same.
            Err(why) => tracing::warn!(%uri, %why, "cannot fetch the issuer's keys"),
        }
        Ok(cached.1.clone())
    }

    /// Decrypts `token` when encrypted and verifies its signature with the issuer's keys; checks
    /// no claim.
    pub async fn open(&self, token: &str) -> Result<Decoded, BearerError> {
        let opts = DecodeOptions {
            allow_unsigned: self.config.allow_unsigned,
            sig_algs: self.config.algorithms.clone(),
            ..Default::default()
        };
        let from_secret = self
            .config
            .client_secret
            .as_deref()
            .and_then(|secret| ostiary_jose::client_secret_key_for(token, secret));
        let decrypt = match from_secret {
            Some(key) => Cow::Owned(JwkSet::from(key)),
            None => Cow::Borrowed(&self.config.decrypt_with),
        };
        let keys = self.keys(false).await?;
        match ostiary_jose::decode(token, &decrypt, &keys, &opts) {
            // An unknown key: the issuer may have rotated; look again, within the rate limit.
            Err(JoseError::NoKey { .. }) => {
                let keys = self.keys(true).await?;
                ostiary_jose::decode(token, &decrypt, &keys, &opts)
            }
            other => other,
        }
        .map_err(|e| invalid(e.to_string()))
    }

    /// Validates `token` and requires `scopes`.
    pub async fn validate(&self, token: &str, scopes: &[&str]) -> Result<Validated, BearerError> {
        let key = TokenCache::<Validated>::key(token);
        if let Some(validated) = self.verified.get(&key) {
            validated.require(scopes)?;
            return Ok(validated);
        }
        let decoded = self.open(token).await?;
        let checks = ClaimChecks {
            issuer: Some(self.config.issuer.clone()),
            audience: self.config.audience.clone(),
            leeway: self.config.leeway,
            required: vec!["exp".into()],
            typ: self.config.token_type.clone(),
            ..Default::default()
        };
        checks.check(&decoded).map_err(|e| invalid(e.to_string()))?;
        let validated = Validated {
            claims: decoded.claims,
            security: decoded.security,
        };
        let exp = validated.claims.get("exp").and_then(Value::as_i64);
        let ttl = ttl_until(exp, self.config.cache_ttl);
        self.verified.insert(key, ttl, validated.clone());
        validated.require(scopes)?;
        Ok(validated)
    }
}

#[cfg(test)]
mod tests {
    use ostiary_jose::{Algorithm, EncodeOptions, Jwk};
    use serde_json::json;

    use super::*;

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn signed(keys: &JwkSet, exp: i64) -> String {
        typed(keys, exp, Some("at+jwt"))
    }

    fn typed(keys: &JwkSet, exp: i64, typ: Option<&str>) -> String {
        let claims = json!({"iss": "https://as.example", "sub": "svc", "scope": "a", "exp": exp});
        let opts = EncodeOptions {
            sig_alg: Some(SigAlg::ES256),
            typ: typ.map(str::to_owned),
            ..Default::default()
        };
        ostiary_jose::encode(claims.as_object().unwrap(), &opts, keys, None).unwrap()
    }

    #[tokio::test]
    async fn a_remembered_token_still_has_its_scopes_checked_and_never_outlives_exp() {
        let keys = JwkSet::from(Jwk::generate(Algorithm::Sig(SigAlg::ES256)).unwrap());
        let mut config =
            ValidatorConfig::new("https://as.example", KeySource::Static(keys.clone()));
        config.leeway = 0;
        let validator = Validator::new(config);
        let token = signed(&keys, now() + 1);
        assert!(validator.validate(&token, &["a"]).await.is_ok());
        assert!(
            validator
                .verified
                .get(&TokenCache::<Validated>::key(&token))
                .is_some()
        );
        assert_eq!(
            validator.validate(&token, &["b"]).await.unwrap_err(),
            BearerError::InsufficientScope { scope: "b".into() }
        );
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert!(
            matches!(
                validator.validate(&token, &[]).await,
                Err(BearerError::InvalidToken(_))
            ),
            "expired, cache or not"
        );
    }

    /// RFC 9068 §4: an ID token, or any JWT not typed `at+jwt`, is refused though its issuer
    /// signed it; an issuer that types access tokens otherwise is accepted when told so.
    #[tokio::test]
    async fn only_jwts_typed_at_jwt_are_access_tokens_unless_configured_otherwise() {
        let keys = JwkSet::from(Jwk::generate(Algorithm::Sig(SigAlg::ES256)).unwrap());
        let config = ValidatorConfig::new("https://as.example", KeySource::Static(keys.clone()));
        let strict = Validator::new(config.clone());
        let any = Validator::new(ValidatorConfig {
            token_type: None,
            ..config
        });
        let exp = now() + 600;
        for typ in [Some("at+jwt"), Some("application/at+jwt"), Some("AT+JWT")] {
            assert!(
                strict.validate(&typed(&keys, exp, typ), &[]).await.is_ok(),
                "{typ:?}"
            );
        }
        for typ in [Some("JWT"), None, Some("logout+jwt")] {
            let token = typed(&keys, exp, typ);
            assert!(
                matches!(
                    strict.validate(&token, &[]).await,
                    Err(BearerError::InvalidToken(_))
                ),
                "{typ:?}"
            );
            assert!(any.validate(&token, &[]).await.is_ok(), "{typ:?}");
        }
    }
}
