//! Customization hooks (DESIGN.md, "Authorization server: customization"). Each is a trait with a
//! built-in default; a deployment replaces one by passing its own implementation in [`Hooks`].
//! `ValidateUser` is the one the token endpoint needs; the interactive hooks come with /authorize.

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::User;
use crate::password;
use crate::store::{ServerStore, StoreError};

/// Checks user credentials for the password grant (and, later, the login form).
#[async_trait]
pub trait ValidateUser: Send + Sync {
    /// The user, when `password` is theirs and they are enabled; `None` otherwise.
    async fn validate_user(
        &self,
        store: &dyn ServerStore,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError>;

    /// Claims this user source can release (for discovery's `claims_supported`).
    fn supported_claims(&self) -> &[&'static str] {
        crate::issue::STANDARD_CLAIMS
    }
}

/// The default: the users table, Argon2id password hashes.
#[derive(Debug, Default)]
pub struct BuiltinUsers;

#[async_trait]
impl ValidateUser for BuiltinUsers {
    async fn validate_user(
        &self,
        store: &dyn ServerStore,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        let hash = store.password_hash(username).await?;
        // SECURITY: verify against a dummy hash for unknown users, so timing does not reveal them.
        let known = hash.is_some();
        let phc = hash.unwrap_or_else(|| password::dummy_hash().to_owned());
        let matches = password::verify_async(password.to_owned(), phc).await;
        if !(known && matches) {
            return Ok(None);
        }
        Ok(store.user(username).await?.filter(|u| u.enabled))
    }
}

/// The hooks a server runs with.
#[derive(Clone)]
pub struct Hooks {
    pub validate_user: Arc<dyn ValidateUser>,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            validate_user: Arc::new(BuiltinUsers),
        }
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}
