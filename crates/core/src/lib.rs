//! Vocabulary shared by every role: OAuth error codes and responses, grant types and client
//! authentication methods, scopes, and provider metadata. The authorization server, the client
//! runtime and the resource server all speak through these types.

pub mod error;
pub mod grant;
pub mod metadata;
pub mod scope;

pub use error::{ErrorCode, ErrorResponse};
pub use grant::{AuthMethod, GrantType};
pub use metadata::ProviderMetadata;
pub use scope::Scopes;
