//! Customization hooks (DESIGN.md, "Authorization server: customization"; the reference's
//! customization classes). Each is a trait whose methods have the built-in behaviour as default,
//! so a deployment overrides only what it needs and passes its implementation in [`Hooks`].
//!
//! The order the server calls them in, for one authorization:
//! 1. [`Authenticate::before_authenticate`] — every grant;
//! 2. for code and implicit requests: [`Authenticate::direct_login`], else the session from
//!    [`SessionStore::get_user`], else [`Authenticate::display_login`]; then
//!    [`ValidateUser::validate_user`] and, when scopes need consent,
//!    [`Authenticate::display_permissions`]. The password grant calls `validate_user` alone, the
//!    client credentials grant [`ValidateUser::validate_client`];
//! 3. [`Authenticate::after_authenticate`] — every grant;
//! 4. [`TokenGenerator::generate_access_token`].
//!
//! All of them see the authorization's [`Properties`](crate::properties::Properties).

mod authenticate;
pub mod session;
mod token;
mod validate;

use std::sync::Arc;

pub use authenticate::{Authenticate, BuiltinPages, ConsentForm, DirectLogin, LoginForm};
pub use session::{CookieSessions, SESSION_COOKIE, SessionStore, SetCookies, UserSession};
pub use token::{
    AccessToken, ConfiguredTokens, JwtTokens, OpaqueTokens, TokenGenerator, create_jwt,
};
pub use validate::{BuiltinUsers, Credential, ValidateUser};

use crate::config::{ClientDescription, ServerConfig};
use crate::state::Server;
use crate::store::StoreError;

/// What every hook call may use: the server (its store and keys), the configuration in force, and
/// the client the authorization is for.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub server: &'a Server,
    pub config: &'a ServerConfig,
    pub client: &'a ClientDescription,
}

/// How a hook fails.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The authorization must end with `access_denied`; the text goes to the client.
    #[error("access denied: {0}")]
    Denied(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Too much work already (password checks queued): 429 with `Retry-After`.
    #[error("busy: retry in {retry_after} s")]
    Busy { retry_after: u64 },
    /// Anything else: logged, and the client sees `server_error`.
    #[error("{0}")]
    Failed(String),
}

pub type HookResult<T> = Result<T, HookError>;

/// The hooks a server runs with; [`Hooks::default`] is the built-in behaviour throughout.
#[derive(Clone)]
pub struct Hooks {
    pub authenticate: Arc<dyn Authenticate>,
    pub validate_user: Arc<dyn ValidateUser>,
    pub sessions: Arc<dyn SessionStore>,
    pub token_generator: Arc<dyn TokenGenerator>,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            authenticate: Arc::new(BuiltinPages),
            validate_user: Arc::new(BuiltinUsers),
            sessions: Arc::new(CookieSessions),
            token_generator: Arc::new(ConfiguredTokens),
        }
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}
