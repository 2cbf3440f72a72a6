//! Loading keys from PEM and DER: PKCS#1, PKCS#8 (plain and PBES2-encrypted), SubjectPublicKeyInfo
//! and X.509 certificates. The ASN.1 is read with RustCrypto's `der`-family parsers; every
//! cryptographic step (PBKDF2, AES-CBC, key validation) is aws-lc's.

use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey,
};
use aws_lc_rs::{digest, pbkdf2};
use base64::Engine as _;
use der::asn1::{ObjectIdentifier as Oid, UintRef};
use der::{Decode as _, Encode as _};
use zeroize::Zeroizing;

use crate::encoding::b64;
use crate::error::{JoseError, Result};
use crate::jwk::{self, Curve, Jwk};

const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
const X25519: Oid = Oid::new_unwrap("1.3.101.110");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const P521: Oid = Oid::new_unwrap("1.3.132.0.35");

/// The most PBKDF2 iterations we run for an encrypted key: enough for any sane key file, small
/// enough that a hostile one cannot tie up a core for minutes.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

fn pem_err(what: &str, e: impl std::fmt::Display) -> JoseError {
    JoseError::Pem(format!("{what}: {e}"))
}

fn curve_of(oid: Oid) -> Result<Curve> {
    match oid {
        P256 => Ok(Curve::P256),
        P384 => Ok(Curve::P384),
        P521 => Ok(Curve::P521),
        _ => Err(JoseError::Pem(format!("unsupported EC curve {oid}"))),
    }
}

impl Jwk {
    /// Reads the first key in a PEM document: `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY` (needs
    /// `password`), `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `PUBLIC KEY`, `RSA PUBLIC KEY` or
    /// `CERTIFICATE` (public key plus `x5c` and `x5t#S256`).
    pub fn from_pem(pem: &str, password: Option<&[u8]>) -> Result<Jwk> {
        let (label, der_bytes) = pem_block(pem)?;
        let der_bytes = Zeroizing::new(der_bytes);
        match label.as_str() {
            "PRIVATE KEY" => from_pkcs8_der(&der_bytes),
            "ENCRYPTED PRIVATE KEY" => {
                let password = password.ok_or_else(|| {
                    JoseError::Pem("the key is encrypted: a password is needed".into())
                })?;
                from_pkcs8_der(&decrypt_pkcs8(&der_bytes, password)?)
            }
            "RSA PRIVATE KEY" => jwk::rsa_private(&der_bytes),
            "EC PRIVATE KEY" => from_sec1_der(&der_bytes, None),
            "PUBLIC KEY" => from_spki_der(&der_bytes),
            "RSA PUBLIC KEY" => {
                let key = pkcs1::RsaPublicKey::<UintRef<'_>>::from_der(&der_bytes)
                    .map_err(|e| pem_err("RSA public key", e))?;
                jwk::rsa_public(key.modulus.as_bytes(), key.public_exponent.as_bytes())
            }
            "CERTIFICATE" => Jwk::from_certificate_der(&der_bytes),
            other => Err(JoseError::Pem(format!("unsupported PEM block \"{other}\""))),
        }
    }

    /// The public key of an X.509 certificate (DER), with `x5c` = [the certificate] and `x5t#S256`.
    pub fn from_certificate_der(cert: &[u8]) -> Result<Jwk> {
        let parsed =
            x509_cert::Certificate::from_der(cert).map_err(|e| pem_err("certificate", e))?;
        let spki = parsed
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| pem_err("certificate", e))?;
        let mut key = from_spki_der(&spki)?;
        key.x5c = Some(vec![base64::engine::general_purpose::STANDARD.encode(cert)]);
        key.x5t_s256 = Some(b64(digest::digest(&digest::SHA256, cert)));
        Ok(key)
    }
}

impl Jwk {
    /// A private key with its X.509 certificate (the reference's "X.509 credentials"): the key from
    /// `key_pem`, carrying `x5c` and `x5t#S256` of the certificate in `cert_pem`, whose public key
    /// must be this key's.
    pub fn from_pem_with_certificate(
        key_pem: &str,
        cert_pem: &str,
        password: Option<&[u8]>,
    ) -> Result<Jwk> {
        let mut key = Jwk::from_pem(key_pem, password)?;
        let (label, cert_der) = pem_block(cert_pem)?;
        if label != "CERTIFICATE" {
            return Err(JoseError::Pem(format!(
                "expected a CERTIFICATE, found \"{label}\""
            )));
        }
        let cert = Jwk::from_certificate_der(&cert_der)?;
        if cert.thumbprint() != key.thumbprint() {
            return Err(JoseError::InvalidKey(
                "the certificate is not for this key".into(),
            ));
        }
        key.x5c = cert.x5c;
        key.x5t_s256 = cert.x5t_s256;
        Ok(key)
    }
}

/// Splits the first PEM block into its label and decoded body.
fn pem_block(pem: &str) -> Result<(String, Vec<u8>)> {
    let start = pem
        .find("-----BEGIN ")
        .ok_or_else(|| JoseError::Pem("no PEM block found".into()))?;
    let rest = &pem[start + 11..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| JoseError::Pem("unterminated PEM label".into()))?;
    let label = rest[..label_end].to_owned();
    let body_and_end = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body_and_end
        .find(&end_marker)
        .ok_or_else(|| JoseError::Pem(format!("missing {end_marker}")))?;
    let body = &body_and_end[..end];
    if body.contains(':') {
        return Err(JoseError::Pem("legacy encrypted PEM (Proc-Type headers) is not supported: convert to encrypted PKCS#8".into()));
    }
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| pem_err("PEM body", e))?;
    Ok((label, bytes))
}

/// Reads an unencrypted PKCS#8 `PrivateKeyInfo` holding an RSA, EC, Ed25519 or X25519 key.
pub(crate) fn from_pkcs8_der(der_bytes: &[u8]) -> Result<Jwk> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der_bytes).map_err(|e| pem_err("PKCS#8", e))?;
    let inner = info.private_key.as_bytes();
    match info.algorithm.oid {
        RSA_ENCRYPTION => jwk::rsa_private(inner),
        EC_PUBLIC_KEY => {
            let curve = curve_of(
                info.algorithm
                    .parameters_oid()
                    .map_err(|e| pem_err("PKCS#8 EC parameters", e))?,
            )?;
            from_sec1_der(inner, Some(curve))
        }
        ED25519 | X25519 => {
            // The inner key is an OCTET STRING holding the 32-byte seed (RFC 8410 §7).
            let seed = <&der::asn1::OctetStringRef>::from_der(inner)
                .map_err(|e| pem_err("PKCS#8 OKP key", e))?;
            let seed = Zeroizing::new(seed.as_bytes().to_vec());
            if info.algorithm.oid == ED25519 {
                let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed)?;
                let x = aws_lc_rs::signature::KeyPair::public_key(&pair)
                    .as_ref()
                    .to_vec();
                jwk::okp(Curve::Ed25519, x, Some(seed))
            } else {
                let private = aws_lc_rs::agreement::PrivateKey::from_private_key(
                    &aws_lc_rs::agreement::X25519,
                    &seed,
                )?;
                let x = private.compute_public_key()?.as_ref().to_vec();
                jwk::okp(Curve::X25519, x, Some(seed))
            }
        }
        oid => Err(JoseError::Pem(format!(
            "unsupported private key algorithm {oid}"
        ))),
    }
}

/// Reads a SEC1 `ECPrivateKey` (RFC 5915); the curve comes from PKCS#8 or from the key itself.
fn from_sec1_der(der_bytes: &[u8], curve: Option<Curve>) -> Result<Jwk> {
    let key = sec1_private_key(der_bytes)?;
    let curve = match (curve, key.curve) {
        (Some(c), _) => c,
        (None, Some(oid)) => curve_of(oid)?,
        (None, None) => return Err(JoseError::Pem("EC private key without curve".into())),
    };
    let d = Zeroizing::new(key.d);
    let pair = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_der(
        match curve {
            Curve::P384 => &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P521 => &aws_lc_rs::signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            _ => &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        },
        der_bytes,
    );
    // aws-lc computes the public point when the file omits it.
    let point = match (key.public, pair) {
        (Some(p), _) => p,
        (None, Ok(pair)) => aws_lc_rs::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec(),
        (None, Err(e)) => return Err(e.into()),
    };
    let mut padded = Zeroizing::new(vec![0u8; curve.coordinate_len().saturating_sub(d.len())]);
    padded.extend_from_slice(&d);
    jwk::ec_from_point(curve, &point, Some(padded))
}

struct Sec1Key {
    d: Vec<u8>,
    curve: Option<Oid>,
    public: Option<Vec<u8>>,
}

/// `ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] parameters OPTIONAL, [1] publicKey OPTIONAL }`
fn sec1_private_key(der_bytes: &[u8]) -> Result<Sec1Key> {
    use der::{
        Reader as _, SliceReader, TagMode, TagNumber, asn1::BitStringRef, asn1::ContextSpecific,
        asn1::OctetStringRef,
    };
    let err = |e: der::Error| pem_err("EC private key", e);
    let mut reader = SliceReader::new(der_bytes).map_err(err)?;
    reader
        .sequence(|r: &mut SliceReader<'_>| {
            let version = u8::decode(r)?;
            if version != 1 {
                return Err(der::Tag::Integer.value_error().into());
            }
            let d = <&OctetStringRef>::decode(r)?.as_bytes().to_vec();
            let curve = ContextSpecific::<Oid>::decode_explicit(r, TagNumber(0))?.map(|c| c.value);
            let public = ContextSpecific::<BitStringRef<'_>>::decode_explicit(r, TagNumber(1))?
                .and_then(|c| c.value.as_bytes().map(<[u8]>::to_vec));
            let _ = TagMode::Explicit;
            Ok(Sec1Key { d, curve, public })
        })
        .map_err(err)
}

/// Reads a `SubjectPublicKeyInfo` holding an RSA, EC, Ed25519 or X25519 public key.
pub(crate) fn from_spki_der(der_bytes: &[u8]) -> Result<Jwk> {
    let spki =
        spki::SubjectPublicKeyInfoRef::from_der(der_bytes).map_err(|e| pem_err("public key", e))?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| JoseError::Pem("public key bit string is not byte aligned".into()))?;
    match spki.algorithm.oid {
        RSA_ENCRYPTION => {
            let key = pkcs1::RsaPublicKey::<UintRef<'_>>::from_der(bits)
                .map_err(|e| pem_err("RSA public key", e))?;
            jwk::rsa_public(key.modulus.as_bytes(), key.public_exponent.as_bytes())
        }
        EC_PUBLIC_KEY => {
            let curve = curve_of(
                spki.algorithm
                    .parameters_oid()
                    .map_err(|e| pem_err("EC parameters", e))?,
            )?;
            jwk::ec_from_point(curve, bits, None)
        }
        ED25519 => jwk::okp(Curve::Ed25519, bits.to_vec(), None),
        X25519 => jwk::okp(Curve::X25519, bits.to_vec(), None),
        oid => Err(JoseError::Pem(format!(
            "unsupported public key algorithm {oid}"
        ))),
    }
}

/// Decrypts a PBES2 `EncryptedPrivateKeyInfo` (PBKDF2 with HMAC-SHA1/256/384/512, AES-CBC).
fn decrypt_pkcs8(der_bytes: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(der_bytes)
        .map_err(|e| pem_err("encrypted PKCS#8", e))?;
    let pkcs5::EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        return Err(JoseError::Pem(
            "only PBES2-encrypted keys are supported".into(),
        ));
    };
    let kdf = params.kdf.pbkdf2().ok_or_else(|| {
        JoseError::Pem("only PBKDF2 key derivation is supported (not scrypt)".into())
    })?;
    if kdf.iteration_count == 0 || kdf.iteration_count > MAX_PBKDF2_ITERATIONS {
        return Err(JoseError::Pem(format!(
            "PBKDF2 iteration count {} is out of range",
            kdf.iteration_count
        )));
    }
    let prf = match kdf.prf {
        pkcs5::pbes2::Pbkdf2Prf::HmacWithSha1 => pbkdf2::PBKDF2_HMAC_SHA1,
        pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256 => pbkdf2::PBKDF2_HMAC_SHA256,
        pkcs5::pbes2::Pbkdf2Prf::HmacWithSha384 => pbkdf2::PBKDF2_HMAC_SHA384,
        pkcs5::pbes2::Pbkdf2Prf::HmacWithSha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        _ => return Err(JoseError::Pem("unsupported PBKDF2 PRF".into())),
    };
    let (cipher, iv) = match params.encryption {
        pkcs5::pbes2::EncryptionScheme::Aes128Cbc { iv } => (&AES_128, iv),
        pkcs5::pbes2::EncryptionScheme::Aes192Cbc { iv } => (&AES_192, iv),
        pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv } => (&AES_256, iv),
        _ => {
            return Err(JoseError::Pem(
                "unsupported PBES2 cipher (AES-CBC is)".into(),
            ));
        }
    };
    let key_len = match params.encryption {
        pkcs5::pbes2::EncryptionScheme::Aes128Cbc { .. } => 16,
        pkcs5::pbes2::EncryptionScheme::Aes192Cbc { .. } => 24,
        _ => 32,
    };
    let mut key = Zeroizing::new(vec![0u8; key_len]);
    let iterations = std::num::NonZeroU32::new(kdf.iteration_count)
        .ok_or(JoseError::Pem("zero iterations".into()))?;
    pbkdf2::derive(prf, iterations, kdf.salt.as_ref(), password, &mut key);
    let decrypting = PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(cipher, &key)?)?;
    let mut buf = Zeroizing::new(info.encrypted_data.as_bytes().to_vec());
    let plain = decrypting
        .decrypt(&mut buf, DecryptionContext::Iv128(iv.into()))
        .map_err(|_| JoseError::Pem("wrong password or corrupt encrypted key".into()))?;
    Ok(Zeroizing::new(plain.to_vec()))
}
