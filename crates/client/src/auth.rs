//! Client authentication at the server's endpoints (RFC 6749 §2.3, RFC 7523 §2.2, OpenID Connect
//! Core §9): the reference's AddClientAuthentication.

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ostiary_core::AuthMethod;
use ostiary_jose::{EncodeOptions, Jwk, JwkSet, SigAlg};
use serde_json::json;

use crate::config::ClientConfiguration;
use crate::error::{ClientError, ClientResult};

/// How long a client assertion lives.
const ASSERTION_LIFETIME: i64 = 60;

pub(crate) fn random() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Adds the client's authentication to a form `request` for `endpoint` (the assertion's audience):
/// an Authorization header, form members, or a signed client assertion, per the configuration.
pub fn add_client_authentication(
    request: reqwest::RequestBuilder,
    form: &mut Vec<(String, String)>,
    config: &ClientConfiguration,
    endpoint: &str,
) -> ClientResult<reqwest::RequestBuilder> {
    let secret = || {
        config
            .client_secret
            .as_deref()
            .ok_or_else(|| ClientError::Config(format!("{} has no client secret", config.app)))
    };
    let mut push = |k: &str, v: String| form.push((k.to_owned(), v));
    match config.token_endpoint_auth_method {
        AuthMethod::None => {
            push("client_id", config.client_id.clone());
            Ok(request)
        }
        AuthMethod::ClientSecretBasic => {
            // RFC 6749 §2.3.1: both parts form-encoded before base64.
            let pair = format!(
                "{}:{}",
                form_encode(&config.client_id),
                form_encode(secret()?)
            );
            let value = format!("Basic {}", STANDARD.encode(pair));
            Ok(request.header(reqwest::header::AUTHORIZATION, value))
        }
        AuthMethod::ClientSecretPost => {
            push("client_id", config.client_id.clone());
            push("client_secret", secret()?.to_owned());
            Ok(request)
        }
        AuthMethod::ClientSecretJwt | AuthMethod::PrivateKeyJwt => {
            let (keys, default_alg) =
                if config.token_endpoint_auth_method == AuthMethod::ClientSecretJwt {
                    let key = Jwk::symmetric(secret()?.as_bytes())
                        .map_err(|e| ClientError::Config(e.to_string()))?;
                    (JwkSet::from(key), SigAlg::HS256)
                } else {
                    let keys = config
                        .private_keys()
                        .map_err(ClientError::Config)?
                        .ok_or_else(|| {
                            ClientError::Config(format!(
                                "{} has no keys for private_key_jwt",
                                config.app
                            ))
                        })?;
                    // The key's own algorithm unless the configuration names one.
                    let alg = keys
                        .keys
                        .iter()
                        .filter_map(|k| k.alg.as_deref())
                        .find_map(|a| a.parse().ok())
                        .unwrap_or(SigAlg::RS256);
                    (keys, alg)
                };
            let alg = config
                .token_endpoint_auth_signing_alg
                .unwrap_or(default_alg);
            let now = now();
            let claims = json!({
                "iss": config.client_id, "sub": config.client_id, "aud": endpoint,
                "jti": random(), "iat": now, "exp": now + ASSERTION_LIFETIME,
            });
            let opts = EncodeOptions {
                sig_alg: Some(alg),
                ..Default::default()
            };
            let assertion = ostiary_jose::encode(
                claims.as_object().expect("a JSON object"),
                &opts,
                &keys,
                None,
            )
            .map_err(|e| ClientError::Config(format!("client assertion: {e}")))?;
            push("client_id", config.client_id.clone());
            push(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            );
            push("client_assertion", assertion);
            Ok(request)
        }
    }
}
