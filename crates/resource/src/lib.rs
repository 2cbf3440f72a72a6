//! The resource server library: takes the bearer token out of a request (RFC 6750), validates it
//! locally as a JWT against the issuer's JWKS or by introspection (RFC 7662), and enforces scopes.
//! Modules arrive with the resource server issue.

pub mod bearer;
pub mod validator;
