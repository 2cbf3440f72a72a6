//! User passwords: Argon2id (RFC 9106) PHC strings with the crate's defaults (m = 19 MiB, t = 2,
//! p = 1, the OWASP minimum). Hashing runs on the blocking pool: it is deliberately slow.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
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
fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    })
}

async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let _slot = hashing_slots().acquire().await.map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| e.to_string())
}

pub async fn verify_async(password: String, phc: String) -> bool {
    off_the_runtime(move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

pub async fn hash_async(password: String) -> Result<String, String> {
    off_the_runtime(move || hash(&password)).await?
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
}
