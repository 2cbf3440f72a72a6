//! Login attempt limits, per user and per client address (RFC 9700 §4.16 asks for brute-force
//! protection). Counters live in this node's memory: a multi-node deployment limits per node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins allowed per user, and per client address, within [`WINDOW`].
pub const PER_USER: u32 = 5;
pub const PER_ADDRESS: u32 = 30;
pub const WINDOW: Duration = Duration::from_secs(300);
/// Beyond this many tracked keys, expired ones are dropped (memory stays bounded).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    /// How long `key` must wait, when it has used up `limit` failures in the window.
    pub fn blocked(&self, key: &str, limit: u32) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = failures.get(key)?;
        let age = since.elapsed();
        (*count >= limit && age < WINDOW).then(|| WINDOW - age)
    }

    pub fn fail(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = failures
            .entry(key.to_owned())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_blocked_after_its_limit() {
        let limiter = LoginLimiter::default();
        for _ in 0..PER_USER - 1 {
            limiter.fail("user:alice");
        }
        assert!(limiter.blocked("user:alice", PER_USER).is_none());
        limiter.fail("user:alice");
        assert!(
            limiter
                .blocked("user:alice", PER_USER)
                .is_some_and(|d| d <= WINDOW)
        );
        assert!(limiter.blocked("user:bob", PER_USER).is_none());
        limiter.reset("user:alice");
        assert!(limiter.blocked("user:alice", PER_USER).is_none());
    }
}
