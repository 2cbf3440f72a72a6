//! One error type for the whole JOSE layer. Every message says what was wrong with the input, so a
//! user can act on it; none of them echoes key material.

/// What went wrong while reading, making or checking a key, a JWS, a JWE or a JWT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error("invalid base64url in {0}")]
    Base64(&'static str),
    #[error("invalid JSON in {part}: {reason}")]
    Json { part: &'static str, reason: String },
    #[error("unsupported algorithm \"{0}\"")]
    UnsupportedAlgorithm(String),
    #[error("algorithm \"{0}\" is not allowed here")]
    AlgorithmNotAllowed(String),
    #[error(
        "unsigned token refused (alg \"none\" or encryption without signature); allow it explicitly to accept"
    )]
    Unsigned,
    #[error("no key in the set fits {what}")]
    NoKey { what: String },
    #[error("the token has no \"kid\" and several keys fit its algorithm")]
    AmbiguousKey,
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("decryption failed")]
    DecryptionFailed,
    #[error("header parameter \"{0}\" is invalid or not allowed")]
    BadHeader(String),
    #[error("critical header parameter \"{0}\" is not understood")]
    UnknownCritical(String),
    #[error("compressed content (\"zip\") is not supported")]
    Compressed,
    #[error("custom header parameter \"{0}\" would override a registered one")]
    ReservedHeader(String),
    #[error("claim \"{0}\" is missing")]
    MissingClaim(String),
    #[error("claim \"{0}\" has the wrong type or value")]
    InvalidClaim(String),
    #[error("token expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("issuer does not match")]
    WrongIssuer,
    #[error("audience does not match")]
    WrongAudience,
    #[error("token type (\"typ\") does not match")]
    WrongType,
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    #[error("PEM/DER: {0}")]
    Pem(String),
}

pub type Result<T, E = JoseError> = std::result::Result<T, E>;

impl From<aws_lc_rs::error::Unspecified> for JoseError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        JoseError::Crypto("aws-lc rejected the operation")
    }
}

impl From<aws_lc_rs::error::KeyRejected> for JoseError {
    fn from(e: aws_lc_rs::error::KeyRejected) -> Self {
        JoseError::InvalidKey(e.to_string())
    }
}
