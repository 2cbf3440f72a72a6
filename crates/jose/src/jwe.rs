//! JSON Web Encryption, compact serialization (RFC 7516 §7.1): the key management algorithms of
//! RFC 7518 §4 (RSA1_5 only when enabled) and the content encryption algorithms of §5.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};
use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::kdf::{SskdfDigestAlgorithmId, get_sskdf_digest_algorithm, sskdf_digest};
use aws_lc_rs::key_wrap::{self, KeyEncryptionKey, KeyWrap as _};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::{hmac, rsa};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::alg::{EncAlg, KeyAlg};
use crate::encoding::{b64, b64_decode};
use crate::error::{JoseError, Result};
use crate::header::{self, Header};
use crate::jwk::{Curve, Jwk, KeyOp, Material};
use crate::jwks::JwkSet;

type Secret = Zeroizing<Vec<u8>>;

fn random(len: usize) -> Result<Secret> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    SystemRandom::new().fill(&mut bytes)?;
    Ok(bytes)
}

/// Encrypts `plaintext` to `key` and returns the compact JWE. `header` holds the extra protected
/// parameters (`kid`, `cty`, `typ`, custom ones); `alg`, `enc` and the algorithm's own parameters
/// (`epk`, `iv`, `tag`) are set here.
pub(crate) fn encrypt_compact(
    plaintext: &[u8],
    mut header: Header,
    key_alg: KeyAlg,
    enc: EncAlg,
    key: &Jwk,
    allow_rsa1_5: bool,
) -> Result<String> {
    if key_alg == KeyAlg::Rsa1_5 && !allow_rsa1_5 {
        return Err(JoseError::AlgorithmNotAllowed(key_alg.to_string()));
    }
    if !key.fits(key_alg.name(), KeyOp::Encrypt) {
        return Err(JoseError::NoKey {
            what: format!("encrypting with {key_alg}"),
        });
    }
    header.insert("alg".into(), key_alg.name().into());
    header.insert("enc".into(), enc.name().into());
    let (cek, encrypted_key) = wrap_cek(&mut header, key_alg, enc, key)?;
    let header_json = serde_json::to_vec(&header).map_err(|e| JoseError::Json {
        part: "header",
        reason: e.to_string(),
    })?;
    let aad = b64(header_json);
    let iv = random(enc.iv_len())?;
    let (ciphertext, tag) = seal(enc, &cek, &iv, aad.as_bytes(), plaintext)?;
    Ok([aad, b64(encrypted_key), b64(&iv), b64(ciphertext), b64(tag)].join("."))
}

/// Encrypts `plaintext` as a compact JWE with the given protected `header`, which names `alg` and
/// `enc`. For callers that need full control of the header; [`crate::encode`] is the usual way in.
pub fn encrypt(header: &Header, plaintext: &[u8], key: &Jwk) -> Result<String> {
    let key_alg: KeyAlg = header::required_str(header, "alg")?.parse()?;
    let enc: EncAlg = header::required_str(header, "enc")?.parse()?;
    encrypt_compact(plaintext, header.clone(), key_alg, enc, key, false)
}

/// Chooses or derives the content encryption key and wraps it for the recipient.
fn wrap_cek(
    header: &mut Header,
    key_alg: KeyAlg,
    enc: EncAlg,
    key: &Jwk,
) -> Result<(Secret, Vec<u8>)> {
    let material = &*key.material;
    match (key_alg, material) {
        (KeyAlg::Dir, Material::Oct(k)) => {
            if k.len() != enc.key_len() {
                return Err(JoseError::InvalidKey(format!(
                    "{enc} needs a {}-byte \"dir\" key",
                    enc.key_len()
                )));
            }
            Ok((Zeroizing::new(k.to_vec()), Vec::new()))
        }
        (KeyAlg::Rsa1_5 | KeyAlg::RsaOaep | KeyAlg::RsaOaep256, Material::Rsa(rsa_key)) => {
            let cek = random(enc.key_len())?;
            let public = rsa_key.encrypting()?.clone();
            let mut out = vec![0u8; rsa_key.modulus_len()];
            let written = if key_alg == KeyAlg::Rsa1_5 {
                rsa::Pkcs1PublicEncryptingKey::new(public)?
                    .encrypt(&cek, &mut out)?
                    .len()
            } else {
                let oaep = if key_alg == KeyAlg::RsaOaep {
                    &rsa::OAEP_SHA1_MGF1SHA1
                } else {
                    &rsa::OAEP_SHA256_MGF1SHA256
                };
                rsa::OaepPublicEncryptingKey::new(public)?
                    .encrypt(oaep, &cek, &mut out, None)?
                    .len()
            };
            out.truncate(written);
            Ok((cek, out))
        }
        (KeyAlg::A128Kw | KeyAlg::A192Kw | KeyAlg::A256Kw, Material::Oct(kek)) => {
            let cek = random(enc.key_len())?;
            Ok((cek.clone(), aes_wrap(kek, &cek)?))
        }
        (KeyAlg::A128GcmKw | KeyAlg::A192GcmKw | KeyAlg::A256GcmKw, Material::Oct(kek)) => {
            let cek = random(enc.key_len())?;
            let iv = random(12)?;
            let mut buf = cek.to_vec();
            let tag =
                gcm_key(kek)?.seal_in_place_separate_tag(nonce(&iv)?, Aad::empty(), &mut buf)?;
            header.insert("iv".into(), b64(&iv).into());
            header.insert("tag".into(), b64(tag.as_ref()).into());
            Ok((cek, buf))
        }
        (_, Material::Ec(_) | Material::Okp(_)) if key_alg.is_ecdh() => {
            let curve = key
                .curve()
                .ok_or(JoseError::Crypto("ECDH key without curve"))?;
            let recipient = match material {
                Material::Ec(ec) => ec.uncompressed_point(),
                Material::Okp(okp) => okp.x.clone(),
                _ => unreachable_material()?,
            };
            let ephemeral = EphemeralPrivateKey::generate(curve.agreement(), &SystemRandom::new())?;
            let epk_public = ephemeral.compute_public_key()?;
            header.insert("epk".into(), epk_json(curve, epk_public.as_ref()));
            let (apu, apv) = party_info(header)?;
            let (kdf_alg, len) = match key_alg.kek_len() {
                Some(n) => (key_alg.name(), n),
                None => (enc.name(), enc.key_len()),
            };
            let peer = UnparsedPublicKey::new(curve.agreement(), recipient);
            let derived = agreement::agree_ephemeral(
                ephemeral,
                peer,
                JoseError::Crypto("ECDH failed"),
                |z| concat_kdf(z, kdf_alg, &apu, &apv, len),
            )?;
            if key_alg == KeyAlg::EcdhEs {
                Ok((derived, Vec::new()))
            } else {
                let cek = random(enc.key_len())?;
                Ok((cek.clone(), aes_wrap(&derived, &cek)?))
            }
        }
        _ => Err(JoseError::NoKey {
            what: format!("encrypting with {key_alg}"),
        }),
    }
}

fn unreachable_material<T>() -> Result<T> {
    Err(JoseError::Crypto("unexpected key material"))
}

fn epk_json(curve: Curve, public: &[u8]) -> Value {
    let mut epk = Map::new();
    if curve.is_nist() {
        let len = curve.coordinate_len();
        epk.insert("kty".into(), "EC".into());
        epk.insert("crv".into(), curve.name().into());
        epk.insert("x".into(), b64(&public[1..1 + len]).into());
        epk.insert("y".into(), b64(&public[1 + len..]).into());
    } else {
        epk.insert("kty".into(), "OKP".into());
        epk.insert("crv".into(), curve.name().into());
        epk.insert("x".into(), b64(public).into());
    }
    Value::Object(epk)
}

fn party_info(header: &Header) -> Result<(Vec<u8>, Vec<u8>)> {
    let read = |name: &'static str| -> Result<Vec<u8>> {
        match header::str_param(header, name)? {
            Some(v) => b64_decode(v, name),
            None => Ok(Vec::new()),
        }
    };
    Ok((read("apu")?, read("apv")?))
}

/// The Concat KDF of NIST SP 800-56A as profiled by RFC 7518 §4.6.2, via aws-lc's SSKDF (which is
/// that KDF: H(counter ‖ Z ‖ OtherInfo)).
fn concat_kdf(z: &[u8], alg: &str, apu: &[u8], apv: &[u8], len: usize) -> Result<Secret> {
    let mut info = Vec::with_capacity(16 + alg.len() + apu.len() + apv.len());
    for field in [alg.as_bytes(), apu, apv] {
        info.extend_from_slice(&(field.len() as u32).to_be_bytes());
        info.extend_from_slice(field);
    }
    info.extend_from_slice(&((len * 8) as u32).to_be_bytes());
    let mut out = Zeroizing::new(vec![0u8; len]);
    sskdf_digest(
        get_sskdf_digest_algorithm(SskdfDigestAlgorithmId::Sha256)
            .ok_or(JoseError::Crypto("SSKDF unavailable"))?,
        z,
        &info,
        &mut out,
    )?;
    Ok(out)
}

fn aes_wrap(kek: &[u8], cek: &[u8]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; cek.len() + 8];
    match kek.len() {
        16 | 32 => {
            let cipher = if kek.len() == 16 {
                &key_wrap::AES_128
            } else {
                &key_wrap::AES_256
            };
            let n = KeyEncryptionKey::new(cipher, kek)?
                .wrap(cek, &mut out)?
                .len();
            out.truncate(n);
        }
        24 => {
            use aes_kw::cipher::KeyInit as _;
            let kw = aes_kw::KwAes192::new_from_slice(kek)
                .map_err(|_| JoseError::Crypto("A192KW key"))?;
            let n = kw
                .wrap_key(cek, &mut out)
                .map_err(|_| JoseError::Crypto("A192KW wrap"))?
                .len();
            out.truncate(n);
        }
        _ => {
            return Err(JoseError::InvalidKey(
                "AES key wrap needs a 16, 24 or 32-byte key".into(),
            ));
        }
    }
    Ok(out)
}

fn aes_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Secret> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(JoseError::DecryptionFailed);
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len() - 8]);
    let n = match kek.len() {
        16 | 32 => {
            let cipher = if kek.len() == 16 {
                &key_wrap::AES_128
            } else {
                &key_wrap::AES_256
            };
            KeyEncryptionKey::new(cipher, kek)?
                .unwrap(wrapped, &mut out)
                .map_err(|_| JoseError::DecryptionFailed)?
                .len()
        }
        24 => {
            use aes_kw::cipher::KeyInit as _;
            let kw = aes_kw::KwAes192::new_from_slice(kek)
                .map_err(|_| JoseError::Crypto("A192KW key"))?;
            kw.unwrap_key(wrapped, &mut out)
                .map_err(|_| JoseError::DecryptionFailed)?
                .len()
        }
        _ => {
            return Err(JoseError::InvalidKey(
                "AES key wrap needs a 16, 24 or 32-byte key".into(),
            ));
        }
    };
    out.truncate(n);
    Ok(out)
}

fn gcm_key(key: &[u8]) -> Result<LessSafeKey> {
    let alg = match key.len() {
        16 => &aead::AES_128_GCM,
        24 => &aead::AES_192_GCM,
        32 => &aead::AES_256_GCM,
        _ => {
            return Err(JoseError::InvalidKey(
                "AES-GCM needs a 16, 24 or 32-byte key".into(),
            ));
        }
    };
    Ok(LessSafeKey::new(UnboundKey::new(alg, key)?))
}

fn nonce(iv: &[u8]) -> Result<Nonce> {
    Nonce::try_assume_unique_for_key(iv)
        .map_err(|_| JoseError::Malformed("AES-GCM needs a 96-bit IV"))
}

fn cbc_cipher(len: usize) -> &'static aws_lc_rs::cipher::Algorithm {
    match len {
        16 => &AES_128,
        24 => &AES_192,
        _ => &AES_256,
    }
}

/// The CBC-HS MAC of RFC 7518 §5.2.2.1: HMAC(AAD ‖ IV ‖ ciphertext ‖ AL), first half kept.
fn cbc_hs_tag(enc: EncAlg, mac_key: &[u8], aad: &[u8], iv: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let alg = match enc {
        EncAlg::A192CbcHs384 => hmac::HMAC_SHA384,
        EncAlg::A256CbcHs512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    };
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(alg, mac_key));
    ctx.update(aad);
    ctx.update(iv);
    ctx.update(ciphertext);
    ctx.update(&((aad.len() as u64) * 8).to_be_bytes());
    let mut tag = ctx.sign().as_ref().to_vec();
    tag.truncate(mac_key.len());
    tag
}

fn seal(
    enc: EncAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = plaintext.to_vec();
    if enc.is_gcm() {
        let tag = gcm_key(cek)?.seal_in_place_separate_tag(nonce(iv)?, Aad::from(aad), &mut buf)?;
        return Ok((buf, tag.as_ref().to_vec()));
    }
    let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
    let iv: [u8; 16] = iv
        .try_into()
        .map_err(|_| JoseError::Malformed("AES-CBC needs a 128-bit IV"))?;
    let key = PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(
        cbc_cipher(enc_key.len()),
        enc_key,
    )?)?;
    key.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(iv.into()))?;
    let tag = cbc_hs_tag(enc, mac_key, aad, &iv, &buf);
    Ok((buf, tag))
}

fn open(
    enc: EncAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>> {
    if iv.len() != enc.iv_len() {
        return Err(JoseError::DecryptionFailed);
    }
    if enc.is_gcm() {
        if tag.len() != 16 {
            return Err(JoseError::DecryptionFailed);
        }
        let mut buf = Vec::with_capacity(ciphertext.len() + 16);
        buf.extend_from_slice(ciphertext);
        buf.extend_from_slice(tag);
        let plain = gcm_key(cek)?
            .open_in_place(nonce(iv)?, Aad::from(aad), &mut buf)
            .map_err(|_| JoseError::DecryptionFailed)?;
        return Ok(plain.to_vec());
    }
    let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
    // SECURITY: the tag is checked, in constant time, before any decryption (no padding oracle).
    let expected = cbc_hs_tag(enc, mac_key, aad, iv, ciphertext);
    verify_slices_are_equal(&expected, tag).map_err(|_| JoseError::DecryptionFailed)?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| JoseError::DecryptionFailed)?;
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(
        cbc_cipher(enc_key.len()),
        enc_key,
    )?)?;
    let mut buf = ciphertext.to_vec();
    let plain = key
        .decrypt(&mut buf, DecryptionContext::Iv128(iv.into()))
        .map_err(|_| JoseError::DecryptionFailed)?;
    Ok(plain.to_vec())
}

/// A decrypted JWE.
#[derive(Debug)]
pub(crate) struct DecryptedJwe {
    pub header: Header,
    pub plaintext: Vec<u8>,
    pub key_alg: KeyAlg,
    pub enc: EncAlg,
}

/// What a caller allows when decrypting.
pub(crate) struct JweLimits<'a> {
    pub key_algs: Option<&'a [KeyAlg]>,
    pub encs: Option<&'a [EncAlg]>,
    pub allow_rsa1_5: bool,
}

pub(crate) fn decrypt_parts(
    parts: &[&str],
    header: Header,
    keys: &JwkSet,
    limits: &JweLimits<'_>,
) -> Result<DecryptedJwe> {
    let [aad, encrypted_key_b64, iv_b64, ciphertext_b64, tag_b64] = parts else {
        return Err(JoseError::Malformed("a JWE has 5 parts"));
    };
    if header.contains_key("zip") {
        // SECURITY: no decompression, so no decompression bombs (RFC 8725 §3.6).
        return Err(JoseError::Compressed);
    }
    let key_alg: KeyAlg = header::required_str(&header, "alg")?.parse()?;
    let enc: EncAlg = header::required_str(&header, "enc")?.parse()?;
    if (key_alg == KeyAlg::Rsa1_5 && !limits.allow_rsa1_5)
        || limits.key_algs.is_some_and(|a| !a.contains(&key_alg))
    {
        return Err(JoseError::AlgorithmNotAllowed(key_alg.to_string()));
    }
    if limits.encs.is_some_and(|a| !a.contains(&enc)) {
        return Err(JoseError::AlgorithmNotAllowed(enc.to_string()));
    }
    let kid = header::str_param(&header, "kid")?;
    let key = keys.select(kid, key_alg.name(), KeyOp::Decrypt)?;
    let encrypted_key = b64_decode(encrypted_key_b64, "encrypted key")?;
    let iv = b64_decode(iv_b64, "iv")?;
    let ciphertext = b64_decode(ciphertext_b64, "ciphertext")?;
    let tag = b64_decode(tag_b64, "tag")?;
    let cek = unwrap_cek(&header, key_alg, enc, key, &encrypted_key)?;
    let plaintext = open(enc, &cek, &iv, aad.as_bytes(), &ciphertext, &tag)?;
    Ok(DecryptedJwe {
        header,
        plaintext,
        key_alg,
        enc,
    })
}

fn unwrap_cek(
    header: &Header,
    key_alg: KeyAlg,
    enc: EncAlg,
    key: &Jwk,
    encrypted_key: &[u8],
) -> Result<Secret> {
    let cek = match (key_alg, &*key.material) {
        (KeyAlg::Dir, Material::Oct(k)) => {
            if !encrypted_key.is_empty() {
                return Err(JoseError::Malformed("\"dir\" has an empty encrypted key"));
            }
            let pinned_enc = key.alg.as_deref().and_then(|a| a.parse::<EncAlg>().ok());
            if k.len() != enc.key_len() || pinned_enc.is_some_and(|p| p != enc) {
                return Err(JoseError::NoKey {
                    what: format!("\"dir\" with {enc}"),
                });
            }
            Zeroizing::new(k.to_vec())
        }
        (KeyAlg::Rsa1_5, Material::Rsa(rsa_key)) => {
            let private = rsa_key
                .private
                .as_ref()
                .ok_or(JoseError::DecryptionFailed)?;
            // SECURITY: RFC 7516 §11.5 — on bad padding or a wrong-sized key, go on with a random
            // CEK so that the failure shows only at the tag check, the same as any other forgery.
            let decrypting = rsa::Pkcs1PrivateDecryptingKey::new(private.decrypting.clone())?;
            let mut out = Zeroizing::new(vec![0u8; decrypting.min_output_size()]);
            let fallback = random(enc.key_len())?;
            match decrypting.decrypt(encrypted_key, &mut out) {
                Ok(cek) if cek.len() == enc.key_len() => Zeroizing::new(cek.to_vec()),
                _ => fallback,
            }
        }
        (KeyAlg::RsaOaep | KeyAlg::RsaOaep256, Material::Rsa(rsa_key)) => {
            let private = rsa_key
                .private
                .as_ref()
                .ok_or(JoseError::DecryptionFailed)?;
            let oaep = if key_alg == KeyAlg::RsaOaep {
                &rsa::OAEP_SHA1_MGF1SHA1
            } else {
                &rsa::OAEP_SHA256_MGF1SHA256
            };
            let decrypting = rsa::OaepPrivateDecryptingKey::new(private.decrypting.clone())?;
            let mut out = Zeroizing::new(vec![0u8; decrypting.min_output_size()]);
            let cek = decrypting
                .decrypt(oaep, encrypted_key, &mut out, None)
                .map_err(|_| JoseError::DecryptionFailed)?;
            Zeroizing::new(cek.to_vec())
        }
        (KeyAlg::A128Kw | KeyAlg::A192Kw | KeyAlg::A256Kw, Material::Oct(kek)) => {
            aes_unwrap(kek, encrypted_key)?
        }
        (KeyAlg::A128GcmKw | KeyAlg::A192GcmKw | KeyAlg::A256GcmKw, Material::Oct(kek)) => {
            let iv = b64_decode(header::required_str(header, "iv")?, "iv")?;
            let tag = b64_decode(header::required_str(header, "tag")?, "tag")?;
            if tag.len() != 16 {
                return Err(JoseError::DecryptionFailed);
            }
            let mut buf = encrypted_key.to_vec();
            buf.extend_from_slice(&tag);
            let cek = gcm_key(kek)?
                .open_in_place(nonce(&iv)?, Aad::empty(), &mut buf)
                .map_err(|_| JoseError::DecryptionFailed)?;
            Zeroizing::new(cek.to_vec())
        }
        (_, Material::Ec(_) | Material::Okp(_)) if key_alg.is_ecdh() => {
            let private = match &*key.material {
                Material::Ec(ec) => ec.agreement_key()?,
                Material::Okp(okp) => okp.agreement_key()?,
                _ => unreachable_material()?,
            };
            let curve = key
                .curve()
                .ok_or(JoseError::Crypto("ECDH key without curve"))?;
            let epk = ephemeral_point(header, curve)?;
            let (apu, apv) = party_info(header)?;
            let (kdf_alg, len) = match key_alg.kek_len() {
                Some(n) => (key_alg.name(), n),
                None => (enc.name(), enc.key_len()),
            };
            // aws-lc checks that the peer point is on the recipient's curve before agreeing
            // (no invalid-curve attack, RFC 8725 §3.4).
            let derived = agreement::agree(
                &private,
                UnparsedPublicKey::new(curve.agreement(), &epk),
                JoseError::BadHeader("epk".into()),
                |z| concat_kdf(z, kdf_alg, &apu, &apv, len),
            )?;
            if key_alg == KeyAlg::EcdhEs {
                if !encrypted_key.is_empty() {
                    return Err(JoseError::Malformed("ECDH-ES has an empty encrypted key"));
                }
                derived
            } else {
                aes_unwrap(&derived, encrypted_key)?
            }
        }
        _ => {
            return Err(JoseError::NoKey {
                what: format!("decrypting {key_alg}"),
            });
        }
    };
    if cek.len() != enc.key_len() {
        return Err(JoseError::DecryptionFailed);
    }
    Ok(cek)
}

/// The `epk` header as the encoded point aws-lc takes, checked to be on the recipient's curve type.
fn ephemeral_point(header: &Header, curve: Curve) -> Result<Vec<u8>> {
    let bad = || JoseError::BadHeader("epk".into());
    let epk = header
        .get("epk")
        .and_then(Value::as_object)
        .ok_or_else(bad)?;
    let field = |name: &str| -> Result<Vec<u8>> {
        let text = epk.get(name).and_then(Value::as_str).ok_or_else(bad)?;
        b64_decode(text, "epk").map_err(|_| bad())
    };
    if epk.get("crv").and_then(Value::as_str) != Some(curve.name()) {
        return Err(bad());
    }
    let len = curve.coordinate_len();
    if curve.is_nist() {
        if epk.get("kty").and_then(Value::as_str) != Some("EC") {
            return Err(bad());
        }
        let (x, y) = (field("x")?, field("y")?);
        if x.len() != len || y.len() != len {
            return Err(bad());
        }
        Ok([&[4u8][..], &x, &y].concat())
    } else {
        if epk.get("kty").and_then(Value::as_str) != Some("OKP") {
            return Err(bad());
        }
        let x = field("x")?;
        if x.len() != len {
            return Err(bad());
        }
        Ok(x)
    }
}
