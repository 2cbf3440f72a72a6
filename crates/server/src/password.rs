//! User passwords: Argon2id (RFC 9106) PHC strings with the crate's defaults (m = 19 MiB, t = 2,
//! p = 1, the OWASP minimum). Hashing runs on the blocking pool, one hash per core, with a bounded
//! queue: it is deliberately slow.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "no system randomness".to_string())?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Checks a password against a PHC string (constant time within the hash comparison).
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A hash that matches nothing, verified for unknown users so that timing does not tell.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("ostiary-dummy-password-never-used").unwrap_or_default())
}

/// At most one hash per core at a time: more threads would only share the cores (each hash
/// holding its 19 MiB meanwhile) and lengthen every login's wait.
struct Slots {
    hashing: tokio::sync::Semaphore,
    /// Hashes running or waiting for a slot.
    queued: AtomicUsize,
    /// How many may queue before more are turned away.
    limit: usize,
}

/// Hashes that may wait per core: at about 40 hashes a second per core, the last of them waits
/// a second already. Past that the login is turned away ([`Busy`]) rather than queued without
/// bound, each waiter holding a connection and its request.
const QUEUED_PER_CORE: usize = 40;

fn slots() -> &'static Slots {
    static SLOTS: std::sync::OnceLock<Slots> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Slots {
            hashing: tokio::sync::Semaphore::new(cores),
            queued: AtomicUsize::new(0),
            limit: cores * QUEUED_PER_CORE,
        }
    })
}

/// Too many password checks are waiting already: the caller answers 429 with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks are waiting: retry in a second")]
pub struct Busy;

async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<Result<T, String>, Busy> {
    struct Leaves<'a>(&'a AtomicUsize);
    impl Drop for Leaves<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, SeqCst);
        }
    }
    let slots = slots();
    let ahead = slots.queued.fetch_add(1, SeqCst);
    let _leaves = Leaves(&slots.queued);
    if ahead >= slots.limit {
        return Err(Busy);
    }
    let Ok(_slot) = slots.hashing.acquire().await else {
        return Ok(Err("the hashing slots are closed".into()));
    };
    Ok(tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string()))
}

/// Whether `password` matches `phc`; [`Busy`] when too many checks are waiting.
pub async fn verify_async(password: String, phc: String) -> Result<bool, Busy> {
    Ok(off_the_runtime(move || verify(&password, &phc))
        .await?
        .unwrap_or(false))
}

pub async fn hash_async(password: String) -> Result<String, String> {
    off_the_runtime(move || hash(&password))
        .await
        .map_err(|busy| busy.to_string())??
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_are_argon2id_and_verify() {
        let phc = super::hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(super::verify("correct horse", &phc));
        assert!(!super::verify("wrong", &phc));
        assert!(!super::verify("correct horse", "not a hash"));
    }

    /// A burst beyond the queue is turned away at once, and only the excess: the checks that
    /// queued all run (row 152: argon2id is slow by design, so a burst must not pile up).
    #[tokio::test]
    async fn password_checks_beyond_the_queue_are_turned_away() {
        let phc = super::hash("burst").unwrap();
        let limit = super::slots().limit;
        let checks: Vec<_> = (0..limit + 25)
            .map(|_| tokio::spawn(super::verify_async("burst".into(), phc.clone())))
            .collect();
        let (mut matched, mut busy) = (0, 0);
        for check in checks {
            match check.await.unwrap() {
                Ok(true) => matched += 1,
                Ok(false) => panic!("the right password did not match"),
                Err(super::Busy) => busy += 1,
            }
        }
        assert_eq!((matched, busy), (limit, 25));
        // The queue is empty again: the next check runs.
        assert_eq!(super::verify_async("burst".into(), phc).await, Ok(true));
    }
}
