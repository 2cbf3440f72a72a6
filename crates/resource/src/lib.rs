//! The resource server library: takes the bearer token out of a request (RFC 6750), checks it —
//! locally as a JWT against the issuer's keys (decrypting what was encrypted to this resource
//! server), or by introspection — and enforces scopes, in a few lines of an axum application:
//!
//! ```ignore
//! // From the issuer's keys alone …
//! let check = Arc::new(Validator::discover("https://as.example/oauth2", Some("api")).await?);
//! // … or from a stored server description and client configuration of type resource server.
//! let check = Arc::new(ResourceServer::load(&client, "api").await?);
//! let app = Router::new()
//!     .route("/reports", get(reports))            // handlers take `Claims`
//!     .layer(from_fn_with_state((Protected::new(check), &["reports:read"][..]), guard));
//! ```

pub mod bearer;
mod cache;
pub mod check;
pub mod configured;
pub mod introspection;
pub mod validator;
pub mod web;

pub use bearer::{BearerError, Methods};
pub use check::TokenCheck;
pub use configured::ResourceServer;
pub use introspection::{IntrospectionConfig, Introspector};
pub use validator::{KeySource, Validated, Validator, ValidatorConfig};
pub use web::{BearerToken, Claims, Protected, Requirement, guard};
