//! The authorization server (OpenID Provider): configuration items, storage traits, hooks, and an
//! axum router with every endpoint: authorize (with its login and consent pages), token,
//! introspection, revocation, userinfo, JWKS and discovery.
//!
//! ```ignore
//! let server = Server::new(store, Hooks::default());
//! let app = ostiary_server::router(server, "/oauth2");
//! ```

pub mod authorize;
pub mod client_auth;
pub mod client_keys;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod fetch;
pub mod grants;
pub mod hooks;
pub mod issue;
pub mod metrics;
pub mod pages;
pub mod params;
pub mod password;
pub mod properties;
pub mod ratelimit;
pub mod registration;
pub mod state;
pub mod store;

pub use endpoints::router;
pub use error::{ServerError, ServerResult};
pub use hooks::Hooks;
pub use state::{Server, initialize};
