//! JOSE for Ostiary: keys (RFC 7517/7518/7638/8037), JWS (RFC 7515), JWE (RFC 7516) and JWT
//! (RFC 7519) with the checks of RFC 8725, on aws-lc-rs. Pure: no I/O.
//!
//! ```
//! use ostiary_jose::{Algorithm, ClaimChecks, DecodeOptions, EncodeOptions, Jwk, JwkSet, SigAlg, decode, encode};
//!
//! let keys = JwkSet::from(Jwk::generate(Algorithm::Sig(SigAlg::ES256))?);
//! let claims = serde_json::json!({"iss": "https://as.example", "sub": "alice"});
//! let opts = EncodeOptions { sig_alg: Some(SigAlg::ES256), ..Default::default() };
//! let token = encode(claims.as_object().unwrap(), &opts, &keys, None)?;
//!
//! let decoded = decode(&token, &JwkSet::default(), &keys.public(), &DecodeOptions::default())?;
//! ClaimChecks { issuer: Some("https://as.example".into()), ..Default::default() }.check(&decoded)?;
//! assert_eq!(decoded.claims["sub"], "alice");
//! assert_eq!(decoded.security.sigalg, Some(SigAlg::ES256));
//! # Ok::<(), ostiary_jose::JoseError>(())
//! ```

mod alg;
mod claims;
pub mod clock;
mod encoding;
mod error;
mod header;
mod jwe;
mod jwk;
mod jwks;
mod jws;
mod jwt;
mod keyring;
mod pem;

pub use alg::{Algorithm, EncAlg, KeyAlg, SigAlg};
pub use claims::{ClaimChecks, audiences, left_half_hash, numeric_date};
pub use error::{JoseError, Result};
pub use header::{DEFAULT_MAX_TOKEN_LEN, Header, REGISTERED, typ_matches};
pub use jwe::encrypt as encrypt_jwe;
pub use jwk::{Curve, Jwk, KeyOp};
pub use jwks::JwkSet;
pub use jws::{sign as sign_jws, verify_detached};
pub use jwt::{
    DecodeOptions, Decoded, EncodeOptions, Security, client_secret_key_for, decode, encode,
    encode_payload, insecure_peek_header, open,
};
pub use keyring::{KeyRing, KeyState, RingKey};
