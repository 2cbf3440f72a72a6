//! `ValidateUser`: who the user is and what claims they have (the reference's Validate user
//! class).

use async_trait::async_trait;

use super::{Context, HookError, HookResult};
use crate::password;
use crate::properties::{Properties, ScopeMap};

/// How the user proved who they are.
///
/// The reference passes an empty password for a user who signed in before; a separate variant
/// makes that case impossible to mistake for an empty password typed into a form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A password from the login form or the password grant: check it.
    Password(&'a str),
    /// The server already knows the user: a live session, a refresh token, a JWT bearer assertion
    /// or a direct login that vouched for them. Check only that they may still sign in.
    Established,
}

#[async_trait]
pub trait ValidateUser: Send + Sync {
    /// True when `username` is a valid user for this `credential`. Set the claims the user has
    /// on `properties` ([`Properties::set_claim`]); the scope and claim requirements decide which
    /// of them are released. Used by every grant but client credentials.
    async fn validate_user(
        &self,
        ctx: &Context<'_>,
        username: &str,
        credential: Credential<'_>,
        scope: &mut ScopeMap,
        properties: &mut Properties,
    ) -> HookResult<bool>;

    /// True when the (already authenticated) client may have a client credentials token; may set
    /// claims like `validate_user`. The default accepts every client and adds nothing.
    async fn validate_client(
        &self,
        _ctx: &Context<'_>,
        _scope: &mut ScopeMap,
        _properties: &mut Properties,
    ) -> HookResult<bool> {
        Ok(true)
    }

    /// Claims this user source can release (discovery's `claims_supported`).
    fn supported_claims(&self) -> Vec<String> {
        crate::issue::STANDARD_CLAIMS
            .iter()
            .map(|c| (*c).to_owned())
            .collect()
    }
}

/// The default: the users table, Argon2id password hashes, and each user's stored claims.
#[derive(Debug, Default)]
pub struct BuiltinUsers;

#[async_trait]
impl ValidateUser for BuiltinUsers {
    async fn validate_user(
        &self,
        ctx: &Context<'_>,
        username: &str,
        credential: Credential<'_>,
        _scope: &mut ScopeMap,
        properties: &mut Properties,
    ) -> HookResult<bool> {
        let store = ctx.server.store();
        if let Credential::Password(given) = credential {
            let hash = store.password_hash(username).await?;
            // SECURITY: verify against a dummy hash for unknown users, so timing does not reveal them.
            let known = hash.is_some();
            let phc = hash.unwrap_or_else(|| password::dummy_hash().to_owned());
            let matches = password::verify_async(given.to_owned(), phc)
                .await
                .map_err(|_| HookError::Busy { retry_after: 1 })?;
            if !(known && matches) {
                return Ok(false);
            }
        }
        let Some(user) = store.user(username).await?.filter(|u| u.enabled) else {
            return Ok(false);
        };
        properties.set_user_claims(&user);
        Ok(true)
    }
}
