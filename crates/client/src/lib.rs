//! The client (relying party) runtime: server descriptions and discovery, client configurations
//! and dynamic registration, every grant, the token store, ID token validation and a login layer
//! for axum applications. Modules arrive with the client issue.

pub mod discovery;
pub mod grants;
pub mod token_store;
