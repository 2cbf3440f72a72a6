//! A bounded map from a token's SHA-256 to what was learnt about it, each entry good until its
//! own deadline. Shared by the validator (verified JWTs) and the introspector (answers).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;

pub(crate) type TokenKey = [u8; 32];

#[derive(Debug)]
pub(crate) struct TokenCache<V> {
    entries: Mutex<HashMap<TokenKey, (Instant, V)>>,
    capacity: usize,
}

impl<V: Clone> TokenCache<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The key of `token`: its hash, so the cache never holds a usable token.
    pub(crate) fn key(token: &str) -> TokenKey {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        key
    }

    pub(crate) fn get(&self, key: &TokenKey) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, value)| value.clone())
    }

    /// Remembers `value` for `ttl` (nothing when `ttl` is zero or the cache holds nothing).
    pub(crate) fn insert(&self, key: TokenKey, ttl: Duration, value: V) {
        if ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= self.capacity {
                // Still full of live entries: start over rather than grow without bound.
                entries.clear();
            }
        }
        entries.insert(key, (now + ttl, value));
    }

    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// How long until `exp` (seconds since the epoch), capped at `max`; zero when past.
pub(crate) fn ttl_until(exp: Option<i64>, max: Duration) -> Duration {
    let Some(exp) = exp else { return max };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Duration::from_secs(exp.saturating_sub(now).max(0) as u64).min(max)
}
