//! Vocabulary shared by every role: OAuth error codes and responses, grant and response types,
//! scopes, PKCE, client and provider metadata, endpoint paths and the clock. The authorization
//! server, the client runtime and the resource server all speak through these types.

pub mod error;

pub use error::{ErrorCode, ErrorResponse};
