//! JSON Web Signature, compact serialization (RFC 7515 §7.1), for the algorithms of RFC 7518 §3
//! and EdDSA (RFC 8037).

use aws_lc_rs::{hmac, rand::SystemRandom};

use crate::alg::SigAlg;
use crate::encoding::{b64, b64_decode};
use crate::error::{JoseError, Result};
use crate::header::{self, Header};
use crate::jwk::{Jwk, KeyOp, Material, RsaKey};
use crate::jwks::JwkSet;

fn hmac_alg(alg: SigAlg) -> hmac::Algorithm {
    match alg {
        SigAlg::HS384 => hmac::HMAC_SHA384,
        SigAlg::HS512 => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    }
}

/// Signs `input` (the JWS signing input) with `key` for `alg`. The caller has checked that the key fits.
pub(crate) fn sign_bytes(key: &Jwk, alg: SigAlg, input: &[u8]) -> Result<Vec<u8>> {
    if !key.fits(alg.name(), KeyOp::Sign) {
        return Err(JoseError::NoKey {
            what: format!("signing with {alg}"),
        });
    }
    match &*key.material {
        Material::Oct(k) => Ok(hmac::sign(&hmac::Key::new(hmac_alg(alg), k), input)
            .as_ref()
            .to_vec()),
        Material::Rsa(rsa) => {
            let private = rsa
                .private
                .as_ref()
                .ok_or(JoseError::Crypto("RSA key without private part"))?;
            let mut signature = vec![0u8; private.signing.public_modulus_len()];
            private.signing.sign(
                RsaKey::sign_padding(alg),
                &SystemRandom::new(),
                input,
                &mut signature,
            )?;
            Ok(signature)
        }
        Material::Ec(ec) => {
            let pair = ec
                .signing
                .as_ref()
                .ok_or(JoseError::Crypto("EC key without private part"))?;
            Ok(pair.sign(&SystemRandom::new(), input)?.as_ref().to_vec())
        }
        Material::Okp(okp) => {
            let pair = okp
                .signing
                .as_ref()
                .ok_or(JoseError::Crypto("OKP key without private part"))?;
            Ok(pair.sign(input).as_ref().to_vec())
        }
    }
}

/// Verifies `signature` over `input`. HMAC tags are compared in constant time by aws-lc.
pub(crate) fn verify_bytes(key: &Jwk, alg: SigAlg, input: &[u8], signature: &[u8]) -> Result<()> {
    if !key.fits(alg.name(), KeyOp::Verify) {
        return Err(JoseError::NoKey {
            what: format!("verifying {alg}"),
        });
    }
    let verified = match &*key.material {
        Material::Oct(k) => hmac::verify(&hmac::Key::new(hmac_alg(alg), k), input, signature),
        Material::Rsa(rsa) => rsa.verifier(alg)?.verify_sig(input, signature),
        Material::Ec(ec) => {
            // Fixed-length R‖S only (RFC 7518 §3.4); aws-lc also rejects r = 0 or s = 0.
            if signature.len() != 2 * ec.curve.coordinate_len() {
                return Err(JoseError::BadSignature);
            }
            ec.verifier()?.verify_sig(input, signature)
        }
        Material::Okp(okp) => okp.verifier()?.verify_sig(input, signature),
    };
    verified.map_err(|_| JoseError::BadSignature)
}

/// Makes a compact JWS of `payload`. `header` must already hold `alg` (and `kid`, `typ`, … as wanted).
pub(crate) fn sign_compact(
    header: &Header,
    payload: &[u8],
    key: &Jwk,
    alg: SigAlg,
) -> Result<String> {
    let header_json = serde_json::to_vec(header).map_err(|e| JoseError::Json {
        part: "header",
        reason: e.to_string(),
    })?;
    let mut token = b64(header_json);
    token.push('.');
    token.push_str(&b64(payload));
    let signature = sign_bytes(key, alg, token.as_bytes())?;
    token.push('.');
    token.push_str(&b64(signature));
    Ok(token)
}

/// Signs `payload` as a compact JWS with exactly the given protected `header`, which names the
/// algorithm in `alg`. For callers that need full control of the header; [`crate::encode`] is the
/// usual way in.
pub fn sign(header: &Header, payload: &[u8], key: &Jwk) -> Result<String> {
    let alg: SigAlg = header::required_str(header, "alg")?.parse()?;
    sign_compact(header, payload, key, alg)
}

/// A JWS whose signature verified.
#[derive(Debug)]
pub(crate) struct VerifiedJws {
    pub header: Header,
    pub payload: Vec<u8>,
    pub alg: SigAlg,
}

/// Verifies the compact JWS `token`, split into `parts`, with a key from `keys`. `allowed`
/// restricts the algorithm. `alg: none` never gets here: the caller handles unsigned tokens.
pub(crate) fn verify_parts(
    token: &str,
    parts: &[&str],
    header: Header,
    keys: &JwkSet,
    allowed: Option<&[SigAlg]>,
    detached_payload: Option<&[u8]>,
) -> Result<VerifiedJws> {
    let [header_b64, payload_b64, signature_b64] = parts else {
        return Err(JoseError::Malformed("a JWS has 3 parts"));
    };
    if header.contains_key("zip") {
        return Err(JoseError::BadHeader("zip".into()));
    }
    if header.contains_key("b64") {
        // RFC 7797 unencoded payloads are not supported; refusing beats misreading them.
        return Err(JoseError::BadHeader("b64".into()));
    }
    let alg: SigAlg = header::required_str(&header, "alg")?.parse()?;
    if allowed.is_some_and(|a| !a.contains(&alg)) {
        return Err(JoseError::AlgorithmNotAllowed(alg.to_string()));
    }
    let kid = header::str_param(&header, "kid")?;
    let key = keys.select(kid, alg.name(), KeyOp::Verify)?;
    let signature = b64_decode(signature_b64, "signature")?;
    let payload = match detached_payload {
        Some(p) if payload_b64.is_empty() => p.to_vec(),
        Some(_) => {
            return Err(JoseError::Malformed(
                "detached JWS with an attached payload",
            ));
        }
        None => b64_decode(payload_b64, "payload")?,
    };
    let verified = if detached_payload.is_some() {
        let input = format!("{header_b64}.{}", b64(&payload));
        verify_bytes(key, alg, input.as_bytes(), &signature)
    } else {
        // The signing input is the token up to the second dot.
        let input = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        verify_bytes(key, alg, input, &signature)
    };
    verified?;
    Ok(VerifiedJws {
        header,
        payload,
        alg,
    })
}

/// Verifies a compact JWS with detached content (RFC 7515 Appendix F): the payload segment is
/// empty and the payload is given here. Returns the header.
pub fn verify_detached(
    token: &str,
    payload: &[u8],
    keys: &JwkSet,
    understood_crit: &[String],
) -> Result<Header> {
    let parts = header::split_compact(token, header::DEFAULT_MAX_TOKEN_LEN)?;
    if parts.len() != 3 {
        return Err(JoseError::Malformed("a JWS has 3 parts"));
    }
    let hdr = header::decode_header(parts[0])?;
    header::check_crit(&hdr, understood_crit)?;
    Ok(verify_parts(token, &parts, hdr, keys, None, Some(payload))?.header)
}
