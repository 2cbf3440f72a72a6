//! Key material: the aws-lc objects a JWK is parsed into, built once when the key is read.

use std::sync::OnceLock;

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
};
use aws_lc_rs::{agreement, rand::SecureRandom as _, rsa};
use zeroize::Zeroizing;

use crate::alg::SigAlg;
use crate::error::{JoseError, Result};

/// At most 40 characters of untrusted text, for error messages.
pub(super) fn trunc(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Elliptic curves of RFC 7518 §6.2.1.1 and RFC 8037 §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    Ed25519,
    X25519,
}

impl Curve {
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
            Curve::Ed25519 => "Ed25519",
            Curve::X25519 => "X25519",
        }
    }

    pub(super) fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "P-256" => Curve::P256,
            "P-384" => Curve::P384,
            "P-521" => Curve::P521,
            "Ed25519" => Curve::Ed25519,
            "X25519" => Curve::X25519,
            _ => {
                return Err(JoseError::InvalidKey(format!(
                    "unsupported curve \"{}\"",
                    trunc(name)
                )));
            }
        })
    }

    /// Length in bytes of a coordinate or private scalar.
    pub(crate) fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 | Curve::Ed25519 | Curve::X25519 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    pub(crate) fn is_nist(self) -> bool {
        matches!(self, Curve::P256 | Curve::P384 | Curve::P521)
    }

    fn ecdsa_signing(self) -> &'static sig::EcdsaSigningAlgorithm {
        match self {
            Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
            _ => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        }
    }

    fn ecdsa_verify(self) -> &'static sig::EcdsaVerificationAlgorithm {
        match self {
            Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED,
            Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED,
            _ => &sig::ECDSA_P256_SHA256_FIXED,
        }
    }

    pub(crate) fn agreement(self) -> &'static agreement::Algorithm {
        match self {
            Curve::P384 => &agreement::ECDH_P384,
            Curve::P521 => &agreement::ECDH_P521,
            Curve::X25519 => &agreement::X25519,
            _ => &agreement::ECDH_P256,
        }
    }
}

/// The key type and material of a JWK.
pub(crate) enum Material {
    Rsa(Box<RsaKey>),
    Ec(EcKey),
    Okp(OkpKey),
    Oct(Zeroizing<Vec<u8>>),
}

pub(crate) struct RsaKey {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub private: Option<RsaPrivate>,
    /// Parsed verification keys, one per JWS algorithm, built on first use.
    verifiers: [OnceLock<ParsedPublicKey>; 6],
    encrypting: OnceLock<rsa::PublicEncryptingKey>,
}

pub(crate) struct RsaPrivate {
    /// d, p, q, dp, dq, qi in JWK order.
    pub parts: [Zeroizing<Vec<u8>>; 6],
    pub signing: RsaKeyPair,
    pub decrypting: rsa::PrivateDecryptingKey,
}

pub(crate) struct EcKey {
    pub curve: Curve,
    pub x: Vec<u8>,
    pub y: Vec<u8>,
    pub d: Option<Zeroizing<Vec<u8>>>,
    pub signing: Option<EcdsaKeyPair>,
    verifier: OnceLock<ParsedPublicKey>,
}

pub(crate) struct OkpKey {
    pub curve: Curve,
    pub x: Vec<u8>,
    pub d: Option<Zeroizing<Vec<u8>>>,
    pub signing: Option<Ed25519KeyPair>,
    verifier: OnceLock<ParsedPublicKey>,
}

/// Strips leading zero bytes: JWK integers are minimal big-endian (RFC 7518 §6.3).
pub(crate) fn minimal(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

pub(super) fn rsa_parameters(alg: SigAlg) -> (&'static rsa::RsaParameters, usize) {
    use SigAlg::*;
    match alg {
        RS384 => (&sig::RSA_PKCS1_2048_8192_SHA384, 1),
        RS512 => (&sig::RSA_PKCS1_2048_8192_SHA512, 2),
        PS256 => (&sig::RSA_PSS_2048_8192_SHA256, 3),
        PS384 => (&sig::RSA_PSS_2048_8192_SHA384, 4),
        PS512 => (&sig::RSA_PSS_2048_8192_SHA512, 5),
        _ => (&sig::RSA_PKCS1_2048_8192_SHA256, 0),
    }
}

impl RsaKey {
    pub(super) fn new(n: Vec<u8>, e: Vec<u8>, private: Option<RsaPrivate>) -> Result<Self> {
        if n.len() * 8 < 2048 {
            return Err(JoseError::InvalidKey(
                "RSA keys must be at least 2048 bits".into(),
            ));
        }
        Ok(RsaKey {
            n,
            e,
            private,
            verifiers: Default::default(),
            encrypting: OnceLock::new(),
        })
    }

    pub(super) fn components(&self) -> rsa::PublicKeyComponents<&[u8]> {
        rsa::PublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
    }

    pub fn verifier(&self, alg: SigAlg) -> Result<&ParsedPublicKey> {
        let (params, slot) = rsa_parameters(alg);
        if let Some(v) = self.verifiers[slot].get() {
            return Ok(v);
        }
        let parsed = self.components().to_parsed_public_key(params)?;
        Ok(self.verifiers[slot].get_or_init(|| parsed))
    }

    pub fn encrypting(&self) -> Result<&rsa::PublicEncryptingKey> {
        if let Some(k) = self.encrypting.get() {
            return Ok(k);
        }
        let spki = self.verifier(SigAlg::RS256)?.as_der()?;
        let key = rsa::PublicEncryptingKey::from_der(spki.as_ref())?;
        Ok(self.encrypting.get_or_init(|| key))
    }

    pub fn sign_padding(alg: SigAlg) -> &'static dyn sig::RsaEncoding {
        use SigAlg::*;
        match alg {
            RS384 => &sig::RSA_PKCS1_SHA384,
            RS512 => &sig::RSA_PKCS1_SHA512,
            PS256 => &sig::RSA_PSS_SHA256,
            PS384 => &sig::RSA_PSS_SHA384,
            PS512 => &sig::RSA_PSS_SHA512,
            _ => &sig::RSA_PKCS1_SHA256,
        }
    }

    pub fn modulus_len(&self) -> usize {
        minimal(&self.n).len()
    }
}

impl RsaPrivate {
    pub(super) fn from_components(
        n: &[u8],
        e: &[u8],
        parts: [Zeroizing<Vec<u8>>; 6],
    ) -> Result<Self> {
        let [d, p, q, dp, dq, qi] = &parts;
        let components = rsa::KeyPairComponents {
            public_key: rsa::PublicKeyComponents { n, e },
            d: d.as_slice(),
            p: p.as_slice(),
            q: q.as_slice(),
            dP: dp.as_slice(),
            dQ: dq.as_slice(),
            qInv: qi.as_slice(),
        };
        let signing = RsaKeyPair::from_components(&components)?;
        let pkcs8 = Zeroizing::new(
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&signing)?
                .as_ref()
                .to_vec(),
        );
        let decrypting = rsa::PrivateDecryptingKey::from_pkcs8(&pkcs8)?;
        Ok(RsaPrivate {
            parts,
            signing,
            decrypting,
        })
    }

    /// Reads a PKCS#1 `RSAPrivateKey` (as found inside PKCS#8).
    pub(crate) fn from_pkcs1(der_bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>, Self)> {
        use der::Decode as _;
        let key = pkcs1::RsaPrivateKey::<der::asn1::UintRef<'_>>::from_der(der_bytes)
            .map_err(|e| JoseError::Pem(format!("RSA private key: {e}")))?;
        if key.other_prime_infos.is_some() {
            return Err(JoseError::InvalidKey(
                "multi-prime RSA keys are not supported".into(),
            ));
        }
        let n = key.modulus.as_bytes().to_vec();
        let e = key.public_exponent.as_bytes().to_vec();
        let s = |u: der::asn1::UintRef<'_>| Zeroizing::new(u.as_bytes().to_vec());
        let parts = [
            s(key.private_exponent),
            s(key.prime1),
            s(key.prime2),
            s(key.exponent1),
            s(key.exponent2),
            s(key.coefficient),
        ];
        let private = Self::from_components(&n, &e, parts)?;
        Ok((n, e, private))
    }
}

impl EcKey {
    pub(super) fn new(
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
        d: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Self> {
        let len = curve.coordinate_len();
        if x.len() != len || y.len() != len || d.as_ref().is_some_and(|d| d.len() != len) {
            return Err(JoseError::InvalidKey(format!(
                "{} coordinates must be {len} bytes",
                curve.name()
            )));
        }
        let key = EcKey {
            curve,
            x,
            y,
            d: None,
            signing: None,
            verifier: OnceLock::new(),
        };
        // Parsing the point checks that it is on the curve.
        let point = key.uncompressed_point();
        key.verifier
            .set(ParsedPublicKey::new(curve.ecdsa_verify(), &point)?)
            .ok();
        let signing = match &d {
            Some(d) => Some(EcdsaKeyPair::from_private_key_and_public_key(
                curve.ecdsa_signing(),
                d,
                &point,
            )?),
            None => None,
        };
        Ok(EcKey { d, signing, ..key })
    }

    pub fn uncompressed_point(&self) -> Vec<u8> {
        let mut point = Vec::with_capacity(1 + 2 * self.x.len());
        point.push(4);
        point.extend_from_slice(&self.x);
        point.extend_from_slice(&self.y);
        point
    }

    pub fn verifier(&self) -> Result<&ParsedPublicKey> {
        self.verifier
            .get()
            .ok_or(JoseError::Crypto("EC key without verifier"))
    }

    pub fn agreement_key(&self) -> Result<agreement::PrivateKey> {
        let d = self
            .d
            .as_ref()
            .ok_or_else(|| JoseError::InvalidKey("EC key has no private part".into()))?;
        Ok(agreement::PrivateKey::from_private_key(
            self.curve.agreement(),
            d,
        )?)
    }
}

impl OkpKey {
    pub(super) fn new(curve: Curve, x: Vec<u8>, d: Option<Zeroizing<Vec<u8>>>) -> Result<Self> {
        if x.len() != 32 || d.as_ref().is_some_and(|d| d.len() != 32) {
            return Err(JoseError::InvalidKey(format!(
                "{} keys are 32 bytes",
                curve.name()
            )));
        }
        let (signing, verifier) = match curve {
            Curve::Ed25519 => {
                let signing = match &d {
                    Some(d) => Some(Ed25519KeyPair::from_seed_and_public_key(d, &x)?),
                    None => None,
                };
                (
                    signing,
                    OnceLock::from(ParsedPublicKey::new(&sig::ED25519, &x)?),
                )
            }
            Curve::X25519 => {
                if let Some(d) = &d {
                    let private = agreement::PrivateKey::from_private_key(&agreement::X25519, d)?;
                    if private.compute_public_key()?.as_ref() != x.as_slice() {
                        return Err(JoseError::InvalidKey(
                            "X25519 \"d\" does not match \"x\"".into(),
                        ));
                    }
                }
                (None, OnceLock::new())
            }
            _ => {
                return Err(JoseError::InvalidKey(
                    "OKP keys are Ed25519 or X25519".into(),
                ));
            }
        };
        Ok(OkpKey {
            curve,
            x,
            d,
            signing,
            verifier,
        })
    }

    pub fn verifier(&self) -> Result<&ParsedPublicKey> {
        self.verifier
            .get()
            .ok_or_else(|| JoseError::InvalidKey("X25519 keys cannot verify".into()))
    }

    pub fn agreement_key(&self) -> Result<agreement::PrivateKey> {
        let d = self
            .d
            .as_ref()
            .ok_or_else(|| JoseError::InvalidKey("OKP key has no private part".into()))?;
        Ok(agreement::PrivateKey::from_private_key(
            &agreement::X25519,
            d,
        )?)
    }
}

pub(super) fn random_oct(len: usize) -> Result<Material> {
    let mut k = Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::rand::SystemRandom::new().fill(&mut k)?;
    Ok(Material::Oct(k))
}

pub(super) fn generate_ec(curve: Curve) -> Result<Material> {
    let pair = EcdsaKeyPair::generate(curve.ecdsa_signing())?;
    let d = Zeroizing::new(pair.private_key().as_be_bytes()?.as_ref().to_vec());
    let point = pair.public_key().as_ref();
    let len = curve.coordinate_len();
    let (x, y) = (point[1..1 + len].to_vec(), point[1 + len..].to_vec());
    Ok(Material::Ec(EcKey::new(curve, x, y, Some(d))?))
}
