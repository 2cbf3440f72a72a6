//! The resource server library: takes the bearer token out of a request (RFC 6750), validates it
//! locally as a JWT against the issuer's keys, and enforces scopes — in a few lines of an axum
//! application:
//!
//! ```ignore
//! let validator = Arc::new(Validator::discover("https://as.example/oauth2", Some("api")).await?);
//! let app = Router::new()
//!     .route("/reports", get(reports))            // handlers take `Claims`
//!     .layer(from_fn_with_state((Protected::new(validator), &["reports:read"][..]), guard));
//! ```

pub mod bearer;
pub mod introspection;
pub mod validator;
pub mod web;

pub use bearer::{BearerError, Methods};
pub use introspection::{IntrospectionConfig, Introspector};
pub use validator::{KeySource, Validated, Validator, ValidatorConfig};
pub use web::{Claims, Protected, Requirement, guard};
