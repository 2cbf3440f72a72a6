//! The algorithm names of RFC 7518 (and RFC 8037's EdDSA). Names are matched exactly: `"None"`,
//! `"nOnE"` or `"HS256 "` are unknown algorithms, never aliases.

use std::fmt;
use std::str::FromStr;

use crate::error::JoseError;

macro_rules! alg_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = JoseError;
            fn from_str(s: &str) -> Result<Self, JoseError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(JoseError::UnsupportedAlgorithm(s.chars().take(40).collect())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

alg_enum!(
    /// JWS `alg` values (RFC 7518 §3.1, RFC 8037 §3.1). `none` is deliberately absent: an unsigned
    /// token is a separate, explicitly requested case (see [`crate::DecodeOptions::allow_unsigned`]).
    SigAlg {
        HS256 = "HS256", HS384 = "HS384", HS512 = "HS512",
        RS256 = "RS256", RS384 = "RS384", RS512 = "RS512",
        PS256 = "PS256", PS384 = "PS384", PS512 = "PS512",
        ES256 = "ES256", ES384 = "ES384", ES512 = "ES512",
        EdDSA = "EdDSA",
    }
);

alg_enum!(
    /// JWE key management `alg` values (RFC 7518 §4.1).
    KeyAlg {
        Rsa1_5 = "RSA1_5", RsaOaep = "RSA-OAEP", RsaOaep256 = "RSA-OAEP-256",
        A128Kw = "A128KW", A192Kw = "A192KW", A256Kw = "A256KW",
        A128GcmKw = "A128GCMKW", A192GcmKw = "A192GCMKW", A256GcmKw = "A256GCMKW",
        Dir = "dir",
        EcdhEs = "ECDH-ES", EcdhEsA128Kw = "ECDH-ES+A128KW", EcdhEsA192Kw = "ECDH-ES+A192KW",
        EcdhEsA256Kw = "ECDH-ES+A256KW",
    }
);

alg_enum!(
    /// JWE content encryption `enc` values (RFC 7518 §5.1).
    EncAlg {
        A128CbcHs256 = "A128CBC-HS256", A192CbcHs384 = "A192CBC-HS384", A256CbcHs512 = "A256CBC-HS512",
        A128Gcm = "A128GCM", A192Gcm = "A192GCM", A256Gcm = "A256GCM",
    }
);

/// The family of key a JWS algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SigFamily {
    Hmac,
    RsaPkcs1,
    RsaPss,
    Ecdsa(crate::jwk::Curve),
    Ed25519,
}

impl SigAlg {
    pub(crate) fn family(self) -> SigFamily {
        use crate::jwk::Curve;
        use SigAlg::*;
        match self {
            HS256 | HS384 | HS512 => SigFamily::Hmac,
            RS256 | RS384 | RS512 => SigFamily::RsaPkcs1,
            PS256 | PS384 | PS512 => SigFamily::RsaPss,
            ES256 => SigFamily::Ecdsa(Curve::P256),
            ES384 => SigFamily::Ecdsa(Curve::P384),
            ES512 => SigFamily::Ecdsa(Curve::P521),
            EdDSA => SigFamily::Ed25519,
        }
    }

    /// Digest size in bytes; also the minimum HMAC key size (RFC 7518 §3.2).
    pub(crate) fn hash_len(self) -> usize {
        use SigAlg::*;
        match self {
            HS256 | RS256 | PS256 | ES256 => 32,
            HS384 | RS384 | PS384 | ES384 => 48,
            HS512 | RS512 | PS512 | ES512 | EdDSA => 64,
        }
    }
}

impl KeyAlg {
    /// Size in bytes of the symmetric key this algorithm wraps with, where it uses one.
    pub(crate) fn kek_len(self) -> Option<usize> {
        use KeyAlg::*;
        match self {
            A128Kw | A128GcmKw | EcdhEsA128Kw => Some(16),
            A192Kw | A192GcmKw | EcdhEsA192Kw => Some(24),
            A256Kw | A256GcmKw | EcdhEsA256Kw => Some(32),
            _ => None,
        }
    }

    pub(crate) fn is_ecdh(self) -> bool {
        matches!(
            self,
            KeyAlg::EcdhEs | KeyAlg::EcdhEsA128Kw | KeyAlg::EcdhEsA192Kw | KeyAlg::EcdhEsA256Kw
        )
    }

    /// Whether the recipient's key is a public key (RSA or ECDH), not a shared secret.
    pub fn is_asymmetric(self) -> bool {
        self.is_rsa() || self.is_ecdh()
    }

    pub(crate) fn is_rsa(self) -> bool {
        matches!(self, KeyAlg::Rsa1_5 | KeyAlg::RsaOaep | KeyAlg::RsaOaep256)
    }
}

impl EncAlg {
    /// Content encryption key size in bytes (for CBC-HS, MAC key and encryption key together).
    pub fn key_len(self) -> usize {
        use EncAlg::*;
        match self {
            A128Gcm => 16,
            A192Gcm => 24,
            A256Gcm | A128CbcHs256 => 32,
            A192CbcHs384 => 48,
            A256CbcHs512 => 64,
        }
    }

    pub(crate) fn iv_len(self) -> usize {
        if self.is_gcm() { 12 } else { 16 }
    }

    pub(crate) fn is_gcm(self) -> bool {
        matches!(self, EncAlg::A128Gcm | EncAlg::A192Gcm | EncAlg::A256Gcm)
    }
}

/// Any algorithm a key can be made for: what `ostiary jwt keygen --alg` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sig(SigAlg),
    Key(KeyAlg),
    /// A content encryption algorithm, for a `dir` key of its size.
    Enc(EncAlg),
}

impl FromStr for Algorithm {
    type Err = JoseError;
    fn from_str(s: &str) -> Result<Self, JoseError> {
        s.parse()
            .map(Algorithm::Sig)
            .or_else(|_| s.parse().map(Algorithm::Key))
            .or_else(|_| s.parse().map(Algorithm::Enc))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Algorithm::Sig(a) => a.fmt(f),
            Algorithm::Key(a) => a.fmt(f),
            Algorithm::Enc(a) => a.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_exactly() {
        assert_eq!("RS256".parse::<SigAlg>().unwrap(), SigAlg::RS256);
        for bad in ["none", "None", "nOnE", "HS256 ", "rs256", ""] {
            assert!(bad.parse::<SigAlg>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "ECDH-ES+A128KW".parse::<KeyAlg>().unwrap(),
            KeyAlg::EcdhEsA128Kw
        );
        assert_eq!(
            "A128GCM".parse::<Algorithm>().unwrap(),
            Algorithm::Enc(EncAlg::A128Gcm)
        );
        for a in SigAlg::ALL {
            assert_eq!(a.name().parse::<SigAlg>().unwrap(), *a);
        }
    }
}
