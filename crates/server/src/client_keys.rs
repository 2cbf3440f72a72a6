//! A client's keys: its public keys inline (`jwks`), from its X.509 certificate
//! (`x509_certificate`, PEM) or from `jwks_uri` — fetched with the guarded fetcher, cached, and
//! fetched again once when a signature does not verify (the reference's UpdateJWKS: the client
//! may have rotated) — and its secret, for HS* signatures.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ostiary_jose::{DecodeOptions, Decoded, JoseError, Jwk, JwkSet};
use tokio::sync::Mutex;

use crate::config::{ClientDescription, ServerConfig};
use crate::error::{ServerError, ServerResult};
use crate::state::Server;

/// How long fetched keys are used before they are fetched again.
pub const JWKS_TTL: Duration = Duration::from_secs(300);
/// The least time between two fetches of one `jwks_uri`, so that bad signatures cannot make
/// the server fetch without end.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);

/// Keys fetched from `jwks_uri`s, by URI; each URI has its own lock, so a slow one delays only
/// its own callers.
#[derive(Debug, Default)]
pub struct FetchedKeys(std::sync::Mutex<HashMap<String, Arc<Mutex<Option<Fetched>>>>>);

/// A key set and when it was fetched.
type Fetched = (Instant, JwkSet);

impl FetchedKeys {
    fn entry(&self, uri: &str) -> Arc<Mutex<Option<Fetched>>> {
        // The map lock is held only to find the entry; a poisoned map is still a valid map.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(uri.to_owned()).or_default().clone()
    }

    /// Uses `keys` for `uri` from now on (an administrator's Update JWKS fetched them).
    pub async fn put(&self, uri: &str, keys: JwkSet) {
        *self.entry(uri).lock().await = Some((Instant::now(), keys));
    }
}

/// The public keys at `uri`, fetched now through the guarded fetcher.
pub async fn fetch_set(config: &ServerConfig, uri: &str) -> Result<JwkSet, String> {
    let body = crate::fetch::fetch(uri, config.fetch_private_addresses)
        .await
        .map_err(|e| e.to_string())?;
    JwkSet::from_json(&String::from_utf8_lossy(&body))
        .map(|set| set.public())
        .map_err(|e| e.to_string())
}

/// Which of a client's keys may have signed something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// Its secret (client_secret_jwt).
    Secret,
    /// Its public keys (private_key_jwt, JWT bearer assertions).
    PublicKeys,
    /// Either (request objects).
    Either,
}

/// The client's public keys; `refetch` asks for `jwks_uri` again unless it was fetched moments ago.
pub async fn public_keys(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    refetch: bool,
) -> ServerResult<JwkSet> {
    if let Some(pem) = &client.x509_certificate {
        let mut key = Jwk::from_pem(pem, None).map_err(|e| {
            ServerError::Config(format!("client {}: certificate: {e}", client.client_id))
        })?;
        // Named by its RFC 7638 thumbprint, as clients name certificate keys in `kid`.
        if key.kid.is_none() {
            key.kid = Some(key.thumbprint());
        }
        return Ok(JwkSet::from(key));
    }
    match &client.jwks_uri {
        Some(uri) => Ok(fetched(server, config, uri, refetch).await),
        None => Ok(client.public_keys()),
    }
}

/// The public keys at `uri`, from the cache unless stale (or `refetch` and not fetched moments
/// ago). When a fetch fails, the keys fetched before stay usable: a brief outage at the client
/// breaks nothing.
pub async fn fetched(server: &Server, config: &ServerConfig, uri: &str, refetch: bool) -> JwkSet {
    let entry = server.fetched_keys().entry(uri);
    let mut fetched = entry.lock().await;
    if let Some((at, keys)) = fetched.as_ref() {
        let age = at.elapsed();
        if age < MIN_REFETCH || (!refetch && age < JWKS_TTL) {
            return keys.clone();
        }
    }
    // One fetch at a time per URI and node: concurrent callers wait for it rather than fetch again.
    match fetch_set(config, uri).await {
        Ok(keys) => {
            *fetched = Some((Instant::now(), keys.clone()));
            keys
        }
        Err(why) => {
            tracing::warn!(%uri, %why, "cannot fetch a key set");
            // Noted as a fetch too, so that a dead URI is not asked again on every request.
            let keys = fetched.take().map(|(_, k)| k).unwrap_or_default();
            *fetched = Some((Instant::now(), keys.clone()));
            keys
        }
    }
}

async fn keys_for(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    signer: Signer,
    refetch: bool,
) -> ServerResult<JwkSet> {
    let mut keys = Vec::new();
    if signer != Signer::Secret {
        keys = public_keys(server, config, client, refetch).await?.keys;
    }
    if signer != Signer::PublicKeys
        && let Some(secret) = server.store().client_secret(&client.client_id).await?
        && let Ok(key) = Jwk::symmetric(secret.as_bytes())
    {
        keys.push(key);
    }
    Ok(JwkSet::new(keys))
}

/// Decodes `token` as signed by `client` (decrypting with `decrypt_with` when it is a JWE). When
/// the signature does not verify and the keys come from `jwks_uri`, fetches them again and retries
/// once.
pub async fn decode_signed_by(
    server: &Server,
    config: &ServerConfig,
    client: &ClientDescription,
    signer: Signer,
    token: &str,
    decrypt_with: &JwkSet,
    opts: &DecodeOptions,
) -> ServerResult<Result<Decoded, JoseError>> {
    let keys = keys_for(server, config, client, signer, false).await?;
    let first = ostiary_jose::decode(token, decrypt_with, &keys, opts);
    if first.is_ok() || client.jwks_uri.is_none() || signer == Signer::Secret {
        return Ok(first);
    }
    let keys = keys_for(server, config, client, signer, true).await?;
    Ok(ostiary_jose::decode(token, decrypt_with, &keys, opts))
}
