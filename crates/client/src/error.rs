//! What can go wrong in a client call, as types an application can match on.

use ostiary_core::ErrorResponse;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an OAuth error (RFC 6749 §5.2, RFC 7591 §3.2.2, …).
    #[error("the server refused: {0:?}")]
    Refused(ErrorResponse),
    /// The server could not be reached or answered something that is not the protocol.
    #[error("HTTP: {0}")]
    Http(String),
    #[error("the server's answer is not valid: {0}")]
    InvalidResponse(String),
    /// Discovery found metadata for another issuer (a mix-up, RFC 8414 §3.3).
    #[error("the metadata is for issuer {found}, not {expected}")]
    IssuerMismatch { expected: String, found: String },
    #[error("unknown {what} \"{name}\"")]
    Unknown { what: &'static str, name: String },
    /// The configuration cannot do what was asked.
    #[error("configuration: {0}")]
    Config(String),
    #[error("storage: {0}")]
    Store(String),
    /// The redirect's `state` belongs to no pending request of this application (forged,
    /// replayed, or expired).
    #[error("the state does not match a pending authorization request")]
    StateMismatch,
    #[error(transparent)]
    IdToken(#[from] crate::id_token::IdTokenError),
    /// Userinfo answered for another user than the ID token (OpenID Connect Core §5.3.2).
    #[error("userinfo's sub is not the ID token's")]
    SubjectMismatch,
}

pub type ClientResult<T> = Result<T, ClientError>;
