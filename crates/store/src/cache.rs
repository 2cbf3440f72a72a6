//! A short memory of rows read on the hot path: client descriptions with their secret hashes (every
//! token, introspection and revocation request authenticates a client) and users (every refresh,
//! code redemption and userinfo request asks whether the user may still sign in, and their claims).
//!
//! Writes through this store forget the entry at once; writes by another process (another node,
//! or `ostiary admin` on the same file) are seen within [`CACHE_TTL`], like the server's cached
//! configuration and keys. Only rows that exist are remembered, and at most [`CAPACITY`] of them,
//! so unknown ids cannot grow it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ostiary_server::config::{ClientDescription, User};
use ostiary_server::state::CACHE_TTL;

const CAPACITY: usize = 4096;

/// A client row as the cache keeps it.
#[derive(Clone)]
pub(crate) struct ClientRow {
    pub client: ClientDescription,
    pub secret_hash: Option<String>,
    /// The secret sealed under the master key (for `client_secret_jwt` and encryption to it).
    pub secret_sealed: Option<String>,
}

/// Client rows by client id.
pub(crate) type ClientCache = Cache<ClientRow>;
/// Users by username.
pub(crate) type UserCache = Cache<User>;

pub(crate) struct Cache<T> {
    entries: Mutex<HashMap<String, (Instant, T)>>,
    /// Bumped by every invalidation: a row read before it must not be remembered after it.
    generation: AtomicU64,
    /// Lookups answered from memory, and those that went to the database (for `/metrics`).
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            entries: Mutex::default(),
            generation: AtomicU64::default(),
            hits: AtomicU64::default(),
            misses: AtomicU64::default(),
        }
    }
}

impl<T> std::fmt::Debug for Cache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

impl<T: Clone> Cache<T> {
    pub fn get(&self, key: &str) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let found = entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, row)| row.clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The generation to hand back to [`put`](Self::put) with a row read after this call.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers `row` under `key`, unless an invalidation happened since `generation` was taken
    /// (the row may then be older than the change).
    pub fn put(&self, key: &str, row: T, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (Instant::now(), row));
    }

    pub fn forget(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> ClientRow {
        ClientRow {
            client: ClientDescription {
                client_id: id.into(),
                ..Default::default()
            },
            secret_hash: Some("h".into()),
            secret_sealed: None,
        }
    }

    #[test]
    fn a_row_read_before_an_invalidation_is_not_remembered() {
        let cache = ClientCache::default();
        let before = cache.generation();
        cache.forget("a");
        cache.put("a", row("a"), before);
        assert!(cache.get("a").is_none());
        cache.put("a", row("a"), cache.generation());
        assert_eq!(cache.get("a").unwrap().client.client_id, "a");
        cache.forget("a");
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn unknown_ids_cannot_grow_it_past_capacity() {
        let cache = ClientCache::default();
        for i in 0..CAPACITY + 10 {
            cache.put(&i.to_string(), row(&i.to_string()), cache.generation());
        }
        assert!(cache.entries.lock().unwrap().len() <= CAPACITY);
    }
}
