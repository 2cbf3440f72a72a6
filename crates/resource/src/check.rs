//! One interface for the ways a token is checked — locally as a JWT, by introspection, or each
//! by its shape — so that a protected route does not care which.

use async_trait::async_trait;

use crate::bearer::BearerError;
use crate::introspection::Introspector;
use crate::validator::{Validated, Validator};

#[async_trait]
pub trait TokenCheck: Send + Sync + std::fmt::Debug {
    /// The token's claims when it is good and grants every scope of `scopes`.
    async fn check(&self, token: &str, scopes: &[&str]) -> Result<Validated, BearerError>;
}

#[async_trait]
impl TokenCheck for Validator {
    async fn check(&self, token: &str, scopes: &[&str]) -> Result<Validated, BearerError> {
        self.validate(token, scopes).await
    }
}

#[async_trait]
impl TokenCheck for Introspector {
    async fn check(&self, token: &str, scopes: &[&str]) -> Result<Validated, BearerError> {
        self.validate(token, scopes).await
    }
}
